"""ONNX export and an onnxruntime backend that plugs into the Colorizer unchanged.

`swishpaint export onnx --model M --out DIR` writes DIR/model.onnx (dynamic batch, height and width,
H and W multiples of the model's size rule) beside DIR/config.yaml; `colorize --backend onnx` runs it
with onnxruntime (optional dependency: pip install 'swishpaint[onnx]').
"""

from __future__ import annotations

import contextlib
import logging
import shlex
import shutil
import tempfile
import warnings
from pathlib import Path
from typing import TYPE_CHECKING, Iterator, NamedTuple

import numpy as np
import torch

from ..errors import require_extra
from ..files import sha256_file
from ..models.registry import (CHOOSER_FILE, CONFIG_FILE, WEIGHTS_FILE, ModelCard, ModelLoadError, check_trained,
                               is_architecture_name, load_model, load_model_config, model_folder, read_model_card,
                               write_model)
from .colorizer import Colorizer, check_card, model_path

if TYPE_CHECKING:  # an optional dependency, imported where it is used
    import onnxruntime

log = logging.getLogger(__name__)

ONNX_FILE = "model.onnx"
WEIGHTS_HASH_KEY = "swishpaint.weights_sha256"  # model.onnx's metadata: the weights it was exported from
EXPORTER_REGISTRY_LOG = "torch.onnx._internal.exporter._registration"  # logs the torchvision notices


def export_onnx(model: str | Path | None, out_dir: str | Path, overwrite: bool = False,
                allow_untrained: bool = False) -> Path:
    """Export a model (folder, checkpoint or name; the bundled one by default) to out_dir/model.onnx, with
    the files that make out_dir a model folder beside it (_Beside). A registered architecture name has
    random weights (what a runtime benchmark wants): refused unless allow_untrained, as Colorizer.load does.

    Every file the export would replace is refused first unless overwrite, because the export takes half
    a minute; then they are all written together or none is, and a folder made for them goes again: a
    failure part-way never leaves a model.onnx beside another network's config.
    """
    from ..files import FileGroup, output_folder, refuse_existing

    require_extra("ONNX export", "onnx", "onnx", "onnxscript")
    check_trained(model, allow_untrained, "give a model folder, or --untrained to export its random weights")
    source = model_path(model)
    with output_folder(out_dir) as out_dir:
        beside = _Beside.of(source, out_dir)
        for name in beside.names():
            refuse_existing(out_dir / name, overwrite)
        net = load_model(source).eval()
        if not beside.from_network:  # a folder whose card colorize refuses is not exported to be refused there
            check_card(read_model_card(source), net.config.candidates, source)
        weights = None if beside.from_network else model_folder(source) / WEIGHTS_FILE
        digest = sha256_file(weights) if weights is not None and weights.is_file() else None
        with FileGroup() as group:
            group.write(out_dir / ONNX_FILE, lambda tmp: _export_network(net, tmp, digest))
            for f in beside.copies:
                group.write(out_dir / f.name, lambda tmp, f=f: shutil.copyfile(f, tmp))
            if beside.from_network:  # marked, so that colorize and serve refuse the random weights
                write_model(group, net, out_dir, ModelCard(untrained=True))
            for name in beside.removed:
                group.remove(out_dir / name)
    return out_dir / ONNX_FILE


class _Beside(NamedTuple):
    """What an export writes beside model.onnx, and what it removes there."""

    copies: list[Path]  # from the model folder: its config.yaml and region chooser (and weights, see `of`)
    from_network: bool  # config.yaml and model.safetensors written from the network: a registered name
    removed: list[str]  # out_dir's region chooser or weights when none come: another network's, which the
    # torch backend would otherwise run (weights) or apply (chooser) beside this model.onnx and config

    @classmethod
    def of(cls, source: Path, out_dir: Path) -> "_Beside":
        """A model folder brings its config.yaml and chooser; given as a checkpoint or a file in it, its
        weights too, so that export is a torch model folder as well (as it always was). Nothing is copied
        or removed when exporting into the model folder itself."""
        if is_architecture_name(source):
            return cls([], True, [CHOOSER_FILE])
        folder = model_folder(source)
        if folder.resolve() == out_dir.resolve():
            return cls([], False, [])
        names = (CONFIG_FILE, CHOOSER_FILE) if folder == source else (CONFIG_FILE, WEIGHTS_FILE, CHOOSER_FILE)
        copies = [folder / name for name in names if (folder / name).is_file()]
        brought = {f.name for f in copies}
        return cls(copies, False, [name for name in (WEIGHTS_FILE, CHOOSER_FILE) if name not in brought])

    def names(self) -> list[str]:
        """Every file of out_dir the export writes or removes."""
        written = [CONFIG_FILE, WEIGHTS_FILE] if self.from_network else []
        return [ONNX_FILE, *(f.name for f in self.copies), *written, *self.removed]


def _export_network(net: torch.nn.Module, path: Path, weights_sha256: str | None = None) -> None:
    """torch.onnx.export with dynamic batch, height and width (multiples of the model's size rule); the
    hash of the weights file it came from is kept in the graph's metadata (a stale export is then told)."""
    from torch.export import Dim

    m = net.config.size_multiple
    x = torch.rand(1, net.config.in_channels, 2 * m, 3 * m)
    h, w = Dim("h", min=1, max=4096 // m), Dim("w", min=1, max=4096 // m)
    with _quiet_exporter():
        torch.onnx.export(net, (x,), str(path), dynamo=True, external_data=False, verbose=False,
                          input_names=["sketch"], output_names=["candidates"],
                          dynamic_shapes={"x": {0: Dim("batch", min=1, max=256), 2: m * h, 3: m * w}})
    if weights_sha256 is not None:
        import onnx

        graph = onnx.load(str(path))
        entry = graph.metadata_props.add()
        entry.key, entry.value = WEIGHTS_HASH_KEY, weights_sha256
        onnx.save(graph, str(path))


class _DropRecords(logging.Filter):
    def __init__(self, text: str):
        super().__init__()
        self.text = text

    def filter(self, record: logging.LogRecord) -> bool:
        return self.text not in record.getMessage()


@contextlib.contextmanager
def _quiet_exporter() -> Iterator[None]:
    """Silence the two notices every export prints that say nothing about the user's model: the exporter's
    "torchvision is not installed. Skipping torchvision::..." log lines and a FutureWarning about
    LeafSpec from torch's own pytree code. Only these, and only around the export call."""
    logger, drop = logging.getLogger(EXPORTER_REGISTRY_LOG), _DropRecords("torchvision is not installed")
    logger.addFilter(drop)
    try:
        with warnings.catch_warnings():
            warnings.filterwarnings("ignore", message=r".*LeafSpec", category=FutureWarning)
            yield
    finally:
        logger.removeFilter(drop)


def _open_session(onnx_path: Path, options: onnxruntime.SessionOptions) -> onnxruntime.InferenceSession:
    """An onnxruntime session on the CPU; a damaged or foreign model.onnx is a one-line ModelLoadError naming
    it (onnxruntime's own errors are plain Exceptions with a long prefix, and would end in a traceback)."""
    import onnxruntime as ort
    from onnxruntime.capi import onnxruntime_pybind11_state as ort_errors

    load_errors = tuple(getattr(ort_errors, name) for name in (
        "Fail", "InvalidArgument", "InvalidGraph", "InvalidProtobuf", "NoModel", "NoSuchFile", "NotImplemented")
        if hasattr(ort_errors, name))
    try:
        return ort.InferenceSession(str(onnx_path), options, providers=["CPUExecutionProvider"])
    except load_errors as e:
        reason = (str(e).split(" failed:", 1)[-1].strip().splitlines() or [type(e).__name__])[0].rstrip(".")
        raise ModelLoadError(f"{onnx_path}: not a valid ONNX model ({reason})") from None


def _check_graph(session: onnxruntime.InferenceSession, onnx_path: Path, config) -> None:
    """model.onnx must be the network its folder describes: the channels config.yaml names, and, when
    the folder holds weights, exported from those (a folder trained on after its export runs the old
    network otherwise, without a word). One line naming the file, with the way out. A dimension a graph
    leaves symbolic is not held against it."""
    inputs, outputs = session.get_inputs(), session.get_outputs()
    shape_in = inputs[0].shape if inputs else []
    shape_out = outputs[0].shape if outputs else []  # (batch, candidates, 3, height, width)
    channels = shape_in[1] if len(shape_in) > 1 else None
    candidates = shape_out[1] if len(shape_out) > 1 else None
    weights = onnx_path.parent / WEIGHTS_FILE
    again = (f"export it again: swishpaint export onnx --model {shlex.quote(str(onnx_path.parent))} --out "
             f"{shlex.quote(str(onnx_path.parent))} --overwrite") if weights.is_file() else \
        "export it again from the model folder it came from (swishpaint export onnx)"
    if not inputs or not outputs or any(isinstance(have, int) and have != want for have, want in
                                        ((channels, config.in_channels), (candidates, config.candidates))):
        raise ModelLoadError(f"{onnx_path}: takes {channels} input channels and gives {candidates} candidates, "
                             f"but the {CONFIG_FILE} beside it describes {config.in_channels} and "
                             f"{config.candidates}; {again}")
    recorded = session.get_modelmeta().custom_metadata_map.get(WEIGHTS_HASH_KEY)
    stale = weights.is_file() and (sha256_file(weights) != recorded if recorded else
                                   _holds_other_weights(onnx_path, weights))
    if stale:
        raise ModelLoadError(f"{onnx_path}: was exported from other weights than the {WEIGHTS_FILE} beside it; "
                             f"{again}")


def _holds_other_weights(onnx_path: Path, weights: Path) -> bool:
    """For an export that records no hash (made before exports did): whether a tensor the graph keeps
    under its own name differs from the same-named one in `weights` (fp16 files compared as float32). A
    retrained network differs in all of them. False when it cannot tell: the onnx package (only the
    onnxruntime one is needed to run) is missing, or no name is shared."""
    try:
        import onnx
        from onnx import numpy_helper
    except ImportError:
        return False
    from safetensors.numpy import load_file

    graph = onnx.load(str(onnx_path)).graph
    stored = load_file(str(weights))
    return any(not np.array_equal(numpy_helper.to_array(t), stored[t.name].astype(np.float32))
               for t in graph.initializer if t.name in stored and stored[t.name].shape == tuple(t.dims))


class OnnxGenerator:
    """Quacks like the torch generator for the Colorizer: .config, .eval(), .to(), __call__."""

    def __init__(self, onnx_path: Path, config, threads: int = 0):
        import onnxruntime as ort

        options = ort.SessionOptions()
        if threads:
            options.intra_op_num_threads = threads
        # ORT's idle threads spin after each run by default, stealing the cores from the PyTorch
        # steps that follow (guided upsampling, line compositing); end to end this cost 20% on 2 cores
        options.add_session_config_entry("session.intra_op.allow_spinning", "0")
        self.session = _open_session(onnx_path, options)
        self.config = config
        _check_graph(self.session, onnx_path, config)

    def eval(self):
        return self

    def to(self, device):
        return self

    def __call__(self, x: torch.Tensor) -> torch.Tensor:
        out = self.session.run(None, {self.session.get_inputs()[0].name: x.detach().cpu().numpy().astype(np.float32)})
        return torch.from_numpy(out[0])


class OnnxColorizer(Colorizer):
    """Colorizer.load with onnxruntime behind it: a folder with model.onnx, or a torch model folder
    exported on the fly (to a temporary folder). Always on the CPU."""

    @classmethod
    def _load_generator(cls, path: Path, device: str) -> tuple[OnnxGenerator, str]:
        require_extra("the ONNX backend", "onnx", "onnxruntime")
        onnx_path = path / ONNX_FILE
        if not onnx_path.is_file():
            require_extra("ONNX export", "onnx", "onnx", "onnxscript")
            log.warning("%s has no %s; exporting it now (swishpaint export onnx saves this step)", path, ONNX_FILE)
            with tempfile.TemporaryDirectory(prefix="swishpaint-onnx-") as tmp:  # the session holds the graph
                onnx_path = Path(tmp) / ONNX_FILE
                _export_network(load_model(path).eval(), onnx_path)
                return OnnxGenerator(onnx_path, load_model_config(path)), "cpu"
        return OnnxGenerator(onnx_path, load_model_config(path)), "cpu"
