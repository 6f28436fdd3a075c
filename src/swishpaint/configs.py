"""Typed dataclass configs <-> plain dicts / YAML, with loud errors for unknown keys and bad values."""

from __future__ import annotations

import dataclasses
import re
import types
import typing
from pathlib import Path
from typing import Any, TypeVar

import yaml

from .errors import InvalidArgument, SwishpaintError, os_reason

T = TypeVar("T")

# Where colorize, evaluate and serve run unless told otherwise: the CPU gives the same numbers on every
# machine (training's TrainConfig.device is "auto" instead: it wants the GPU whenever there is one).
INFERENCE_DEVICE = "cpu"
DEVICES = "cpu, cuda or cuda:N"  # what --device takes (mps too, on a Mac that has it)
DEFAULT_VAL_PERCENT = 5.0  # the share of a dataset folder without train/ and val/ held out, by a hash of each name
BENCHES = ("infer", "train", "regions", "page")  # `swishpaint bench` sections (a results file may hold each, and
# its -quick form); here, not in experiments.bench, so that the CLI offers them without importing torch


def check_device(name: str, where: str = "") -> str:
    """`name` if this machine can run on it, else InvalidArgument naming `where` (default "device 'NAME'",
    as the Python API takes it; the CLI checks its --device first, naming the flag) and why.

    The one device check: every user-given device passes it before a model is loaded, so a bad or
    missing accelerator is one line at once, not a traceback from deep inside torch or safetensors
    (which blames the weights file). Returns the name unchanged, for the caller to pass on.
    """
    import torch  # here, not at the top: the CLI imports this module before it knows it needs torch

    where = where or f"device {name!r}"
    try:
        device = torch.device(name)
    except (RuntimeError, TypeError):
        raise InvalidArgument(f"{where}: not a device ({DEVICES})") from None
    if device.type == "cuda":
        count = torch.cuda.device_count() if torch.cuda.is_available() else 0
        if count == 0:
            raise InvalidArgument(f"{where}: CUDA is not available on this machine")
        if device.index is not None and device.index >= count:
            raise InvalidArgument(f"{where}: this machine has {count} CUDA device(s), "
                                  f"cuda:0 to cuda:{count - 1}")
    elif device.type == "mps":
        if not torch.backends.mps.is_available():
            raise InvalidArgument(f"{where}: MPS is not available on this machine")
    elif device.type != "cpu":
        raise InvalidArgument(f"{where}: not a device swishpaint runs on ({DEVICES})")
    return name


# The YAML configs ship inside the package (the repository's configs/ is a link to this folder).
PACKAGED_CONFIGS = Path(__file__).resolve().parent / "config_files"


class ConfigError(SwishpaintError, ValueError):
    """A configuration value or key is wrong; the message names it."""


def to_dict(obj: Any) -> Any:
    """Dataclass (nested) -> plain dict with lists, ready for YAML."""
    if dataclasses.is_dataclass(obj):
        return {f.name: to_dict(getattr(obj, f.name)) for f in dataclasses.fields(obj)}
    if isinstance(obj, (list, tuple)):
        return [to_dict(v) for v in obj]
    if isinstance(obj, dict):
        return {k: to_dict(v) for k, v in obj.items()}
    return obj


_FLOAT_TEXT = re.compile(r"[-+]?(\d+\.?\d*|\.\d+)([eE][-+]?\d+)?")


def _coerce(tp: Any, value: Any, where: str) -> Any:
    origin = typing.get_origin(tp)
    args = typing.get_args(tp)
    if origin is typing.Literal:  # enum strings: the type is the one list of valid choices
        if isinstance(value, bool):  # YAML 1.1 reads off/on/no/yes as booleans: the word that was meant
            value = next((w for w in (("off", "no", "false") if not value else ("on", "yes", "true"))
                          if w in args), value)
        if value not in args:
            raise ConfigError(f"{where} must be one of {', '.join(map(str, args))}, got {value!r}")
        return value
    if dataclasses.is_dataclass(tp):
        if not isinstance(value, dict):
            raise ConfigError(f"{where}: expected a mapping, got {value!r}")
        return from_dict(tp, value, where)
    if origin in (typing.Union, types.UnionType):
        if value is None and type(None) in args:
            return None
        inner = [a for a in args if a is not type(None)]
        return _coerce(inner[0], value, where)
    if origin in (tuple, list):
        if not isinstance(value, (list, tuple)):
            raise ConfigError(f"{where}: expected a list, got {value!r}")
        fixed = origin is tuple and args and args[-1] is not Ellipsis  # tuple[float, float]: exactly two
        if fixed and len(value) != len(args):
            raise ConfigError(f"{where}: expected {len(args)} values, got {len(value)} ({value!r})")
        items = args if fixed else [args[0] if args else Any] * len(value)
        seq = [_coerce(item, v, f"{where}[{i}]") for i, (item, v) in enumerate(zip(items, value))]
        return tuple(seq) if origin is tuple else seq
    if origin is dict:
        if not isinstance(value, dict):
            raise ConfigError(f"{where}: expected a mapping, got {value!r}")
        return dict(value)
    if tp is float and isinstance(value, (int, float)) and not isinstance(value, bool):
        return float(value)
    if tp is float and isinstance(value, str) and _FLOAT_TEXT.fullmatch(value.strip()):
        return float(value)  # YAML 1.1 reads 1e-4 (no dot) as a string, in a file or an override
    if tp is int and isinstance(value, bool) is False and isinstance(value, int):
        return value
    if tp in (int, float, bool, str) and not isinstance(value, tp):
        raise ConfigError(f"{where}: expected {tp.__name__}, got {value!r}")
    return value


def _check_known(cls: type, data: dict, where: str) -> None:
    """The one unknown-key rule: name every key of `data` that dataclass `cls` lacks, and the known ones."""
    fields = [f.name for f in dataclasses.fields(cls)]
    unknown = sorted(set(data) - set(fields))
    if unknown:
        raise ConfigError(f"{where}: unknown key(s) {', '.join(unknown)}; known: {', '.join(fields)}")


def check_keys(cls: type, data: dict, where: str) -> None:
    """Unknown keys of `data` in `cls` and its nested sections, without checking values: so that keys from
    one source (command-line overrides) are blamed on it, not on the file they are merged into."""
    _check_known(cls, data, where)
    hints = typing.get_type_hints(cls)
    for key, value in data.items():
        if dataclasses.is_dataclass(hints[key]) and isinstance(value, dict):
            check_keys(hints[key], value, f"{where}.{key}")


def from_dict(cls: type[T], data: dict, where: str = "config") -> T:
    """Build dataclass `cls` from a dict; unknown keys raise ConfigError naming them."""
    _check_known(cls, data, where)
    hints = typing.get_type_hints(cls)
    kwargs = {k: _coerce(hints[k], v, f"{where}.{k}") for k, v in data.items()}
    return cls(**kwargs)


def parse_override(text: str) -> tuple[list[str], Any]:
    """'a.b=3' -> (['a', 'b'], 3); the value is parsed as YAML so lists and numbers work."""
    if "=" not in text:
        raise ConfigError(f"override {text!r} must look like key=value (e.g. steps=100 or data.size=128)")
    key, raw = text.split("=", 1)
    try:
        return key.strip().split("."), yaml.safe_load(raw)
    except yaml.YAMLError as e:
        raise ConfigError(f"override {text!r}: not valid YAML ({yaml_problem(e)})") from None


def apply_overrides(data: dict, overrides: list[str]) -> dict:
    """Apply key=value overrides to a nested dict (in place) and return it."""
    for text in overrides:
        path, value = parse_override(text)
        node = data
        for key in path[:-1]:
            node = node.setdefault(key, {})
            if not isinstance(node, dict):
                raise ConfigError(f"override {text!r}: {key} is not a section")
        node[path[-1]] = value
    return data


def merge(base: dict, over: dict) -> dict:
    """`over` on top of `base`: sections merge key by key, anything else (values, lists) is replaced."""
    out = dict(base)
    for key, value in over.items():
        out[key] = merge(out[key], value) if isinstance(value, dict) and isinstance(out.get(key), dict) else value
    return out


def packaged_configs() -> list[str]:
    return sorted(p.stem for p in PACKAGED_CONFIGS.glob("*.yaml"))


def find_config(name_or_path: str | Path) -> Path:
    """A YAML config by its path, or by the name of one shipped with the package ("cpu-demo", "tiny.yaml"),
    so the packaged configs work from an installed wheel as well as from a source checkout."""
    path = Path(name_or_path)
    if path.is_file():
        return path
    packaged = PACKAGED_CONFIGS / (path.name if path.suffix in (".yaml", ".yml") else f"{path.name}.yaml")
    if len(path.parts) == 1 and packaged.is_file():
        return packaged
    raise ConfigError(f"{name_or_path}: no such config file, nor a packaged config "
                      f"(packaged: {', '.join(packaged_configs())})")


def load_yaml(path: str | Path, _chain: tuple[Path, ...] = ()) -> dict:
    """A YAML mapping; `extends: OTHER.yaml` (relative to this file) starts from OTHER and overrides it."""
    data = _read_yaml(path)
    base = data.pop("extends", None)
    if base is None:
        return data
    here = Path(path).resolve()
    base_path = here.parent / str(base)
    if base_path.resolve() in (*_chain, here):
        raise ConfigError(f"{path}: 'extends: {base}' makes a loop")
    return merge(load_yaml(base_path, (*_chain, here)), data)


def read_yaml_file(path: str | Path, what: str = "config") -> Any:
    """The parsed content of a YAML file. The one place swishpaint reads YAML files (training and compare
    configs, a model folder's config.yaml), so an unreadable or malformed file is always one ConfigError
    line naming it. The bytes go to the parser, which decodes them (a bad byte is a YAML error too)."""
    try:
        return yaml.safe_load(Path(path).read_bytes())
    except OSError as e:
        raise ConfigError(f"{path}: cannot read {what} ({os_reason(e)})") from None
    except yaml.YAMLError as e:
        raise ConfigError(f"{path}: not valid YAML ({yaml_problem(e)})") from None


def yaml_problem(e: yaml.YAMLError) -> str:
    """A YAML error in one line, e.g. "line 2, column 1: expected ',' or ']', but got '<stream end>'".
    PyYAML's own message spans several lines (context, the offending line, a caret), which would break
    the one-line error; the caller names the file or option."""
    problem = getattr(e, "problem", None) or next(iter(str(e).splitlines()), "") or type(e).__name__
    mark = getattr(e, "problem_mark", None)
    return f"line {mark.line + 1}, column {mark.column + 1}: {problem}" if mark is not None else problem


def _read_yaml(path: str | Path) -> dict:
    data = read_yaml_file(path) or {}
    if not isinstance(data, dict):
        raise ConfigError(f"{path}: a config must be a mapping at the top level")
    return data


def dump_yaml(data: Any) -> str:
    return yaml.safe_dump(to_dict(data), sort_keys=False)
