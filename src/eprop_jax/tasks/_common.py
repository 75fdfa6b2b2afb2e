r"""Shared pieces of the task generators: Poisson spike trains and argument checks.

**Poisson inputs.** A neuron firing at rate :math:`r` (Hz) emits, independently in each step of
length :math:`dt` (ms), one spike with probability

.. math::

    p = r \, dt / 1000, \qquad z_t \sim \mathrm{Bernoulli}(p), \quad 0 \le p \le 1.

All checks run in Python on concrete numbers, before tracing, and raise ``ValueError`` messages
that name the generator, the parameter, what is accepted and what was given.
"""

from __future__ import annotations

import math
import operator
from collections.abc import Callable

import jax
import jax.numpy as jnp
import numpy as np


def poisson_spikes(key: jax.Array, rates: jax.Array, dt: float, dtype) -> jax.Array:
    """Bernoulli approximation of Poisson spike trains, one draw per entry of ``rates``.

    Args:
        key: a PRNG key.
        rates: firing rates in Hz, any shape (for example ``(T, B, n)``); ``rates * dt / 1000``
            must lie in ``[0, 1]`` (checked by the callers with :func:`check_rate`).
        dt: step length in ms.
        dtype: floating dtype of the returned 0/1 spikes.

    Returns:
        Spikes of ``rates.shape`` and ``dtype``: 1 with probability ``rates * dt / 1000``.
    """
    spike_prob = rates * (dt / 1000.0)
    return jax.random.bernoulli(key, spike_prob, spike_prob.shape).astype(dtype)


def frozen_poisson_inputs(
    key: jax.Array, n_steps: int, n_batch: int, n_in: int, rate: float, dt: float, dtype
) -> jax.Array:
    """One Poisson raster of shape ``(n_steps, n_in)``, repeated over the batch axis.

    Args:
        key: a PRNG key; the same key gives the same raster ("frozen" noise).
        n_steps: number of steps ``T``.
        n_batch: batch size ``B``.
        n_in: number of input neurons.
        rate: firing rate of every input neuron in Hz.
        dt: step length in ms.
        dtype: floating dtype of the spikes.

    Returns:
        Spikes of shape ``(T, B, n_in)``, identical along ``B``. Called inside the generators'
        jitted samplers, with every argument but ``key`` a Python value.
    """
    rates = jnp.full((n_steps, 1, n_in), rate, dtype=jnp.float32)
    raster = poisson_spikes(key, rates, dt, dtype)
    return jnp.broadcast_to(raster, (n_steps, n_batch, n_in))


def jit_sampler(sample: Callable) -> Callable:
    """The one jit convention of the task generators: ``sample(key, config)``, ``config`` static.

    Every generator checks its Python arguments eagerly, collects them (in steps, normalised) in a
    hashable ``NamedTuple`` and calls its private ``_sample(key, config)`` decorated with this,
    i.e. ``jax.jit(sample, static_argnums=1)``: one compilation per configuration, and the key the
    only traced argument. Shapes depend only on the configuration, so the public generator itself
    jits too: ``jax.jit(functools.partial(generator, n_batch=..., **options))(key)``.
    """
    return jax.jit(sample, static_argnums=1)


def check_dtype(api: str, dtype) -> jnp.dtype:
    """Return ``dtype`` as a ``numpy.dtype`` after checking it is a floating type."""
    try:
        resolved = jnp.dtype(dtype)
    except TypeError as err:
        raise ValueError(f"`{api}`: dtype must be a floating dtype; got {dtype!r}.") from err
    if not jnp.issubdtype(resolved, jnp.floating):
        raise ValueError(
            f"`{api}`: dtype must be a floating dtype such as jnp.float32; got {resolved}."
        )
    return resolved


def check_int(api: str, name: str, value, minimum: int) -> int:
    """Return ``value`` as a Python ``int`` after checking it is an integer ``>= minimum``."""
    try:
        if isinstance(value, bool):
            raise TypeError
        as_int = operator.index(value)
    except TypeError:
        as_int = None
    if as_int is None or as_int < minimum:
        raise ValueError(f"`{api}`: {name} must be an integer >= {minimum}; got {value!r}.")
    return as_int


def check_float(api: str, name: str, value, *, minimum: float, inclusive: bool = True) -> float:
    """Return ``value`` as a finite Python ``float`` that is ``>= minimum`` (or ``>``)."""
    try:
        if isinstance(value, bool):
            raise TypeError
        as_float = float(value)
    except (TypeError, ValueError):
        as_float = math.nan
    relation = ">=" if inclusive else ">"
    ok = math.isfinite(as_float) and (as_float >= minimum if inclusive else as_float > minimum)
    if not ok:
        raise ValueError(
            f"`{api}`: {name} must be a finite number {relation} {minimum:g}; got {value!r}."
        )
    return as_float


def check_dt(api: str, dt) -> float:
    """Return the step length ``dt`` (ms) after checking it is finite and > 0."""
    return check_float(api, "dt", dt, minimum=0.0, inclusive=False)


def check_probability(api: str, name: str, value) -> float:
    """Return ``value`` after checking it is a probability in ``[0, 1]``."""
    prob = check_float(api, name, value, minimum=0.0)
    if prob > 1.0:
        raise ValueError(f"`{api}`: {name} must be a probability in [0, 1]; got {value!r}.")
    return prob


def duration_steps(api: str, name: str, duration, dt: float, *, allow_zero: bool = False) -> int:
    """Number of steps ``round(duration / dt)`` of a duration in ms, checked to be >= 1 (or 0).

    Args:
        api: name of the calling generator, for error messages.
        name: name of the duration argument.
        duration: duration in ms.
        dt: step length in ms (already checked).
        allow_zero: accept a zero duration (0 steps).

    Returns:
        The number of steps as a Python ``int``.
    """
    value = check_float(api, name, duration, minimum=0.0, inclusive=allow_zero)
    n_steps = round(value / dt)
    if n_steps < 1 and not (allow_zero and value == 0.0):
        raise ValueError(
            f"`{api}`: {name}={value:g} ms is shorter than one step (dt={dt:g} ms); "
            f"use a duration of at least dt."
        )
    return n_steps


def check_rate(api: str, name: str, rate, dt: float) -> float:
    """Return a firing rate in Hz after checking ``rate >= 0`` and ``rate * dt / 1000 <= 1``."""
    value = check_float(api, f"{name} (Hz)", rate, minimum=0.0)
    spike_prob = value * dt / 1000.0
    if spike_prob > 1.0:
        raise ValueError(
            f"`{api}`: {name}={value:g} Hz with dt={dt:g} ms gives a spike probability per step "
            f"rate*dt/1000 = {spike_prob:g}; it must be <= 1. Lower the rate or dt."
        )
    return value


def time_axis(n_steps: int, dt: float, dtype) -> jax.Array:
    """Times ``t_k = k * dt`` in ms of the steps ``k = 0, ..., n_steps - 1``, shape ``(T,)``."""
    return jnp.asarray(np.arange(n_steps, dtype=np.float64) * dt, dtype=dtype)


def compute_dtype(dtype) -> jnp.dtype:
    """At least float32 for computing smooth targets, whatever the (maybe half) output dtype."""
    dtype = jnp.dtype(dtype)
    return dtype if dtype.itemsize >= 4 else jnp.dtype(jnp.float32)


def check_frozen_input_args(api: str, n_batch, n_in, dt, dtype, input_rate):
    """Validate the arguments every frozen-Poisson-input task shares.

    Returns:
        ``(n_batch, n_in, dt, dtype, input_rate)`` checked and normalised.
    """
    n_batch = check_int(api, "n_batch", n_batch, 1)
    n_in = check_int(api, "n_in", n_in, 1)
    dt = check_dt(api, dt)
    dtype = check_dtype(api, dtype)
    return n_batch, n_in, dt, dtype, check_rate(api, "input_rate", input_rate, dt)
