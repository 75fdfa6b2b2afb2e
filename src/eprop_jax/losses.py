r"""Losses over a learning window, and firing-rate regularisation.

Every task loss is a sum of per-step terms, which is what lets e-prop compute its learning signal
online (:math:`\partial E / \partial y_t` depends on step :math:`t` only). With the learning-window
mask :math:`m_{t,b} \in \{0, 1\}` and :math:`N = \sum_{t,b} m_{t,b}`:

.. math::

    E_{mse} &= \frac{1}{N} \sum_{t,b} m_{t,b}\, \tfrac12 \sum_k (y_{t,b,k} - y^*_{t,b,k})^2 \\
    E_{ce}  &= -\frac{1}{N} \sum_{t,b} m_{t,b} \sum_k \pi^*_{t,b,k} \log \operatorname{softmax}(y_{t,b})_k

Firing-rate regularisation (Bellec et al. 2020, Methods "Firing rate regularization"), with the
mean rate :math:`f_j = \frac{1}{BT}\sum_{t,b} z_{t,b,j}` in spikes per step and the target
:math:`f^* = f_{target}\,dt / 1000`:

.. math::

    E_{reg} = \frac{c_{reg}}{2} \sum_j (f_j - f^*)^2, \qquad
    \frac{\partial E_{reg}}{\partial z_{t,b,j}} = \frac{c_{reg}}{BT} (f_j - f^*)

so that e-prop's regularisation gradient is
:math:`c_{reg} (f_j - f^*) \frac{1}{BT} \sum_{t,b} e_{t,b,ji}` (unfiltered eligibility traces).

Every gradient engine reports the same trial statistics through :func:`trial_stats`: the task
loss :math:`E`, the regulariser's loss :math:`E_{reg}`, the rate :math:`f`, the window-mean readout
:math:`\bar y_b = \sum_t m_{t,b} y_{t,b} / \max(\sum_t m_{t,b}, 1)` and the regulariser's
gradient coefficient :math:`r_j = c_{reg}(f_j - f^*)/(BT)`, from sums each engine accumulates
its own way (in its scan, or from a stored trajectory).

Example:
    >>> import jax.numpy as jnp
    >>> stats = trial_stats(rate_regularization(1.0, 0.0), 1.0, task_loss=jnp.asarray(0.5),
    ...     spike_sum=jnp.array([4.0, 0.0]), y_window_sum=jnp.ones((2, 1)),
    ...     mask=jnp.ones((4, 2)), n_steps=4, n_batch=2)
    >>> stats.rate.tolist(), float(stats.reg_loss), stats.reg_coef.tolist()
    ([0.5, 0.0], 0.125, [0.0625, 0.0])
"""

from __future__ import annotations

from collections.abc import Callable
from typing import NamedTuple

import jax
import jax.numpy as jnp

from ._checks import check_choice, check_positive
from .types import RuleAux

StepLoss = Callable[[jax.Array, jax.Array], jax.Array]


def mse_step(y: jax.Array, target: jax.Array) -> jax.Array:
    """``0.5 * sum_k (y - target)^2`` over the last axis."""
    return 0.5 * jnp.sum(jnp.square(y - target), axis=-1)


def cross_entropy_step(y: jax.Array, target: jax.Array) -> jax.Array:
    """``-sum_k target_k log softmax(y)_k`` over the last axis (``target`` a probability vector)."""
    return -jnp.sum(target * jax.nn.log_softmax(y, axis=-1), axis=-1)


LOSSES: dict[str, StepLoss] = {"mse": mse_step, "cross_entropy": cross_entropy_step}


def get_loss(name: str) -> StepLoss:
    """Return the per-step loss called ``name`` (``"mse"`` or ``"cross_entropy"``)."""
    return LOSSES[check_choice("get_loss", "loss", name, tuple(LOSSES))]


def mask_count(mask: jax.Array) -> jax.Array:
    """``N = max(sum(mask), 1)``: the normaliser of the task loss."""
    return jnp.maximum(jnp.sum(mask), 1)


def task_loss(step_loss: StepLoss, y: jax.Array, targets: jax.Array, mask: jax.Array) -> jax.Array:
    """Masked mean of ``step_loss`` over time and batch (module docstring).

    Args:
        step_loss: :func:`mse_step` or :func:`cross_entropy_step`.
        y: readout, shape ``(T, B, K)``.
        targets: shape ``(T, B, K)``.
        mask: shape ``(T, B)``.
    """
    return jnp.sum(mask * step_loss(y, targets)) / mask_count(mask)


class RateRegularization(NamedTuple):
    """Firing-rate regularisation: strength ``c_reg`` and target rate ``f_target`` (Hz)."""

    c_reg: float = 0.0
    f_target: float = 10.0

    def target_per_step(self, dt: float) -> float:
        """The target rate in spikes per step, ``f_target * dt / 1000``."""
        return self.f_target * dt / 1000.0


def rate_regularization(c_reg: float = 0.0, f_target: float = 10.0) -> RateRegularization:
    """Validated :class:`RateRegularization` (``c_reg >= 0``, ``f_target >= 0`` Hz)."""
    check_positive("rate_regularization", "c_reg", c_reg, allow_zero=True)
    check_positive("rate_regularization", "f_target", f_target, allow_zero=True)
    return RateRegularization(float(c_reg), float(f_target))


def rate_loss(reg: RateRegularization, rate: jax.Array, dt: float) -> jax.Array:
    """``E_reg = c_reg/2 * sum_j (rate_j - f*)^2`` with ``rate`` in spikes per step, shape (n,)."""
    return 0.5 * reg.c_reg * jnp.sum(jnp.square(rate - reg.target_per_step(dt)))


def mean_rate(z: jax.Array) -> jax.Array:
    """Mean spikes per step of each neuron over time and batch; ``z`` has shape ``(T, B, n)``."""
    return jnp.mean(z, axis=(0, 1))


def masked_mean_readout(y: jax.Array, mask: jax.Array) -> jax.Array:
    """Time average of ``y`` over the learning window, shape ``(B, K)``."""
    return window_mean(jnp.sum(mask[..., None] * y, axis=0), mask)


def window_mean(y_window_sum: jax.Array, mask: jax.Array) -> jax.Array:
    """Divide a per-trial sum over the learning window, shape ``(B, K)``, by the window length."""
    return y_window_sum / jnp.maximum(jnp.sum(mask, axis=0), 1)[:, None]


def accuracy(y_mean: jax.Array, targets: jax.Array, mask: jax.Array) -> jax.Array:
    """Fraction of trials whose arg-max of the window-averaged readout is the target class.

    Args:
        y_mean: window-averaged readout, shape ``(B, K)`` (:func:`masked_mean_readout`).
        targets: one-hot targets, shape ``(T, B, K)``.
        mask: shape ``(T, B)``.
    """
    labels = jnp.argmax(masked_mean_readout(targets, mask), axis=-1)
    return jnp.mean(jnp.argmax(y_mean, axis=-1) == labels)


def reg_coefficient(
    reg: RateRegularization, rate: jax.Array, dt: float, n_steps: int, n_batch: int
) -> jax.Array:
    """:math:`r_j = c_{reg}(f_j - f^*)/(BT)`, the regulariser's gradient w.r.t. each spike."""
    return reg.c_reg * (rate - reg.target_per_step(dt)) / (n_steps * n_batch)


class TrialStats(NamedTuple):
    """What every engine computes about a batch besides its gradient (module docstring)."""

    task_loss: jax.Array  # shape=()
    reg_loss: jax.Array  # shape=()
    rate: jax.Array  # shape=(n,), spikes per step
    y_mean: jax.Array  # shape=(B, K), readout averaged over the learning window
    reg_coef: jax.Array  # shape=(n,), r = c_reg (f - f*) / (B T)

    def aux(self, trajectory=None, learning_signal=None) -> RuleAux:
        """The :class:`~eprop_jax.types.RuleAux` of these statistics."""
        return RuleAux(
            self.task_loss + self.reg_loss,
            self.task_loss,
            self.reg_loss,
            self.y_mean,
            self.rate,
            trajectory,
            learning_signal,
        )


def trial_stats(
    reg: RateRegularization,
    dt: float,
    *,
    task_loss: jax.Array,
    spike_sum: jax.Array,
    y_window_sum: jax.Array,
    mask: jax.Array,
    n_steps: int,
    n_batch: int,
) -> TrialStats:
    r"""The trial statistics of the module docstring, from sums over time and batch.

    Args:
        reg: the :class:`RateRegularization`.
        dt: time step (ms).
        task_loss: the task loss :math:`E` of the batch, shape ``()``.
        spike_sum: :math:`\sum_{t,b} z_{t,b,j}`, shape ``(n,)``.
        y_window_sum: :math:`\sum_t m_{t,b} y_{t,b}`, shape ``(B, K)``.
        mask: the learning window, shape ``(T, B)``.
        n_steps, n_batch: :math:`T` and :math:`B`.

    Returns:
        A :class:`TrialStats` (differentiable: autodiff engines take ``jax.grad`` through it).
    """
    rate = spike_sum / (n_steps * n_batch)
    return TrialStats(
        task_loss=task_loss,
        reg_loss=rate_loss(reg, rate, dt),
        rate=rate,
        y_mean=window_mean(y_window_sum, mask),
        reg_coef=reg_coefficient(reg, rate, dt, n_steps, n_batch),
    )


def trajectory_stats(
    reg: RateRegularization,
    dt: float,
    step_loss: StepLoss,
    y: jax.Array,
    z: jax.Array,
    targets: jax.Array,
    mask: jax.Array,
) -> TrialStats:
    """:func:`trial_stats` of a stored trajectory: readout ``y`` ``(T, B, K)``, spikes ``z``
    ``(T, B, n)``."""
    n_steps, n_batch = mask.shape
    return trial_stats(
        reg,
        dt,
        task_loss=task_loss(step_loss, y, targets, mask),
        spike_sum=jnp.sum(z, axis=(0, 1)),
        y_window_sum=jnp.sum(mask[..., None] * y, axis=0),
        mask=mask,
        n_steps=n_steps,
        n_batch=n_batch,
    )
