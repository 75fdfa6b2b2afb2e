r"""Online e-prop: eligibility traces computed forward in time, in the same scan as the network.

For a synapse from presynaptic unit :math:`i` to neuron :math:`j`, with presynaptic activity
:math:`p_{t,i}` (:math:`x_{t,i}` for input synapses, :math:`z_{t-1,i}` for recurrent ones), the
neuron model's eligibility rule (``net.model.eligibility``; for ALIF Eqs. 13-14 and 25-26 of
Bellec et al. 2020, see ``models/alif.py``) gives the trace :math:`e_{t,ji}` and its filtered form
:math:`\bar e_{t,ji} = \kappa \bar e_{t-1,ji} + (1 - \kappa) e_{t,ji}`,
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

from .losses import RateRegularization, StepLoss, mask_count, trial_stats
from .models.alif import alif_eligibility
from .models.base import EpropState as EpropState
from .models.base import EpropStep, LearningRule
from .models.base import alif_rows as alif_rows
from .network import (
    Network,
    Trajectory,
    Weights,
    cast,
    init_state,
    network_step,
    recurrent_mask,
)
from .types import RuleAux

eprop_eligibility = alif_eligibility  # the (A)LIF rule under its historical name


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
    eligibility: Callable[..., LearningRule] | None = None,
    record: bool = False,
) -> tuple[Weights, RuleAux]:
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
            dtype; default the network's model's rule (``net.model.eligibility``). With the rate regularisation on, its state
            must have an ``e_sum`` field: the sum over steps of the unfiltered trace, per trial
            ``(B, n, P)`` or already summed over the batch ``(n, P)``.
        record: also return the trajectory and the learning signals (memory grows with T).

    Returns:
        ``(grads, aux)``: the gradient as :class:`~eprop_jax.network.Weights` (``b_fb``'s entry
        zero) and the :class:`~eprop_jax.types.RuleAux` of :func:`~eprop_jax.losses.trial_stats`.

    Example:
        >>> import eprop_jax as ej
        >>> net = ej.network(3, 8, 2, n_alif=4)
        >>> w = ej.init_weights(net, jax.random.key(0))
        >>> f32 = jnp.float32
        >>> x, y, m = jnp.ones((20, 2, 3), f32), jnp.zeros((20, 2, 2), f32), jnp.ones((20, 2), f32)
        >>> grads, aux = eprop_gradients(net, w, x, y, m, step_loss=ej.mse_step,
        ...     feedback_matrix=w.w_out.T, regularization=ej.rate_regularization())
        >>> grads.w_rec.shape, aux.rate.shape
        ((8, 8), (8,))
    """
    dtype = weights.w_rec.dtype
    t_steps, n_batch, n_in = inputs.shape
    n, n_out = net.n_rec, net.n_out
    net_c = cast(net, dtype)
    kappa = net_c.readout.kappa
    if eligibility is None:
        rule = net.model.eligibility(net_c.neuron, kappa, track_e_sum=regularization.c_reg > 0)
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
        grad_t, elig = rule.update(elig, EpropStep(pre, out.psi, out), learning_signal)
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

    stats = trial_stats(
        regularization,
        net.dt,
        task_loss=acc.loss,
        spike_sum=acc.spikes,
        y_window_sum=acc.y_window,
        mask=mask,
        n_steps=t_steps,
        n_batch=n_batch,
    )
    grad = acc.grad
    if regularization.c_reg > 0:
        if not hasattr(elig, "e_sum"):
            raise ValueError(
                "`eprop_gradients`: the rate regularisation needs the eligibility state to carry "
                "`e_sum` (the summed unfiltered trace); the custom `eligibility` rule's state "
                f"{type(elig).__name__} has none. Add it, or set c_reg = 0."
            )
        e_sum = elig.e_sum.sum(0) if elig.e_sum.ndim == 3 else elig.e_sum
        grad = grad + stats.reg_coef[:, None] * e_sum
    grads = Weights(
        w_in=grad[:, :n_in],
        w_rec=grad[:, n_in:] * recurrent_mask(n, dtype),
        w_out=acc.grad_out,
        b_out=acc.grad_bias,
        b_fb=jnp.zeros_like(weights.b_fb),
    )
    if record:
        return grads, stats.aux(ys[0], ys[1])
    return grads, stats.aux()
