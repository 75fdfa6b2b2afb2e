"""The training loop: task -> rule -> gradients -> optax -> weights, with metrics and checkpoints.

One jit-compiled ``train_step`` samples the task's batch (fresh tasks) or takes the frozen batch,
asks the learning rule for gradients, applies optax Adam (beta1 0.9, beta2 0.999, eps 1e-8) and
optionally clips the weights to ``[w_min, w_max]``. Keys are derived from the iteration number
(``fold_in(key, iteration)``), so a resumed run draws exactly the batches an uninterrupted run
would: ``resume`` continues bit for bit.

Files written to the output directory (all optional; ``out_dir=None`` keeps everything in memory):

==========================  ==============================================================
``config.json``             the resolved configuration (everything needed to rerun)
``metrics.jsonl``           one JSON object per iteration (``iteration``, ``loss``, ...)
``checkpoint.npz``          weights, optimiser state and iteration, written atomically
``snapshot_first.npz``      one recorded trial (spikes, v, thresholds, psi, learning signals,
``snapshot_last.npz``       readout, target, error) at the first and the last iteration
``weights_initial.npz``     the weights before and after training
``weights_final.npz``
``summary.json``            final metrics and timing
==========================  ==============================================================

A loss or weight that becomes NaN/inf stops the run with :class:`TrainingDiverged`; the checkpoint
on disk is then the last good state.
"""

from __future__ import annotations

import dataclasses
import inspect
import json
import math
import re
import time
import warnings
from collections.abc import Callable, Mapping
from pathlib import Path
from typing import Any, NamedTuple

import jax
import jax.numpy as jnp
import numpy as np
import optax
from jax.sharding import Mesh

from . import rundir
from . import tasks as task_lib
from ._checks import check_choice
from .losses import accuracy, get_loss, masked_mean_readout, rate_regularization
from .losses import task_loss as compute_task_loss
from .network import Network, Weights, init_weights, network, simulate
from .parallel import batch_mesh, batch_shardings, check_divisible, replicate
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
        c_reg: firing-rate regularisation strength; f_target: its target rate (Hz).
        weight_bounds: ``(w_min, w_max)`` to clip ``w_in``, ``w_rec``, ``w_out`` after each step.
        feedback_std: std of the random feedback matrix (``None``: the preset, or
            ``1/sqrt(n_rec)``, the scale of ``w_out``).
        adaptive_decay: weight decay on ``w_out`` and ``b_fb`` with adaptive feedback
            (Kolen-Pollack; ignored otherwise).
        eval_interval: evaluate on fresh batches every this many iterations (0: never).
        eval_batches: batches per evaluation.
        target_error: stop early once the evaluation recall error is below this (classification).
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
    if resolved.target_error is not None and not 0 < resolved.target_error < 1:
        raise ValueError(f"`{api}`: target_error must be in (0, 1); got {resolved.target_error!r}.")
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
    return Experiment(config, net, sample, loss, classification, rule, adam, dtype, mesh)


def check_x64(api: str, dtype: str) -> None:
    """Refuse ``dtype="float64"`` while JAX's x64 mode is off (it would silently train in float32).

    Library code never switches x64 on itself (a global setting); the command line does.
    """
    if dtype == "float64" and not jax.config.jax_enable_x64:
        raise ValueError(
            f"`{api}`: dtype='float64' needs JAX's x64 mode, which is off; call "
            "jax.config.update('jax_enable_x64', True) first (the eprop-jax command does)."
        )


def _clip(weights: Weights, bounds) -> Weights:
    if bounds is None:
        return weights
    lo, hi = bounds
    return weights._replace(
        w_in=jnp.clip(weights.w_in, lo, hi),
        w_rec=jnp.clip(weights.w_rec, lo, hi),
        w_out=jnp.clip(weights.w_out, lo, hi),
    )


def _distribute(exp: Experiment, batch: Batch) -> Batch:
    """Split the batch over the devices of a data-parallel run (identity on one device)."""
    if exp.mesh is None:
        return batch
    return jax.lax.with_sharding_constraint(batch, batch_shardings(exp.mesh))


def _all_finite(tree) -> jax.Array:
    return jnp.all(jnp.array([jnp.all(jnp.isfinite(x)) for x in jax.tree.leaves(tree)]))


def make_train_step(exp: Experiment):
    """Return the jit-compiled ``step(weights, opt_state, key) -> (weights, opt_state, metrics)``.

    ``metrics["finite"]`` is whether the gradients and the new weights are all finite (checked
    by the trainer every iteration). With ``config.check_finite`` the step is wrapped in
    ``jax.experimental.checkify`` and returns ``(error, (weights, opt_state, metrics))``; the
    error names the first non-finite input, weight or gradient.
    """
    dt = exp.net.dt
    check = exp.config.check_finite
    if check:
        from jax.experimental import checkify

    def step(weights, opt_state, key):
        batch_key, rule_key = jax.random.split(key)
        batch = _distribute(exp, exp.sample(batch_key))
        if check:
            checkify.check(_all_finite(batch.inputs), "non-finite value (NaN/inf) in the inputs")
            for name, w in weights._asdict().items():
                checkify.check(_all_finite(w), f"non-finite value (NaN/inf) in the weights {name}")
        grads, aux = exp.rule(weights, batch, rule_key)
        if check:
            for name, g in grads._asdict().items():
                checkify.check(
                    _all_finite(g), f"non-finite value (NaN/inf) in the gradient of {name}"
                )
        updates, opt_state = exp.optimizer.update(grads, opt_state, weights)
        new_weights = _clip(optax.apply_updates(weights, updates), exp.config.weight_bounds)
        metrics = {
            "loss": aux.loss,
            "task_loss": aux.task_loss,
            "reg_loss": aux.reg_loss,
            "rate_hz": jnp.mean(aux.rate) * (1000.0 / dt),
            "finite": _all_finite(grads) & _all_finite(new_weights),
        }
        if exp.classification:
            metrics["accuracy"] = accuracy(aux.y_mean, batch.targets, batch.mask)
        return new_weights, opt_state, metrics

    if check:
        return jax.jit(checkify.checkify(step))
    return jax.jit(step)


def make_evaluate(exp: Experiment):
    """Return the jit-compiled ``evaluate(weights, key) -> metrics`` on fresh batches."""
    step_loss = get_loss(exp.loss)
    n_eval = exp.config.eval_batches

    def one(weights, key):
        batch = _distribute(exp, exp.sample(key))
        traj = simulate(exp.net, weights, batch.inputs)
        out = {"eval_loss": compute_task_loss(step_loss, traj.y, batch.targets, batch.mask)}
        if exp.classification:
            y_mean = masked_mean_readout(traj.y, batch.mask)
            out["eval_accuracy"] = accuracy(y_mean, batch.targets, batch.mask)
        return out

    def evaluate(weights, key):
        per_batch = jax.lax.map(lambda k: one(weights, k), jax.random.split(key, n_eval))
        return jax.tree.map(jnp.mean, per_batch)

    return jax.jit(evaluate)


def make_recorder(exp: Experiment):
    """Return ``record(weights, key) -> dict`` of one trial's trajectory (for the figures)."""
    feedback = exp.config.feedback
    recorder = make_rule("eprop", exp.net, loss=exp.loss, feedback=feedback, record=True)

    def record(weights, key):
        batch = exp.sample(key)
        _, aux = recorder(weights, batch)
        traj = aux.trajectory
        y = traj.y[:, 0]
        prediction = jax.nn.softmax(y, axis=-1) if exp.classification else y
        return {
            "inputs": batch.inputs[:, 0],
            "z": traj.z[:, 0],
            "v": traj.v[:, 0],
            "threshold": traj.threshold[:, 0],
            "psi": traj.psi[:, 0],
            "learning_signal": aux.learning_signal[:, 0],
            "y": y,
            "target": batch.targets[:, 0],
            "mask": batch.mask[:, 0],
            "error": (prediction - batch.targets[:, 0]) * batch.mask[:, 0, None],
        }

    return jax.jit(record)


class TrainingDiverged(RuntimeError):
    """The loss, the gradients or the weights became NaN or inf (the message says where)."""


class TrainResult(NamedTuple):
    weights: Weights
    opt_state: Any
    metrics: list[dict]
    iterations_done: int
    stopped_early: bool
    seconds_per_iteration: float


RUN_LENGTH_KEYS = ("iterations", "eval_interval", "checkpoint_interval", "check_finite")
"""Configuration keys a resumed run may change (they do not change the trajectory)."""

LOSS_BLOWUP = 1e3
"""A loss this many times its smallest value so far triggers a warning (divergence without NaN)."""

# Kept for other modules and scripts: atomic writes now live in :mod:`eprop_jax.rundir`.
_atomic_write = rundir.atomic_write
_save_npz = rundir.save_npz


def checkpoint_arrays(weights, opt_state, iteration: int, config: TrainConfig) -> dict:
    """The arrays of a checkpoint: the leaves of ``(weights, opt_state)``, iteration, config."""
    leaves = jax.tree.leaves((weights, opt_state))
    arrays = {f"leaf_{i:04d}": np.asarray(leaf) for i, leaf in enumerate(leaves)}
    arrays["iteration"] = np.asarray(iteration)
    arrays["config"] = np.asarray(json.dumps(dataclasses.asdict(config)))
    return arrays


def save_checkpoint(path: Path, weights, opt_state, iteration: int, config: TrainConfig) -> None:
    """Atomically write weights, optimiser state and the number of completed iterations.

    Raises:
        ValueError: a weight or optimiser array holds NaN or inf (nothing is written).
    """
    arrays = checkpoint_arrays(weights, opt_state, iteration, config)
    bad = rundir.non_finite(arrays)
    if bad:
        raise ValueError(f"`save_checkpoint`: refusing to write NaN/inf (in {', '.join(bad)}).")
    rundir.save_npz(path, arrays)


def _unflatten(path, arrays: dict, weights_template, opt_state_template, api: str):
    treedef = jax.tree.structure((weights_template, opt_state_template))
    templates = jax.tree.leaves((weights_template, opt_state_template))
    leaves = []
    for i, template in enumerate(templates):
        name = f"leaf_{i:04d}"
        if name not in arrays or "iteration" not in arrays:
            raise rundir.RunDirError(
                f"`{api}`: {path} is not a checkpoint of this run (no {name})."
            )
        a = arrays[name]
        if a.shape != np.shape(template) or a.dtype != np.asarray(template).dtype:
            raise rundir.RunDirError(
                f"`{api}`: {path} does not fit this run: {name} is {a.dtype}{list(a.shape)}, "
                f"expected {np.asarray(template).dtype}{list(np.shape(template))}."
            )
        leaves.append(jnp.asarray(a))
    if f"leaf_{len(templates):04d}" in arrays:
        raise rundir.RunDirError(f"`{api}`: {path} does not fit this run (more arrays).")
    return jax.tree.unflatten(treedef, leaves)


def load_checkpoint(path: Path, weights_template, opt_state_template):
    """Read a checkpoint written by :func:`save_checkpoint` into the templates' structure.

    Returns ``(weights, opt_state, iteration, config_dict)``.

    Raises:
        RunDirError (a ``ValueError``): the file is missing, damaged or does not fit the templates.
    """
    arrays = rundir.load_npz(path, "load_checkpoint")
    weights, opt_state = _unflatten(
        path, arrays, weights_template, opt_state_template, "load_checkpoint"
    )
    config = json.loads(str(arrays["config"])) if "config" in arrays else {}
    return weights, opt_state, int(arrays["iteration"]), config


def _config_json(exp: Experiment) -> dict:
    """The resolved configuration plus derived facts the figures need (sizes, kind, dt)."""
    net = exp.net
    derived = {
        "task_kind": "classification" if exp.classification else "regression",
        "loss": exp.loss,
        "dt": net.dt,
        "n_in": net.n_in,
        "n_rec": net.n_rec,
        "n_alif": int(np.count_nonzero(np.asarray(net.neuron.beta))),
        "n_out": net.n_out,
    }
    return {**dataclasses.asdict(exp.config), **derived}


def load_config(path: str | Path) -> TrainConfig:
    """Read a ``config.json`` written by :func:`train` back into a :class:`TrainConfig`.

    Raises:
        ValueError: the file records another kind of run (NEST mode, DNMS).
        FileNotFoundError: no such file.
    """
    data = json.loads(Path(path).read_text())
    kind = rundir.run_kind(data)
    if kind != "spiking":
        raise ValueError(f"`load_config`: {path} records a {kind} run, not a spiking e-prop run.")
    fields = {f.name for f in dataclasses.fields(TrainConfig)}
    config = TrainConfig(**{k: v for k, v in data.items() if k in fields})
    if config.weight_bounds is not None:
        config = dataclasses.replace(config, weight_bounds=tuple(config.weight_bounds))
    return config


def _check_error_text(error) -> str:
    """The first line of a checkify error without its source location."""
    text = str(error).strip().splitlines()[0]
    return re.split(r" \(`?check`? failed", text)[0]


def train(
    config: TrainConfig,
    out_dir: str | Path | None = None,
    *,
    resume: bool = False,
    overwrite: bool = False,
    progress: bool = True,
) -> TrainResult:
    """Train a network as configured; optionally write the files of the module docstring.

    The output folder follows :mod:`eprop_jax.rundir` (kind ``"spiking"``): locked while
    training, refused if it already holds a run unless ``resume`` or ``overwrite``.

    Args:
        config: the :class:`TrainConfig` (``None`` fields from the task preset).
        out_dir: output directory, created if needed; ``None`` writes nothing.
        resume: continue from ``out_dir``'s checkpoint, bit for bit; the configuration must be
            the saved one apart from :data:`RUN_LENGTH_KEYS`.
        overwrite: delete a run already in ``out_dir`` (its files and figures) and start anew.
        progress: show a progress bar with loss and accuracy.

    Raises:
        TrainingDiverged: when the loss, the gradients or the weights become NaN or inf; the
            folder keeps the last finite checkpoint.
        RunDirError (a ``ValueError``): the folder cannot be used (see :func:`rundir.open_run`).
        ValueError: a bad configuration, or ``dtype="float64"`` while x64 is off.

    Warns:
        RuntimeWarning: when the loss grows :data:`LOSS_BLOWUP` times above its minimum.
    """
    api = "train"
    exp = build(config)
    if resume and out_dir is None:
        raise ValueError(f"`{api}`: resume=True needs out_dir.")
    config_dict = _config_json(exp)
    run = None
    if out_dir is not None:
        run = rundir.open_run(
            out_dir,
            "spiking",
            config_dict,
            resume=resume,
            overwrite=overwrite,
            may_change=RUN_LENGTH_KEYS,
            api=api,
        )
    try:
        return _train(exp, run, progress)
    finally:
        if run is not None:
            run.close()


def _train(exp: Experiment, run: rundir.RunDir | None, progress: bool) -> TrainResult:
    api = "train"
    cfg = exp.config
    seed_key = jax.random.key(cfg.seed)
    init_key, loop_key, eval_key, record_key = (
        jax.random.fold_in(seed_key, i) for i in (2, 3, 4, 5)
    )
    weights = init_weights(exp.net, init_key, dtype=exp.dtype, feedback_std=cfg.feedback_std)
    opt_state = exp.optimizer.init(weights)
    start, metrics = 0, []
    if run is not None and run.resumed:
        arrays = run.load_checkpoint(
            check=lambda a: _unflatten(run.path / rundir.CHECKPOINT, a, weights, opt_state, api)
        )
        weights, opt_state = _unflatten(run.path, arrays, weights, opt_state, api)
        start = int(arrays["iteration"])
        if start > cfg.iterations:
            raise rundir.RunDirError(
                f"`{api}`: cannot resume {run.path} with iterations="
                f"{cfg.iterations}: it has done {start} iterations already."
            )
        metrics = [m for m in run.read_metrics() if m.get("iteration", start) < start]
        if [m.get("iteration") for m in metrics] != list(range(start)):
            warnings.warn(
                f"{run.path / 'metrics.jsonl'} lacks some of the checkpoint's {start} "
                "iterations; the learning curve will have gaps.",
                rundir.RunDirWarning,
                stacklevel=3,
            )
    if exp.mesh is not None:
        weights, opt_state = replicate((weights, opt_state), exp.mesh)

    step = make_train_step(exp)
    evaluate = make_evaluate(exp) if cfg.eval_interval > 0 else None
    recorder = make_recorder(exp) if run is not None else None
    if run is not None:
        run.write_config(_config_json(exp))
        run.start_metrics(metrics)
        if start == 0:
            run.save_checkpoint(checkpoint_arrays(weights, opt_state, 0, cfg))
            run.save_npz("weights_initial.npz", weights._asdict())
            run.save_npz(
                "snapshot_first.npz",
                {**recorder(weights, record_key), "iteration": 0, "dt": exp.net.dt},
            )

    bar = None
    if progress:
        from tqdm.auto import tqdm

        bar = tqdm(
            total=cfg.iterations,
            initial=start,
            desc=f"{cfg.task} [{cfg.rule}]",
            unit="it",
            dynamic_ncols=True,
        )
    stopped_early = False
    saved_at = start
    lowest, warned = math.inf, False
    t_start = time.perf_counter()

    def checkpoint(done: int) -> None:
        nonlocal saved_at
        if run is not None:
            run.save_checkpoint(checkpoint_arrays(weights, opt_state, done, cfg))
            saved_at = done

    def diverged(
        iteration: int, what: str, advice: str = " Try a smaller learning rate or weight bounds."
    ) -> TrainingDiverged:
        where = ""
        if run is not None:
            try:
                checkpoint(iteration)  # the state before the failing step, finite
            except rundir.RunDirError:
                pass
            where = (
                f"; the last finite checkpoint (after {saved_at} iterations) is "
                f"{run.path / rundir.CHECKPOINT}"
            )
        return TrainingDiverged(f"`{api}`: {what} at iteration {iteration}{where}.{advice}")

    try:
        for iteration in range(start, cfg.iterations):
            out = step(weights, opt_state, jax.random.fold_in(loop_key, iteration))
            if cfg.check_finite:
                from jax.experimental import checkify

                error, out = out
                try:
                    error.throw()
                except checkify.JaxRuntimeError as err:
                    raise diverged(iteration, _check_error_text(err), advice="") from None
            new_weights, new_opt_state, m = out
            m = {k: v.item() for k, v in jax.device_get(m).items()}
            if not (m.pop("finite") and np.isfinite(m["loss"])):
                raise diverged(iteration, "the loss, the gradients or the weights became NaN/inf")
            if m["loss"] > LOSS_BLOWUP * lowest and lowest > 0 and not warned:
                warned = True
                warnings.warn(
                    f"`{api}`: the loss grew from {lowest:.3g} to {m['loss']:.3g} by "
                    f"iteration {iteration}; the run may be diverging (try a smaller "
                    "learning rate).",
                    RuntimeWarning,
                    stacklevel=3,
                )
            lowest = min(lowest, m["loss"])
            weights, opt_state = new_weights, new_opt_state
            record = {"iteration": iteration, **m, "time_s": time.perf_counter() - t_start}
            if exp.classification:
                record["recall_error"] = 1.0 - record["accuracy"]
            done = iteration + 1
            if evaluate is not None and (done % cfg.eval_interval == 0 or done == cfg.iterations):
                ev = {
                    k: v.item()
                    for k, v in jax.device_get(
                        evaluate(weights, jax.random.fold_in(eval_key, iteration))
                    ).items()
                }
                if exp.classification:
                    ev["eval_recall_error"] = 1.0 - ev["eval_accuracy"]
                record.update(ev)
            metrics.append(record)
            if run is not None:
                run.append_metrics([record])
            if done % cfg.checkpoint_interval == 0 or done == cfg.iterations:
                checkpoint(done)
            if bar is not None:
                shown = {"loss": f"{record['loss']:.4f}", "rate": f"{record['rate_hz']:.1f}Hz"}
                if exp.classification:
                    shown["acc"] = f"{record['accuracy']:.2f}"
                    if "eval_recall_error" in record:
                        shown["eval_err"] = f"{record['eval_recall_error']:.3f}"
                bar.set_postfix(shown, refresh=False)
                bar.update(1)
            if (
                exp.classification
                and cfg.target_error is not None
                and done < cfg.iterations
                and record.get("eval_recall_error", 1.0) < cfg.target_error
            ):
                stopped_early = True
                checkpoint(done)
                break
    finally:
        if bar is not None:
            bar.close()
    done = len(metrics)
    elapsed = time.perf_counter() - t_start
    per_iteration = elapsed / max(done - start, 1)
    if run is not None:
        run.save_npz("weights_final.npz", weights._asdict())
        run.save_npz(
            "snapshot_last.npz",
            {**recorder(weights, record_key), "iteration": done, "dt": exp.net.dt},
        )
        summary = {
            "iterations_done": done,
            "stopped_early": stopped_early,
            "seconds_per_iteration": per_iteration,
            "final": metrics[-1] if metrics else None,
            "device": str(jax.devices()[0]),
            "jax_version": jax.__version__,
        }
        run.write_json("summary.json", summary)
    return TrainResult(weights, opt_state, metrics, done, stopped_early, per_iteration)
