"""Hint fill: spread each hint's colour through the region of the sketch it was painted in.

The network uses hints to choose colours, but a small model follows them only loosely. This step,
run at working resolution after the network, makes a hint hold for its whole region: every pixel
takes the colour of the hint nearest to it in geodesic distance, where stepping onto a dark line
pixel costs `line_cost` times more than stepping on paper, so colour flows around lines, not across
them. Walls are first widened by `close_gaps` pixels, so that the gaps of broken or dotted lines
close; a second, short pass then colours the edges of each region that the widening covered. The
result is blended over the network's colours with a weight that decays with that distance (scale
`reach`, a share of the image's longer side), so unhinted regions keep the network's colours.

The geodesic distance is computed by Jacobi relaxation over the 8 neighbours (a parallel Bellman-Ford),
which needs as many sweeps as the longest path is long, so sweeps stop once nothing changes closer
than the distance where the weight is negligible anyway.
"""

from __future__ import annotations

from dataclasses import dataclass

import math

import torch
import torch.nn.functional as F

_STEPS = [(dy, dx) for dy in (-1, 0, 1) for dx in (-1, 0, 1) if dy or dx]


@dataclass
class HintFill:
    line_cost: float = 500.0  # a step onto a black line pixel costs this many paper steps
    reach: float = 1.5  # a hint's weight falls to 1/e at this distance, as a share of the longer side
    cutoff: float = 6.0  # distances beyond cutoff * reach (weight < 0.25%) are not computed
    close_gaps: int = 2  # walls are widened by this many pixels to close gaps in broken lines


def wall_cost(sketch: torch.Tensor, line_cost: float, widen: int = 0) -> torch.Tensor:
    """(H, W) sketch in [0, 1] -> cost per step at each pixel: 1 on paper, up to 1 + line_cost on lines
    (lines widened by `widen` pixels)."""
    darkness = (1 - sketch).clamp(0, 1)
    if widen:
        darkness = F.max_pool2d(darkness[None, None], 2 * widen + 1, stride=1, padding=widen)[0, 0]
    return 1 + line_cost * darkness ** 2


def geodesic_nearest(sources: torch.Tensor, payload: torch.Tensor, cost: torch.Tensor,
                     limit: float = math.inf, sweeps: int | None = None) -> tuple[torch.Tensor, torch.Tensor]:
    """Distance to the nearest source and that source's payload, for every pixel.

    sources (H, W): bool, or float starting distances (inf = not a source); payload (C, H, W); cost
    (H, W) >= 1 per unit step at each pixel -> distance (H, W) (inf where unreachable within `limit`
    or `sweeps` steps), payload of the nearest source (C, H, W).
    """
    h, w = cost.shape
    dist = torch.where(sources, 0.0, math.inf) if sources.dtype == torch.bool else sources.clone()
    pay = payload * dist.isfinite()
    cost_pad = F.pad(cost[None, None], (1, 1, 1, 1), value=math.inf)[0, 0]
    steps = torch.stack([(math.sqrt(2) if dy and dx else 1.0) * 0.5
                         * (cost + cost_pad[1 + dy:1 + dy + h, 1 + dx:1 + dx + w]) for dy, dx in _STEPS])
    offsets, rows, cols = torch.tensor(_STEPS), torch.arange(h)[:, None] + 1, torch.arange(w)[None, :] + 1
    for _ in range(4 * (h + w) if sweeps is None else sweeps):
        dist_pad = F.pad(dist[None, None], (1, 1, 1, 1), value=math.inf)[0, 0]
        pay_pad = F.pad(pay[None], (1, 1, 1, 1))[0]
        through = torch.stack([dist_pad[1 + dy:1 + dy + h, 1 + dx:1 + dx + w] for dy, dx in _STEPS]) + steps
        best, which = through.min(0)
        better = (best < dist - 1e-4) & (best <= limit)
        if not better.any():
            break
        dy_dx = offsets[which]  # (H, W, 2): where the better path comes from (in the padded grid)
        ys, xs = rows + dy_dx[..., 0], cols + dy_dx[..., 1]
        dist = torch.where(better, best, dist)
        pay = torch.where(better[None], pay_pad[:, ys, xs], pay)
    return dist, pay


def spread_hints(colours: torch.Tensor, sketch: torch.Tensor, hints: torch.Tensor,
               cfg: HintFill = HintFill()) -> torch.Tensor:
    """colours (K, 3, H, W), sketch (1, H, W), hints (4, H, W), all in [0, 1] -> (K, 3, H, W)."""
    mask = hints[3] > 0
    if not mask.any():
        return colours
    reach = cfg.reach * max(mask.shape)
    walls = wall_cost(sketch[0], cfg.line_cost, cfg.close_gaps)
    dist, colour = geodesic_nearest(mask, hints[:3], walls, limit=cfg.cutoff * reach)
    if cfg.close_gaps:  # the widened walls cover the edges of each region: reach them from inside
        dist, colour = geodesic_nearest(dist, colour, wall_cost(sketch[0], cfg.line_cost),
                                        limit=cfg.cutoff * reach, sweeps=cfg.close_gaps + 1)
    weight = torch.exp(-dist / reach)  # 0 where unreachable (inf)
    return (1 - weight) * colours + weight * colour
