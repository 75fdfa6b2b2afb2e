r"""Infinite loop: trace a figure-eight with two readouts from frozen Poisson input.

NEST's ``eprop_supervised_regression_infinite-loop`` tutorial (renamed ``lemniscate`` in NEST
3.9), a 2-D variant of the pattern-generation task of Bellec et al. 2020 (Fig. S7). The network
receives the same ("frozen") Poisson input every trial and its two readouts must draw a
figure-eight (a Lissajous curve with frequency ratio 1:2).

**Inputs.** ``n_in`` (100) neurons fire Poisson at ``input_rate`` (50 Hz) for ``duration``
(1258 ms, NEST's 1258 steps at ``dt = 1`` ms).

**Target.** At times :math:`t = 0, dt, \ldots, (T-1)\,dt`, with period :math:`P` (default: the
trial length :math:`T\,dt`, one loop per trial) and amplitude :math:`A` (default 0.5):

.. math::

    x^*(t) = A \sin(2\pi t / P), \qquad y^*(t) = A \sin(4\pi t / P).

The default :math:`A = 0.5` is this project's choice: it keeps the target in
:math:`[-0.5, 0.5]`, a range the readouts reach without large weights; pass ``amplitude=1.0``
for the full square :math:`[-1, 1]^2`.

**Frozen.** The same key gives the same inputs; the target does not depend on the key at all. The
trainer reuses one key every iteration. Every batch element is the same trial. The mask is 1
everywhere.

References:
    NEST Simulator documentation, "Tutorial on learning to generate an infinite loop with e-prop"
    (``pynest/examples/eprop_plasticity``), after Bellec et al., Nat. Commun. 11:3625, 2020.
"""

from __future__ import annotations

from typing import NamedTuple

import jax
import jax.numpy as jnp
import numpy as np

from ..types import Batch
from ._common import (
    check_float,
    check_frozen_input_args,
    compute_dtype,
    duration_steps,
    frozen_poisson_inputs,
    jit_sampler,
    time_axis,
)
from ._registry import TaskRecord, pattern_generation_preset

_API = "infinite_loop"


class InfiniteLoopInfo(NamedTuple):
    """The clean target trajectory (identical for every batch element)."""

    trajectory: jax.Array  # shape=(T, 2), columns x*(t), y*(t)


def infinite_loop(
    key: jax.Array,
    n_batch: int,
    *,
    n_in: int = 100,
    input_rate: float = 50.0,
    duration: float = 1258.0,
    period: float | None = None,
    amplitude: float = 0.5,
    dt: float = 1.0,
    dtype=jnp.float32,
) -> tuple[Batch, InfiniteLoopInfo]:
    """Draw the frozen figure-eight task (see the module docstring).

    Args:
        key: a PRNG key; used (as the ``spikes`` subkey) for the input raster only.
        n_batch: batch size ``B`` (>= 1); every element is the same trial.
        n_in: number of input neurons.
        input_rate: input firing rate in Hz.
        duration: trial length in ms; ``T = round(duration / dt)``.
        period: period ``P`` of the loop in ms (> 0); ``None`` means ``T * dt``.
        amplitude: amplitude ``A`` of both coordinates (> 0).
        dt: step length in ms.
        dtype: floating dtype of inputs, targets and mask.

    Returns:
        ``(batch, info)``: ``batch.inputs`` of shape ``(T, B, n_in)``, ``batch.targets`` of shape
        ``(T, B, 2)`` (x*, y*), ``batch.mask`` of ones of shape ``(T, B)``, and
        :class:`InfiniteLoopInfo`.

    Example:
        >>> batch, info = infinite_loop(jax.random.key(0), 1)
        >>> batch.inputs.shape, batch.targets.shape
        ((1258, 1, 100), (1258, 1, 2))
    """
    n_batch, n_in, dt, dtype, input_rate = check_frozen_input_args(
        _API, n_batch, n_in, dt, dtype, input_rate
    )
    n_steps = duration_steps(_API, "duration", duration, dt)
    if period is None:
        period = n_steps * dt
    period = check_float(_API, "period (ms)", period, minimum=0.0, inclusive=False)
    amplitude = check_float(_API, "amplitude", amplitude, minimum=0.0, inclusive=False)

    config = _Config(
        n_batch=n_batch,
        n_in=n_in,
        input_rate=input_rate,
        n_steps=n_steps,
        period=period,
        amplitude=amplitude,
        dt=dt,
        dtype=dtype,
    )
    return _sample(key, config)


class _Config(NamedTuple):
    """Checked arguments; hashable, so it is a static argument of ``_sample``."""

    n_batch: int
    n_in: int
    input_rate: float
    n_steps: int
    period: float
    amplitude: float
    dt: float
    dtype: np.dtype


@jit_sampler
def _sample(key: jax.Array, config: _Config) -> tuple[Batch, InfiniteLoopInfo]:
    """Draw the task for checked arguments (see :func:`infinite_loop`)."""
    n_batch, n_in, n_steps, dt, dtype = (
        config.n_batch,
        config.n_in,
        config.n_steps,
        config.dt,
        config.dtype,
    )
    period, amplitude, input_rate = config.period, config.amplitude, config.input_rate
    (key_spikes,) = jax.random.split(key, 1)
    work = compute_dtype(dtype)
    phase = (2.0 * np.pi / period) * time_axis(n_steps, dt, work)  # (T,)
    trajectory = amplitude * jnp.stack([jnp.sin(phase), jnp.sin(2.0 * phase)], axis=-1)
    trajectory = trajectory.astype(dtype)  # (T, 2)

    shape = (n_steps, n_batch)
    batch = Batch(
        inputs=frozen_poisson_inputs(key_spikes, n_steps, n_batch, n_in, input_rate, dt, dtype),
        targets=jnp.broadcast_to(trajectory[:, None, :], (*shape, 2)),
        mask=jnp.ones(shape, dtype=dtype),
    )
    return batch, InfiniteLoopInfo(trajectory=trajectory)


RECORD = TaskRecord(
    name="infinite_loop",
    generator=infinite_loop,
    kind="regression",
    frozen=True,
    preset=pattern_generation_preset(n_rec=200),
    shapes=lambda options: (options["n_in"], 2),
    source="NEST infinite-loop (lemniscate) tutorial",
)
"""The registry record of the task (see :mod:`eprop_jax.tasks`)."""
