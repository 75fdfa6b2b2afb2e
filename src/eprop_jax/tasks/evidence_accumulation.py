r"""Evidence accumulation: count left and right cues, report the majority after a delay.

The task of Bellec et al. 2020, Fig. 3 (``tutorial_evidence_accumulation_with_alif.py`` in the
authors' TensorFlow code; NEST's ``eprop_supervised_classification_evidence-accumulation``
tutorial). An agent runs down a corridor, sees ``n_cues`` cues on its left or right, waits, and at
the end must say on which side it saw more cues.

**Inputs** (``4 * n_per_group`` Poisson neurons, default 40, in four groups in this order):

=========  ============  ===================================================================
group      neurons       fires
=========  ============  ===================================================================
left cue   ``[0, n)``     ``cue_rate`` (40 Hz) during each cue shown on the left
right cue  ``[n, 2n)``    ``cue_rate`` during each cue shown on the right
recall     ``[2n, 3n)``   ``recall_rate`` (40 Hz) during the recall window
noise      ``[3n, 4n)``   ``noise_rate`` (10 Hz) during the whole trial
=========  ============  ===================================================================

**Timeline** (defaults in brackets). Cue :math:`i = 0, \ldots, n_{cues}-1` occupies one cue period
of ``cue_silence + cue_duration`` (50 + 100 = 150 ms, the TF code's ``t_cue_spacing``): first
silence, then the cue. After the last cue comes a ``delay`` (1050 ms) and then the recall window
(150 ms), so by default

.. math::

    T = n_{cues} (t_{silence} + t_{cue}) + t_{delay} + t_{recall}
      = 7 \cdot 150 + 1050 + 150 = 2250 \text{ ms}.

Every duration is converted to ``round(duration / dt)`` steps separately.

**Cues and label.** Per trial, one side is "probable" with probability 1/2. Each cue lands
independently on the probable side with probability ``cue_prob`` (0.7), otherwise on the other
side. The label is the side with more cues, 0 = left and 1 = right; ``n_cues`` must be odd so
there are no ties. Targets are the one-hot label at every step; the mask is 1 in the recall window
only (the loss counts there, as in the paper's cross-entropy over the last 150 ms).

A fresh batch is drawn for every key: the trainer should split a new key every iteration.

References:
    Bellec, Scherr, Subramoney, Hajek, Salaj, Legenstein, Maass, `A solution to the learning
    dilemma for recurrent networks of spiking neurons <https://doi.org/10.1038/s41467-020-17236-y>`_,
    Nat. Commun. 11:3625, 2020, Fig. 3 and Methods ("Evidence accumulation task").
"""

from __future__ import annotations

from typing import NamedTuple

import jax
import jax.numpy as jnp
import numpy as np

from ..types import Batch
from ._common import (
    check_dt,
    check_dtype,
    check_int,
    check_probability,
    check_rate,
    duration_steps,
    jit_sampler,
    poisson_spikes,
)
from ._registry import TaskRecord

_API = "evidence_accumulation"
N_GROUPS = 4  # left cue, right cue, recall, background noise
LEFT, RIGHT = 0, 1


class EvidenceAccumulationInfo(NamedTuple):
    """Per-trial metadata of an evidence-accumulation batch."""

    labels: jax.Array  # shape=(B,), dtype=int32, majority side: 0 = left, 1 = right
    cue_sides: jax.Array  # shape=(B, n_cues), dtype=int32, side of each cue: 0 = left, 1 = right
    n_left: jax.Array  # shape=(B,), dtype=int32, number of cues on the left
    probable_sides: jax.Array  # shape=(B,), dtype=int32, side favoured with prob. cue_prob
    recall_start: jax.Array  # shape=(), dtype=int32, first step of the recall window


def evidence_accumulation(
    key: jax.Array,
    n_batch: int,
    *,
    n_cues: int = 7,
    cue_duration: float = 100.0,
    cue_silence: float = 50.0,
    delay: float = 1050.0,
    recall_duration: float = 150.0,
    n_per_group: int = 10,
    cue_rate: float = 40.0,
    recall_rate: float = 40.0,
    noise_rate: float = 10.0,
    cue_prob: float = 0.7,
    dt: float = 1.0,
    dtype=jnp.float32,
) -> tuple[Batch, EvidenceAccumulationInfo]:
    """Draw a batch of evidence-accumulation trials (see the module docstring for the task).

    Shapes depend only on the Python arguments, so the function can be jitted with everything
    but ``key`` bound, e.g. ``jax.jit(functools.partial(evidence_accumulation, n_batch=32))``.

    Args:
        key: a PRNG key; split into ``side``, ``cues`` and ``spikes`` subkeys.
        n_batch: number of trials ``B`` (>= 1).
        n_cues: number of cues per trial; odd, >= 1.
        cue_duration: length of one cue in ms (> 0).
        cue_silence: silence before each cue in ms (>= 0).
        delay: time between the end of the last cue and the recall window in ms (>= 0).
        recall_duration: length of the recall window in ms (> 0).
        n_per_group: neurons per input group; ``n_in = 4 * n_per_group``.
        cue_rate: rate of the cue neurons of the cued side during a cue, in Hz.
        recall_rate: rate of the recall neurons during the recall window, in Hz.
        noise_rate: rate of the background-noise neurons during the whole trial, in Hz.
        cue_prob: probability that a cue lands on the trial's probable side, in [0, 1].
        dt: step length in ms.
        dtype: floating dtype of inputs, targets and mask.

    Returns:
        ``(batch, info)``: ``batch.inputs`` of shape ``(T, B, 4 * n_per_group)`` (0/1 spikes),
        ``batch.targets`` of shape ``(T, B, 2)`` (one-hot label at every step), ``batch.mask`` of
        shape ``(T, B)`` (1 in the recall window), and :class:`EvidenceAccumulationInfo`.

    Example:
        >>> batch, info = evidence_accumulation(jax.random.key(0), 4)
        >>> batch.inputs.shape, batch.targets.shape, batch.mask.shape
        ((2250, 4, 40), (2250, 4, 2), (2250, 4))
    """
    n_batch = check_int(_API, "n_batch", n_batch, 1)
    n_cues = check_int(_API, "n_cues", n_cues, 1)
    if n_cues % 2 == 0:
        raise ValueError(
            f"`{_API}`: n_cues must be odd so that one side always has more cues; got {n_cues}."
        )
    n_per_group = check_int(_API, "n_per_group", n_per_group, 1)
    dt = check_dt(_API, dt)
    dtype = check_dtype(_API, dtype)
    steps_cue = duration_steps(_API, "cue_duration", cue_duration, dt)
    steps_silence = duration_steps(_API, "cue_silence", cue_silence, dt, allow_zero=True)
    steps_delay = duration_steps(_API, "delay", delay, dt, allow_zero=True)
    steps_recall = duration_steps(_API, "recall_duration", recall_duration, dt)
    cue_rate = check_rate(_API, "cue_rate", cue_rate, dt)
    recall_rate = check_rate(_API, "recall_rate", recall_rate, dt)
    noise_rate = check_rate(_API, "noise_rate", noise_rate, dt)
    cue_prob = check_probability(_API, "cue_prob", cue_prob)

    config = _Config(
        n_batch=n_batch,
        n_cues=n_cues,
        steps_silence=steps_silence,
        steps_cue=steps_cue,
        steps_delay=steps_delay,
        steps_recall=steps_recall,
        n_per_group=n_per_group,
        cue_rate=cue_rate,
        recall_rate=recall_rate,
        noise_rate=noise_rate,
        cue_prob=cue_prob,
        dt=dt,
        dtype=dtype,
    )
    return _sample(key, config)


class _Config(NamedTuple):
    """Checked arguments, in steps; hashable, so it is a static argument of ``_sample``."""

    n_batch: int
    n_cues: int
    steps_silence: int
    steps_cue: int
    steps_delay: int
    steps_recall: int
    n_per_group: int
    cue_rate: float
    recall_rate: float
    noise_rate: float
    cue_prob: float
    dt: float
    dtype: np.dtype


@jit_sampler
def _sample(key: jax.Array, config: _Config) -> tuple[Batch, EvidenceAccumulationInfo]:
    """Draw the batch for checked arguments (see :func:`evidence_accumulation`)."""
    n_batch, n_cues, dtype = config.n_batch, config.n_cues, config.dtype
    # Static timeline (NumPy, shapes only): which cue each step shows (-1: none), recall window.
    period = config.steps_silence + config.steps_cue
    recall_start = n_cues * period + config.steps_delay
    n_steps = recall_start + config.steps_recall
    cue_of_step = np.full((n_steps,), -1, dtype=np.int32)
    for i in range(n_cues):
        cue_of_step[i * period + config.steps_silence : (i + 1) * period] = i
    in_cue = cue_of_step >= 0
    in_recall = np.arange(n_steps) >= recall_start

    key_side, key_cues, key_spikes = jax.random.split(key, 3)
    probable_sides = jax.random.bernoulli(key_side, 0.5, (n_batch,)).astype(jnp.int32)
    prob_right = jnp.where(probable_sides == RIGHT, config.cue_prob, 1.0 - config.cue_prob)
    cue_sides = jax.random.bernoulli(key_cues, prob_right[:, None], (n_batch, n_cues))
    cue_sides = cue_sides.astype(jnp.int32)
    n_right = jnp.sum(cue_sides, axis=1, dtype=jnp.int32)
    n_left = n_cues - n_right
    labels = (n_right > n_left).astype(jnp.int32)

    # Side shown at each step, (T, B); steps without a cue read cue 0 and are masked by in_cue.
    side_of_step = cue_sides[:, np.maximum(cue_of_step, 0)].T
    cue_on = jnp.asarray(in_cue)[:, None]
    left_on = cue_on & (side_of_step == LEFT)
    right_on = cue_on & (side_of_step == RIGHT)
    recall_on = jnp.broadcast_to(jnp.asarray(in_recall)[:, None], (n_steps, n_batch))
    group_rates = jnp.stack(
        [
            jnp.where(left_on, config.cue_rate, 0.0),
            jnp.where(right_on, config.cue_rate, 0.0),
            jnp.where(recall_on, config.recall_rate, 0.0),
            jnp.full((n_steps, n_batch), config.noise_rate),
        ],
        axis=-1,
    ).astype(jnp.float32)  # (T, B, 4)
    rates = jnp.repeat(group_rates, config.n_per_group, axis=-1)  # (T, B, 4 * n_per_group)
    inputs = poisson_spikes(key_spikes, rates, config.dt, dtype)

    one_hot = jax.nn.one_hot(labels, 2, dtype=dtype)  # (B, 2)
    targets = jnp.broadcast_to(one_hot[None, :, :], (n_steps, n_batch, 2))
    mask = jnp.broadcast_to(jnp.asarray(in_recall, dtype=dtype)[:, None], (n_steps, n_batch))
    info = EvidenceAccumulationInfo(
        labels=labels,
        cue_sides=cue_sides,
        n_left=n_left,
        probable_sides=probable_sides,
        recall_start=jnp.asarray(recall_start, dtype=jnp.int32),
    )
    return Batch(inputs=inputs, targets=targets, mask=mask), info


RECORD = TaskRecord(
    name="evidence_accumulation",
    generator=evidence_accumulation,
    kind="classification",
    frozen=False,
    preset={
        "network": {
            "n_rec": 100,
            "n_alif": 50,
            "tau_m": 20.0,
            "tau_a": 2000.0,
            "thr": 0.6,
            "refractory": 5.0,
            "tau_out": 20.0,
        },
        "batch_size": 64,
        "learning_rate": 5e-3,
        "c_reg": 2.0,  # the original code's reg_f = 1 on c (f - f*)^2, i.e. c_reg = 2 here
        "iterations": 500,
        "target_error": 0.07,
        "feedback_std": 1.0,  # the original code's random B ~ N(0, 1) for this task
        "lr_decay": 0.7,  # every 100 iterations: steadies e-prop's late, noisy phase
    },
    shapes=lambda options: (4 * options["n_per_group"], 2),
    source="Bellec et al. 2020, Fig. 3",
)
"""The registry record of the task (see :mod:`eprop_jax.tasks`)."""
