"""Tune the animation matching's max_cost on training characters' sequences, never the scored ones.

    python scripts/tune_matching.py /work/data/anime/sequences-tune 1.6 2.2 2.8 3.4

(the sequences come from `swishpaint data build-anime ... --tuning-sequences 1`). For each value it
prints region and pixel accuracy of keyframe matching and chaining, next frame and 10 apart, and the
regions left to the network per frame; the benchmark itself (`swishpaint evaluate --sequences`) runs on
the held-out characters with whatever default this picks.
"""

from __future__ import annotations

import argparse
import dataclasses

from swishpaint.experiments.sequences import evaluate_sequences
from swishpaint.inference.sequence import SequenceConfig


def main(root: str, values: list[float]) -> int:
    for value in values:
        base = SequenceConfig()
        config = dataclasses.replace(base, match=dataclasses.replace(base.match, max_cost=value))
        report = evaluate_sequences(root, config=config, references=False)
        table = report.table()
        cells = [f"{row[:5]} {gap}: {100 * scores['region_accuracy']:.1f} / {100 * scores['pixel_accuracy']:.1f}"
                 for row in table for gap, scores in table[row].items()]
        print(f"max_cost {value}: " + "; ".join(cells) + f"; unmatched per frame {report.unmatched_per_frame:.2f}",
              flush=True)
    return 0


if __name__ == "__main__":
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("root", help="folders of frame_NNN.png renders of training characters")
    p.add_argument("values", nargs="+", type=float, help="max_cost values to try")
    args = p.parse_args()
    raise SystemExit(main(args.root, args.values))
