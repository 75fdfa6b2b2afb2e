r"""NEST's weight optimiser as an optax transformation, and its clipping as a projection.

:func:`nest_optimizer` is an ``optax.GradientTransformationExtraArgs``: ``update`` returns the
*updates* :math:`-\eta G` (gradient descent) or :math:`-\alpha_t m / (\sqrt{v} + \epsilon)`
(NEST's Adam, package docstring), which ``optax.apply_updates`` adds to the weights; the clipping
to :math:`[W_{min}, W_{max}]` is the separate projection :func:`nest_projection`, applied after
the step. ``w + (-s)`` equals ``w - s`` in IEEE arithmetic, so this is bitwise NEST's in-place
``w -= s`` followed by the clip.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any, NamedTuple

import jax
import jax.numpy as jnp
import optax

from .params import NestOptimizerConfig


class NestOptimizerState(NamedTuple):
    """State of :func:`nest_optimizer` (per weight: NEST keeps one per synapse)."""

    m: Any  # pytree like the weights, first moment
    v: Any  # pytree like the weights, second raw moment
    beta_1_power: jax.Array  # shape=(), beta_1^t
    beta_2_power: jax.Array  # shape=(), beta_2^t
    count: jax.Array  # shape=(), dtype=int32, optimisation steps done


#: The type :func:`nest_optimizer` returns: ``init(params) -> state`` and
#: ``update(grads, state, params=None, *, eta=None) -> (updates, state)``.
NestOptimizer = optax.GradientTransformationExtraArgs


def nest_optimizer(config: NestOptimizerConfig) -> optax.GradientTransformationExtraArgs:
    """NEST's weight optimiser: gradient descent or NEST's Adam (package docstring), as updates.

    ``grads`` is the batch mean :math:`G` (the sum over the batch's intervals divided by ``B``).
    Unlike ``optax.adam``, epsilon is added outside the square root of the raw second moment and
    the bias correction is folded into the step size. The clipping to ``[w_min, w_max]`` is not
    part of the updates: apply :func:`nest_projection` after ``optax.apply_updates``.

    ``update(grads, state, params=None, *, eta=None)``: ``eta`` is an optional pytree of learning
    rates shaped like (or broadcastable to) ``grads``, e.g. one per synapse (NEST's
    ``eta_current``); default: ``eta_first`` for the first step (if not None), then ``eta``.

    Args:
        config: the synapse's :class:`~eprop_jax.nest.params.NestOptimizerConfig`.

    Returns:
        An ``optax.GradientTransformationExtraArgs``.

    Example:
        >>> cfg = NestOptimizerConfig("adam", 1, 0.1, 0.1, 0.9, 0.999, 1e-8, -1.0, 1.0)
        >>> opt, project = nest_optimizer(cfg), nest_projection(cfg)
        >>> w = jnp.array([0.5])
        >>> updates, state = opt.update(jnp.array([2.0]), opt.init(w))
        >>> w = project(optax.apply_updates(w, updates))
        >>> round(float(w[0]), 4)  # 0.5 - 0.1 * sqrt(0.001) / 0.1 * 0.2 / (sqrt(0.004) + 1e-8)
        0.4
    """

    def init_fn(params) -> NestOptimizerState:
        zeros = jax.tree.map(jnp.zeros_like, params)
        one = jnp.ones((), jax.tree.leaves(params)[0].dtype)
        return NestOptimizerState(zeros, zeros, one, one, jnp.zeros((), jnp.int32))

    def update_fn(grads, state: NestOptimizerState, params=None, *, eta=None, **extra_args):
        del params, extra_args  # NEST's step needs neither; extra_args: other transforms' (chain)
        dtype = state.beta_1_power.dtype
        if eta is None:
            first = config.eta if config.eta_first is None else config.eta_first
            scalar = jnp.where(state.count == 0, first, config.eta).astype(dtype)
            eta = jax.tree.map(lambda _: scalar, grads)
        if config.kind == "gradient_descent":
            updates = jax.tree.map(lambda g, e: -(e * g), grads, eta)
            return updates, state._replace(count=state.count + 1)
        b1, b2 = config.beta_1, config.beta_2
        b1_power, b2_power = state.beta_1_power * b1, state.beta_2_power * b2
        m = jax.tree.map(lambda m, g: b1 * m + (1.0 - b1) * g, state.m, grads)
        v = jax.tree.map(lambda v, g: b2 * v + (1.0 - b2) * g * g, state.v, grads)

        def step(m, v, e):
            alpha = e * jnp.sqrt(1.0 - b2_power) / (1.0 - b1_power)  # NEST/TF: bias in the step
            # epsilon outside the square root of the raw moment (not optax's form)
            return -(alpha * m / (jnp.sqrt(v) + config.epsilon))

        updates = jax.tree.map(step, m, v, eta)
        return updates, NestOptimizerState(m, v, b1_power, b2_power, state.count + 1)

    return optax.GradientTransformationExtraArgs(init_fn, update_fn)


def nest_projection(config: NestOptimizerConfig) -> Callable[[Any], Any]:
    r"""NEST's clipping after each step: ``params -> clip(params, w_min, w_max)`` on every leaf.

    The Euclidean projection onto the box :math:`[W_{min}, W_{max}]`
    (``optax.projections.projection_box``), applied after ``optax.apply_updates``.

    Example:
        >>> cfg = NestOptimizerConfig("gradient_descent", 1, 0.1, None, 0.9, 0.999, 1e-8, -1.0, 1.0)
        >>> nest_projection(cfg)(jnp.array([-3.0, 0.5, 2.0])).tolist()
        [-1.0, 0.5, 1.0]
    """

    def project(params):
        # projection_box takes a scalar bound only for a single array: give one per leaf
        lower = jax.tree.map(lambda _: config.w_min, params)
        upper = jax.tree.map(lambda _: config.w_max, params)
        return optax.projections.projection_box(params, lower, upper)

    return project
