"""Run folders: one contract for every trainer (spiking e-prop, NEST mode, DNMS) and ``plot``.

A run folder holds

==========================  ==============================================================
``config.json``             ``kind`` (``"spiking"``, ``"nest"``, ``"dnms"``, ``"reward"``)
                            and everything needed to rebuild the run
``metrics.jsonl``           one JSON object per line, appended as training goes
``checkpoint.npz``          the newest checkpoint; ``checkpoint.prev.npz`` the one before it
``.lock``                   the lock of the process that writes the folder (its pid inside)
other files                 weights, snapshots, traces, ``summary.json``, PNG figures
==========================  ==============================================================

**Several seeds** (a spiking run with ``seeds > 1``, :mod:`eprop_jax.train`): ``config.json``
also holds ``seeds`` (how many) and ``seed_list``; each ``metrics.jsonl`` line is still one
iteration, but every metric is a list with one value per seed, in ``seed_list`` order, ``null``
for a seed that is frozen (it reached the early-stopping criterion or diverged; ``iteration`` and
``time_s`` stay scalars); the checkpoint's arrays carry a leading seed axis. Every spiking
checkpoint (one seed or many) stores ``stopped_at`` and ``diverged_at``, one integer per seed
(-1: not). ``summary.json`` adds ``seeds`` (the count), ``seed_list``, ``per_seed`` (each seed's
iterations done, ``stopped_at``, ``diverged_at``, iterations to the criterion, final metrics),
``final`` (each seed's last values, as lists over seeds), ``median``, ``iqr``,
``iterations_to_criterion`` and ``seconds_per_seed_iteration``. A single-seed run's
``config.json``, ``metrics.jsonl`` and ``summary.json`` have none of this. DNMS runs with
``--networks N`` (:mod:`eprop_jax.miconi.training`) use their own layout instead: one metrics
line per group with the mean over networks and ``reward_per_network``, ``n_networks`` in
``config.json``.

Guarantees:

* **Nothing is overwritten by accident.** :func:`open_run` refuses a folder that already holds a
  run unless ``resume`` (continue it; the saved ``config.json`` must equal the new configuration
  apart from run-length keys, checked before any array is read, the differing keys named) or
  ``overwrite`` (the old run's files, figures included, are removed first).
* **One writer.** A non-blocking ``fcntl.flock`` on ``.lock``: a second process is refused with
  the folder's name and the holder's pid.
* **Atomic files.** Every file is written under a unique temporary name in the same folder
  (``tempfile.mkstemp``), fsynced and renamed over the target (``os.replace``). Checkpoints keep
  their predecessor as ``checkpoint.prev.npz``; a damaged newest checkpoint falls back to it with
  a warning. A checkpoint holding NaN or inf is never written.
* **Readable errors.** Checkpoints load with ``allow_pickle=False``; any read error becomes one
  line naming the file. A truncated last line of ``metrics.jsonl`` (a killed process) is dropped
  with a one-line warning.

Errors are :class:`RunDirError` (a ``ValueError``) with a one-line message.
"""

from __future__ import annotations

import contextlib
import json
import os
import shutil
import tempfile
import warnings
from collections.abc import Callable, Iterable
from pathlib import Path

import numpy as np

KINDS = ("spiking", "nest", "dnms", "reward")
"""The kinds of run a ``config.json`` can record."""

CHECKPOINT = "checkpoint.npz"
PREVIOUS_CHECKPOINT = "checkpoint.prev.npz"
LOCK = ".lock"

_RUN_FILES = (
    "config.json",
    "metrics.jsonl",
    "summary.json",
    "checkpoint*.npz",
    "weights_*.npz",
    "snapshot_*.npz",
    "traces.npz",
    "*.png",
    ".tmp-*",
)
"""Glob patterns of the files a run writes (removed by ``overwrite``)."""


class RunDirError(ValueError):
    """A run folder cannot be used as asked (one-line message)."""


class RunDirWarning(UserWarning):
    """Something in a run folder was repaired (a truncated metrics line, a damaged checkpoint)."""


def run_kind(config: dict) -> str:
    """The ``kind`` of a ``config.json`` (older files without it: inferred from their keys)."""
    if "kind" in config:
        return config["kind"]
    if config.get("task") == "dnms":
        return "dnms"
    if "kernel" in config and "synapse" in config:
        return "nest"
    return "spiking"


def _jsonable(data):
    """``data`` as it reads back from JSON (tuples become lists, ...)."""
    return json.loads(json.dumps(data, default=_json_default))


def _json_default(value):
    if isinstance(value, np.ndarray):
        return value.tolist()
    if isinstance(value, np.generic):
        return value.item()
    raise TypeError(f"not JSON serialisable: {type(value).__name__}")


def atomic_write(path: str | Path, write: Callable[[Path], None]) -> None:
    """Write ``path`` through a unique temporary file in its folder, fsync, then ``os.replace``.

    ``write(tmp_path)`` writes the content. A crash leaves either the old file or the new one,
    never a half-written one; two processes never share a temporary name.
    """
    path = Path(path)
    fd, name = tempfile.mkstemp(prefix=f".tmp-{path.name}.", dir=path.parent)
    os.close(fd)
    tmp = Path(name)
    try:
        write(tmp)
        with open(tmp, "rb") as f:
            os.fsync(f.fileno())
        os.replace(tmp, path)
        _fsync_folder(path.parent)
    except BaseException:
        with contextlib.suppress(OSError):
            tmp.unlink()
        raise


def write_json(path: str | Path, data) -> None:
    """Atomically write ``data`` as indented JSON."""
    text = json.dumps(data, indent=2, default=_json_default)
    atomic_write(path, lambda p: p.write_text(text))


def save_npz(path: str | Path, arrays: dict) -> None:
    """Atomically write ``arrays`` (name -> array-like) as an uncompressed ``.npz``."""
    arrays = {k: np.asarray(v) for k, v in arrays.items()}

    def write(tmp: Path) -> None:
        with open(tmp, "wb") as f:
            np.savez(f, **arrays)

    atomic_write(path, write)


def load_npz(path: str | Path, api: str = "load_npz") -> dict[str, np.ndarray]:
    """Read every array of an ``.npz`` (``allow_pickle=False``); errors become one line.

    Raises:
        RunDirError: the file is missing, truncated, damaged or holds Python objects.
    """
    path = Path(path)
    try:
        with open(path, "rb") as f:
            data = np.load(f, allow_pickle=False)
            if not hasattr(data, "files"):  # a bare .npy array, not an archive
                raise ValueError("not an npz archive")
            with data:
                return {k: data[k] for k in data.files}
    except FileNotFoundError:
        raise RunDirError(f"`{api}`: {path} does not exist.") from None
    except ValueError as err:
        objects = "Object arrays" in str(err)
        reason = "it holds Python objects" if objects else "not a valid .npz file"
        raise RunDirError(
            f"`{api}`: cannot read {path}: {reason} (damaged or truncated)."
        ) from None
    except Exception as err:  # zipfile.BadZipFile, EOFError, OSError, zlib.error, ...
        raise RunDirError(
            f"`{api}`: cannot read {path}: {type(err).__name__} (damaged or truncated file)."
        ) from None


def non_finite(arrays: dict) -> list[str]:
    """Names of the floating-point arrays in ``arrays`` that hold NaN or inf."""
    bad = []
    for name, value in arrays.items():
        a = np.asarray(value)
        if np.issubdtype(a.dtype, np.inexact) and not np.all(np.isfinite(a)):
            bad.append(name)
    return bad


def read_metrics(path: str | Path, api: str = "read_metrics", *, warn: bool = True) -> list[dict]:
    """The records of a ``metrics.jsonl``; a truncated last line is dropped (with a warning unless
    ``warn=False``: a reader of a run in progress expects the line being written).

    Raises:
        RunDirError: a line other than the last is not JSON (the file is damaged).
    """
    path = Path(path)
    if not path.exists():
        return []
    lines = path.read_text().splitlines()
    while lines and not lines[-1].strip():
        lines.pop()
    records = []
    for number, line in enumerate(lines, 1):
        if not line.strip():
            continue
        try:
            records.append(json.loads(line))
        except json.JSONDecodeError:
            if number == len(lines):
                if not warn:
                    break
                warnings.warn(
                    f"{path}: dropped the truncated last line {number} (an interrupted write)",
                    RunDirWarning,
                    stacklevel=2,
                )
                break
            raise RunDirError(
                f"`{api}`: {path} line {number} is not JSON; the file is damaged."
            ) from None
    return records


def config_differences(saved: dict, new: dict, may_change: Iterable[str] = ()) -> list[str]:
    """Keys whose values differ between two configurations, ``may_change`` keys excepted."""
    saved, new = _jsonable(saved), _jsonable(new)
    allowed = set(may_change)
    keys = sorted((set(saved) | set(new)) - allowed)
    return [k for k in keys if saved.get(k, "<missing>") != new.get(k, "<missing>")]


def _holds_run(path: Path) -> list[str]:
    names = ("config.json", "metrics.jsonl", CHECKPOINT, PREVIOUS_CHECKPOINT)
    return [n for n in names if (path / n).exists()]


def _is_run_config(path: Path) -> bool:
    """True if ``path/config.json`` is a run's configuration (a JSON object naming a kind or a task)."""
    try:
        data = json.loads((path / "config.json").read_text())
    except (OSError, ValueError):
        return False
    return isinstance(data, dict) and (data.get("kind") in KINDS or "task" in data)


def _fsync_folder(path: Path) -> None:
    """Make the renames in ``path`` durable (a no-op where folders cannot be opened)."""
    with contextlib.suppress(OSError):
        fd = os.open(path, os.O_RDONLY)
        try:
            os.fsync(fd)
        finally:
            os.close(fd)


def _lock(path: Path, api: str):
    import fcntl

    lock_path = path / LOCK
    try:
        handle = open(lock_path, "a+")
    except OSError as err:
        raise RunDirError(f"`{api}`: cannot write to {path}: {err.strerror}.") from None
    try:
        fcntl.flock(handle.fileno(), fcntl.LOCK_EX | fcntl.LOCK_NB)
    except OSError:
        handle.seek(0)
        pid = handle.read().strip()
        handle.close()
        holder = f" (pid {pid})" if pid else ""
        raise RunDirError(
            f"`{api}`: {path} is in use by another process{holder}; wait for it to finish or "
            "choose another output folder."
        ) from None
    handle.seek(0)
    handle.truncate()
    handle.write(str(os.getpid()))
    handle.flush()
    return handle


class RunDir:
    """An open, locked run folder (from :func:`open_run`); ``close()`` releases the lock."""

    def __init__(self, path: Path, kind: str, api: str, lock_handle, resumed: bool):
        self.path = path
        self.kind = kind
        self.api = api
        self.resumed = resumed
        self._lock = lock_handle
        self._metrics = None

    # -- files -------------------------------------------------------------------------------
    def write_config(self, config: dict) -> None:
        """Write ``config.json`` with this run's ``kind`` first."""
        write_json(self.path / "config.json", {"kind": self.kind, **config})

    def read_config(self) -> dict:
        return json.loads((self.path / "config.json").read_text())

    def write_json(self, name: str, data) -> None:
        write_json(self.path / name, data)

    def save_npz(self, name: str, arrays: dict) -> None:
        save_npz(self.path / name, arrays)

    def read_metrics(self) -> list[dict]:
        return read_metrics(self.path / "metrics.jsonl", self.api)

    def start_metrics(self, records: list[dict]) -> None:
        """Rewrite ``metrics.jsonl`` with ``records`` (atomically), then open it for appending."""
        text = "".join(json.dumps(r) + "\n" for r in records)
        atomic_write(self.path / "metrics.jsonl", lambda p: p.write_text(text))
        self._metrics = open(self.path / "metrics.jsonl", "a")

    def append_metrics(self, records: Iterable[dict]) -> None:
        """Append records (one JSON line each) and flush."""
        for record in records:
            self._metrics.write(json.dumps(record) + "\n")
        self._metrics.flush()

    # -- checkpoints -------------------------------------------------------------------------
    def save_checkpoint(self, arrays: dict) -> None:
        """Write ``checkpoint.npz`` atomically, keeping the previous one as ``checkpoint.prev.npz``.

        Raises:
            RunDirError: an array holds NaN or inf (nothing is written).
        """
        bad = non_finite(arrays)
        if bad:
            raise RunDirError(
                f"`{self.api}`: refusing to write a checkpoint holding NaN/inf "
                f"(in {', '.join(bad)})."
            )
        newest = self.path / CHECKPOINT
        fd, name = tempfile.mkstemp(prefix=f".tmp-{CHECKPOINT}.", dir=self.path)
        os.close(fd)
        tmp = Path(name)
        try:
            with open(tmp, "wb") as f:
                np.savez(f, **{k: np.asarray(v) for k, v in arrays.items()})
                f.flush()
                os.fsync(f.fileno())
            if newest.exists():
                # Keep the old checkpoint as the previous one without ever leaving the folder
                # with no checkpoint.npz: a second name for it first, then rename over.
                fd, prev_name = tempfile.mkstemp(
                    prefix=f".tmp-{PREVIOUS_CHECKPOINT}.", dir=self.path
                )
                os.close(fd)
                os.unlink(prev_name)
                try:
                    os.link(newest, prev_name)
                except OSError:  # a file system without hard links
                    shutil.copyfile(newest, prev_name)
                os.replace(prev_name, self.path / PREVIOUS_CHECKPOINT)
            os.replace(tmp, newest)
            _fsync_folder(self.path)
        except BaseException:
            with contextlib.suppress(OSError):
                tmp.unlink()
            raise

    def has_checkpoint(self) -> bool:
        return (self.path / CHECKPOINT).exists() or (self.path / PREVIOUS_CHECKPOINT).exists()

    def load_checkpoint(self, check: Callable[[dict], None] | None = None) -> dict:
        """The newest readable checkpoint's arrays; a damaged newest one falls back to the previous.

        ``check(arrays)`` may raise :class:`RunDirError` to reject a checkpoint (wrong shapes).

        Raises:
            RunDirError: no checkpoint, or none readable (the message names each file's problem).
        """
        problems = []
        for name in (CHECKPOINT, PREVIOUS_CHECKPOINT):
            path = self.path / name
            if not path.exists():
                continue
            try:
                arrays = load_npz(path, self.api)
                if non_finite(arrays):
                    raise RunDirError(f"`{self.api}`: {path} holds NaN/inf.")
                if check is not None:
                    check(arrays)
            except RunDirError as err:
                problems.append(str(err).removeprefix(f"`{self.api}`: "))
                continue
            if problems:
                warnings.warn(
                    f"{problems[0]} Resuming from the previous checkpoint {path}.",
                    RunDirWarning,
                    stacklevel=2,
                )
            return arrays
        if not problems:
            raise RunDirError(f"`{self.api}`: there is no checkpoint to resume in {self.path}.")
        raise RunDirError(
            f"`{self.api}`: {' '.join(problems)} No usable checkpoint is left; start "
            "again with --overwrite."
        )

    # -- life cycle --------------------------------------------------------------------------
    def close(self) -> None:
        """Close the metrics file and release the lock (idempotent)."""
        if self._metrics is not None:
            self._metrics.close()
            self._metrics = None
        if self._lock is not None:
            self._lock.close()  # closing the descriptor releases the flock
            self._lock = None

    def __enter__(self) -> RunDir:
        return self

    def __exit__(self, *exc) -> None:
        self.close()


def prepare_folder(path: str | Path, api: str) -> Path:
    """Create ``path`` if needed; one-line errors for a file in the way or a read-only place."""
    path = Path(path)
    if path.exists() and not path.is_dir():
        raise RunDirError(f"`{api}`: output folder {path} is an existing file, not a folder.")
    try:
        path.mkdir(parents=True, exist_ok=True)
    except FileExistsError:
        raise RunDirError(
            f"`{api}`: cannot create output folder {path}: a parent is a file."
        ) from None
    except OSError as err:
        raise RunDirError(f"`{api}`: cannot create output folder {path}: {err.strerror}.") from None
    if not os.access(path, os.W_OK | os.X_OK):
        raise RunDirError(f"`{api}`: output folder {path} is not writable.")
    return path


def open_run(
    path: str | Path,
    kind: str,
    config: dict,
    *,
    resume: bool = False,
    overwrite: bool = False,
    may_change: Iterable[str] = (),
    api: str = "open_run",
) -> RunDir:
    """Open (create, lock, check) the run folder ``path`` for a run of ``kind``.

    * a fresh folder: created and locked;
    * a folder holding a run: refused unless ``resume`` (``config.json`` must record the same
      ``kind`` and equal ``config`` apart from the ``may_change`` keys; nothing else is read) or
      ``overwrite`` (the run's files are deleted first).

    The caller writes ``config.json`` (:meth:`RunDir.write_config`) once it has checked the rest.

    Raises:
        RunDirError: with a one-line message (file in the way, not writable, locked by another
            process, a run already there, nothing to resume, a different configuration).
    """
    if kind not in KINDS:
        raise RunDirError(f"`{api}`: kind must be one of {', '.join(KINDS)}; got {kind!r}.")
    if resume and overwrite:
        raise RunDirError(f"`{api}`: resume and overwrite exclude each other; choose one.")
    path = prepare_folder(path, api)
    handle = _lock(path, api)
    try:
        present = _holds_run(path)
        if resume:
            if "config.json" not in present:
                raise RunDirError(f"`{api}`: nothing to resume in {path} (no config.json).")
            try:
                saved = json.loads((path / "config.json").read_text())
            except (json.JSONDecodeError, UnicodeDecodeError):
                raise RunDirError(
                    f"`{api}`: cannot resume: {path / 'config.json'} is damaged."
                ) from None
            saved_kind = run_kind(saved)
            if saved_kind != kind:
                raise RunDirError(
                    f"`{api}`: cannot resume: {path} holds a {saved_kind} run, not a {kind} run."
                )
            saved = {k: v for k, v in saved.items() if k != "kind"}
            differ = config_differences(saved, config, may_change)
            if differ:
                shown = "; ".join(
                    f"{k}: saved {_short(saved.get(k, '<missing>'))}, now "
                    f"{_short(_jsonable(config).get(k, '<missing>'))}"
                    for k in differ[:6]
                )
                more = f" (and {len(differ) - 6} more)" if len(differ) > 6 else ""
                allowed = ", ".join(sorted(may_change)) or "nothing"
                raise RunDirError(
                    f"`{api}`: cannot resume {path}: the configuration differs in "
                    f"{shown}{more}. Only {allowed} may change."
                )
        elif present:
            if not overwrite:
                raise RunDirError(
                    f"`{api}`: {path} already holds a run ({', '.join(present)}); "
                    "resume it (--resume) or replace it (--overwrite)."
                )
            if (path / "config.json").exists() and not _is_run_config(path):
                raise RunDirError(
                    f"`{api}`: {path}/config.json is not the configuration of an eprop-jax run; "
                    "overwrite only replaces runs: choose another output folder."
                )
            for pattern in _RUN_FILES:
                for old in path.glob(pattern):
                    if old.is_file():
                        old.unlink()
    except BaseException:
        handle.close()
        raise
    return RunDir(path, kind, api, handle, resumed=resume)


def _short(value, limit: int = 60) -> str:
    text = json.dumps(value)
    return text if len(text) <= limit else text[: limit - 3] + "..."


__all__ = [
    "KINDS",
    "RunDir",
    "RunDirError",
    "RunDirWarning",
    "atomic_write",
    "config_differences",
    "load_npz",
    "non_finite",
    "open_run",
    "prepare_folder",
    "read_metrics",
    "run_kind",
    "save_npz",
    "write_json",
]
