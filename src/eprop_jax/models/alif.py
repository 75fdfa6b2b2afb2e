r"""The ALIF neuron model (LIF when beta = 0): parameters, state, step, eligibility and adjoint.

A :class:`~eprop_jax.models.base.NeuronModel` (``network(..., model="alif")``, the default): a
``Params`` NamedTuple of arrays, a ``State`` NamedTuple and one pure ``step``
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

**Eligibility** (online e-prop). For a synapse from presynaptic unit :math:`i` to neuron
:math:`j`, with presynaptic activity :math:`p_{t,i}` (:math:`x_{t,i}` for input synapses,
:math:`z_{t-1,i}` for recurrent ones), the eligibility vector :math:`(\epsilon^v, \epsilon^a) =
\partial(v_t, a_t)/\partial W_{ji}` with :math:`z_{t-1}` held fixed in the recurrence and the reset
(Bellec et al. 2020, Eqs. 13-14 for LIF, 25-26 for ALIF):

.. math::

    \epsilon^a_{t,ji} &= (\rho_j - \beta_j \psi_{t-1,j})\,\epsilon^a_{t-1,ji}
                         + \psi_{t-1,j}\,\epsilon^v_{t-1,ji}                     && \text{(Eq. 25)}\\
    \epsilon^v_{t,ji} &= \alpha_j \epsilon^v_{t-1,ji} + p_{t,i}                    && \text{(Eq. 14)}\\
    e_{t,ji}          &= \psi_{t,j}\,(\epsilon^v_{t,ji} - \beta_j \epsilon^a_{t,ji}) && \text{(Eq. 26)}\\
    \bar e_{t,ji}     &= \kappa \bar e_{t-1,ji} + (1 - \kappa) e_{t,ji}

**Adjoint** (factored e-prop). For per-neuron coefficients :math:`c_t` of :math:`e_t`, the same
sums taken backwards in time (``eprop_factored.py``):

.. math::

    \omega_t = \psi_t (c_t - \beta \delta_t), \qquad \delta_{t-1} = \rho\,\delta_t + \omega_t,
    \qquad \bar\omega_t = \omega_t + \alpha\,\bar\omega_{t+1}, \qquad
    \textstyle\sum_t c_t e_t = \sum_t \bar\omega_t\, p_t

with :math:`\delta_T = \bar\omega_{T+1} = 0`.

References:
    Bellec et al. 2020, Nat. Commun. 11:3625, Methods Eqs. 13-14 and 21-26.
"""

from __future__ import annotations

from typing import NamedTuple

import jax
import jax.numpy as jnp
import numpy as np

from .._checks import broadcast_per_neuron, check_positive, is_concrete
from ..surrogates import Surrogate
from .base import (
    Adjoint,
    EpropState,
    EpropStep,
    LearningRule,
    NeuronModel,
    alif_rows,
    decay,
    filter_and_contract,
    row_index,
)


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
    return alif_params(
        n, tau_m=tau_m, beta=0.0, thr=thr, refractory=refractory, gamma=gamma, dt=dt, **kw
    )


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
    # Refractory neurons get u = -inf (H and psi are 0 there for every surrogate shape): the same
    # z_t and dz_t/dv_t = psi_t * [r_{t-1} = 0] as gating the spike by a product, but adding a
    # constant leaves autodiff one stored (T, B, n) residual (psi) instead of two (psi, gate).
    blocked = jnp.where(state.refractory == 0, 0.0, -jnp.inf).astype(v.dtype)
    z = surrogate.spike(distance + blocked, params.psi_height, params.psi_width)
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


def alif_eligibility(
    params: AlifParams, kappa: jax.Array, *, track_e_sum: bool = True
) -> LearningRule:
    """The e-prop eligibility rule of the module docstring, for an (A)LIF population.

    LIF rows (beta = 0) skip eps^a entirely, and a membrane decay shared by all neurons keeps
    eps^v per presynaptic unit (see :class:`~eprop_jax.models.base.EpropState`); both are exact
    rewrites of Eqs. 14-26.

    Args:
        params: the postsynaptic neurons' ``AlifParams`` (in the simulation dtype).
        kappa: readout decay, the filter of ``elig_trace`` (0 gives ``elig_trace = e``).
        track_e_sum: accumulate ``sum_t e`` per trial for the rate regularisation.

    Returns:
        A :class:`~eprop_jax.models.base.LearningRule`. ``update`` returns
        ``sum_b L_{t,b,j} ebar_{t,b,ji}``, shape ``(n, P)``.

    Example:
        >>> from eprop_jax.models.base import cast_params
        >>> rule = alif_eligibility(cast_params(alif_params(4, beta=0.1), jnp.float32), 0.9)
        >>> rule.init(2, 7, jnp.float32).elig_trace.shape
        (2, 4, 7)
    """
    n = params.alpha.shape[0]
    rows = alif_rows(params.beta)
    n_alif = len(rows)
    index = row_index(rows)
    shared_alpha = is_concrete(params.alpha) and bool(
        np.all(np.asarray(params.alpha) == np.asarray(params.alpha)[0])
    )
    alpha = params.alpha[0] if shared_alpha else params.alpha[:, None]
    rho_a, beta_a = params.rho[index][:, None], params.beta[index][:, None]

    def init_fn(n_batch: int, n_pre: int, dtype) -> EpropState:
        v_shape = (n_batch, n_pre) if shared_alpha else (n_batch, n, n_pre)
        return EpropState(
            elig_v=jnp.zeros(v_shape, dtype),
            elig_a=jnp.zeros((n_batch, n_alif, n_pre), dtype),
            elig_trace=jnp.zeros((n_batch, n, n_pre), dtype),
            psi_prev=jnp.zeros((n_batch, n_alif), dtype),
            e_sum=jnp.zeros((n_batch, n, n_pre) if track_e_sum else (n, n_pre), dtype),
        )

    def update_fn(state: EpropState, step: EpropStep, learning_signal: jax.Array):
        psi = step.psi
        if shared_alpha:
            elig_v = alpha * state.elig_v + step.pre  # Eq. 14, one trace per presynaptic unit
            elig_v_rows, elig_v_prev_alif = elig_v[:, None, :], state.elig_v[:, None, :]
        else:
            elig_v = alpha * state.elig_v + step.pre[:, None, :]  # Eq. 14
            elig_v_rows, elig_v_prev_alif = elig_v, state.elig_v[:, index]
        e = psi[..., None] * elig_v_rows  # Eq. 13 (LIF rows are final here)
        elig_a, psi_alif = state.elig_a, psi[:, index]
        if n_alif:
            psi_prev = state.psi_prev[..., None]
            elig_a = (
                rho_a - beta_a * psi_prev
            ) * state.elig_a + psi_prev * elig_v_prev_alif  # Eq. 25
            e = e.at[:, index].add(-psi_alif[..., None] * beta_a * elig_a)  # Eq. 26
        grad, elig_trace = filter_and_contract(kappa, state.elig_trace, e, learning_signal)
        e_sum = state.e_sum + e if track_e_sum else state.e_sum
        return grad, EpropState(elig_v, elig_a, elig_trace, psi_alif, e_sum)

    return LearningRule(init_fn, update_fn)


def alif_adjoint(params: AlifParams, surrogate: Surrogate, *, adaptive: bool = True) -> Adjoint:
    """The eligibility rule backwards in time (module docstring, "Adjoint").

    Args:
        params: ``AlifParams`` in the simulation dtype.
        surrogate: the network's surrogate (``psi`` is recomputed from the distance u_t).
        adaptive: ``False`` promises beta = 0 everywhere (skips the eps^a adjoint).

    Returns:
        An :class:`~eprop_jax.models.base.Adjoint` with carry ``(delta, omega_bar)``.
    """

    def init(n_batch: int, n: int, dtype):
        zeros = jnp.zeros((n_batch, n), dtype)
        return zeros, zeros

    def update(carry, xs):
        adj, w_bar = carry
        u_t, _, coef = xs
        psi = surrogate.psi(u_t, params.psi_height, params.psi_width)
        if adaptive:
            w = psi * (coef - params.beta * adj)  # adjoint of eps^a (Eqs. 25-26)
            adj = params.rho * adj + w
        else:
            w = psi * coef  # Eq. 13
        w_bar = w + params.alpha * w_bar  # alpha filter of eps^v (Eq. 14), backwards
        return (adj, w_bar), w_bar

    return Adjoint(init, update)


ALIF = NeuronModel(
    name="alif",
    make_params=alif_params,
    init_state=alif_init_state,
    step=alif_step,
    eligibility=alif_eligibility,
    adjoint=alif_adjoint,
)
