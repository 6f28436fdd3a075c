"""Safe file output: atomic writes (a reader never sees a half-written file), all-or-nothing groups of
files, an early check that an output folder is usable, the one reader of the JSON records swishpaint
keeps beside its outputs, and the one SHA-256 file hash."""

from __future__ import annotations

import contextlib
import hashlib
import json
import os
import signal
import tempfile
import threading
from pathlib import Path
from typing import Callable, Iterable, Iterator

from .errors import OutputError, SwishpaintError, os_reason


def sha256_file(path: str | Path) -> str:
    """Hex SHA-256 of a file's bytes, read in 1 MB chunks (checkpoints, FID weights)."""
    h = hashlib.sha256()
    with open(path, "rb") as f:
        for chunk in iter(lambda: f.read(1 << 20), b""):
            h.update(chunk)
    return h.hexdigest()


# What reading a JSON file can raise: unreadable, not UTF-8, not JSON, or nested too deep (RecursionError).
JSON_READ_ERRORS = (OSError, UnicodeDecodeError, json.JSONDecodeError, RecursionError)


def read_json(path: Path):
    """A JSON file's value; one of JSON_READ_ERRORS when it cannot be had."""
    return json.loads(path.read_text())


def read_json_object(path: Path, error: type[SwishpaintError], what: str) -> dict:
    """A JSON file that must hold an object (a manifest, a results file); anything else is `error`
    naming the file and what it should have been, e.g. "not a corpus manifest (JSONDecodeError: ...)"."""
    try:
        data = read_json(path)
    except JSON_READ_ERRORS as e:
        raise error(f"{path}: not {what} ({e.__class__.__name__}: {e})") from None
    if not isinstance(data, dict):
        raise error(f"{path}: not {what} (not a JSON object)")
    return data


def prepare_output_dir(path: str | Path) -> Path:
    """Create `path` if needed and prove a file can be written in it; OutputError names why not.

    Called before any slow work (loading a model), so an unusable -o fails at once.
    """
    path = Path(path)
    existing = next((p for p in (path, *path.parents) if p.exists()), None)
    if existing is not None and not existing.is_dir():
        where = "is a file" if existing == path else f"is under {existing}, which is a file"
        raise OutputError(f"{path}: output folder {where}")
    try:
        path.mkdir(parents=True, exist_ok=True)
        fd, probe = tempfile.mkstemp(prefix=".swishpaint-probe.", dir=path)
        os.close(fd)
        os.unlink(probe)
    except OSError as e:
        raise OutputError(f"{path}: cannot write to the output folder ({os_reason(e)})") from None
    return path


def check_new_output(path: str | Path, overwrite: bool = False, inputs: tuple[str | Path, ...] = ()) -> Path:
    """The one rule for an output file: never an input (a file in `inputs` or in a folder there, whatever
    the flags), never an existing file unless the person passed --overwrite, never a folder; and its
    folder must be writable (made if missing). OutputError names the file and why. Called before any
    slow work."""
    if str(path) == "":  # an unset variable in a script: not the current folder, nor a silent skip
        raise OutputError("the output file is an empty name; name a file to write")
    path = Path(path)
    try:
        if path.is_dir():
            raise OutputError(f"{path}: is a folder; give a file name")
        if is_input(path, inputs):
            raise OutputError(f"{path}: is one of the inputs; write the output elsewhere")
    except OSError as e:  # a name longer than the file system allows
        raise OutputError(f"{path}: cannot write ({os_reason(e)})") from None
    refuse_existing(path, overwrite)
    made = _missing_folders(path.parent)
    prepare_output_dir(path.parent)
    if _made_for_files is not None:  # removed again if the command leaves them empty (tidy_made_folders)
        _made_for_files.extend(made)
    return path


def _missing_folders(path: Path) -> list[Path]:
    """`path` and the folders above it that do not exist yet (deepest first): what making it would add."""
    return [p for p in (path, *path.parents) if not p.exists()]


_made_for_files: list[Path] | None = None  # inside tidy_made_folders: the folders check_new_output made


@contextlib.contextmanager
def tidy_made_folders() -> Iterator[None]:
    """Around a command: the folders check_new_output made for its output files are removed again if
    the command left them empty (it failed, or was stopped, before writing), as output_folder does for -o."""
    global _made_for_files
    outer, _made_for_files = _made_for_files, []
    try:
        yield
    finally:
        made, _made_for_files = _made_for_files, outer
        _remove_empty(made)


def _remove_empty(made: list[Path]) -> None:
    """Remove the folders in `made` (ones this run created) that are empty, deepest first; a folder
    with anything in it stays, and so do the folders above it."""
    for folder in sorted(made, key=lambda p: len(p.parts), reverse=True):
        try:
            folder.rmdir()
        except OSError:  # not empty (the run wrote there), or gone already
            pass


def candidate_names(relative: Path) -> Iterable[str]:
    """dog.webp -> dog, dog_webp, dog_2, dog_3, ...: the first that clashes with nothing is used. One rule
    for every command that derives output names from input stems (colorize, lines, data pack), so two
    inputs differing only in suffix never share an output."""
    yield relative.stem
    yield f"{relative.stem}_{relative.suffix.lstrip('.').lower()}"
    n = 2
    while True:
        yield f"{relative.stem}_{n}"
        n += 1


def is_input(path: Path, inputs: tuple[str | Path, ...]) -> bool:
    """`path` is one of the input files, or an existing file inside one of the input folders."""
    resolved = path.resolve()
    for given in map(Path, inputs):
        given = given.resolve()
        if resolved == given or (given.is_dir() and path.exists() and resolved.is_relative_to(given)):
            return True
    return False


def refuse_existing(path: Path, overwrite: bool = False) -> None:
    """OutputError for a file already at `path` (an earlier result) unless the person passed --overwrite;
    a folder there is never replaced (--overwrite would not help)."""
    try:
        if path.is_dir():
            raise OutputError(f"{path}: is a folder; the output cannot take its name")
        if not overwrite and path.exists():
            raise OutputError(f"{path}: exists; pass --overwrite to replace it")
    except OSError as e:  # a name longer than the file system allows, a folder that cannot be searched
        raise OutputError(f"{path}: cannot write ({os_reason(e)})") from None


def why_not_a_file(path: str | Path) -> str | None:
    """Why `path` cannot be read as an input file ('no such file', 'is a folder, not a file', ...), or
    None when it is a regular file: "no such file" for a folder sends people looking in the wrong place."""
    if os.path.isfile(path):
        return None
    if os.path.isdir(path):
        return "is a folder, not a file"
    return "not a regular file" if os.path.exists(path) else "no such file"


@contextlib.contextmanager
def output_folder(path: str | Path) -> Iterator[Path]:
    """prepare_output_dir for one run, and the folders it had to make are removed again if the run
    left nothing in them (every input failed, or the model would not load): a failed run leaves no
    trace. Folders that existed before are never touched. An empty name (an unset `-o "$OUT"`) is
    refused rather than taken for the current folder."""
    if not str(path).strip():
        raise OutputError("the output folder is an empty name; name a folder to write into")
    path = Path(path)
    made = _missing_folders(path)
    prepare_output_dir(path)
    try:
        yield path
    finally:
        _remove_empty(made)


class Stopped(KeyboardInterrupt):
    """SIGTERM or SIGHUP taken as Ctrl-C is (KeyboardInterrupt unwinds every command the same way), but
    remembered, so that the exit status is 128 + that signal, as a shell and `train` report it."""

    def __init__(self, signum: int):
        super().__init__(signum)
        self.signum = signum


# Ctrl-C, `kill` and a closed terminal: every command stops the same way on each (cli, training.loop)
STOP_SIGNALS = tuple(s for s in (getattr(signal, n, None) for n in ("SIGINT", "SIGTERM", "SIGHUP")) if s)


@contextlib.contextmanager
def signals_handled(signals: Iterable[int], handler: Callable) -> Iterator[None]:
    """`handler` for `signals` during the block, the earlier handlers after it. Only the main thread
    receives signals as exceptions, and only it may set handlers: elsewhere nothing changes."""
    if threading.current_thread() is not threading.main_thread():
        yield
        return
    old = {sig: signal.signal(sig, handler) for sig in signals}
    try:
        yield
    finally:
        for sig, earlier in old.items():
            signal.signal(sig, earlier)


@contextlib.contextmanager
def _stops_held() -> Iterator[None]:
    """Ctrl-C, SIGTERM and SIGHUP wait until the block is done, then act as they would have (the first of
    them); an ignored one stays ignored."""
    caught: list[int] = []
    live = [sig for sig in STOP_SIGNALS  # None: a handler set outside Python, left alone
            if signal.getsignal(sig) not in (signal.SIG_IGN, None)]
    with signals_handled(live, lambda signum, frame: caught.append(signum)):
        yield
    if caught:
        signal.raise_signal(caught[0])


TEMPORARY_NAME_BYTES = 200  # of the target's name in a temporary's: with the dots and mkstemp's 8 random
# characters and ".tmp", a temporary stays within the 255 bytes a name may have wherever its target does


def _shortened(name: str) -> str:
    """The start of `name`, at most TEMPORARY_NAME_BYTES bytes of UTF-8: the temporary of a target whose
    name is legal must be legal too, or a long but valid output name could never be written."""
    raw = os.fsencode(name)[:TEMPORARY_NAME_BYTES]
    for end in range(len(raw), max(0, len(raw) - 4), -1):  # back off a character cut in two
        try:
            return raw[:end].decode("utf-8")
        except UnicodeDecodeError:
            continue
    return os.fsdecode(raw)  # a name that was never UTF-8: its bytes, as the file system took them


class FileGroup:
    """Files written all or nothing: each is written to a temporary beside its target, and only when
    every one is complete and synced are they renamed into place (and the files the new ones make wrong
    removed). Used as a context manager: an exception inside the block removes the temporaries and
    leaves every target as it was."""

    def __init__(self) -> None:
        self._staged: list[tuple[Path, Path]] = []
        self._removed: list[Path] = []

    def path_for(self, target: str | Path) -> Path:
        """A temporary path to write `target`'s content to."""
        target = Path(target)
        target.parent.mkdir(parents=True, exist_ok=True)
        fd, tmp = tempfile.mkstemp(prefix=f".{_shortened(target.name)}.", suffix=".tmp", dir=target.parent)
        os.close(fd)
        self._staged.append((Path(tmp), target))
        return Path(tmp)

    def write(self, target: str | Path, write: Callable[[Path], None]) -> None:
        """write(tmp) for `target`; an OSError (full disk, read-only) becomes OutputError naming target."""
        try:
            write(self.path_for(target))
        except OSError as e:
            raise OutputError(f"{target}: cannot write ({os_reason(e)})") from None

    def remove(self, target: str | Path) -> None:
        """Remove `target` (if there) with the commit, not before: a file that would be wrong beside the
        new ones (a region chooser fitted to the weights they replace) stays until they are in place."""
        self._removed.append(Path(target))

    def staged(self, target: str | Path) -> Path:
        """The temporary already holding `target`'s content (to copy it to another target)."""
        return next(tmp for tmp, t in self._staged if t == Path(target))

    def commit(self) -> None:
        for tmp, target in self._staged:  # a full disk shows here at the latest, before any rename
            try:
                with open(tmp, "rb") as f:
                    os.fsync(f.fileno())
                os.chmod(tmp, 0o644)  # mkstemp makes 0600; outputs are ordinary files
            except OSError as e:
                raise OutputError(f"{target}: cannot write ({os_reason(e)})") from None
        for _, target in self._staged:  # a folder in a target's place would fail its rename midway
            refuse_existing(target, overwrite=True)
        with _stops_held():  # a stop between two renames would leave half a set
            for tmp, target in self._staged:
                try:
                    os.replace(tmp, target)
                except OSError as e:  # a folder of that name, a vanished folder: the rest stay as they were
                    raise OutputError(f"{target}: cannot write ({os_reason(e)})") from None
            self._staged.clear()
            for target in self._removed:
                target.unlink(missing_ok=True)
            self._removed.clear()

    def discard(self) -> None:
        for tmp, _ in self._staged:
            tmp.unlink(missing_ok=True)
        self._staged.clear()
        self._removed.clear()

    def __enter__(self) -> "FileGroup":
        return self

    def __exit__(self, exc_type, exc, tb) -> None:
        try:
            if exc_type is None:
                self.commit()
        finally:
            self.discard()


@contextlib.contextmanager
def atomic_path(target: str | Path) -> Iterator[Path]:
    """Yield a temporary path beside `target`; on success it is fsynced and renamed onto `target`."""
    with FileGroup() as group:
        yield group.path_for(target)


def atomic_write(target: str | Path, write: Callable[[Path], None]) -> None:
    """Call write(tmp_path), then move the result onto `target` atomically; an OSError (a full disk, a
    read-only folder) is an OutputError naming `target` (FileGroup.write)."""
    with FileGroup() as group:
        group.write(target, write)


def atomic_write_text(target: str | Path, text: str) -> None:
    atomic_write(target, lambda p: p.write_text(text))
