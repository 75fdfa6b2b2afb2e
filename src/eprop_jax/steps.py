r"""The compiled pieces of training: one train step, the evaluation and the trial recorder.

Each factory takes an :class:`~eprop_jax.experiment.Experiment` and returns a jit-compiled pure
function of the weights and a key:

* :func:`make_train_step`: ``step(weights, opt_state, key) -> (weights, opt_state, metrics)``
  samples a batch (fresh tasks) or takes the frozen one, asks the learning rule for gradients,
  applies the optax optimiser and clips the weights to ``weight_bounds``; optionally checked
  with ``jax.experimental.checkify``;
* :func:`make_evaluate`: ``evaluate(weights, key) -> metrics``, the mean loss (and accuracy) over
  ``eval_batches`` fresh batches;
* :func:`make_recorder`: ``record(weights, key) -> dict``, one trial's trajectory, learning
  signals and errors for the figures.

Data-parallel experiments split every batch over the devices of ``exp.mesh``.

**Several seeds** (``config.seeds > 1``): the weights, optimiser state and keys carry a leading
seed axis of size ``S`` and each factory returns the same computation ``jax.vmap``-ped over it:

* ``step(weights, opt_state, keys, active) -> (weights, opt_state, metrics)`` with ``keys`` of
  shape ``(S,)`` and ``active`` a boolean ``(S,)``: a seed whose ``active`` is false keeps its
  weights and optimiser state (its update is masked,
  :math:`\theta_s \leftarrow \theta_s + a_s\,\Delta\theta_s`), which freezes a seed that
  reached the early-stopping criterion; every metric has shape ``(S,)``;
* ``evaluate(weights, keys)``: metrics of shape ``(S,)``;
* ``record(weights, key)``: the first seed's trial (the figures show one network).

A frozen task gives each seed its own frozen batch (``exp.seed_batches``), as that seed's
single-seed run would.

:func:`reuse` hands the trainer the compiled function of an earlier experiment whose
configuration differs only in what the compiled code does not depend on (the run length, the
early-stopping criterion and, for a task that draws fresh batches, the seed), so training several
seeds one after the other, or resuming in the same process, compiles once. The functions are kept
in a small process-wide cache (the :data:`_REUSED_SIZE` most recently used), the one piece of
state in this module: :func:`clear_reused` empties it. Experiments it never reuses: data-parallel
ones, those whose configuration JSON cannot spell, and those of a task that reads a data folder
(``data_dir``), whose files may change between two runs with the same configuration.
"""

from __future__ import annotations

import dataclasses
import inspect
import json
from collections import OrderedDict
from collections.abc import Callable

import jax
import jax.numpy as jnp
import optax

from . import tasks as task_lib
from .experiment import Experiment
from .losses import accuracy, get_loss, masked_mean_readout
from .losses import task_loss as compute_task_loss
from .network import Weights, simulate
from .parallel import batch_shardings
from .rules import make_rule, resolve_rule
from .types import Batch


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


def _batch(exp: Experiment, key: jax.Array, frozen: Batch | None) -> Batch:
    """A fresh batch from ``key``, or the seed's frozen batch of a multi-seed frozen task."""
    return exp.sample(key) if frozen is None else frozen


def _masked(active: jax.Array, new, old):
    """``new`` where ``active`` (shape ``(S,)``) is true, else ``old``, leaf by leaf."""

    def pick(n, o):
        return jnp.where(active.reshape(active.shape + (1,) * (n.ndim - 1)), n, o)

    return jax.tree.map(pick, new, old)


def make_train_step(exp: Experiment):
    """Return the jit-compiled ``step(weights, opt_state, key) -> (weights, opt_state, metrics)``
    (several seeds: ``step(weights, opt_state, keys, active)``, see the module docstring).

    ``metrics["finite"]`` is whether the gradients and the new weights are all finite (checked
    by the trainer every iteration). With ``config.check_finite`` the step is wrapped in
    ``jax.experimental.checkify`` and returns ``(error, (weights, opt_state, metrics))``; the
    error names the first non-finite input, weight or gradient.
    """
    dt = exp.net.dt
    check = exp.config.check_finite
    if check:
        from jax.experimental import checkify

    def step(weights, opt_state, key, frozen=None):
        batch_key, rule_key = jax.random.split(key)
        batch = _distribute(exp, _batch(exp, batch_key, frozen))
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
            # the optimiser state too: Adam's second moment can overflow before the weights do
            "finite": _all_finite(grads) & _all_finite(new_weights) & _all_finite(opt_state),
        }
        if exp.classification:
            metrics["accuracy"] = accuracy(aux.y_mean, batch.targets, batch.mask)
        return new_weights, opt_state, metrics

    if exp.config.seeds > 1:
        per_seed = jax.vmap(step)

        def seeds_step(weights, opt_state, keys, active):
            new_weights, new_opt_state, metrics = per_seed(
                weights, opt_state, keys, exp.seed_batches
            )
            new_weights = _masked(active, new_weights, weights)
            new_opt_state = _masked(active, new_opt_state, opt_state)
            return new_weights, new_opt_state, metrics

        if check:
            return jax.jit(checkify.checkify(seeds_step))
        return jax.jit(seeds_step)
    if check:
        return jax.jit(checkify.checkify(step))
    return jax.jit(step)


def make_evaluate(exp: Experiment):
    """Return the jit-compiled ``evaluate(weights, key) -> metrics`` on fresh batches."""
    step_loss = get_loss(exp.loss)
    n_eval = exp.config.eval_batches

    def one(weights, key, frozen):
        batch = _distribute(exp, _batch(exp, key, frozen))
        traj = simulate(exp.net, weights, batch.inputs)
        out = {"eval_loss": compute_task_loss(step_loss, traj.y, batch.targets, batch.mask)}
        if exp.classification:
            y_mean = masked_mean_readout(traj.y, batch.mask)
            out["eval_accuracy"] = accuracy(y_mean, batch.targets, batch.mask)
        return out

    def evaluate(weights, key, frozen=None):
        per_batch = jax.lax.map(lambda k: one(weights, k, frozen), jax.random.split(key, n_eval))
        return jax.tree.map(jnp.mean, per_batch)

    if exp.config.seeds > 1:
        per_seed = jax.vmap(evaluate)
        return jax.jit(lambda weights, keys: per_seed(weights, keys, exp.seed_batches))
    return jax.jit(evaluate)


def make_recorder(exp: Experiment):
    """Return ``record(weights, key) -> dict`` of one trial's trajectory (for the figures; of the
    first seed's weights in a multi-seed run, whose sampler is the first seed's)."""
    feedback = exp.config.feedback
    recorder = make_rule("eprop", exp.net, loss=exp.loss, feedback=feedback, record=True)

    def record(weights, key):
        if exp.config.seeds > 1:
            weights = jax.tree.map(lambda w: w[0], weights)
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


_NOT_COMPILED_IN = ("iterations", "eval_interval", "checkpoint_interval", "target_error")
"""Configuration fields the compiled step, evaluation and recorder do not depend on."""

_REUSED: OrderedDict = OrderedDict()
"""Compiled functions by :func:`_compiled_key`, least recently used first."""
_REUSED_SIZE = 12
"""How many compiled functions :func:`reuse` keeps."""


def clear_reused() -> None:
    """Forget every compiled function :func:`reuse` keeps (the next call compiles anew)."""
    _REUSED.clear()


def _compiled_key(factory: Callable, exp: Experiment):
    """What a compiled function of ``factory(exp)`` depends on, or ``None`` (do not reuse)."""
    if exp.mesh is not None:
        return None
    generator = task_lib.get_task(exp.config.task)
    if "data_dir" in inspect.signature(generator).parameters:
        return None  # its batches come from files that may have changed since
    config = dataclasses.asdict(exp.config)
    for name in _NOT_COMPILED_IN:
        config.pop(name)
    if exp.config.task not in task_lib.FROZEN_TASKS:
        config.pop("seed")  # fresh batches come from the key, not the seed
    try:
        text = json.dumps(config, sort_keys=True)
    except TypeError:  # an option that JSON cannot spell: build anew
        return None
    return (factory, text, generator, resolve_rule(exp.config.rule))


def reuse(factory: Callable, exp: Experiment):
    """``factory(exp)``, or the same factory's function for an experiment it equals in all the
    compiled code depends on (module docstring): its compilation is reused."""
    key = _compiled_key(factory, exp)
    if key is None:
        return factory(exp)
    if key in _REUSED:
        _REUSED.move_to_end(key)
        return _REUSED[key]
    made = _REUSED[key] = factory(exp)
    if len(_REUSED) > _REUSED_SIZE:
        _REUSED.popitem(last=False)
    return made
