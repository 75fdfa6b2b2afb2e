r"""Online e-prop: eligibility traces computed forward in time, in the same scan as the network.

For a synapse from presynaptic unit :math:`i` to neuron :math:`j`, with presynaptic activity
:math:`p_{t,i}` (:math:`x_{t,i}` for input synapses, :math:`z_{t-1,i}` for recurrent ones), the
eligibility vector :math:`(\epsilon^v, \epsilon^a)` and trace :math:`e` follow (Bellec et al. 2020,
Eqs. 13-14 for LIF, 25-26 for ALIF):

.. math::

    \epsilon^a_{t,ji} &= (\rho_j - \beta_j \psi_{t-1,j})\,\epsilon^a_{t-1,ji}
                         + \psi_{t-1,j}\,\epsilon^v_{t-1,ji}                     && \text{(Eq. 25)}\\
    \epsilon^v_{t,ji} &= \alpha_j \epsilon^v_{t-1,ji} + p_{t,i}                    && \text{(Eq. 14)}\\
    e_{t,ji}          &= \psi_{t,j}\,(\epsilon^v_{t,ji} - \beta_j \epsilon^a_{t,ji}) && \text{(Eq. 26)}\\
    \bar e_{t,ji}     &= \kappa \bar e_{t-1,ji} + (1 - \kappa) e_{t,ji}

and the gradient is accumulated online from the learning signal
:math:`L_{t,j} = \sum_k B_{jk}\, \partial E / \partial y_{t,k}` (Eq. 4 and Eq. 28):

.. math::

    \Delta W_{ji} = \sum_{t,b} L_{t,b,j}\, \bar e_{t,b,ji}
                    + \frac{c_{reg}}{BT}(f_j - f^*) \sum_{t,b} e_{t,b,ji}

with :math:`B = W^{out\top}` (symmetric), a fixed random matrix (random) or a matrix that receives
:math:`W^{out}`'s update (adaptive, Kolen-Pollack). The readout weights and bias get their exact
gradients :math:`\sum_t \partial E/\partial y_t\, \bar z_t^\top` and
:math:`\sum_t \partial E/\partial y_t (1 - \kappa^t)`, filtered forward as well. Nothing in the
carry grows with the number of steps :math:`T`.

The per-step part is an optax-style pair (:class:`LearningRule`): ``init`` builds the zero
eligibility state, ``update`` advances it by one step and returns that step's gradient
contribution. :func:`eprop_gradients` runs it inside the network's scan.

References:
    Bellec et al. 2020, "A solution to the learning dilemma for recurrent networks of spiking
    neurons", Nat. Commun. 11:3625, Eqs. 1-4, 13-14, 25-28.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import NamedTuple

import jax
import jax.numpy as jnp
import numpy as np

from ._checks import is_concrete
from .losses import RateRegularization, StepLoss, mask_count, rate_loss, window_mean
from .network import (
    Network,
    Trajectory,
    cast,
    init_state,
    network_step,
    recurrent_mask,
)
from .neurons import AlifParams


class EpropStep(NamedTuple):
    """What the eligibility update needs from one network step."""

    pre: jax.Array  # shape=(B, P), presynaptic activity [x_t, z_{t-1}], P = n_in + n_rec
    psi: jax.Array  # shape=(B, n), pseudo-derivative psi_t of the postsynaptic neurons


class EpropState(NamedTuple):
    """Eligibility state of all synapses onto the recurrent neurons (W_in and W_rec side by side).

    Storage follows the structure of the population: when every neuron has the same membrane
    decay, eps^v depends on the presynaptic side only and is kept as ``(B, P)``; eps^a is kept
    for the ALIF rows only (``n_alif`` = number of neurons with beta != 0).
    """

    elig_v: jax.Array  # shape=(B, P) with a shared alpha, else (B, n, P); eps^v
    elig_a: jax.Array  # shape=(B, n_alif, P), eps^a of the ALIF rows
    elig_trace: jax.Array  # shape=(B, n, P), kappa-filtered trace e-bar
    psi_prev: jax.Array  # shape=(B, n_alif), psi_{t-1} of the ALIF rows
    # sum over t of e per trial, shape (B, n, P), for the rate regularisation (else (n, P) zeros);
    # summed over the batch once at the end: a per-step batch reduction of the (B, n, P) trace
    # inside the scan cost 4x the whole step at n_rec = 512 on CPU
    e_sum: jax.Array


class LearningRule(NamedTuple):
    """A per-step learning rule: ``init(n_batch, n_pre, dtype) -> state`` and
    ``update(state, step, learning_signal) -> (grad_t, state)``."""

    init: Callable[..., EpropState]
    update: Callable[..., tuple[jax.Array, EpropState]]


def alif_rows(beta) -> np.ndarray:
    """Indices of the adaptive rows (beta != 0); every row when ``beta`` is traced."""
    if not is_concrete(beta):
        return np.arange(np.shape(beta)[0])
    return np.flatnonzero(np.asarray(beta))


def _row_index(rows: np.ndarray):
    """A slice for a contiguous run of rows (cheap to gather and update), else the index array."""
    if len(rows) and np.array_equal(rows, np.arange(rows[0], rows[0] + len(rows))):
        return slice(int(rows[0]), int(rows[0]) + len(rows))
    return rows


def eprop_eligibility(
    params: AlifParams, kappa: jax.Array, *, track_e_sum: bool = True
) -> LearningRule:
    """The e-prop eligibility rule of the module docstring, for an (A)LIF population.

    LIF rows (beta = 0) skip eps^a entirely, and a membrane decay shared by all neurons keeps
    eps^v per presynaptic unit (see :class:`EpropState`); both are exact rewrites of Eqs. 14-26.

    Args:
        params: the postsynaptic neurons' ``AlifParams`` (in the simulation dtype).
        kappa: readout decay, the filter of ``elig_trace`` (0 gives ``elig_trace = e``).
        track_e_sum: accumulate ``sum_t e`` per trial for the rate regularisation.

    Returns:
        A :class:`LearningRule`. ``update`` returns ``sum_b L_{t,b,j} ebar_{t,b,ji}``, shape
        ``(n, P)``.
    """
    n = params.alpha.shape[0]
    rows = alif_rows(params.beta)
    n_alif = len(rows)
    index = _row_index(rows)
    shared_alpha = is_concrete(params.alpha) and bool(
        np.all(np.asarray(params.alpha) == np.asarray(params.alpha)[0])
    )
    alpha = params.alpha[0] if shared_alpha else params.alpha[:, None]
    rho_a, beta_a = params.rho[index][:, None], params.beta[index][:, None]

    def init_fn(n_batch: int, n_pre: int, dtype) -> EpropState:
        v_shape = (n_batch, n_pre) if shared_alpha else (n_batch, n, n_pre)
        return EpropState(
            elig_v=jnp.zeros(v_shape, dtype),
            elig_a=jnp.zeros((n_batch, n_alif, n_pre), dtype),
            elig_trace=jnp.zeros((n_batch, n, n_pre), dtype),
            psi_prev=jnp.zeros((n_batch, n_alif), dtype),
            e_sum=jnp.zeros((n_batch, n, n_pre) if track_e_sum else (n, n_pre), dtype),
        )

    def update_fn(state: EpropState, step: EpropStep, learning_signal: jax.Array):
        psi = step.psi
        if shared_alpha:
            elig_v = alpha * state.elig_v + step.pre  # Eq. 14, one trace per presynaptic unit
            elig_v_rows, elig_v_prev_alif = elig_v[:, None, :], state.elig_v[:, None, :]
        else:
            elig_v = alpha * state.elig_v + step.pre[:, None, :]  # Eq. 14
            elig_v_rows, elig_v_prev_alif = elig_v, state.elig_v[:, index]
        e = psi[..., None] * elig_v_rows  # Eq. 13 (LIF rows are final here)
        elig_a, psi_alif = state.elig_a, psi[:, index]
        if n_alif:
            psi_prev = state.psi_prev[..., None]
            elig_a = (
                rho_a - beta_a * psi_prev
            ) * state.elig_a + psi_prev * elig_v_prev_alif  # Eq. 25
            e = e.at[:, index].add(-psi_alif[..., None] * beta_a * elig_a)  # Eq. 26
        elig_trace = kappa * state.elig_trace + (1 - kappa) * e
        # Outside the learning window L_t is exactly zero: skip the (B, n, P) contraction there.
        grad = jax.lax.cond(
            jnp.any(learning_signal != 0),
            lambda: jnp.einsum("bj,bji->ji", learning_signal, elig_trace),
            lambda: jnp.zeros(elig_trace.shape[1:], elig_trace.dtype),
        )
        e_sum = state.e_sum + e if track_e_sum else state.e_sum
        return grad, EpropState(elig_v, elig_a, elig_trace, psi_alif, e_sum)

    return LearningRule(init_fn, update_fn)


class OnlineResult(NamedTuple):
    """What :func:`eprop_gradients` returns."""

    grad_in: jax.Array  # shape=(n, n_in)
    grad_rec: jax.Array  # shape=(n, n), zero diagonal
    grad_out: jax.Array  # shape=(K, n)
    grad_bias: jax.Array  # shape=(K,)
    task_loss: jax.Array  # shape=()
    reg_loss: jax.Array  # shape=()
    rate: jax.Array  # shape=(n,), spikes per step
    y_mean: jax.Array  # shape=(B, K), readout averaged over the learning window
    trajectory: Trajectory | None
    learning_signal: jax.Array | None  # shape=(T, B, n) when recorded


class _Accumulators(NamedTuple):
    grad: jax.Array  # (n, P)
    grad_out: jax.Array  # (K, n)
    grad_bias: jax.Array  # (K,)
    z_filtered: jax.Array  # (B, n), kappa-filtered spikes z-bar
    bias_filtered: jax.Array  # (), kappa-filtered constant 1 (= 1 - kappa^t)
    loss: jax.Array  # ()
    spikes: jax.Array  # (n,)
    y_window: jax.Array  # (B, K), sum of m_t y_t


def eprop_gradients(
    net: Network,
    weights,
    inputs: jax.Array,
    targets: jax.Array,
    mask: jax.Array,
    *,
    step_loss: StepLoss,
    feedback_matrix: jax.Array,
    regularization: RateRegularization,
    eligibility: Callable[[AlifParams, jax.Array], LearningRule] | None = None,
    record: bool = False,
) -> OnlineResult:
    """Online e-prop over one batch: one scan, eligibility state in the carry.

    Args:
        net: the :class:`~eprop_jax.network.Network`.
        weights: :class:`~eprop_jax.network.Weights`.
        inputs: ``(T, B, n_in)``; targets: ``(T, B, K)``; mask: ``(T, B)``.
        step_loss: per-step loss (``losses.mse_step`` / ``losses.cross_entropy_step``).
        feedback_matrix: ``B`` of shape ``(n, K)`` (``weights.w_out.T`` for symmetric e-prop).
        regularization: :class:`~eprop_jax.losses.RateRegularization`.
        eligibility: ``factory(neuron_params, kappa) -> LearningRule``, the per-step eligibility
            dynamics, called with the neurons' parameters and the readout decay in the weights'
            dtype; default :func:`eprop_eligibility`. With the rate regularisation on, its state
            must have an ``e_sum`` field: the sum over steps of the unfiltered trace, per trial
            ``(B, n, P)`` or already summed over the batch ``(n, P)``.
        record: also return the trajectory and the learning signals (memory grows with T).
    """
    dtype = weights.w_rec.dtype
    t_steps, n_batch, n_in = inputs.shape
    n, n_out = net.n_rec, net.n_out
    net_c = cast(net, dtype)
    kappa = net_c.readout.kappa
    if eligibility is None:
        rule = eprop_eligibility(net_c.neuron, kappa, track_e_sum=regularization.c_reg > 0)
    else:
        rule = eligibility(net_c.neuron, kappa)
    norm = mask_count(mask).astype(dtype)

    def loss_at(y, target, m):
        return jnp.sum(m * step_loss(y, target)) / norm

    loss_and_grad = jax.value_and_grad(loss_at)

    def body(carry, xs):
        state, elig, acc = carry
        x, target, m = xs
        current = x @ weights.w_in.T  # per step, so that no (T, B, n) array is ever stored
        pre = jnp.concatenate([x, state.neuron.z], axis=-1)
        state, (y, out) = network_step(net_c, weights, state, current)
        loss_t, dloss_dy = loss_and_grad(y, target, m)
        learning_signal = dloss_dy @ feedback_matrix.T  # L_t = B dE/dy_t (Eq. 28)
        grad_t, elig = rule.update(elig, EpropStep(pre, out.psi), learning_signal)
        z_filtered = kappa * acc.z_filtered + (1 - kappa) * out.z
        bias_filtered = kappa * acc.bias_filtered + (1 - kappa)
        acc = _Accumulators(
            grad=acc.grad + grad_t,
            grad_out=acc.grad_out + dloss_dy.T @ z_filtered,
            grad_bias=acc.grad_bias + bias_filtered * dloss_dy.sum(0),
            z_filtered=z_filtered,
            bias_filtered=bias_filtered,
            loss=acc.loss + loss_t,
            spikes=acc.spikes + out.z.sum(0),
            y_window=acc.y_window + m[:, None] * y,
        )
        ys = None
        if record:
            ys = (Trajectory(y, out.z, out.v, out.threshold, out.psi), learning_signal)
        return (state, elig, acc), ys

    acc0 = _Accumulators(
        grad=jnp.zeros((n, n_in + n), dtype),
        grad_out=jnp.zeros((n_out, n), dtype),
        grad_bias=jnp.zeros((n_out,), dtype),
        z_filtered=jnp.zeros((n_batch, n), dtype),
        bias_filtered=jnp.zeros((), dtype),
        loss=jnp.zeros((), dtype),
        spikes=jnp.zeros((n,), dtype),
        y_window=jnp.zeros((n_batch, n_out), dtype),
    )
    carry0 = (init_state(net, n_batch, dtype), rule.init(n_batch, n_in + n, dtype), acc0)
    xs = (inputs, targets, mask)
    (_, elig, acc), ys = jax.lax.scan(body, carry0, xs)

    rate = acc.spikes / (t_steps * n_batch)
    grad = acc.grad
    if regularization.c_reg > 0:
        if not hasattr(elig, "e_sum"):
            raise ValueError(
                "`eprop_gradients`: the rate regularisation needs the eligibility state to carry "
                "`e_sum` (the summed unfiltered trace); the custom `eligibility` rule's state "
                f"{type(elig).__name__} has none. Add it, or set c_reg = 0."
            )
        target_rate = regularization.target_per_step(net.dt)
        coef = regularization.c_reg * (rate - target_rate) / (t_steps * n_batch)
        e_sum = elig.e_sum.sum(0) if elig.e_sum.ndim == 3 else elig.e_sum
        grad = grad + coef[:, None] * e_sum
    y_mean = window_mean(acc.y_window, mask)
    return OnlineResult(
        grad_in=grad[:, :n_in],
        grad_rec=grad[:, n_in:] * recurrent_mask(n, dtype),
        grad_out=acc.grad_out,
        grad_bias=acc.grad_bias,
        task_loss=acc.loss,
        reg_loss=rate_loss(regularization, rate, net.dt),
        rate=rate,
        y_mean=y_mean,
        trajectory=ys[0] if record else None,
        learning_signal=ys[1] if record else None,
    )
