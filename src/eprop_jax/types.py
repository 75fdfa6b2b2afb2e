"""Data containers shared by tasks, rules and the trainer."""

from __future__ import annotations

from typing import NamedTuple

import jax


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
