"""`swishpaint compare`: the paper's Table 1 and Table 2 reproduced in one run.

Trains (or loads) SwishU-net, U-net and SwishU-net-WPL with equal budgets on the same data, scores them
on the same held-out split (Table 1, with the sketch baseline), and measures parameters, GFLOPs per
512x512 image and milliseconds per image on this machine in the same process (Table 2).
"""

from __future__ import annotations

import json
import signal
from dataclasses import dataclass, field
from pathlib import Path
from typing import Literal

import torch

from ..configs import ConfigError, find_config, from_dict, load_yaml
from ..files import Stopped, atomic_write, atomic_write_text
from ..metrics.timing import median_time
from ..models.registry import (CONFIG_FILE, count_flops, count_parameters, create_model, load_model, model_folder,
                               paper_scale_model)
from .evaluate import evaluate_model


@dataclass
class CompareEntry:
    name: str  # the row's label, e.g. SwishU-net
    config: str = ""  # training config (YAML) to train with; or
    load: str = ""  # an existing model folder to evaluate instead
    overrides: list[str] = field(default_factory=list)


@dataclass
class CompareConfig:
    data: str = "data/demo"
    out_dir: str = "runs/compare"
    steps: int = 1000  # equal budget for every model
    overrides: list[str] = field(default_factory=list)  # applied to every model's training config
    eval_size: int = 256
    eval_images: int = 0  # 0 = the whole held-out split
    line_method: Literal["xdog", "dilate"] = "dilate"
    hint_patches: int = 0
    timing_size: int = 512
    timing_runs: int = 5
    inception_weights: str = ""
    fid: bool = True
    models: list[CompareEntry] = field(default_factory=list)


def time_forward(model: torch.nn.Module, size: int, runs: int) -> float:
    """Median milliseconds of one forward pass on a size x size input (after one warm-up)."""
    model = model.eval()
    x = torch.rand(1, model.config.in_channels, size, size)
    with torch.inference_mode():
        return median_time(lambda: model(x), runs) * 1000


def _model_folder(entry: CompareEntry, cfg: CompareConfig, base: Path) -> Path:
    if entry.load:
        return Path(entry.load)
    from ..training import load_config, train
    from ..training.config import changed_settings

    out = Path(cfg.out_dir) / entry.name.lower().replace(" ", "-")
    beside = base / entry.config  # configs are named relative to the compare file's folder
    config_path = beside if beside.is_file() else Path(entry.config)
    tc = load_config(config_path, [f"data.root={cfg.data}", f"steps={cfg.steps}", f"out_dir={out}",
                                   *cfg.overrides, *entry.overrides])
    from ..training.checkpoints import list_checkpoints

    # an interrupted comparison continues its runs; a fresh one starts them. A run trained with other
    # settings is refused: its scores would be put under the settings of today's config
    earlier = bool(list_checkpoints(out))
    changed = changed_settings(out / CONFIG_FILE, tc) if earlier else []
    if changed:
        raise ConfigError(f"{out}: {entry.name} was trained with other settings ({'; '.join(changed)}); move or "
                          "delete that folder to train it again, or restore the settings")
    result = train(tc, resume=earlier, progress=False)
    if result["stopped"]:  # Ctrl-C / SIGTERM: the run is saved; stop the comparison too (rerun resumes)
        raise Stopped(result.get("signal") or signal.SIGINT)  # exits 128 + the signal, as train would
    return model_folder(Path(result["checkpoint"]))  # the generator the run validated


def run_compare(config_path: str | Path) -> dict:
    """Run the comparison described by a YAML file; writes table1/table2 markdown, results.json, chart."""
    config_path = find_config(config_path)
    raw = load_yaml(config_path)
    cfg = from_dict(CompareConfig, raw, where=str(config_path))
    if not cfg.models:  # before any work, and before anything is written
        raise ConfigError(f"{config_path}: no models to compare; list them under models:")
    base = config_path.resolve().parent
    out = Path(cfg.out_dir)
    rows = {}
    for entry in cfg.models:
        folder = _model_folder(entry, cfg, base)
        result = evaluate_model(str(folder), cfg.data, size=cfg.eval_size, images=cfg.eval_images,
                                hint_patches=cfg.hint_patches, line_method=cfg.line_method,
                                inception_weights=cfg.inception_weights or None, fid=cfg.fid)
        trained = load_model(folder)
        # Table 2 is about the architecture at the paper's scale as well as the model trained here.
        paper = create_model(paper_scale_model(trained))
        rows[entry.name] = {
            "folder": str(folder), "evaluation": result.to_dict(),
            "params": count_parameters(trained), "gflops_512": count_flops(trained, 512) / 1e9,
            "ms_per_image": time_forward(trained, cfg.timing_size, cfg.timing_runs),
            "paper_scale_params": count_parameters(paper), "paper_scale_gflops_512": count_flops(paper, 512) / 1e9,
        }
    report = {"config": raw, "torch_threads": torch.get_num_threads(), "rows": rows}
    out.mkdir(parents=True, exist_ok=True)
    atomic_write_text(out / "results.json", json.dumps(report, indent=1))
    atomic_write_text(out / "table1.md", table1(report))
    atomic_write_text(out / "table2.md", table2(report))
    report["chart"] = bar_chart(report, out / "tables.png")
    return report


def _row(table: dict[str, dict], kind: str) -> tuple[str, dict]:
    """(name, metrics) of the evaluation row of this kind (experiments.evaluate.Row.kind)."""
    return next((name, row) for name, row in table.items() if row["kind"] == kind)


def table1(report: dict) -> str:
    first = next(iter(report["rows"].values()))["evaluation"]
    lines = [f"Table 1: held-out split of {first['data']} ({first['images']} images, {first['size']} px, "
             f"sketches by '{first['line_method']}'); candidate 1 unless noted." + (f" {first['fid_note']}." if first["fid_note"] else ""), "",
             "| model | FID | PSNR | SSIM | FSIM | ΔE | chroma |", "|---|---|---|---|---|---|---|"]
    def row(name, r):
        fid = f"{r['fid']:.1f}" if "fid" in r else "n/a"
        return f"| {name} | {fid} | {r['psnr']:.2f} | {r['ssim']:.4f} | {r['fsim']:.4f} | {r['delta_e']:.2f} | {r['chroma']:.1f} |"
    for name, entry in report["rows"].items():
        t = entry["evaluation"]["table"]
        lines.append(row(name, _row(t, "candidate_1")[1]))
        lines.append(row(f"{name}, best of {entry['evaluation']['candidates']}", _row(t, "best")[1]))
    lines.append(row("sketch as output", _row(first["table"], "sketch")[1]))
    return "\n".join(lines) + "\n"


def table2(report: dict) -> str:
    lines = [f"Table 2: this machine, float32, {report['torch_threads']} threads, batch 1; "
             "ms per image measured in the same run.", "",
             "| model | parameters | GFLOPs per 512x512 | ms per image | paper-scale parameters | paper-scale GFLOPs |",
             "|---|---|---|---|---|---|"]
    for name, r in report["rows"].items():
        lines.append(f"| {name} | {r['params'] / 1e6:.2f} M | {r['gflops_512']:.1f} | {r['ms_per_image']:.0f} | "
                     f"{r['paper_scale_params'] / 1e6:.2f} M | {r['paper_scale_gflops_512']:.0f} |")
    return "\n".join(lines) + "\n"


def bar_chart(report: dict, path: Path) -> str:
    """PSNR, SSIM, FSIM and ms/image as bars; needs matplotlib (optional: pip install 'swishpaint[eval]')."""
    try:
        import matplotlib

        matplotlib.use("Agg")
        import matplotlib.pyplot as plt
    except ImportError:
        return "chart skipped: matplotlib is not installed (pip install 'swishpaint[eval]')"
    names = list(report["rows"])
    first = lambda r: _row(r["evaluation"]["table"], "candidate_1")[1]
    metrics = [("PSNR (dB)", lambda r: first(r)["psnr"]),
               ("SSIM", lambda r: first(r)["ssim"]),
               ("FSIM", lambda r: first(r)["fsim"]),
               ("ms per 512x512 image", lambda r: r["ms_per_image"])]
    fig, axes = plt.subplots(1, len(metrics), figsize=(4 * len(metrics), 3.5))
    for ax, (label, get) in zip(axes, metrics):
        ax.bar(names, [get(report["rows"][n]) for n in names], color=["#d9534f", "#5bc0de", "#5cb85c"][:len(names)])
        ax.set_title(label)
        ax.tick_params(axis="x", rotation=20)
    fig.tight_layout()
    atomic_write(path, lambda tmp: fig.savefig(tmp, format="png", dpi=100))
    plt.close(fig)
    return str(path)
