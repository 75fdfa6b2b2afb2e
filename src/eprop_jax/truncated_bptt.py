r"""Truncated backpropagation through time: exact gradients inside windows of K steps.

The sequence of :math:`T` steps is cut into windows of :math:`K` consecutive steps
(:math:`\lceil T/K \rceil` of them; the last one may be shorter). Inside a window the gradient is
BPTT's; at a window boundary the network state (membrane potential, adaptation, last spikes,
refractory counter, readout) is passed on forward but no gradient flows back through it:

.. math::

    \nabla^{K}_W E = \sum_{w} \frac{\partial E}{\partial W}\Big|_{s_{t_w} \text{ held fixed}},

where :math:`s_{t_w}` is the state entering window :math:`w`. This is the "TBPTT(K, K)" scheme of
Williams and Peng (1990) / Sutskever (2013). With :math:`K \ge T` it is BPTT exactly; a window of
a few steps keeps only short credit paths, which is the baseline e-prop is usually compared with
(Bellec et al. 2020, Fig. 3 and Supplementary Note 5).

Every task loss is a sum of per-step terms with one global normaliser
:math:`N = \sum_{t,b} m_{t,b}`, so each window's share of it is exact. The rate regularisation
:math:`E_{reg} = \frac{c_{reg}}{2}\sum_j (f_j - f^*)^2` couples all steps through the mean rate
:math:`f_j`; its derivative with respect to a spike is the constant
:math:`c_{reg}(f_j - f^*)/(BT)`, which a forward pass computes first, so that each window adds
:math:`\sum_{t,b,j} z_{t,b,j}\, c_{reg}(f_j - f^*)/(BT)` with that constant held fixed (the same
gradient as differentiating :math:`E_{reg}` with the window's state held fixed).

Memory: the outer scan over windows keeps only the network state and the gradient accumulator,
and autodiff stores one window, so peak memory grows with :math:`K`, not with :math:`T`.
"""

from __future__ import annotations

import jax
import jax.numpy as jnp

from .losses import (
    RateRegularization,
    StepLoss,
    mask_count,
    reg_coefficient,
    trial_stats,
)
from .network import Network, Weights, cast, init_state, input_currents, network_step, simulate
from .types import RuleAux


def _pad_time(x: jax.Array, steps: int) -> jax.Array:
    """Append ``steps`` zero steps to a time-major array."""
    return jnp.concatenate([x, jnp.zeros((steps, *x.shape[1:]), x.dtype)]) if steps else x


def _windows(x: jax.Array, window: int) -> jax.Array:
    """``(n_windows * window, ...)`` -> ``(n_windows, window, ...)``."""
    return x.reshape((-1, window, *x.shape[1:]))


def truncated_bptt_gradients(
    net: Network,
    weights: Weights,
    inputs: jax.Array,
    targets: jax.Array,
    mask: jax.Array,
    *,
    truncation: int,
    step_loss: StepLoss,
    regularization: RateRegularization,
    stop_reset_gradient: bool = False,
) -> tuple[Weights, RuleAux]:
    """Truncated BPTT over one batch (module docstring).

    Args:
        net: the :class:`~eprop_jax.network.Network`.
        weights: :class:`~eprop_jax.network.Weights`.
        inputs: ``(T, B, n_in)``; targets: ``(T, B, K)``; mask: ``(T, B)``.
        truncation: the window length K in steps (a positive int; ``K >= T`` gives BPTT).
        step_loss: per-step loss (``losses.mse_step`` / ``losses.cross_entropy_step``).
        regularization: :class:`~eprop_jax.losses.RateRegularization`.
        stop_reset_gradient: drop the reset's gradient path, as in :func:`~eprop_jax.rules.bptt`.

    Returns:
        ``(grads, aux)``: :class:`~eprop_jax.network.Weights` (``b_fb``'s entry zero) and the
        :class:`~eprop_jax.types.RuleAux` of :func:`~eprop_jax.losses.trial_stats`.
    """
    dtype = weights.w_rec.dtype
    t_steps, n_batch, _ = inputs.shape
    window = min(int(truncation), t_steps)
    n_windows = -(-t_steps // window)
    pad = n_windows * window - t_steps
    net_c = cast(net, dtype)
    norm = mask_count(mask).astype(dtype)
    valid = jnp.ones((t_steps,), dtype)  # 0 in the padding appended below

    if regularization.c_reg > 0:
        z_fixed = simulate(net, jax.lax.stop_gradient(weights), inputs).z
        rate_fixed = jnp.sum(z_fixed, axis=(0, 1)) / (t_steps * n_batch)
        spike_cost = reg_coefficient(regularization, rate_fixed, net.dt, t_steps, n_batch)
    else:
        spike_cost = jnp.zeros((net.n_rec,), dtype)

    def window_objective(w: Weights, state, xs):
        x, target, m, ok = xs

        def body(s, step_xs):
            current, tgt, mt, okt = step_xs
            s, (y, out) = network_step(
                net_c, w, s, current, stop_reset_gradient=stop_reset_gradient
            )
            task = jnp.sum(mt * step_loss(y, tgt)) / norm
            reg = okt * jnp.sum(out.z @ spike_cost)
            return s, (task, reg, mt[:, None] * y, okt * out.z.sum(0))

        state, (task, reg, y_window, spikes) = jax.lax.scan(
            body, state, (input_currents(w, x), target, m, ok)
        )
        task_sum = jnp.sum(task)
        return task_sum + jnp.sum(reg), (state, task_sum, y_window.sum(0), spikes.sum(0))

    grad_window = jax.grad(window_objective, has_aux=True)

    def outer(carry, xs):
        state, grad_acc, task_acc, y_window_acc, spikes_acc = carry
        grads, (state, task, y_window, spikes) = grad_window(
            weights, jax.lax.stop_gradient(state), xs
        )
        grad_acc = jax.tree.map(jnp.add, grad_acc, grads)
        return (
            state,
            grad_acc,
            task_acc + task,
            y_window_acc + y_window,
            spikes_acc + spikes,
        ), None

    xs = tuple(_windows(_pad_time(a, pad), window) for a in (inputs, targets, mask, valid))
    carry0 = (
        init_state(net, n_batch, dtype),
        jax.tree.map(jnp.zeros_like, weights),
        jnp.zeros((), dtype),
        jnp.zeros((n_batch, net.n_out), dtype),
        jnp.zeros((net.n_rec,), dtype),
    )
    (_, grads, task, y_window, spikes), _ = jax.lax.scan(outer, carry0, xs)
    stats = trial_stats(
        regularization,
        net.dt,
        task_loss=task,
        spike_sum=spikes,
        y_window_sum=y_window,
        mask=mask,
        n_steps=t_steps,
        n_batch=n_batch,
    )
    return grads._replace(b_fb=jnp.zeros_like(weights.b_fb)), stats.aux()
