"""The task registry: one :class:`TaskRecord` per task, and the views derived from it.

A record holds everything the trainer and the CLI need to know about a task: its generator, its
kind (``"classification"``: one-hot targets and cross-entropy; ``"regression"``: mean squared
error), whether it is trained on one fixed ("frozen") sample, its training preset, and its input
and output sizes. ``TASKS``, ``CLASSIFICATION_TASKS``, ``FROZEN_TASKS`` and ``PRESETS`` are live,
read-only views of the registry, so a task registered later (a test's toy task, a user's own) is
listed, trained and offered by the CLI like the built-in ones.

Adding a task is one file and one line: the file defines the generator (the convention of
:mod:`eprop_jax.tasks`) and a ``RECORD = TaskRecord(...)``; the line registers it, in
``eprop_jax/tasks/__init__.py`` or in user code with :func:`register_task`.
"""

from __future__ import annotations

import copy
import dataclasses
import inspect
from collections.abc import Callable, Iterator, Mapping, Set
from typing import Any

_KINDS = ("classification", "regression")
_PRESET_FIELDS = (
    "network",
    "batch_size",
    "learning_rate",
    "c_reg",
    "iterations",
    "target_error",
    "feedback_std",
    "lr_decay",
)


@dataclasses.dataclass(frozen=True)
class TaskRecord:
    """Everything known about one task.

    Attributes:
        name: the task's name, as given to ``TrainConfig(task=...)`` and the CLI.
        generator: ``generator(key, n_batch, *, **options, dt=1.0, dtype=jnp.float32)`` returning
            ``(Batch, info)`` (see :mod:`eprop_jax.tasks`).
        kind: ``"classification"`` (one-hot targets, cross-entropy, accuracy is reported) or
            ``"regression"`` (mean squared error).
        frozen: True if the task is trained on one fixed sample (the trainer draws it once);
            False if every iteration needs a fresh batch.
        preset: the training defaults, with the keys ``network`` (keyword arguments of
            :func:`eprop_jax.network`, ``n_rec`` included), ``batch_size``, ``learning_rate``,
            ``c_reg``, ``iterations``, ``target_error`` (or None), ``feedback_std`` (or None) and
            ``lr_decay``.
        shapes: ``(n_in, n_out)``, or a function of the task options (a dict holding every
            keyword argument of ``generator``, defaults filled in) that returns them.
        source: where the task comes from, one line (for listings).
    """

    name: str
    generator: Callable
    kind: str
    frozen: bool
    preset: Mapping[str, Any]
    shapes: tuple[int, int] | Callable[[dict[str, Any]], tuple[int, int]]
    source: str = ""

    def __post_init__(self):
        api = "TaskRecord"
        if not isinstance(self.name, str) or not self.name.isidentifier():
            raise ValueError(
                f"`{api}`: name must be a Python identifier such as 'my_task'; got {self.name!r}."
            )
        if not callable(self.generator):
            raise ValueError(f"`{api}`: generator must be callable; got {self.generator!r}.")
        if self.kind not in _KINDS:
            raise ValueError(f"`{api}`: kind must be one of {_KINDS}; got {self.kind!r}.")
        if not isinstance(self.frozen, bool):
            raise ValueError(f"`{api}`: frozen must be True or False; got {self.frozen!r}.")
        missing = [k for k in _PRESET_FIELDS if k not in self.preset]
        extra = [k for k in self.preset if k not in _PRESET_FIELDS]
        if missing or extra:
            raise ValueError(
                f"`{api}`: preset of {self.name!r} must have exactly the keys {_PRESET_FIELDS}; "
                f"missing {missing}, unexpected {extra}."
            )
        if "n_rec" not in self.preset["network"]:
            raise ValueError(f"`{api}`: preset['network'] of {self.name!r} must give n_rec.")
        if not callable(self.shapes) and (
            len(self.shapes) != 2 or not all(isinstance(n, int) and n >= 1 for n in self.shapes)
        ):
            raise ValueError(
                f"`{api}`: shapes must be (n_in, n_out), two integers >= 1, or a function of the "
                f"task options returning them; got {self.shapes!r}."
            )

    @property
    def classification(self) -> bool:
        """True for a classification task."""
        return self.kind == "classification"

    def options(self, **overrides) -> dict[str, Any]:
        """The generator's keyword arguments: its defaults, updated with ``overrides``."""
        params = inspect.signature(self.generator).parameters
        defaults = {
            k: p.default for k, p in params.items() if p.default is not inspect.Parameter.empty
        }
        return {**defaults, **overrides}

    def sizes(self, **options) -> tuple[int, int]:
        """``(n_in, n_out)`` of the batches drawn with the task options ``options``."""
        if callable(self.shapes):
            n_in, n_out = self.shapes(self.options(**options))
            return int(n_in), int(n_out)
        return tuple(self.shapes)


_REGISTRY: dict[str, TaskRecord] = {}


def register_task(record: TaskRecord, *, overwrite: bool = False) -> TaskRecord:
    """Add ``record`` to the registry, under ``record.name``; returns the record.

    Raises:
        ValueError: if ``record`` is not a :class:`TaskRecord`, or its name is taken and
            ``overwrite`` is False.
    """
    if not isinstance(record, TaskRecord):
        raise ValueError(f"`register_task`: expected a TaskRecord; got {type(record).__name__}.")
    if record.name in _REGISTRY and not overwrite:
        raise ValueError(
            f"`register_task`: a task named {record.name!r} is already registered; pick another "
            "name or pass overwrite=True."
        )
    _REGISTRY[record.name] = record
    return record


def unregister_task(name: str) -> TaskRecord:
    """Remove the task ``name`` from the registry and return its record (tests use it)."""
    return _REGISTRY.pop(get_task_record(name).name)


def get_task_record(name: str) -> TaskRecord:
    """Return the record of the task ``name``.

    Raises:
        ValueError: for an unknown name; the message lists the accepted names.
    """
    if not isinstance(name, str) or name not in _REGISTRY:
        raise ValueError(
            f"`get_task`: unknown task {name!r}; expected one of "
            f"{', '.join(map(repr, sorted(_REGISTRY)))}."
        )
    return _REGISTRY[name]


def get_task(name: str) -> Callable:
    """Return the task generator called ``name``.

    Args:
        name: one of the keys of :data:`TASKS`.

    Returns:
        The generator function.

    Raises:
        ValueError: for an unknown name; the message lists the accepted names.
    """
    return get_task_record(name).generator


class _RegistryMapping(Mapping):
    """A read-only, live mapping ``name -> get(record)`` over the registered tasks."""

    def __init__(self, get: Callable[[TaskRecord], Any], doc: str):
        self._get = get
        self.__doc__ = doc

    def __getitem__(self, name: str) -> Any:
        if name not in _REGISTRY:
            raise KeyError(name)
        return self._get(_REGISTRY[name])

    def __iter__(self) -> Iterator[str]:
        return iter(list(_REGISTRY))

    def __len__(self) -> int:
        return len(_REGISTRY)

    def __repr__(self) -> str:
        return repr(dict(self))


class _RegistrySet(Set):
    """A read-only, live set of the names of the registered tasks with ``keep(record)`` true."""

    def __init__(self, keep: Callable[[TaskRecord], bool], doc: str):
        self._keep = keep
        self.__doc__ = doc

    def _names(self) -> list[str]:
        return [name for name, record in _REGISTRY.items() if self._keep(record)]

    def __contains__(self, name: object) -> bool:
        return name in _REGISTRY and self._keep(_REGISTRY[name])

    def __iter__(self) -> Iterator[str]:
        return iter(self._names())

    def __len__(self) -> int:
        return len(self._names())

    def __repr__(self) -> str:
        return repr(frozenset(self._names()))


TASKS: Mapping[str, Callable] = _RegistryMapping(
    lambda record: record.generator, "Every task generator by name (live view of the registry)."
)
CLASSIFICATION_TASKS: Set[str] = _RegistrySet(
    lambda record: record.classification,
    "Names of the tasks whose targets are one-hot classes (cross-entropy loss); the rest regress.",
)
FROZEN_TASKS: Set[str] = _RegistrySet(
    lambda record: record.frozen,
    "Names of the tasks trained on one fixed sample: the trainer reuses one key every iteration.",
)
PRESETS: Mapping[str, dict[str, Any]] = _RegistryMapping(
    lambda record: copy.deepcopy(dict(record.preset)),
    "Training defaults of every task by name (a fresh copy on every lookup).",
)


def _format(value: Any) -> str:
    return "none" if value is None else f"{value:g}" if isinstance(value, float) else str(value)


def describe_preset(name: str, field: str | None = None) -> str:
    """The preset of task ``name`` as short text for help messages.

    Args:
        name: a registered task.
        field: one preset key (``"iterations"``, ``"network.n_rec"``, ...) to format alone; None
            formats the whole preset.

    Returns:
        For example ``describe_preset("sine_waves", "iterations") == "300"``, and for the whole
        preset ``"n_rec=100, n_alif=0, ..., batch_size=1, learning_rate=0.005, ..."``.

    Raises:
        ValueError: for an unknown task or field.
    """
    preset = get_task_record(name).preset
    flat = {**preset["network"], **{k: v for k, v in preset.items() if k != "network"}}
    if field is None:
        return ", ".join(f"{k}={_format(v)}" for k, v in flat.items())
    key = field.removeprefix("network.")
    if key not in flat:
        raise ValueError(
            f"`describe_preset`: unknown field {field!r} for task {name!r}; expected one of "
            f"{', '.join(map(repr, flat))}."
        )
    return _format(flat[key])


def describe_default(field: str) -> str:
    """One preset field across all tasks, for CLI help: ``"500 for evidence_accumulation, ..."``.

    Tasks that share a value are grouped: ``describe_default("lr_decay")`` gives
    ``"0.7 for evidence_accumulation; 1 for sine_waves, infinite_loop, handwriting"``.
    """
    groups: dict[str, list[str]] = {}
    for name in _REGISTRY:
        groups.setdefault(describe_preset(name, field), []).append(name)
    if len(groups) == 1:
        return next(iter(groups))
    return "; ".join(f"{value} for {', '.join(names)}" for value, names in groups.items())


def pattern_generation_preset(n_rec: int) -> dict[str, Any]:
    """The preset the pattern-generation (regression) tasks share: LIF only, one trial per batch.

    Only the network size ``n_rec`` differs between them.
    """
    return {
        "network": {
            "n_rec": n_rec,
            "n_alif": 0,
            "tau_m": 30.0,
            "thr": 0.6,
            "refractory": 5.0,
            "tau_out": 30.0,
        },
        "batch_size": 1,
        "learning_rate": 5e-3,
        "c_reg": 2.0,
        "iterations": 300,
        "target_error": None,
        "feedback_std": None,
        "lr_decay": 1.0,
    }
