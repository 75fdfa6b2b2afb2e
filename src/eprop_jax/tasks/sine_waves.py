r"""Pattern generation: reproduce a sum of sines from frozen Poisson input.

The regression task of Bellec et al. 2020, Fig. S7 (``tutorial_pattern_generation.py`` in the
authors' TensorFlow code; NEST's ``eprop_supervised_regression_sine-waves`` tutorial). A network
receives the same ("frozen") Poisson input every trial and must output one fixed 1-D pattern.

**Inputs.** ``n_in`` (100) neurons fire Poisson at ``input_rate`` (50 Hz) for ``duration``
(1000 ms).

**Target.** With periods :math:`P_k` (1000, 500, 333, 200 ms), amplitudes
:math:`A_k \sim U[0.5, 2]` and phases :math:`\phi_k \sim U[0, 2\pi)` drawn from the key, at
times :math:`t = 0, dt, \ldots, (T-1)\,dt`:

.. math::

    u(t) = \sum_k A_k \sin(2\pi t / P_k + \phi_k), \qquad y^*(t) = u(t) / \max_{t'} |u(t')|,

so that :math:`\max_t |y^*(t)| = 1`. The TF code also shifts the pattern to start at 0 before
scaling; we only scale (no offset), which keeps the pattern a pure sum of sines.

**Frozen.** The same key gives the same inputs and the same target; the trainer reuses one key
every iteration (as the TF and NEST tutorials reuse one input sample). With ``same_pattern=True``
(default) every batch element is the same trial; with ``same_pattern=False`` each element has its
own inputs, amplitudes and phases. The mask is 1 everywhere.

References:
    Bellec et al., `A solution to the learning dilemma for recurrent networks of spiking neurons
    <https://doi.org/10.1038/s41467-020-17236-y>`_, Nat. Commun. 11:3625, 2020, Fig. S7
    (pattern generation) and Methods.
"""

from __future__ import annotations

from collections.abc import Sequence
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
    jit_sampler,
    poisson_spikes,
    time_axis,
)
from ._registry import TaskRecord, pattern_generation_preset

_API = "sine_waves"


class SineWavesInfo(NamedTuple):
    """The parameters of the target pattern of every batch element."""

    periods: jax.Array  # shape=(n_sines,), periods P_k in ms
    amplitudes: jax.Array  # shape=(B, n_sines), A_k before normalisation
    phases: jax.Array  # shape=(B, n_sines), phi_k in [0, 2 pi)


def sine_waves(
    key: jax.Array,
    n_batch: int,
    *,
    n_in: int = 100,
    input_rate: float = 50.0,
    duration: float = 1000.0,
    periods: Sequence[float] = (1000.0, 500.0, 333.0, 200.0),
    amplitude_range: tuple[float, float] = (0.5, 2.0),
    same_pattern: bool = True,
    dt: float = 1.0,
    dtype=jnp.float32,
) -> tuple[Batch, SineWavesInfo]:
    """Draw the frozen sum-of-sines pattern-generation task (see the module docstring).

    Args:
        key: a PRNG key; split into ``amplitudes``, ``phases`` and ``spikes`` subkeys.
        n_batch: batch size ``B`` (>= 1).
        n_in: number of input neurons.
        input_rate: input firing rate in Hz.
        duration: trial length in ms; ``T = round(duration / dt)``.
        periods: periods of the sines in ms (each > 0, at least one).
        amplitude_range: ``(low, high)`` of the uniform amplitude distribution,
            ``0 <= low <= high``, ``high > 0``.
        same_pattern: if True, one trial repeated ``B`` times; otherwise ``B`` independent ones.
        dt: step length in ms.
        dtype: floating dtype of inputs, targets and mask.

    Returns:
        ``(batch, info)``: ``batch.inputs`` of shape ``(T, B, n_in)``, ``batch.targets`` of
        shape ``(T, B, 1)`` with ``max |target| = 1`` per element, ``batch.mask`` of ones of shape
        ``(T, B)``, and :class:`SineWavesInfo`.

    Example:
        >>> batch, info = sine_waves(jax.random.key(0), 1)
        >>> batch.inputs.shape, batch.targets.shape
        ((1000, 1, 100), (1000, 1, 1))
    """
    n_batch, n_in, dt, dtype, input_rate = check_frozen_input_args(
        _API, n_batch, n_in, dt, dtype, input_rate
    )
    n_steps = duration_steps(_API, "duration", duration, dt)
    if isinstance(periods, str) or not isinstance(periods, Sequence) or len(periods) == 0:
        raise ValueError(
            f"`{_API}`: periods must be a non-empty sequence of periods in ms; got {periods!r}."
        )
    periods = [
        check_float(_API, f"periods[{i}]", p, minimum=0.0, inclusive=False)
        for i, p in enumerate(periods)
    ]
    if not isinstance(amplitude_range, Sequence) or len(amplitude_range) != 2:
        raise ValueError(
            f"`{_API}`: amplitude_range must be a pair (low, high); got {amplitude_range!r}."
        )
    low = check_float(_API, "amplitude_range[0]", amplitude_range[0], minimum=0.0)
    high = check_float(_API, "amplitude_range[1]", amplitude_range[1], minimum=0.0, inclusive=False)
    if low > high:
        raise ValueError(
            f"`{_API}`: amplitude_range must satisfy low <= high; got {amplitude_range!r}."
        )
    if not isinstance(same_pattern, bool):
        raise ValueError(f"`{_API}`: same_pattern must be True or False; got {same_pattern!r}.")

    config = _Config(
        n_batch=n_batch,
        n_in=n_in,
        n_steps=n_steps,
        input_rate=input_rate,
        periods=tuple(periods),
        low=low,
        high=high,
        same_pattern=same_pattern,
        dt=dt,
        dtype=dtype,
    )
    return _sample(key, config)


class _Config(NamedTuple):
    """Checked arguments; hashable, so it is a static argument of ``_sample``."""

    n_batch: int
    n_in: int
    n_steps: int
    input_rate: float
    periods: tuple[float, ...]
    low: float
    high: float
    same_pattern: bool
    dt: float
    dtype: np.dtype


@jit_sampler
def _sample(key: jax.Array, config: _Config) -> tuple[Batch, SineWavesInfo]:
    """Draw the task for checked arguments (see :func:`sine_waves`)."""
    n_batch, n_in, n_steps, dtype = config.n_batch, config.n_in, config.n_steps, config.dtype
    n_patterns = 1 if config.same_pattern else n_batch
    n_sines = len(config.periods)
    work = compute_dtype(dtype)
    key_amp, key_phase, key_spikes = jax.random.split(key, 3)
    amplitudes = jax.random.uniform(key_amp, (n_patterns, n_sines), work, config.low, config.high)
    phases = jax.random.uniform(key_phase, (n_patterns, n_sines), work, 0.0, 2.0 * np.pi)
    periods = jnp.asarray(config.periods, dtype=work)

    t = time_axis(n_steps, config.dt, work)  # (T,)
    angle = (2.0 * np.pi) * t[:, None, None] / periods[None, None, :] + phases[None, :, :]
    raw = jnp.sum(amplitudes[None, :, :] * jnp.sin(angle), axis=-1)  # (T, n_patterns)
    target = raw / jnp.max(jnp.abs(raw), axis=0, keepdims=True)

    rates = jnp.full((n_steps, n_patterns, n_in), config.input_rate, dtype=jnp.float32)
    inputs = poisson_spikes(key_spikes, rates, config.dt, dtype)

    shape = (n_steps, n_batch)
    batch = Batch(
        inputs=jnp.broadcast_to(inputs, (*shape, n_in)),
        targets=jnp.broadcast_to(target.astype(dtype)[:, :, None], (*shape, 1)),
        mask=jnp.ones(shape, dtype=dtype),
    )
    info = SineWavesInfo(
        periods=periods.astype(dtype),
        amplitudes=jnp.broadcast_to(amplitudes, (n_batch, n_sines)).astype(dtype),
        phases=jnp.broadcast_to(phases, (n_batch, n_sines)).astype(dtype),
    )
    return batch, info


RECORD = TaskRecord(
    name="sine_waves",
    generator=sine_waves,
    kind="regression",
    frozen=True,
    preset=pattern_generation_preset(n_rec=100),
    shapes=lambda options: (options["n_in"], 1),
    source="Bellec et al. 2020, Fig. S7",
)
"""The registry record of the task (see :mod:`eprop_jax.tasks`)."""
