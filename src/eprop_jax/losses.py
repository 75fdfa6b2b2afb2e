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
"""

from __future__ import annotations

from collections.abc import Callable
from typing import NamedTuple

import jax
import jax.numpy as jnp

from ._checks import check_choice, check_positive

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
