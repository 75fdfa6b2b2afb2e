r"""Gradients by autodiff through the whole trajectory: BPTT and e-prop by stop-gradient.

:math:`\nabla_W (E + E_{reg})` with ``jax.grad`` through :func:`~eprop_jax.network.simulate`.
The gradient computed depends on the forward pass's options (``network.py``):

================================== =============================================================
options                            gradient
================================== =============================================================
none                               BPTT, exact (``bptt``)
``stop_reset_gradient``            BPTT without the reset's gradient path
both stops + ``feedback_matrix``   e-prop (Bellec et al. 2020, Supplementary Note 1): the
                                   recurrent and reset paths of :math:`z_{t-1}` stopped, the
                                   readout's backward pass sending :math:`B\,\partial E/\partial y`
                                   to the spikes (``eprop-autodiff``)
================================== =============================================================

Memory grows with the number of steps :math:`T` (the trajectory is stored).

Example:
    >>> import jax, jax.numpy as jnp
    >>> import eprop_jax as ej
    >>> net = ej.network(3, 8, 2, n_alif=4)
    >>> w = ej.init_weights(net, jax.random.key(0))
    >>> f32 = jnp.float32
    >>> x, y, m = jnp.ones((20, 2, 3), f32), jnp.zeros((20, 2, 2), f32), jnp.ones((20, 2), f32)
    >>> grads, aux = autodiff_gradients(net, w, x, y, m, step_loss=ej.mse_step,
    ...     regularization=ej.rate_regularization())
    >>> grads.w_rec.shape, aux.y_mean.shape
    ((8, 8), (2, 2))
"""

from __future__ import annotations

import jax
import jax.numpy as jnp

from ..losses import RateRegularization, StepLoss, task_loss, trial_stats
from ..network import Network, Weights, run_network
from ..types import RuleAux


def autodiff_gradients(
    net: Network,
    weights: Weights,
    inputs: jax.Array,
    targets: jax.Array,
    mask: jax.Array,
    *,
    step_loss: StepLoss,
    regularization: RateRegularization,
    feedback_matrix: jax.Array | None = None,
    stop_recurrent_gradient: bool = False,
    stop_reset_gradient: bool = False,
    record: bool = False,
) -> tuple[Weights, RuleAux]:
    """``jax.grad`` of the task and regularisation loss through the trajectory (module docstring).

    Args:
        net, weights: the network and its :class:`~eprop_jax.network.Weights`.
        inputs: ``(T, B, n_in)``; targets: ``(T, B, K)``; mask: ``(T, B)``.
        step_loss: per-step loss; regularization: :class:`~eprop_jax.losses.RateRegularization`.
        feedback_matrix: ``B`` of shape ``(n_rec, K)``: the learning signal to the spikes is
            :math:`B\\,\\partial E/\\partial y` instead of :math:`W^{out\\top}\\partial E/\\partial y`
            (``None``: the exact readout gradient).
        stop_recurrent_gradient, stop_reset_gradient: see ``network.py``.
        record: put the trajectory in ``aux``.

    Returns:
        ``(grads, aux)``: :class:`~eprop_jax.network.Weights` (``b_fb``'s entry zero) and the
        :class:`~eprop_jax.types.RuleAux` of :func:`~eprop_jax.losses.trial_stats`.
    """

    def objective(w: Weights):
        routed = w if feedback_matrix is None else w._replace(b_fb=feedback_matrix)
        traj, spike_sum = run_network(
            net,
            routed,
            inputs,
            spikes=record,  # the loss needs only the spike count (counted in the scan)
            record=record,
            stop_recurrent_gradient=stop_recurrent_gradient,
            stop_reset_gradient=stop_reset_gradient,
            feedback=feedback_matrix is not None,
        )
        stats = trial_stats(
            regularization,
            net.dt,
            task_loss=task_loss(step_loss, traj.y, targets, mask),
            spike_sum=spike_sum,
            y_window_sum=jnp.sum(mask[..., None] * traj.y, axis=0),
            mask=mask,
            n_steps=mask.shape[0],
            n_batch=mask.shape[1],
        )
        aux = stats.aux(traj if record else None)
        return aux.loss, aux

    grads, aux = jax.grad(objective, has_aux=True)(weights)
    return grads._replace(b_fb=jnp.zeros_like(weights.b_fb)), aux
