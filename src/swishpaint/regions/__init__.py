"""Regions: line-art segmentation, flat colours per region, and the classical colouring references.

Depends only on numpy, OpenCV (and scipy for Levin et al.'s solve), swishpaint.errors and
swishpaint.data; inference and the experiment drivers build on it.
"""
