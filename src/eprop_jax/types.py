"""Data containers shared by tasks, engines, rules and the trainer."""

from __future__ import annotations

from typing import TYPE_CHECKING, NamedTuple

import jax

if TYPE_CHECKING:
    from .network import Trajectory


class Batch(NamedTuple):
    """One batch of trials, time-major.

    Attributes:
        inputs: input spikes or rates, shape ``(T, B, n_in)``.
        targets: readout targets, shape ``(T, B, n_out)``; for classification the one-hot
            (or probability) vector of the correct class at every step.
        mask: learning window, shape ``(T, B)``; 1 where the loss counts, 0 elsewhere.
    """

    inputs: jax.Array
    targets: jax.Array
    mask: jax.Array


class RuleAux(NamedTuple):
    """Side outputs of an engine or rule, for metrics and plots (``losses.trial_stats``)."""

    loss: jax.Array  # shape=(), task loss + regularisation
    task_loss: jax.Array  # shape=()
    reg_loss: jax.Array  # shape=()
    y_mean: jax.Array  # shape=(B, K), readout averaged over the learning window
    rate: jax.Array  # shape=(n_rec,), mean spikes per step
    trajectory: Trajectory | None = None  # when the rule was built with record=True
    learning_signal: jax.Array | None = None  # shape=(T, B, n_rec), e-prop rules with record=True
