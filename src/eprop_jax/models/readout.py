r"""The leaky readout (non-spiking), Eq. 8 of Bellec et al. 2020 plus an optional bias :math:`b`.

.. math::

    y_t = \kappa y_{t-1} + (1 - \kappa)(W^{out} z_t + b), \qquad \kappa = e^{-dt/\tau_{out}}

Example:
    >>> import jax.numpy as jnp
    >>> float(readout_step(ReadoutParams(jnp.asarray(0.5)), jnp.asarray(1.0), jnp.asarray(3.0)))
    2.0

References:
    Bellec et al. 2020, Nat. Commun. 11:3625, Methods Eq. 8.
"""

from __future__ import annotations

from typing import NamedTuple

import jax


class ReadoutParams(NamedTuple):
    """Leaky readout parameters."""

    kappa: jax.Array  # shape=(), readout decay exp(-dt/tau_out)


def readout_step(params: ReadoutParams, y: jax.Array, drive: jax.Array) -> jax.Array:
    """One step of the leaky readout: ``y_t = kappa y_{t-1} + (1 - kappa) drive_t``.

    Args:
        params: ``ReadoutParams``.
        y: previous readout, shape ``(..., n_out)``.
        drive: ``W_out z_t + b``, shape ``(..., n_out)``.
    """
    return params.kappa * y + (1.0 - params.kappa) * drive
