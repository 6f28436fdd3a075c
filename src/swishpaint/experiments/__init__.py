"""Experiment drivers, the top of the package: evaluate, compare and bench.

They train, load, time and score models, so they may import every other part; nothing in the
package imports them (only the CLI, which sits above everything).
"""
