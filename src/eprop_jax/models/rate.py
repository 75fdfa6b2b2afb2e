r"""Tanh rate units (Miconi 2017): parameters, state and one forward-Euler step.

Not an e-prop neuron model (no spikes, no eligibility); the Miconi node-perturbation rule uses it.
Equations in :func:`rate_step`.

References:
    Miconi 2017, "Biologically plausible learning in recurrent neural networks reproduces neural
    dynamics observed during cognitive tasks", eLife 6:e20899, Eq. 1.
"""

from __future__ import annotations

from typing import NamedTuple

import jax
import jax.numpy as jnp
import numpy as np

from .._checks import broadcast_per_neuron, check_positive


class RateParams(NamedTuple):
    """Parameters of a population of tanh rate units (arrays only)."""

    dt_over_tau: jax.Array  # shape=(n,), Euler factor dt / tau


class RateState(NamedTuple):
    """State of a tanh rate population. Leading batch axes ``...`` are allowed."""

    x: jax.Array  # shape=(..., n), activation x_t
    r: jax.Array  # shape=(..., n), rate r_t = tanh(x_t)


def rate_params(n: int, *, tau=30.0, dt: float = 1.0) -> RateParams:
    """Build validated parameters for ``n`` tanh rate units.

    Args:
        n: number of units, >= 1.
        tau: time constant (ms), > 0; a scalar or one per unit, shape ``(n,)``.
        dt: time step (ms), > 0.

    Returns:
        ``RateParams`` holding a float64 NumPy array (cast to the simulation dtype on use).
    """
    api = "rate_params"
    if not isinstance(n, int | np.integer) or n < 1:
        raise ValueError(f"`{api}`: n must be an integer >= 1; got {n!r}.")
    dt = float(check_positive(api, "dt", dt))
    tau = check_positive(api, "tau", broadcast_per_neuron(api, "tau", tau, n))
    return RateParams(dt_over_tau=dt / tau)


def rate_step(
    params: RateParams, state: RateState, current: jax.Array
) -> tuple[RateState, jax.Array]:
    r"""Advance a population of tanh rate units by one forward-Euler step.

    With total input :math:`I_t` (synaptic input plus any perturbation :math:`\xi_t`, as in
    Miconi 2017, Eq. 1):

    .. math::

        x_t = x_{t-1} + \frac{dt}{\tau}\,(I_t - x_{t-1}), \qquad r_t = \tanh(x_t)

    Args:
        params: ``RateParams`` (``dt_over_tau`` of shape ``(n,)`` or a scalar).
        state: ``RateState`` after step t-1, shape ``(..., n)``.
        current: total input :math:`I_t` (including :math:`\xi_t`), shape ``(..., n)``.

    Returns:
        ``(new_state, r_t)``.

    Example:
        >>> import jax.numpy as jnp
        >>> params = rate_params(2, tau=10.0, dt=1.0)
        >>> state = RateState(x=jnp.zeros(2), r=jnp.zeros(2))
        >>> state, r = rate_step(params, state, jnp.array([1.0, -1.0]))
        >>> [round(float(v), 6) for v in state.x]
        [0.1, -0.1]
    """
    x = state.x + params.dt_over_tau * (current - state.x)
    r = jnp.tanh(x)
    return RateState(x=x, r=r), r
