"""What to train and how: :class:`TrainConfig`, its checks, and the :class:`Experiment` it builds.

:class:`TrainConfig` names a task, a learning rule and the optimisation; ``None`` fields take the
task's preset (:data:`TASK_PRESETS`). :func:`resolve` fills them in and checks every option
(a one-line ``ValueError`` naming the option, the value given and what is accepted); :func:`build`
turns a configuration into an :class:`Experiment`: the network, the task sampler, the rule, the
optax optimiser and, for data-parallel runs, the device mesh. :func:`check_x64` refuses float64
while JAX's x64 mode is off.

The compiled pieces that run an experiment are in :mod:`eprop_jax.steps`, how a run is stored in
:mod:`eprop_jax.checkpoints`, and the training loop in :mod:`eprop_jax.train`.

Example:
    >>> from eprop_jax.experiment import TrainConfig, resolve
    >>> config = resolve(TrainConfig(task="sine_waves", rule="bptt", network={"n_rec": 20}))
    >>> config.feedback, config.network["n_rec"]
    ('symmetric', 20)
"""

from __future__ import annotations

import dataclasses
import inspect
import json
import math
from collections.abc import Callable, Mapping
from typing import Any, NamedTuple

import jax
import jax.numpy as jnp
import optax
from jax.sharding import Mesh

from . import tasks as task_lib
from ._checks import check_choice
from .losses import rate_regularization
from .network import Network, network
from .parallel import batch_mesh, check_divisible
from .rules import make_rule, resolve_feedback, resolve_rule, takes_feedback
from .types import Batch

#: Per-task defaults: network, loss, task options and optimisation. Anything can be overridden.
#: A live read-only view of the task registry (``eprop_jax.tasks.PRESETS``): each record holds its
#: task's preset, so a newly registered task appears here too.
TASK_PRESETS: Mapping[str, dict[str, Any]] = task_lib.PRESETS


@dataclasses.dataclass(frozen=True)
class TrainConfig:
    """What to train and how. ``None`` fields take the task's preset (:data:`TASK_PRESETS`).

    Attributes:
        task: a task name (``eprop_jax.tasks.TASKS``).
        rule: a rule name (``eprop_jax.rules.RULES``: ``"eprop"``, ``"eprop-factored"``,
            ``"eprop-autodiff"``, ``"bptt"``, ``"tbptt"``, or one added with ``register_rule``) or
            ``"package.module:factory"``.
        feedback: ``"symmetric"``, ``"random"`` or ``"adaptive"`` (rules with a feedback choice;
            others train with ``"symmetric"``).
        rule_options: extra keyword arguments of the rule factory (e.g. ``{"truncation": 50}``
            for ``"tbptt"``).
        iterations: number of training iterations (batches).
        batch_size: trials per batch.
        learning_rate: Adam step size.
        lr_decay, lr_decay_every: multiply the step size by ``lr_decay`` every
            ``lr_decay_every`` iterations (1.0: constant; ``None``: the preset).
        seed: seeds the weights, the task and every batch.
        seeds: how many independent networks to train at once, with the seeds ``seed``,
            ``seed + 1``, ..., ``seed + seeds - 1``, in one compiled step vmapped over a leading
            seed axis of the weights, optimiser state and keys. Each seed's weights and metrics
            are those of the single-seed run with that seed (a seed that reaches
            ``target_error`` is frozen, the others go on). ``1``: an ordinary run.
        c_reg: firing-rate regularisation strength; f_target: its target rate (Hz).
        weight_bounds: ``(w_min, w_max)`` to clip ``w_in``, ``w_rec``, ``w_out`` after each step.
        feedback_std: std of the random feedback matrix (``None``: the preset, or
            ``1/sqrt(n_rec)``, the scale of ``w_out``).
        adaptive_decay: weight decay on ``w_out`` and ``b_fb`` with adaptive feedback
            (Kolen-Pollack; ignored otherwise).
        eval_interval: evaluate on fresh batches every this many iterations (0: never).
        eval_batches: batches per evaluation.
        target_error: stop early once the evaluation recall error is below this (classification;
            ``None``: the preset; ``0``: never, every iteration runs).
        checkpoint_interval: write ``checkpoint.npz`` every this many iterations.
        network: overrides of :func:`eprop_jax.network` arguments (``n_rec``, ``n_alif``, ...).
        task_options: overrides of the task generator's keyword arguments.
        dtype: ``"float32"`` or ``"float64"``.
        data_parallel: split every batch over all devices (``parallel.py``); the batch size
            must be a multiple of the device count.
        check_finite: check inside the compiled step (``jax.experimental.checkify``) that the
            inputs, weights and gradients are finite; a violation stops the run with
            :class:`TrainingDiverged` naming what was non-finite (slower; off by default).

    One time step: ``network["dt"]`` and ``task_options["dt"]`` are the same number; giving
    one sets the other, giving two different ones is an error.
    """

    task: str = "evidence_accumulation"
    rule: str = "eprop"
    feedback: str = "random"
    rule_options: dict = dataclasses.field(default_factory=dict)
    iterations: int | None = None
    batch_size: int | None = None
    learning_rate: float | None = None
    lr_decay: float | None = None
    lr_decay_every: int = 100
    seed: int = 0
    seeds: int = 1
    c_reg: float | None = None
    f_target: float = 10.0
    weight_bounds: tuple[float, float] | None = None
    feedback_std: float | None = None
    adaptive_decay: float = 1e-2
    eval_interval: int = 25
    eval_batches: int = 4
    target_error: float | None = None
    checkpoint_interval: int = 50
    network: dict = dataclasses.field(default_factory=dict)
    task_options: dict = dataclasses.field(default_factory=dict)
    dtype: str = "float32"
    data_parallel: bool = False
    check_finite: bool = False


def _network_options(preset: dict, overrides: dict) -> dict:
    """Merge network overrides into the preset; a new ``n_rec`` keeps the preset's ALIF fraction."""
    options = {**preset, **overrides}
    if "n_rec" in overrides and "n_alif" not in overrides:
        options["n_alif"] = round(preset["n_alif"] * overrides["n_rec"] / preset["n_rec"])
    return options


def resolve(config: TrainConfig) -> TrainConfig:
    """Fill ``None`` fields from the task preset and validate everything (``ValueError``)."""
    api = "TrainConfig"
    check_choice(api, "task", config.task, tuple(task_lib.TASKS))
    factory = resolve_rule(config.rule, api)
    resolve_feedback(config.feedback, api)
    check_choice(api, "dtype", config.dtype, ("float32", "float64"))
    preset = TASK_PRESETS[config.task]
    feedback = config.feedback if takes_feedback(factory) else "symmetric"

    def pick(name):
        value = getattr(config, name)
        return preset[name] if value is None else value

    resolved = dataclasses.replace(
        config,
        feedback=feedback,
        iterations=pick("iterations"),
        batch_size=pick("batch_size"),
        learning_rate=pick("learning_rate"),
        c_reg=pick("c_reg"),
        feedback_std=pick("feedback_std"),
        lr_decay=pick("lr_decay"),
        target_error=config.target_error
        if config.target_error is not None
        else preset["target_error"],
        network=_network_options(preset["network"], config.network),
        task_options=dict(config.task_options),
        rule_options=dict(config.rule_options),
        weight_bounds=None if config.weight_bounds is None else tuple(config.weight_bounds),
    )
    _check_options(api, resolved, factory)
    if not 0 < resolved.lr_decay <= 1:
        raise ValueError(f"`{api}`: lr_decay must be in (0, 1]; got {resolved.lr_decay!r}.")
    for name in (
        "iterations",
        "batch_size",
        "eval_batches",
        "checkpoint_interval",
        "lr_decay_every",
    ):
        value = getattr(resolved, name)
        if not isinstance(value, int) or value < 1:
            raise ValueError(f"`{api}`: {name} must be an integer >= 1; got {value!r}.")
    seed = resolved.seed
    if isinstance(seed, bool) or not isinstance(seed, int) or not 0 <= seed < MAX_SEED:
        raise ValueError(f"`{api}`: seed must be an integer in [0, 2**32 - 1]; got {seed!r}.")
    seeds = resolved.seeds
    if isinstance(seeds, bool) or not isinstance(seeds, int) or seeds < 1:
        raise ValueError(f"`{api}`: seeds must be an integer >= 1; got {seeds!r}.")
    if seed + seeds > MAX_SEED:
        raise ValueError(
            f"`{api}`: seeds {seed}..{seed + seeds - 1} pass 2**32 - 1 (seed={seed}, "
            f"seeds={seeds}); choose a smaller seed or fewer seeds."
        )
    if seeds > 1 and resolved.data_parallel:
        raise ValueError(
            f"`{api}`: data_parallel does not combine with seeds={seeds} (several seeds run "
            "vmapped on one device); train one seed per data-parallel run."
        )
    if not isinstance(resolved.eval_interval, int) or resolved.eval_interval < 0:
        raise ValueError(
            f"`{api}`: eval_interval must be an integer >= 0; got {resolved.eval_interval!r}."
        )
    if not resolved.learning_rate > 0:
        raise ValueError(f"`{api}`: learning_rate must be > 0; got {resolved.learning_rate!r}.")
    if resolved.weight_bounds is not None:
        lo, hi = resolved.weight_bounds
        if not lo < hi:
            raise ValueError(
                f"`{api}`: weight_bounds must be (w_min, w_max) with w_min < w_max; "
                f"got {resolved.weight_bounds!r}."
            )
    if resolved.target_error is not None and not 0 <= resolved.target_error < 1:
        raise ValueError(
            f"`{api}`: target_error must be in [0, 1) (0: no early stopping); got "
            f"{resolved.target_error!r}."
        )
    for name in ("feedback_std", "adaptive_decay"):
        value = getattr(resolved, name)
        if value is not None and not (math.isfinite(value) and value >= 0):
            raise ValueError(f"`{api}`: {name} must be a finite number >= 0; got {value!r}.")
    if resolved.feedback_std is not None and resolved.feedback_std == 0:
        raise ValueError(f"`{api}`: feedback_std must be > 0; got 0.")
    if resolved.weight_bounds is not None and not all(map(math.isfinite, resolved.weight_bounds)):
        raise ValueError(f"`{api}`: weight_bounds must be finite; got {resolved.weight_bounds!r}.")
    rate_regularization(resolved.c_reg, resolved.f_target)  # validates
    return resolved


MAX_SEED = 2**32
"""Seeds are integers in ``[0, MAX_SEED)`` (``jax.random.key`` takes them as 32-bit words)."""

NAMED_RULE_OPTIONS = {
    "loss": "the task",
    "feedback": "feedback",
    "regularization": "c_reg and f_target",
}
"""Rule-factory arguments that :func:`build` sets itself (``rule_options`` may not)."""


def _check_options(api: str, config: TrainConfig, factory) -> None:
    """Task options the generator accepts, rule options that do not clash, one time step."""
    params = inspect.signature(task_lib.get_task(config.task)).parameters
    if not any(p.kind is p.VAR_KEYWORD for p in params.values()):
        accepted = [k for k in params if k not in ("key", "n_batch", "dtype")]
        unknown = sorted(set(config.task_options) - set(accepted))
        if unknown:
            raise ValueError(
                f"`{api}`: task {config.task!r} has no option(s) "
                f"{', '.join(map(repr, unknown))}; it accepts {', '.join(accepted)}."
            )
    clash = sorted(set(config.rule_options) & set(NAMED_RULE_OPTIONS))
    if clash:
        named = "; ".join(f"{k} is set by {NAMED_RULE_OPTIONS[k]}" for k in clash)
        raise ValueError(
            f"`{api}`: rule_options may not set {', '.join(map(repr, clash))} ({named})."
        )
    net_dt, task_dt = config.network.get("dt"), config.task_options.get("dt")
    if net_dt is not None and task_dt is not None and net_dt != task_dt:
        raise ValueError(
            f"`{api}`: one time step for task and network: network dt={net_dt!r} "
            f"but task_options dt={task_dt!r}."
        )
    dt = net_dt if net_dt is not None else task_dt
    if dt is not None:
        if (
            isinstance(dt, bool)
            or not isinstance(dt, (int, float))
            or not (math.isfinite(dt) and dt > 0)
        ):
            raise ValueError(f"`{api}`: dt must be a finite number > 0 (ms); got {dt!r}.")
        config.network["dt"] = dt
        config.task_options["dt"] = dt


class Experiment(NamedTuple):
    """Everything built from a resolved :class:`TrainConfig`."""

    config: TrainConfig
    net: Network
    sample: Callable[[jax.Array], Batch]  # key -> batch (ignores the key for frozen tasks)
    loss: str
    classification: bool
    rule: Callable
    optimizer: optax.GradientTransformation
    dtype: Any
    mesh: Mesh | None  # data-parallel device mesh, or None for one device
    # a multi-seed run of a frozen task: each seed's frozen batch, stacked on a leading seed axis
    seed_batches: Batch | None = None

    @property
    def seeds(self) -> tuple[int, ...]:
        """The seeds of the run: ``seed, seed + 1, ..., seed + seeds - 1``."""
        return seed_list(self.config)


def build(config: TrainConfig) -> Experiment:
    """Build the network, task sampler, rule and optimiser of a configuration."""
    config = resolve(config)
    check_x64("TrainConfig", config.dtype)
    dtype = jnp.float64 if config.dtype == "float64" else jnp.float32
    generator = task_lib.get_task(config.task)
    classification = config.task in task_lib.CLASSIFICATION_TASKS
    frozen = config.task in task_lib.FROZEN_TASKS
    seed_key = jax.random.key(config.seed)
    options = dict(config.task_options)

    def sample(key: jax.Array) -> Batch:
        return generator(key, config.batch_size, dtype=dtype, **options)[0]

    try:
        probe = sample(jax.random.fold_in(seed_key, 1))
    except TypeError as err:  # a task option of the wrong type (e.g. a string for a number)
        raise ValueError(
            f"`TrainConfig`: task {config.task!r} rejected task_options "
            f"{json.dumps(options, default=str)}: {err}"
        ) from None
    if frozen:
        frozen_batch = probe

        def sample(key: jax.Array) -> Batch:
            return frozen_batch

    net_options = dict(config.network)
    n_rec = net_options.pop("n_rec")
    try:
        net = network(probe.inputs.shape[-1], n_rec, probe.targets.shape[-1], **net_options)
    except TypeError as err:  # a network option of the wrong type
        raise ValueError(
            f"`TrainConfig`: network options {json.dumps(config.network, default=str)} "
            f"were rejected: {err}"
        ) from None
    loss = "cross_entropy" if classification else "mse"
    reg = rate_regularization(config.c_reg, config.f_target)
    feedback = resolve_feedback(config.feedback)  # the one place the mode is interpreted
    rule = make_rule(
        config.rule, net, loss=loss, feedback=feedback, regularization=reg, **config.rule_options
    )
    learning_rate = config.learning_rate
    if config.lr_decay < 1:
        learning_rate = optax.exponential_decay(
            config.learning_rate, config.lr_decay_every, config.lr_decay, staircase=True
        )
    adam = optax.adam(learning_rate, b1=0.9, b2=0.999, eps=1e-8)
    if feedback.decay_mask is not None and config.adaptive_decay > 0:  # Kolen-Pollack decay
        adam = optax.adamw(
            learning_rate,
            b1=0.9,
            b2=0.999,
            eps=1e-8,
            weight_decay=config.adaptive_decay,
            mask=feedback.decay_mask,
        )
    mesh = None
    if config.data_parallel:
        mesh = batch_mesh()
        check_divisible("TrainConfig", config.batch_size, mesh)
    seed_batches = None
    if frozen and config.seeds > 1:  # each seed trains on its own frozen batch
        per_seed = [probe] + [
            sample_frozen(generator, config, dtype, options, s) for s in seed_list(config)[1:]
        ]
        seed_batches = jax.tree.map(lambda *x: jnp.stack(x), *per_seed)
    return Experiment(
        config, net, sample, loss, classification, rule, adam, dtype, mesh, seed_batches
    )


def seed_list(config: TrainConfig) -> tuple[int, ...]:
    """The seeds a configuration trains: ``seed, seed + 1, ..., seed + seeds - 1``."""
    return tuple(range(config.seed, config.seed + config.seeds))


def sample_frozen(generator, config: TrainConfig, dtype, options: dict, seed: int) -> Batch:
    """The frozen batch of a frozen task for ``seed`` (the same draw as :func:`build`'s probe)."""
    key = jax.random.fold_in(jax.random.key(seed), 1)
    return generator(key, config.batch_size, dtype=dtype, **options)[0]


def check_x64(api: str, dtype: str) -> None:
    """Refuse ``dtype="float64"`` while JAX's x64 mode is off (it would silently train in float32).

    Library code never switches x64 on itself (a global setting); the command line does.
    """
    if dtype == "float64" and not jax.config.jax_enable_x64:
        raise ValueError(
            f"`{api}`: dtype='float64' needs JAX's x64 mode, which is off; call "
            "jax.config.update('jax_enable_x64', True) first (the eprop-jax command does)."
        )
