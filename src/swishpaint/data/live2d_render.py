"""Headless Live2D (Cubism 2) renderer: poses of one character model as PNG frames on white.

Run by the anime corpus build in its own process under Xvfb (one model per process, so a GL crash
costs one model, not the build):  python -m swishpaint.data.live2d_render JOB.json
Needs the optional extra `anime` (live2d-py, pygame, PyOpenGL). The library's clock is replaced by
a frame counter and the pose parameters are set directly from a seeded generator, so a frame depends
only on (model, seed, index): a re-run renders the same frames and skips the ones already on disk.
"""

from __future__ import annotations

import json
import os
import sys
from dataclasses import asdict, dataclass, field
from pathlib import Path

import numpy as np
from PIL import Image

from .images import save_png
from .frames import Deduper, crop_on_white, figure_box, figure_views

# Standard Cubism 2 parameters and the range each is jittered over.
POSE_PARAMS = {
    "PARAM_ANGLE_X": (-30.0, 30.0), "PARAM_ANGLE_Y": (-30.0, 30.0), "PARAM_ANGLE_Z": (-20.0, 20.0),
    "PARAM_BODY_ANGLE_X": (-10.0, 10.0), "PARAM_BODY_ANGLE_Y": (-10.0, 10.0),
    "PARAM_BODY_ANGLE_Z": (-10.0, 10.0),
    "PARAM_EYE_L_OPEN": (0.0, 1.0), "PARAM_EYE_R_OPEN": (0.0, 1.0),
    "PARAM_EYE_BALL_X": (-1.0, 1.0), "PARAM_EYE_BALL_Y": (-1.0, 1.0),
    "PARAM_MOUTH_OPEN_Y": (0.0, 1.0), "PARAM_MOUTH_FORM": (-1.0, 1.0),
    "PARAM_BROW_L_Y": (-1.0, 1.0), "PARAM_BROW_R_Y": (-1.0, 1.0),
}


@dataclass
class RenderJob:
    model_json: str  # the .model.json (or dill index.json) file
    out_dir: str  # frames land here as f_<index>.png (+ _z zoomed view)
    frames: int = 200  # poses to try; near-duplicates are dropped
    size: int = 512  # output side
    canvas: int = 1024  # render side: the figure is found in it, then cropped to fill the output
    scale: float = 0.45  # model scale in the canvas: small enough that no model is cut off
    seed: int = 0
    sequences: int = 0  # held-out models: this many motion sequences of `sequence_length` frames
    sequence_length: int = 15
    sequence_dir: str = ""


@dataclass
class RenderResult:
    kept: list[str] = field(default_factory=list)
    duplicates: int = 0
    blank: int = 0
    sequences: list[str] = field(default_factory=list)


def _usable_model_json(path: Path) -> Path:
    """A copy of the model file without expressions and motions whose files are missing.

    tsumiki lists expression files it lacks, and one dill outfit a motion file; live2d-py fails on both.
    """
    setting = json.loads(path.read_text(encoding="utf-8-sig"))

    def present(entries: list[dict]) -> list[dict]:
        return [e for e in entries if (path.parent / e["file"]).is_file()]

    lists = [("expressions", None)] + [("motions", g) for g in (setting.get("motions") or {})]
    changed = False
    for key, group in lists:
        entries = setting.get(key) if group is None else setting[key][group]
        kept = present(entries or [])
        if len(kept) != len(entries or []):
            changed = True
            if group is None:
                setting[key] = kept
            else:
                setting[key][group] = kept
    if "expressions" in setting and not setting["expressions"]:
        del setting["expressions"]
    if not changed:
        return path
    fixed = path.with_name(".swishpaint-" + path.name)
    fixed.write_text(json.dumps(setting), encoding="utf-8")
    return fixed


class Renderer:
    """One pygame OpenGL window and one model; `pose(rng, t_ms)` then `grab()`."""

    def __init__(self, job: RenderJob):
        os.environ.setdefault("SDL_AUDIODRIVER", "dummy")
        try:
            import live2d.v2 as live2d
            import pygame
            from live2d.v2.core.util.ut_system import UtSystem
            from OpenGL import GL
        except ImportError as e:
            raise SystemExit(f"swishpaint: error: Live2D rendering needs the 'anime' extra "
                             f"(pip install 'swishpaint[anime]'): {e}") from None
        self.live2d, self.clock, self.gl = live2d, UtSystem, GL
        self.job = job
        pygame.init()
        pygame.display.set_mode((job.canvas, job.canvas), pygame.DOUBLEBUF | pygame.OPENGL)
        live2d.init()
        live2d.enableLog(False)
        self.clock.setUserTimeMSec(0)
        self.model = live2d.Model()
        self.model.LoadModelJson(str(_usable_model_json(Path(job.model_json))))
        self.model.Resize(job.canvas, job.canvas)
        self.model.SetAutoBreath(False)
        self.model.SetAutoBlink(False)
        self.model.SetScale(job.scale)
        setting = self.model.modelSetting
        self.groups = [g for g in (setting.getMotionNames() or []) if setting.getMotionNum(g) > 0]
        self.expressions = sorted(self.model.expressions or {})
        self.t_ms = 0

    def start(self, rng: np.random.Generator) -> None:
        """A random motion and expression, started at the current (virtual) time."""
        self.clock.setUserTimeMSec(self.t_ms)
        if self.groups:
            group = self.groups[rng.integers(len(self.groups))]
            self.model.StartMotion(group, int(rng.integers(self.model.modelSetting.getMotionNum(group))), 3)
        if self.expressions:
            self.model.SetExpression(self.expressions[rng.integers(len(self.expressions))])

    def pose(self, params: dict[str, float], advance_ms: int) -> None:
        self.t_ms += advance_ms
        self.clock.setUserTimeMSec(self.t_ms)
        self.model.Update()
        for name, value in params.items():
            self.model.live2DModel.setParamFloat(name, value, 1.0)

    def grab(self) -> np.ndarray:
        GL, c = self.gl, self.job.canvas
        self.live2d.clearBuffer(1.0, 1.0, 1.0, 1.0)
        self.model.Draw()
        raw = GL.glReadPixels(0, 0, c, c, GL.GL_RGBA, GL.GL_UNSIGNED_BYTE)
        return np.frombuffer(raw, np.uint8).reshape(c, c, 4)[::-1, :, :3].copy()


def random_params(rng: np.random.Generator) -> dict[str, float]:
    return {k: float(rng.uniform(lo, hi)) for k, (lo, hi) in POSE_PARAMS.items()}


def render(job: RenderJob) -> RenderResult:
    out = Path(job.out_dir)
    out.mkdir(parents=True, exist_ok=True)
    result = RenderResult()
    dedup = Deduper()
    for old in sorted(out.glob("f_*.png")) if job.frames else ():  # resume: earlier frames count for near-duplicates
        if not old.stem.endswith("_z"):
            dedup.is_new(np.asarray(Image.open(old).convert("RGB")))
    renderer = Renderer(job)
    for i in range(job.frames):
        name = f"f_{i:04d}.png"
        rng = np.random.default_rng([job.seed, i])
        if (out / name).is_file():
            result.kept.append(name)
            if (out / name.replace(".png", "_z.png")).is_file():
                result.kept.append(name.replace(".png", "_z.png"))
            continue
        renderer.start(rng)
        renderer.pose(random_params(rng), int(rng.integers(200, 3000)))
        views = figure_views(renderer.grab(), job.size, rng)
        if views is None:
            result.blank += 1
            continue
        if not dedup.is_new(views[0]):
            result.duplicates += 1
            continue
        for suffix, view in zip(("", "_z"), views):
            path = out / name.replace(".png", f"{suffix}.png")
            save_png(Image.fromarray(view), path)
            result.kept.append(path.name)
    for s in range(job.sequences):
        result.sequences.append(_sequence(renderer, job, s))
    return result


def _sequence(renderer: Renderer, job: RenderJob, index: int) -> str:
    """Consecutive frames of one motion: parameters interpolated in small steps between two poses."""
    folder = Path(job.sequence_dir) / f"seq_{index:02d}"
    if (folder / f"frame_{job.sequence_length - 1:03d}.png").is_file():
        return folder.name
    folder.mkdir(parents=True, exist_ok=True)
    rng = np.random.default_rng([job.seed, 10_000 + index])
    a, b = random_params(rng), random_params(rng)
    renderer.start(rng)
    box = None
    for f in range(job.sequence_length):
        w = f / max(1, job.sequence_length - 1)
        renderer.pose({k: (1 - w) * a[k] + w * b[k] for k in a}, 100)
        frame = renderer.grab()
        if box is None:  # one framing for the whole sequence, so only the character moves
            box = figure_box(frame, margin=0.12) or (0, 0, job.canvas, job.canvas)
        Image.fromarray(crop_on_white(frame, box, job.size)).save(folder / f"frame_{f:03d}.png")
    return folder.name


def main(argv: list[str]) -> int:
    job = RenderJob(**json.loads(Path(argv[0]).read_text()))
    result = render(job)
    print(json.dumps(asdict(result)))
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
