r"""Neuron models: adaptive and plain leaky integrate-and-fire units, and the leaky readout.

Each model is a ``Params`` NamedTuple of arrays, a ``State`` NamedTuple and one pure ``step``
``(params, state, input) -> (state, output)``, so ``jax.lax.scan`` can call it directly. Steps
broadcast over any leading batch axes.

**ALIF** (the ``EligALIF`` cell of Bellec et al. 2020; LIF is the special case :math:`\beta = 0`).
With input current :math:`I_t` (already summed over input and recurrent synapses), per step:

.. math::

    v_t &= \alpha v_{t-1} + I_t - v_{th} z_{t-1}          && \text{(Eq. 21, reset by subtraction)}\\
    A_t &= v_{th} + \beta a_t                               && \text{(Eq. 23)}\\
    z_t &= H(v_t - A_t) \;\text{if}\; r_{t-1} = 0 \;\text{else}\; 0 \\
    r_t &= n_{ref} - 1 \;\text{if}\; z_t = 1 \;\text{else}\; \max(r_{t-1} - 1, 0) \\
    \psi_t &= h\,f\big((v_t - A_t)/w\big) \;\text{if}\; r_{t-1} = 0 \;\text{else}\; 0
                                                            && \text{(Eq. 24)}\\
    a_{t+1} &= \rho a_t + z_t                               && \text{(Eq. 22)}

with :math:`\alpha = e^{-dt/\tau_m}`, :math:`\rho = e^{-dt/\tau_a}`, pseudo-derivative shape
:math:`f` (``surrogates.py``), height :math:`h` and width :math:`w` (defaults
:math:`h = \gamma/v_{th}`, :math:`w = v_{th}`). After a spike the neuron stays silent for
:math:`n_{ref} - 1` steps (minimum inter-spike interval :math:`n_{ref}` steps), as in the
original code and NEST. The adaptation update is done at the end of step :math:`t` so that the state
carries :math:`a_{t+1}`; this is the same dynamics as the paper's, written so that the spike fed to
the adaptation (un-stopped) is a different variable from the spike fed to the reset and the
recurrent synapses (which e-prop stops).

**Readout** (leaky, non-spiking, Eq. 8 of the paper plus an optional bias :math:`b`):

.. math::

    y_t = \kappa y_{t-1} + (1 - \kappa)(W^{out} z_t + b), \qquad \kappa = e^{-dt/\tau_{out}}

References:
    Bellec et al. 2020, Nat. Commun. 11:3625, Methods Eqs. 8 and 21-24.
"""

from __future__ import annotations

from typing import NamedTuple

import jax
import jax.numpy as jnp
import numpy as np

from ._checks import broadcast_per_neuron, check_positive
from .surrogates import Surrogate


class AlifParams(NamedTuple):
    """Per-neuron parameters of an (A)LIF population (arrays only; LIF rows have ``beta = 0``)."""

    alpha: jax.Array  # shape=(n,), membrane decay exp(-dt/tau_m)
    rho: jax.Array  # shape=(n,), adaptation decay exp(-dt/tau_a)
    beta: jax.Array  # shape=(n,), threshold adaptation strength; 0 for LIF neurons
    thr: jax.Array  # shape=(n,), baseline threshold v_th (also the reset amount)
    n_refractory: jax.Array  # shape=(n,), dtype=int32, minimum inter-spike interval in steps
    psi_height: jax.Array  # shape=(n,), pseudo-derivative height h
    psi_width: jax.Array  # shape=(n,), pseudo-derivative width w


class AlifState(NamedTuple):
    """State carried between steps. Leading batch axes ``...`` are allowed."""

    v: jax.Array  # shape=(..., n), membrane potential v_t
    a: jax.Array  # shape=(..., n), adaptation variable for the NEXT step, a_{t+1}
    z: jax.Array  # shape=(..., n), spikes of this step z_t (0/1)
    refractory: jax.Array  # shape=(..., n), dtype=int32, refractory steps left r_t


class AlifOutput(NamedTuple):
    """Per-step quantities the rules, losses and plots use."""

    z: jax.Array  # shape=(..., n), spikes z_t
    v: jax.Array  # shape=(..., n), membrane potential v_t
    threshold: jax.Array  # shape=(..., n), adaptive threshold A_t
    psi: jax.Array  # shape=(..., n), pseudo-derivative psi_t (0 while refractory)


class ReadoutParams(NamedTuple):
    """Leaky readout parameters."""

    kappa: jax.Array  # shape=(), readout decay exp(-dt/tau_out)


def decay(tau, dt) -> np.ndarray:
    """Return the per-step decay factor ``exp(-dt / tau)`` (float64 NumPy)."""
    return np.exp(-np.asarray(dt, np.float64) / np.asarray(tau, np.float64))


def alif_params(
    n: int,
    *,
    tau_m=20.0,
    tau_a=2000.0,
    beta=0.0,
    thr=0.6,
    refractory=5.0,
    gamma=0.3,
    surrogate_height=None,
    surrogate_width=None,
    dt: float = 1.0,
) -> AlifParams:
    """Build validated ALIF parameters for ``n`` neurons.

    Each of ``tau_m``, ``tau_a``, ``beta``, ``thr``, ``refractory`` may be a scalar or a
    per-neuron vector of shape ``(n,)``. Times are in ms.

    Args:
        n: number of neurons.
        tau_m: membrane time constant (ms), > 0.
        tau_a: adaptation time constant (ms), > 0.
        beta: threshold adaptation strength, >= 0 (0 gives an LIF neuron).
        thr: baseline threshold v_th, > 0.
        refractory: refractory period (ms), >= 0; rounded to ``n_ref = round(refractory/dt)``
            steps (the minimum inter-spike interval).
        gamma: pseudo-derivative dampening; sets the default height ``gamma / thr``.
        surrogate_height: pseudo-derivative height h (overrides ``gamma / thr``), > 0.
        surrogate_width: pseudo-derivative width w in voltage units (default ``thr``), > 0.
        dt: time step (ms), > 0.

    Returns:
        ``AlifParams`` holding float64 NumPy arrays (cast to the simulation dtype on use).
    """
    api = "alif_params"
    if not isinstance(n, int | np.integer) or n < 1:
        raise ValueError(f"`{api}`: n must be an integer >= 1; got {n!r}.")
    dt = float(check_positive(api, "dt", dt))

    def vec(name, value, allow_zero=False):
        arr = broadcast_per_neuron(api, name, value, n)
        return check_positive(api, name, arr, allow_zero=allow_zero)

    tau_m, tau_a, thr = vec("tau_m", tau_m), vec("tau_a", tau_a), vec("thr", thr)
    beta, refractory = vec("beta", beta, True), vec("refractory", refractory, True)
    check_positive(api, "gamma", gamma)
    height = gamma / thr if surrogate_height is None else vec("surrogate_height", surrogate_height)
    width = thr if surrogate_width is None else vec("surrogate_width", surrogate_width)
    return AlifParams(
        alpha=decay(tau_m, dt),
        rho=decay(tau_a, dt),
        beta=beta,
        thr=thr,
        n_refractory=np.round(refractory / dt).astype(np.int32),
        psi_height=np.asarray(height, np.float64),
        psi_width=np.asarray(width, np.float64),
    )


def lif_params(n: int, *, tau_m=20.0, thr=0.6, refractory=5.0, gamma=0.3, dt=1.0, **kw):
    """LIF parameters: :func:`alif_params` with ``beta = 0`` (no threshold adaptation)."""
    return alif_params(n, tau_m=tau_m, beta=0.0, thr=thr, refractory=refractory, gamma=gamma,
                       dt=dt, **kw)  # fmt: skip


def cast_params(params: AlifParams, dtype) -> AlifParams:
    """Cast the float fields of ``params`` to ``dtype`` (the refractory steps stay int32)."""
    return AlifParams(*(
        jnp.asarray(p, jnp.int32) if name == "n_refractory" else jnp.asarray(p, dtype)
        for name, p in zip(AlifParams._fields, params, strict=True)
    ))  # fmt: skip


def alif_init_state(params: AlifParams, batch_shape: tuple[int, ...] = (), dtype=jnp.float32):
    """All-zero state of shape ``batch_shape + (n,)``."""
    shape = (*batch_shape, np.shape(params.alpha)[0])
    zeros = jnp.zeros(shape, dtype)
    return AlifState(v=zeros, a=zeros, z=zeros, refractory=jnp.zeros(shape, jnp.int32))


def alif_step(
    params: AlifParams,
    state: AlifState,
    current: jax.Array,
    *,
    surrogate: Surrogate,
    stop_reset_gradient: bool = False,
) -> tuple[AlifState, AlifOutput]:
    """Advance an ALIF population by one step (equations in the module docstring).

    Args:
        params: ``AlifParams`` (already cast to the simulation dtype).
        state: ``AlifState`` after step t-1, shape ``(..., n)``; ``state.z`` is the spike used for
            the reset (a caller may pass a perturbed copy of it, see ``network.simulate``).
        current: input current I_t, shape ``(..., n)``.
        surrogate: spike function and pseudo-derivative from :func:`eprop_jax.surrogate`.
        stop_reset_gradient: if True, the reset term uses ``stop_gradient(z_{t-1})`` (e-prop's
            eligibility traces ignore the reset path).

    Returns:
        ``(new_state, AlifOutput)``.
    """
    z_reset = jax.lax.stop_gradient(state.z) if stop_reset_gradient else state.z
    v = params.alpha * state.v + current - params.thr * z_reset
    threshold = params.thr + params.beta * state.a
    not_refractory = (state.refractory == 0).astype(v.dtype)
    distance = v - threshold
    z = surrogate.spike(distance, params.psi_height, params.psi_width) * not_refractory
    # psi_t is an observed quantity (it is what the custom JVP of the spike uses); no gradient.
    psi = jax.lax.stop_gradient(
        not_refractory * surrogate.psi(distance, params.psi_height, params.psi_width)
    )
    refractory = jnp.where(z > 0, params.n_refractory - 1, state.refractory - 1)
    refractory = jnp.maximum(refractory, 0).astype(jnp.int32)
    # The adaptation sees the un-stopped spike z_t (Eq. 22): e-prop keeps this path in eps_a.
    a_next = params.rho * state.a + z
    new_state = AlifState(v=v, a=a_next, z=z, refractory=refractory)
    return new_state, AlifOutput(z=z, v=v, threshold=threshold, psi=psi)


def readout_step(params: ReadoutParams, y: jax.Array, drive: jax.Array) -> jax.Array:
    """One step of the leaky readout: ``y_t = kappa y_{t-1} + (1 - kappa) drive_t``.

    Args:
        params: ``ReadoutParams``.
        y: previous readout, shape ``(..., n_out)``.
        drive: ``W_out z_t + b``, shape ``(..., n_out)``.
    """
    return params.kappa * y + (1.0 - params.kappa) * drive


# --------------------------------------------------------------------------------------------
# Tanh rate unit (Miconi 2017)
# --------------------------------------------------------------------------------------------


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
