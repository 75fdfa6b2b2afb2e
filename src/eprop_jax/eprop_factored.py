r"""Offline, factored e-prop: the exact e-prop gradient without forming any eligibility vector.

:func:`eprop_factored_gradients` returns what :func:`~eprop_jax.eprop.eprop_gradients` returns
(same arguments, same gradients to float rounding) but runs the network first, keeping only the
distance to threshold of every step, and then moves every filter of the eligibility traces onto
per-neuron quantities that one reverse-time scan computes. The synapse-sized work collapses to two 2-D matrix
products. Memory is :math:`O(TBn)` (it is *not* online), but it is exact and much faster than
the online rule, whose per-synapse state is read and written at every step.

The per-neuron reverse recursion is the neuron model's ``adjoint`` (``net.model.adjoint``); the
equations below are those of the ALIF model (``models/alif.py``), ``models/psc_delta.py`` states
its own.

Symbols (per batch sample; :math:`j` postsynaptic, :math:`i` presynaptic, :math:`t = 1..T`):

=============================== =================================================================
:math:`p_t`                     presynaptic activity :math:`[x_t, z_{t-1}]`
:math:`\epsilon^v, \epsilon^a`  eligibility vector, :math:`e_t` trace, :math:`\bar e_t` its
                                :math:`\kappa`-filtered version (``eprop.py``)
:math:`\bar E_t`                ``err_bar``: readout error :math:`\partial E/\partial y` filtered
                                backwards by :math:`\kappa`
:math:`c_t`                     ``coef``: the per-neuron coefficient of :math:`e_t`
:math:`\delta_t`                ``adj``: adjoint of :math:`\epsilon^a` (ALIF rows only)
:math:`\omega_t,\ \bar\omega_t` ``w``, ``w_bar``: coefficient of :math:`\epsilon^v_t`, and of
                                :math:`p_t` after the :math:`\alpha` filter is moved onto it
:math:`r_j`                     rate-regularisation coefficient :math:`c_{reg}(f_j - f^*)/(BT)`
=============================== =================================================================

The e-prop gradient (Eq. 28 with the regularisation of ``losses.py``) is
:math:`\Delta W_{ji} = \sum_{t,b} L_{t,j} \bar e_{t,ji} + r_j \sum_{t,b} e_{t,ji}` with
:math:`L_t = B\,\partial E/\partial y_t`. Every recursion of Eqs. 14, 25 and 26 is linear in the
synapse's state with coefficients that depend on the postsynaptic neuron only, so the sums over
time can be taken in reverse order, one filter at a time:

.. math::

    \bar E_t &= \partial E/\partial y_t + \kappa \bar E_{t+1}, \qquad
    c_t = (1-\kappa)\, \bar E_t B^\top + r
        && \textstyle\sum_t (L_t \bar e_t + r e_t) = \sum_t c_t e_t \\
    \omega_t &= \psi_t (c_t - \beta \delta_t), \qquad \delta_{t-1} = \rho\, \delta_t + \omega_t
        && \textstyle\sum_t c_t e_t = \sum_t \omega_t \epsilon^v_t
           \quad\text{(Eqs. 25-26)}\\
    \bar\omega_t &= \omega_t + \alpha \bar\omega_{t+1}
        && \textstyle\sum_t \omega_t \epsilon^v_t = \sum_t \bar\omega_t p_t
           \quad\text{(Eqs. 13-14)}\\
    \Delta W_{ji} &= \textstyle\sum_{t,b} \bar\omega_{t,b,j}\, p_{t,b,i}, \qquad
    \Delta W^{out} = (1-\kappa) \sum_{t,b} \bar E_t^\top z_t, \qquad
    \Delta b = (1-\kappa) \sum_{t,b} \bar E_t

with :math:`\bar E_{T+1} = \delta_T = \bar\omega_{T+1} = 0`. (The :math:`\delta` recursion:
unrolling Eq. 25 gives :math:`\epsilon^a_t = \sum_{s<t} \prod_{k=s+1}^{t-1}(\rho - \beta\psi_k)\,
\psi_s \epsilon^v_s`, so the coefficient of :math:`\psi_s\epsilon^v_s` in
:math:`\sum_t c_t \psi_t \epsilon^a_t` is :math:`\delta_s = c_{s+1}\psi_{s+1} + (\rho -
\beta\psi_{s+1})\delta_{s+1}`.) LIF rows (:math:`\beta = 0`) have :math:`\omega = \psi c`;
per-neuron :math:`\alpha`, :math:`\rho` and :math:`\beta` enter only as per-neuron factors.

How it is computed (the tricks that make it fast on XLA:CPU, where every fresh ``(T, B, n)``
buffer costs about its page faults unless the process keeps freed memory,
:mod:`eprop_jax.allocator`): the forward scan keeps only the distance to threshold
:math:`u_t = v_t - A_t`, set to :math:`-\infty` while refractory so that :math:`z_t = H(u_t)`
and :math:`\psi_t = \psi(u_t)` are recovered exactly for every surrogate shape, and writes it
in place over the hoisted input current :math:`W^{in} x_t`; it stacks only the readout
:math:`y_t` and counts spikes in its carry. The reverse pass then runs over chunks of 16 to 32
steps, from the last: per chunk the :math:`\kappa` filter of :math:`\partial E/\partial y` is
one small matrix product (a triangular matrix of powers of :math:`\kappa`), :math:`c_t` another,
the model's adjoint an element-wise reverse scan, and the chunk's share of the gradient sums
:math:`(\text{size}\,B, n)^\top (\text{size}\,B, P)` matrix products on :math:`z_{t-1}` and
:math:`z_t` recomputed from :math:`u`. Every per-chunk array stays in cache; :math:`u` is the
only ``(T, B, n)`` array.

References:
    Bellec et al. 2020, "A solution to the learning dilemma for recurrent networks of spiking
    neurons", Nat. Commun. 11:3625, Eqs. 13-14 (LIF), 25-26 (ALIF), 28 (gradient from filtered
    traces and learning signals).
"""

from __future__ import annotations

from collections.abc import Callable

import jax
import jax.numpy as jnp

from ._checks import check_shape
from .losses import RateRegularization, StepLoss, task_loss, trial_stats
from .models.base import LearningRule, alif_rows
from .network import (
    Network,
    Weights,
    cast,
    check_inputs,
    check_weights,
    init_state,
    input_currents,
    network_step,
    recurrent_mask,
)
from .types import RuleAux

# Steps per chunk of the reverse pass: about _CHUNK_ELEMENTS / (B n), between _MIN_CHUNK and
# _MAX_CHUNK. Measured on XLA:CPU (2 cores, float32): B 64, n 100 fastest at 32 steps (8: 1.2x
# slower, 64: 1.05x); B 64, n 512 fastest at 16 (8 and 32: 1.06x). Per chunk the model's adjoint is
# an element-wise scan of `size` steps and the gradient two matrix products of `size * B` rows.
_CHUNK_ELEMENTS = 2**18
_MIN_CHUNK = 16
_MAX_CHUNK = 32  # the filter matrix is size x size


def eprop_factored_gradients(
    net: Network,
    weights,
    inputs: jax.Array,
    targets: jax.Array,
    mask: jax.Array,
    *,
    step_loss: StepLoss,
    feedback_matrix: jax.Array,
    regularization: RateRegularization,
    eligibility: Callable[..., LearningRule] | None = None,
    record: bool = False,
) -> tuple[Weights, RuleAux]:
    """Exact e-prop gradients, computed offline by reverse-time adjoints (module docstring).

    Same arguments and result as :func:`~eprop_jax.eprop.eprop_gradients` for its default rule;
    memory grows as ``T * B * n_rec``.

    Args:
        net: the :class:`~eprop_jax.network.Network`.
        weights: :class:`~eprop_jax.network.Weights`; their dtype is the computation's.
        inputs: ``(T, B, n_in)``; targets: ``(T, B, K)``; mask: ``(T, B)``.
        step_loss: per-step loss (``losses.mse_step`` / ``losses.cross_entropy_step``).
        feedback_matrix: ``B`` of shape ``(n_rec, K)`` (``weights.w_out.T`` for symmetric e-prop).
        regularization: :class:`~eprop_jax.losses.RateRegularization`.
        eligibility: must be ``None``: the factored form is that of the network's model's
            eligibility rule (its ``adjoint``).
        record: must be ``False``: nothing per step is kept.

    Returns:
        ``(grads, aux)`` as :func:`~eprop_jax.eprop.eprop_gradients`, with ``aux.trajectory``
        and ``aux.learning_signal`` set to ``None``.

    Example:
        >>> import eprop_jax as ej
        >>> net = ej.network(3, 8, 2, n_alif=4)
        >>> w = ej.init_weights(net, jax.random.key(0))
        >>> f32 = jnp.float32
        >>> x, y, m = jnp.ones((20, 2, 3), f32), jnp.zeros((20, 2, 2), f32), jnp.ones((20, 2), f32)
        >>> grads, aux = eprop_factored_gradients(net, w, x, y, m, step_loss=ej.mse_step,
        ...     feedback_matrix=w.w_out.T, regularization=ej.rate_regularization())
        >>> grads.w_rec.shape
        (8, 8)
    """
    api = "eprop_factored_gradients"
    if record:
        raise ValueError(
            f"`{api}`: record=True is not supported (the factored form keeps no per-step "
            "trajectory or learning signal). Use eprop_gradients(..., record=True) instead."
        )
    if eligibility is not None:
        raise ValueError(
            f"`{api}`: a custom rule cannot be factored; got eligibility={eligibility!r}. Pass "
            "eligibility=None (the default e-prop eligibility rule) or use eprop_gradients for a "
            "custom rule."
        )
    check_weights(api, net, weights)
    check_inputs(api, net, inputs)
    t_steps, n_batch, n_in = inputs.shape
    n, n_out = net.n_rec, net.n_out
    check_shape(api, "targets", targets, (t_steps, n_batch, n_out))
    check_shape(api, "mask", mask, (t_steps, n_batch))
    check_shape(api, "feedback_matrix", feedback_matrix, (n, n_out))
    dtype = weights.w_rec.dtype
    inputs = jnp.asarray(inputs, dtype)
    net_c = cast(net, dtype)
    neuron, kappa = net_c.neuron, net_c.readout.kappa

    # Forward. One (T, B, n) buffer holds W_in x_t and then u_t: step t reads slot t and
    # overwrites it in place, so no fresh (T, B, n) output is allocated and zero-filled.
    buffer0 = input_currents(weights, inputs)

    def forward(carry, _):
        state, spike_count, buffer, t = carry
        not_refractory = state.neuron.refractory == 0
        current = jax.lax.dynamic_index_in_dim(buffer, t, keepdims=False)
        state, (y, out) = network_step(net_c, weights, state, current)
        # H(-inf) = psi(-inf) = 0 for every surrogate shape: z_t and psi_t are exact functions of u.
        u = jnp.where(not_refractory, out.v - out.threshold, -jnp.inf)
        buffer = jax.lax.dynamic_update_index_in_dim(buffer, u, t, 0)
        return (state, spike_count + out.z, buffer, t + 1), y

    carry0 = (
        init_state(net, n_batch, dtype),
        jnp.zeros((n_batch, n), dtype),
        buffer0,
        jnp.zeros((), jnp.int32),
    )
    (_, spike_count, u, _), y = jax.lax.scan(forward, carry0, None, length=t_steps)

    # err = dE/dy_t, (T, B, K); the loss is a sum of per-step terms
    loss_value, err = jax.value_and_grad(lambda y_all: task_loss(step_loss, y_all, targets, mask))(
        y
    )
    stats = trial_stats(
        regularization,
        net.dt,
        task_loss=loss_value,
        spike_sum=jnp.sum(spike_count, axis=0),
        y_window_sum=jnp.sum(mask[..., None] * y, axis=0),
        mask=mask,
        n_steps=t_steps,
        n_batch=n_batch,
    )
    reg_coef = stats.reg_coef if regularization.c_reg > 0 else None

    feedback = (1 - kappa) * feedback_matrix.T  # (K, n): L-tilde_t = err_bar_t @ feedback
    adaptive = len(alif_rows(net.neuron.beta)) > 0  # all-LIF networks skip the eps^a adjoint
    adjoint = net.model.adjoint(neuron, net_c.surrogate, adaptive=adaptive)

    # Time is cut into chunks of `size` steps, run from the last. Per chunk: the kappa filter
    # (a small matrix product), the coefficients c_t (one matrix product), the model's adjoint
    # (an element-wise reverse scan), and the chunk's share of the gradient sums as 2-D matrix
    # products. Every per-chunk array stays in cache; no (T, B, n) array besides u is allocated.
    size = min(t_steps, _MAX_CHUNK, max(_MIN_CHUNK, _CHUNK_ELEMENTS // (n_batch * max(n, n_in))))
    n_full, head = divmod(t_steps, size)
    lag = jnp.arange(size)[None, :] - jnp.arange(size)[:, None]  # s - t
    with jax.ensure_compile_time_eval():
        kappa_pow = jnp.power(kappa, jnp.arange(size + 1, dtype=dtype))  # kappa^0 .. kappa^size
    # err_bar_t = sum_{s >= t in chunk} kappa^{s-t} err_s + kappa^{end-t} err_bar_{end}
    filter_matrix = jnp.where(lag >= 0, kappa_pow[jnp.clip(lag, 0, size)], 0.0).astype(dtype)

    def backward(model_carry, xs):
        u_t, z_prev_t, coef_t = xs
        return adjoint.update(model_carry, (u_t, z_prev_t, coef_t))

    def chunk(carry, start, size: int):
        """Steps start .. start + size - 1 backwards, then their share of the four sums."""
        (err_next, model_carry), (g_in, g_rec, g_out, g_bias) = carry
        rows = size * n_batch
        u_c = jax.lax.dynamic_slice_in_dim(u, start, size)
        z_c = (u_c > 0).astype(dtype)  # z_t = H(u_t)
        # z_{start-1} (zero before the first step), then z_start .. z_{start+size-2}
        before = jax.lax.dynamic_index_in_dim(u, jnp.maximum(start - 1, 0), keepdims=False)
        z_before = jnp.where((start > 0) & (before > 0), 1.0, 0.0).astype(dtype)
        z_prev_c = jnp.concatenate([z_before[None], z_c[:-1]])
        err_c = jax.lax.dynamic_slice_in_dim(err, start, size).reshape(size, n_batch * n_out)
        # kappa filter of Eq. 28, run backwards on dE/dy: err_bar_t = err_t + kappa err_bar_{t+1}
        tail = kappa_pow[size:0:-1, None]  # kappa^{size - i}, i = 0 .. size - 1
        err_bar = filter_matrix[:size, :size] @ err_c + tail * err_next.reshape(1, -1)
        err_bar_2d = err_bar.reshape(rows, n_out)
        coef = (err_bar_2d @ feedback).reshape(size, n_batch, n)  # c_t = L-tilde_t + r
        if reg_coef is not None:
            coef = coef + reg_coef
        xs = (u_c, z_prev_c if adjoint.uses_previous_spike else None, coef)
        model_carry, w_bar = jax.lax.scan(backward, model_carry, xs, reverse=True)
        w_bar_2d = w_bar.reshape(rows, n).T
        x_c = jax.lax.dynamic_slice_in_dim(inputs, start, size).reshape(rows, n_in)
        # one matrix product for W_in and W_rec: p_t = [x_t, z_{t-1}]
        g = w_bar_2d @ jnp.concatenate([x_c, z_prev_c.reshape(rows, n)], axis=1)
        g_in, g_rec = g_in + g[:, :n_in], g_rec + g[:, n_in:]
        g_out = g_out + err_bar_2d.T @ z_c.reshape(rows, n)
        g_bias = g_bias + jnp.sum(err_bar_2d, axis=0)
        return (err_bar[0].reshape(n_batch, n_out), model_carry), (g_in, g_rec, g_out, g_bias)

    sums = (
        jnp.zeros((n, n_in), dtype),
        jnp.zeros((n, n), dtype),
        jnp.zeros((n_out, n), dtype),
        jnp.zeros((n_out,), dtype),
    )
    carry = ((jnp.zeros((n_batch, n_out), dtype), adjoint.init(n_batch, n, dtype)), sums)
    carry, _ = jax.lax.scan(
        lambda c, k: (chunk(c, t_steps - (k + 1) * size, size), None),
        carry,
        jnp.arange(n_full, dtype=jnp.int32),
    )
    if head:
        carry = chunk(carry, jnp.zeros((), jnp.int32), head)
    _, (grad_in, grad_rec, grad_out, grad_bias) = carry
    grad_rec = grad_rec * recurrent_mask(n, dtype)
    grad_out, grad_bias = (1 - kappa) * grad_out, (1 - kappa) * grad_bias
    grads = Weights(grad_in, grad_rec, grad_out, grad_bias, jnp.zeros_like(weights.b_fb))
    return grads, stats.aux()
