"""NEST's training loop: sequence after sequence, one optimiser step per batch.

:func:`nest_train` runs :func:`~eprop_jax.nest.gradients.nest_batch_gradients` per batch and
NEST's optimiser (:func:`~eprop_jax.nest.optimizer.nest_optimizer`, an optax transformation) with
its clipping projection, keeping NEST's per-synapse learning rates (package docstring,
:mod:`eprop_jax.nest`).
"""

from __future__ import annotations

import functools
import time
from collections.abc import Callable, Sequence
from typing import NamedTuple

import jax
import jax.numpy as jnp
import numpy as np
import optax

from ..network import Network, Weights
from .gradients import _triggers, nest_batch_gradients, nest_targets, nest_truncation
from .optimizer import nest_optimizer, nest_projection
from .params import DEFAULT_ETA, NestConfig, _err


class NestRun(NamedTuple):
    """What :func:`nest_train` returns."""

    weights: Weights  # final weights
    initial_weights: Weights
    loss: np.ndarray  # shape=(n_iter,), the tutorial's loss per iteration
    readout_signal: np.ndarray | None  # shape=(n_iter, B, T, n_out) when recorded
    seconds: float  # wall time of the training loop (after compilation)
    compile_seconds: float


def nest_weights(w_in, w_rec, w_out, feedback, dtype=jnp.float64) -> Weights:
    """NEST's four matrices, all ``(post, pre)``, as :class:`~eprop_jax.network.Weights`.

    ``feedback`` is the ``eprop_learning_signal_connection_bsshslm_2020`` matrix ``(n_rec, n_out)``.
    The diagonal of ``w_rec`` is ignored (NEST has no autapses).
    """
    w_out = jnp.asarray(w_out, dtype)
    return Weights(
        w_in=jnp.asarray(w_in, dtype),
        w_rec=jnp.asarray(w_rec, dtype) * (1 - jnp.eye(np.shape(w_rec)[0], dtype=dtype)),
        w_out=w_out,
        b_out=jnp.zeros((w_out.shape[0],), dtype),
        b_fb=jnp.asarray(feedback, dtype),
    )


def nest_train(
    net: Network,
    config: NestConfig,
    weights: Weights,
    inputs: np.ndarray,
    targets: np.ndarray,
    *,
    record: bool = False,
    implementation: str = "auto",
    etas: Sequence[float] | None = None,
    callback: Callable[[int, float], None] | None = None,
) -> NestRun:
    """Train as NEST's tutorial does: sequence after sequence, one optimiser step per batch.

    Args:
        net, config: from :func:`~eprop_jax.nest.params.from_nest`
            (``config.optimizer.batch_size`` is ``B``).
        weights: initial weights (:func:`nest_weights`); their dtype is the computation's.
        inputs: input spikes, shape ``(n_iter, B, T, n_in)`` (0/1 or bool), in simulation order.
        targets: the target generators' values per sequence step, shape ``(n_iter, B, T, n_out)``
            (one-hot labels for classification); aligned here with
            :func:`~eprop_jax.nest.gradients.nest_targets`.
        record: keep the readout signal of every sequence (memory ``n_iter * B * T * n_out``).
        implementation: ``"auto"``, ``"online"`` or ``"factored"``
            (:func:`~eprop_jax.nest.gradients.nest_batch_gradients`).
        etas: the learning rate a script sets before each iteration (NEST's phases, e.g. 0 for
            validation), one per iteration; default ``config.optimizer.eta`` throughout. NEST
            keeps one rate per synapse (``eta_current``, initially ``eta_first``, NEST's first
            non-default rate): a synapse's optimiser step uses the rate in force at its previous
            optimisation, which happens at its presynaptic neuron's first spike in each batch
            after the first; modelled here per weight column.
        callback: ``callback(iteration, loss)`` after every iteration (e.g. a progress bar).

    Returns:
        A :class:`NestRun`.
    """
    api = "nest_train"
    inputs, targets = np.asarray(inputs), np.asarray(targets)
    b = config.optimizer.batch_size
    if inputs.ndim != 4 or inputs.shape[1:] != (b, config.update_interval, net.n_in):
        raise _err(
            api,
            f"expected inputs of shape (n_iter, B={b}, T={config.update_interval}, "
            f"n_in={net.n_in}); got {inputs.shape}.",
        )
    if targets.shape != (*inputs.shape[:3], net.n_out):
        raise _err(
            api, f"expected targets of shape {(*inputs.shape[:3], net.n_out)}; got {targets.shape}."
        )
    n_iter, _, t_steps, _ = inputs.shape
    flat_shape = (n_iter * b, t_steps)
    shifted = nest_targets(targets.reshape(*flat_shape, net.n_out)).reshape(targets.shape)
    truncate = nest_truncation(inputs.reshape(*flat_shape, net.n_in)).reshape(n_iter, b, net.n_in)
    dtype = weights.w_rec.dtype
    optimizer = nest_optimizer(config.optimizer)
    project = nest_projection(config.optimizer)  # NEST clips after every step
    any_truncated = bool(truncate.any())  # one compilation for the whole run
    opt_config = config.optimizer
    first = opt_config.eta if opt_config.eta_first is None else opt_config.eta_first
    track = etas is not None or first != opt_config.eta
    if etas is None:
        etas = [opt_config.eta] * n_iter
    etas = np.asarray(etas, np.float64)
    if etas.shape != (n_iter,) or np.any(etas < 0) or not np.all(np.isfinite(etas)):
        raise _err(api, f"etas must hold n_iter={n_iter} learning rates >= 0; got {etas!r}.")
    if opt_config.eta_first is None:  # the first eta a phase sets away from NEST's default
        first = next((float(e) for e in etas if e != DEFAULT_ETA), first)
    counts = np.ones((n_iter, b), bool)
    counts[0] = False  # no optimisation (and so no new eta_current) before the first batch ends

    @functools.partial(jax.jit, static_argnames="any_truncated")
    def train_step(w: Weights, opt_state, eta_current, x, y, trunc, eta, count, any_truncated):
        options = {"record": record, "implementation": implementation}
        res = nest_batch_gradients(
            net, config, w, x, y, trunc, any_truncated=any_truncated, **options
        )
        trainable = (w.w_in, w.w_rec, w.w_out)
        grads = (res.grad_in, res.grad_rec, res.grad_out)
        if track:
            active = _triggers(net, config, w, x, count)
            eta_current = tuple(
                jnp.where(a, eta, e) for a, e in zip(active, eta_current, strict=True)
            )
            per_column = tuple(e[None, :] for e in eta_current)
            updates, opt_state = optimizer.update(grads, opt_state, trainable, eta=per_column)
        else:
            updates, opt_state = optimizer.update(grads, opt_state, trainable)
        new = project(optax.apply_updates(trainable, updates))
        w = w._replace(w_in=new[0], w_rec=new[1], w_out=new[2])
        return w, opt_state, eta_current, res.loss, res.readout_signal

    w = weights
    opt_state = optimizer.init((w.w_in, w.w_rec, w.w_out))
    eta_current = tuple(jnp.full((n,), first, dtype) for n in (net.n_in, net.n_rec, net.n_rec))
    losses, readouts = [], []
    start = time.perf_counter()
    compile_seconds = 0.0
    for it in range(n_iter):
        x = jnp.asarray(inputs[it], dtype)
        w, opt_state, eta_current, loss, readout = train_step(
            w,
            opt_state,
            eta_current,
            x,
            jnp.asarray(shifted[it], dtype),
            jnp.asarray(truncate[it]),
            jnp.asarray(etas[it], dtype),
            jnp.asarray(counts[it]),
            any_truncated=any_truncated,
        )
        losses.append(float(loss))
        if record:
            readouts.append(np.asarray(readout))
        if it == 0:
            compile_seconds = time.perf_counter() - start
            start = time.perf_counter()
        if callback is not None:
            callback(it, losses[-1])
    jax.block_until_ready(w)
    seconds = time.perf_counter() - start
    return NestRun(
        weights=w,
        initial_weights=weights,
        loss=np.asarray(losses),
        readout_signal=np.stack(readouts) if record else None,
        seconds=seconds,
        compile_seconds=compile_seconds,
    )
