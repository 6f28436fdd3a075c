"""`swishpaint bench`: speed and memory measured on this machine, written to benchmarks/results.json.

infer: for swish_unet_paper and unet_paper at 512x512 (batch 1 and 4) the counted FLOPs, the median
wall time of >= 5 runs after a warm-up, achieved GFLOP/s, and the machine's own peak in the same run
(a large float32 matrix product and a large 3x3 convolution) giving an efficiency ratio; the peak
memory of each case (each runs in a fresh process); eager ("before") and optimised ("after":
inference mode + channels-last) execution; the bundled model eager, channels-last, torch.compile'd
and with ONNX Runtime; the whole colorize pipeline with the torch and ONNX backends; and
the command line's cold start. train: images per second of cpu-demo and the U-net baseline.
regions: line-art segmentation per 512² sketch (target ≤ 60 ms) and its peak memory at 4096² (each in a
fresh process), the whole colorize pipeline at 512² by regions against the network alone (the
pipeline before regions) in the same run (target ≤ 1.5×), with and without 20 hints, and colouring an
animation from a keyframe per 512² frame (target ≤ 0.5 s).
page: the web page's paint bucket on a 2048² sketch in Chromium (target ≤ 50 ms; see page_bench).
"""

from __future__ import annotations

import json
import multiprocessing as mp
import platform
import resource
import signal
import statistics
import subprocess
import sys
import time
from pathlib import Path
from queue import Empty

import numpy as np
import torch

from ..configs import BENCHES
from ..errors import InvalidArgument, OutputError, SwishpaintError
from ..files import atomic_write_text, check_new_output, read_json_object, signals_handled
from ..metrics.timing import interleaved_median_times, median_time


def machine_peak(runs: int = 5) -> dict:
    """GFLOP/s of a 2048^3 float32 matmul and of a 3x3 convolution 128->128 channels at 256x256."""
    a, b = torch.rand(2048, 2048), torch.rand(2048, 2048)
    t_mm = median_time(lambda: a @ b, runs)
    conv = torch.nn.Conv2d(128, 128, 3, padding=1, bias=False).eval()
    x = torch.rand(1, 128, 256, 256)
    with torch.inference_mode():
        t_conv = median_time(lambda: conv(x), runs)
    mm, cv = 2 * 2048**3 / t_mm / 1e9, 2 * 128 * 128 * 9 * 256 * 256 / t_conv / 1e9
    return {"matmul_gflops": mm, "conv3x3_gflops": cv, "peak_gflops": max(mm, cv)}


def _case(queue, model: str, size: int, batch: int, mode: str, runs: int, threads: int) -> None:
    """One measurement in a fresh process, so its peak memory is its own; a failure is reported, not hung on."""
    torch.set_num_threads(threads)
    try:
        queue.put(_measure(model, size, batch, mode, runs))
    except Exception as e:  # noqa: BLE001 - e.g. torch.compile without a C++ compiler
        queue.put({"model": model, "size": size, "batch": batch, "mode": mode, "error": f"{type(e).__name__}: {e}"})


def _peak_rss_mb() -> float:
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024


def _measure(model: str, size: int, batch: int, mode: str, runs: int) -> dict:
    from ..inference.colorizer import Colorizer
    from ..models.registry import count_flops, load_model

    if mode.startswith("colorize"):  # the whole pipeline on a size x size sketch, as a user runs it
        if mode == "colorize-onnx":
            from ..inference.onnx import OnnxColorizer
            colorizer = OnnxColorizer.load(None)
        else:
            colorizer = Colorizer.load()
        hints = None
        if mode == "colorize-hints":  # 20 hint patches, each locking the region it falls in
            rng = np.random.default_rng(0)
            hints = np.zeros((size, size, 4), np.uint8)
            for y, x in rng.integers(0, size - 8, (20, 2)):
                hints[y:y + 8, x:x + 8] = (*rng.integers(0, 256, 3), 255)
        # real line art (the example sketches): a noise "sketch" would be thousands of one-pixel regions
        seconds = statistics.median(median_time(lambda s=s: colorizer.colorize(s, hints=hints), runs)
                                    for s in _example_sketches(size))
        return {"model": model, "size": size, "batch": 1, "mode": mode, "seconds": seconds,
                "seconds_per_image": seconds, "working_size": colorizer.working_size,
                "peak_rss_mb": _peak_rss_mb()}
    if mode == "onnx":
        from ..inference.onnx import OnnxColorizer

        net = OnnxColorizer.load(model).model
        flops = count_flops(load_model(model), size, batch)
    else:
        net = load_model(model) if model != "bundled" else Colorizer.load().model
        flops = count_flops(net, size, batch)
    x = torch.rand(batch, net.config.in_channels, size, size)
    if mode == "optimized":
        net = net.to(memory_format=torch.channels_last)
        x = x.to(memory_format=torch.channels_last)
    if mode == "compiled":  # inductor's C++ kernels; needs a C++ compiler, fails loudly without one
        net = torch.compile(net)
    ctx = torch.inference_mode if mode != "eager" else torch.no_grad
    with ctx():
        seconds = median_time(lambda: net(x), runs)
    return {"model": model, "size": size, "batch": batch, "mode": mode, "flops": flops,
            "seconds": seconds, "seconds_per_image": seconds / batch, "gflops_per_s": flops / seconds / 1e9,
            "peak_rss_mb": _peak_rss_mb()}


class BenchError(SwishpaintError):
    """A bench case could not be measured at all (its process died): said in one line, the bench stops."""


def run_case(model: str, size: int, batch: int, mode: str, runs: int) -> dict:
    return _in_fresh_process(_case, model, size, batch, mode, runs, torch.get_num_threads())


def cold_start() -> dict:
    """Seconds to import swishpaint and load the bundled model, inside a fresh interpreter and for the whole process."""
    code = ("import time; t = time.perf_counter(); from swishpaint.inference.colorizer import Colorizer; "
            "Colorizer.load(); print(time.perf_counter() - t)")
    t = time.perf_counter()
    inner = float(subprocess.run([sys.executable, "-c", code], check=True, capture_output=True, text=True).stdout)
    total = time.perf_counter() - t
    return {"import_and_load_s": inner, "process_total_s": total}


def bench_infer(runs: int, quick: bool) -> dict:
    size = 128 if quick else 512
    cases = [("swish_unet_paper", 1, "eager"), ("swish_unet_paper", 1, "optimized"),
             ("unet_paper", 1, "eager"), ("unet_paper", 1, "optimized"),
             ("swish_unet_paper", 4, "optimized"), ("unet_paper", 4, "optimized"),
             ("bundled", 1, "eager"), ("bundled", 1, "optimized"), ("bundled", 1, "compiled"), ("bundled", 1, "onnx"),
             ("bundled", 1, "colorize"), ("bundled", 1, "colorize-hints"), ("bundled", 1, "colorize-onnx")]
    from ..inference.colorizer import BUNDLED

    peak = machine_peak(runs)
    results = []
    for model, batch, mode in cases:
        r = run_case(str(BUNDLED) if model == "bundled" else model, size, batch, mode, runs)
        r["model"] = model
        results.append(r)
        if "error" in r:
            print(f"{model:18s} b{batch} {mode:13s} failed: {r['error']}", flush=True)
            continue
        if "gflops_per_s" in r:
            r["efficiency"] = r["gflops_per_s"] / peak["peak_gflops"]
            speed = f"{r['gflops_per_s']:6.1f} GFLOP/s ({r['efficiency']:.0%} of peak)"
        else:
            speed = f"end to end, working size {r['working_size']}"
        print(f"{model:18s} b{batch} {mode:13s} {r['seconds'] * 1000:9.1f} ms  {speed}  "
              f"peak RSS {r['peak_rss_mb']:.0f} MB", flush=True)
    return {"size": size, "runs": runs, "machine_peak": peak, "cases": results, "cold_start": cold_start(),
            "sketches": sketch_source()}


def bench_train(runs: int, quick: bool) -> dict:
    """Images per second of one GAN step (synthetic batches, no data loading) for cpu-demo (channels-last, the
    default, and PyTorch's default layout) and U-net."""
    from ..training import build_state, gan_step, load_config

    out = {}
    for name, overrides in (("cpu-demo (SwishU-net)", []),
                            ("cpu-demo, default layout", ["channels_last=false"]),
                            ("U-net baseline", ["model.name=unet_small",
                                                "model.overrides={in_channels: 5, widths: [16, 32, 64, 96, 96, 96]}"])):
        cfg = load_config("cpu-demo", overrides + (["data.size=64", "batch_size=2"] if quick else []))
        state = build_state(cfg)
        s, b = cfg.data.size, cfg.batch_size
        batch = {"sketch": torch.rand(b, 1, s, s), "color": torch.rand(b, 3, s, s), "hints": torch.zeros(b, 4, s, s)}
        seconds = median_time(lambda: gan_step(state, batch), runs)
        out[name] = {"size": s, "batch": b, "seconds_per_step": seconds, "images_per_s": b / seconds}
        print(f"{name:24s} {s}px batch {b}: {b / seconds:.2f} images/s", flush=True)
    return out


def _example_files() -> list[Path]:
    """The example sketches of a source checkout; none in an installed package."""
    from ..data.images import list_images

    folder = Path(__file__).resolve().parents[3] / "examples" / "sketches"
    return list_images(folder) if folder.is_dir() else []


def sketch_source() -> str:
    """What the end-to-end and region cases coloured, for the results file: a synthetic sketch's times
    (thousands of one-pixel regions) are no line art's."""
    found = _example_files()
    return f"examples/sketches ({len(found)} sketches)" if found else "synthetic noise (no examples/sketches here)"


def _example_sketches(size: int) -> list[np.ndarray]:
    """The bundled example sketches (or, where they are missing, synthetic ones) at size², float in [0, 1]."""
    from PIL import Image

    from ..data.images import centred_on_white, fit_within

    found = _example_files()
    if not found:
        rng = np.random.default_rng(0)
        return [(rng.random((size, size)) > 0.03).astype(np.float32)]
    out = []
    for path in found:
        canvas = centred_on_white(fit_within(Image.open(path).convert("L"), size, enlarge=True), size)
        out.append(np.asarray(canvas, np.float32) / 255)
    return out


def _segment_case(queue, size: int, runs: int) -> None:
    """Median segmentation time over the example sketches at size², and this process's peak memory."""
    from ..regions.segment import segment

    try:
        sketches = _example_sketches(size)
        base = _peak_rss_mb()
        times = [median_time(lambda s=s: segment(s), runs) for s in sketches]
        regions = [segment(s).count for s in sketches]
        queue.put({"size": size, "sketches": len(sketches), "median_ms": 1000 * statistics.median(times),
                   "max_ms": 1000 * max(times), "regions": regions, "peak_rss_mb": _peak_rss_mb(),
                   "rss_before_mb": base})
    except Exception as e:  # noqa: BLE001 - reported, not hung on
        queue.put({"size": size, "error": f"{type(e).__name__}: {e}"})


def _pipeline_case(queue, size: int, runs: int) -> None:
    """End-to-end colorize at size²: by regions (final) and the network alone, with and without hints."""
    from ..inference.colorizer import Colorizer

    try:
        colorizer = Colorizer.load()
        sketches = _example_sketches(size)
        rng = np.random.default_rng(0)
        hints = np.zeros((size, size, 4), np.uint8)
        for y, x in rng.integers(0, size - 8, (20, 2)):
            hints[y:y + 6, x:x + 6] = (*rng.integers(0, 256, 3), 255)
        cases = {output + label: (output, h) for output in ("network", "final")
                 for label, h in (("", None), ("+hints", hints))}
        per_sketch = [interleaved_median_times(
            {name: (lambda s=s, o=o, h=h: colorizer.colorize(s, hints=h, output=o)) for name, (o, h) in cases.items()},
            runs) for s in sketches]  # in turn, so the ratios compare like with like
        out = {name: 1000 * statistics.median(t[name] for t in per_sketch) for name in cases}
        queue.put({"size": size, "ms": out, "ratio": out["final"] / out["network"],
                   "ratio_hints": out["final+hints"] / out["network+hints"], "peak_rss_mb": _peak_rss_mb()})
    except Exception as e:  # noqa: BLE001
        queue.put({"size": size, "error": f"{type(e).__name__}: {e}"})


def _sequence_case(queue, size: int, runs: int) -> None:
    """Seconds per frame colouring an animation from a keyframe (inference.sequence): each example sketch
    walks 4 pixels a frame for 8 frames; its key has a random colour per region."""
    from ..inference.colorizer import Colorizer
    from ..inference.sequence import SequenceConfig, colour_sequence
    from ..regions.matching import ColouredRegions, MatchConfig
    from ..regions.segment import segment

    try:
        colorizer = Colorizer.load()
        rng = np.random.default_rng(0)
        per_frame, matching_only, unmatched = [], [], 0
        every_region_matched = SequenceConfig(MatchConfig(max_cost=np.inf))  # the network never runs
        for sketch in _example_sketches(size):
            seg = segment(sketch)
            key = ColouredRegions(seg.labels, rng.random((seg.count, 3)).astype(np.float32))
            frames = [np.pad(sketch, ((0, 0), (4 * i, 0)), constant_values=1.0)[:, :size] for i in range(1, 9)]
            for _ in range(max(1, runs // 5)):
                start = time.perf_counter()
                unmatched += sum(len(f.unmatched) for f in colour_sequence(colorizer, frames, key))
                per_frame.append((time.perf_counter() - start) / len(frames))
                start = time.perf_counter()
                list(colour_sequence(colorizer, frames, key, every_region_matched))
                matching_only.append((time.perf_counter() - start) / len(frames))
        queue.put({"size": size, "frames": 8, "seconds_per_frame": float(np.median(per_frame)),
                   "seconds_per_frame_without_fallback": float(np.median(matching_only)),
                   "unmatched_regions": unmatched, "peak_rss_mb": _peak_rss_mb()})
    except Exception as e:  # noqa: BLE001 - reported, not hung on
        queue.put({"size": size, "error": f"{type(e).__name__}: {e}"})


def _in_fresh_process(target, *args) -> dict:
    """target(queue, *args) in a fresh interpreter, so that its peak memory is its own; its result.

    Ctrl-C stops the bench, not the case: the child starts with SIGINT ignored (an ignored signal stays
    ignored across the exec) and is ended here, so no child's traceback follows "interrupted". A child
    that dies without a result (killed for memory) is said, not waited for forever."""
    ctx = mp.get_context("spawn")
    queue = ctx.Queue()
    proc = ctx.Process(target=target, args=(queue, *args))
    with signals_handled((signal.SIGINT,), signal.SIG_IGN):  # the main thread's; elsewhere none to change
        proc.start()
    try:
        while True:
            alive = proc.is_alive()  # before the wait: a result put just before the end is still read
            try:
                result = queue.get(timeout=1.0)
                break
            except Empty:
                if not alive:
                    raise BenchError(f"a bench case ({getattr(target, '__name__', target)}) ended with exit code "
                                     f"{proc.exitcode} and no result (out of memory?)") from None
        proc.join()
        return result
    finally:
        if proc.is_alive():
            proc.terminate()
            proc.join()


def bench_regions(runs: int, quick: bool) -> dict:
    small, large = (128, 512) if quick else (512, 4096)
    seg = _in_fresh_process(_segment_case, small, runs)
    seg_large = _in_fresh_process(_segment_case, large, max(1, runs // 3))
    pipeline = _in_fresh_process(_pipeline_case, small, runs)
    for r in (seg, seg_large, pipeline):
        if "error" in r:
            print(f"regions bench case at {r['size']}² failed: {r['error']}", flush=True)
    for r in (seg, seg_large):
        if "error" not in r:
            print(f"segmentation {r['size']}²: median {r['median_ms']:.1f} ms (max {r['max_ms']:.1f}) over "
                  f"{r['sketches']} sketches, peak RSS {r['peak_rss_mb']:.0f} MB", flush=True)
    if "error" not in pipeline:
        print(f"colorize {small}²: " + ", ".join(f"{k} {v:.0f} ms" for k, v in pipeline["ms"].items())
              + f"; regions / network alone = {pipeline['ratio']:.2f}× ({pipeline['ratio_hints']:.2f}× with hints)")
    sequence = _in_fresh_process(_sequence_case, small, runs)
    if "error" not in sequence:
        print(f"sequence from a keyframe {small}²: {sequence['seconds_per_frame']:.3f} s per frame "
              f"({sequence['unmatched_regions']} regions fell back to the network; "
              f"{sequence['seconds_per_frame_without_fallback']:.3f} s without it)", flush=True)
    return {"segmentation": seg, "segmentation_large": seg_large, "pipeline": pipeline, "sequence": sequence,
            "sketches": sketch_source(),
            "targets": {"segmentation_ms_512": 60, "pipeline_ratio": 1.5, "sequence_seconds_per_frame_512": 0.5}}


def bench_page(runs: int, quick: bool) -> dict:
    from .page_bench import bench_page as page  # the browser's benchmark (a server and playwright): loaded if asked

    return page(runs, quick)


# configs.BENCHES names the CLI's choices without importing this module; a test keeps the two in step
BENCH_FUNCTIONS = {"infer": bench_infer, "train": bench_train, "regions": bench_regions, "page": bench_page}


def section_name(what: str, quick: bool) -> str:
    """The results file's section for a run: a --quick smoke test has its own ("regions-quick"), so it
    never replaces the recorded full numbers."""
    return f"{what}-quick" if quick else what


def read_results(out: Path) -> dict:
    """The results file's sections ({} when it does not exist yet); anything else at that path is refused
    before minutes of measuring, not after."""
    check_new_output(out, overwrite=True)  # a file it may update: not a folder, in a writable folder
    if not out.exists():
        return {}
    data = read_json_object(out, OutputError, "a swishpaint results file")
    known = {section_name(what, quick) for what in BENCHES for quick in (False, True)}
    foreign = sorted(set(data) - known)
    if foreign:  # another JSON file (an evaluate report, say): not to be added to
        raise OutputError(f"{out}: not a swishpaint bench results file (it holds {', '.join(foreign[:3])}); "
                          "give another --out")
    return data


def run_bench(what: str, out: Path, runs: int = 5, quick: bool = False) -> dict:
    """Run a benchmark and merge its section into the results file (atomically): a run refreshes its own
    section (section_name) and keeps the others."""
    if runs < 1:
        raise InvalidArgument(f"--runs must be at least 1, got {runs}")
    read_results(out)
    result = BENCH_FUNCTIONS[what](runs, quick)
    data = read_results(out)  # again: another bench may have written its section meanwhile
    data[section_name(what, quick)] = {"date": time.strftime("%Y-%m-%d %H:%M"),
                                       "machine": platform.processor() or platform.machine(),
                                       "torch": torch.__version__, "threads": torch.get_num_threads(), "quick": quick,
                                       **result}
    atomic_write_text(out, json.dumps(data, indent=1))
    print(f"wrote {out}")
    return data
