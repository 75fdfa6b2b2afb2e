r"""A NEST ``iaf_psc_delta``-style neuron: reset to a fixed potential, no integration while refractory.

The second :class:`~eprop_jax.models.base.NeuronModel` (``network(..., model="psc_delta")``),
after NEST's ``eprop_iaf_psc_delta`` (and ``_adapt`` with :math:`\beta > 0`). Differences from
``alif.py``: after a spike the membrane potential is *set* to :math:`V_{reset}` instead of having
:math:`v_{th}` subtracted, and while refractory the neuron does not integrate (input is
discarded, :math:`v` is held at :math:`V_{reset}`).

Symbols: :math:`g_t = 1` if the neuron integrates at step :math:`t` (:math:`r_{t-1} = 0`), else 0;
other symbols as in ``alif.py``. Per step, with input current :math:`I_t`:

.. math::

    \tilde v_{t-1} &= (1 - z_{t-1})\, v_{t-1} + z_{t-1} V_{reset}   && \text{(reset to } V_{reset})\\
    v_t &= g_t\,(\alpha \tilde v_{t-1} + I_t) + (1 - g_t)\, V_{reset}
                                                                  && \text{(held while refractory)}\\
    A_t &= v_{th} + \beta a_t, \qquad z_t = g_t\, H(v_t - A_t), \qquad
    \psi_t = g_t\, h f\big((v_t - A_t)/w\big) \\
    r_t &= n_{ref} - 1 \;\text{if}\; z_t = 1 \;\text{else}\; \max(r_{t-1} - 1, 0), \qquad
    a_{t+1} = \rho a_t + z_t

**Eligibility.** :math:`\epsilon_t = \partial(v_t, a_t)/\partial W_{ji}` with :math:`z_{t-1}` held
fixed in the recurrence and in the reset (``jax.jvp`` of the state with those paths stopped). The
reset and the refractory gate multiply the membrane part, with
:math:`d_t = \alpha\, g_t (1 - z_{t-1})`:

.. math::

    \epsilon^v_{t,ji} &= d_{t,j}\, \epsilon^v_{t-1,ji} + g_{t,j}\, p_{t,i} \\
    \epsilon^a_{t,ji} &= (\rho_j - \beta_j \psi_{t-1,j})\,\epsilon^a_{t-1,ji}
                         + \psi_{t-1,j}\,\epsilon^v_{t-1,ji} \\
    e_{t,ji} &= \psi_{t,j}\,(\epsilon^v_{t,ji} - \beta_j \epsilon^a_{t,ji})

(:math:`g = 1`, :math:`d = \alpha` gives ALIF's Eqs. 14, 25, 26). Because :math:`d_t` depends on
the neuron's own spikes, :math:`\epsilon^v` is kept per synapse, ``(B, n, P)``.

**Adjoint.** For coefficients :math:`c_t` of :math:`e_t`:

.. math::

    \omega_t = \psi_t (c_t - \beta \delta_t), \quad \delta_{t-1} = \rho\,\delta_t + \omega_t, \quad
    \bar\omega_t = \omega_t + d_{t+1}\,\bar\omega_{t+1}, \quad
    \textstyle\sum_t c_t e_t = \sum_t g_t \bar\omega_t\, p_t

(:math:`\delta_T = \bar\omega_{T+1} = 0`), since unrolling gives
:math:`\epsilon^v_t = \sum_{s \le t} \big(\prod_{k=s+1}^{t} d_k\big) g_s p_s`. The factored engine
recovers :math:`g_t` from the distance to threshold (:math:`-\infty` while refractory) and
:math:`z_{t-1} = H(u_{t-1})`.

Example:
    >>> import eprop_jax as ej
    >>> net = ej.network(3, 8, 2, n_alif=4, model="psc_delta", v_reset=-0.1)
    >>> net.model.name, float(net.neuron.v_reset[0])
    ('psc_delta', -0.1)

References:
    NEST ``eprop_iaf_psc_delta`` (Korcsak-Gorzo et al. 2025, arXiv:2511.21674); Bellec et al.
    2020, Nat. Commun. 11:3625, Eqs. 1 and 25-26 for the eligibility's structure.
"""

from __future__ import annotations

from typing import NamedTuple

import jax
import jax.numpy as jnp
import numpy as np

from .._checks import broadcast_per_neuron, check_finite
from ..surrogates import Surrogate
from .alif import AlifState, alif_init_state, alif_params
from .base import (
    Adjoint,
    EpropState,
    EpropStep,
    LearningRule,
    NeuronModel,
    alif_rows,
    filter_and_contract,
)


class PscDeltaParams(NamedTuple):
    """Per-neuron parameters (arrays only; ``beta = 0`` rows do not adapt)."""

    alpha: jax.Array  # shape=(n,), membrane decay exp(-dt/tau_m)
    rho: jax.Array  # shape=(n,), adaptation decay exp(-dt/tau_a)
    beta: jax.Array  # shape=(n,), threshold adaptation strength
    thr: jax.Array  # shape=(n,), baseline threshold v_th
    n_refractory: jax.Array  # shape=(n,), dtype=int32, minimum inter-spike interval in steps
    psi_height: jax.Array  # shape=(n,), pseudo-derivative height h
    psi_width: jax.Array  # shape=(n,), pseudo-derivative width w
    v_reset: jax.Array  # shape=(n,), potential after a spike and while refractory


class PscDeltaOutput(NamedTuple):
    """Per-step quantities; ``v_decay`` and ``gate`` are what the eligibility rule needs."""

    z: jax.Array  # shape=(..., n), spikes z_t
    v: jax.Array  # shape=(..., n), membrane potential v_t (before its reset)
    threshold: jax.Array  # shape=(..., n), adaptive threshold A_t
    psi: jax.Array  # shape=(..., n), pseudo-derivative psi_t (0 while refractory)
    v_decay: jax.Array  # shape=(..., n), d_t = alpha g_t (1 - z_{t-1})
    gate: jax.Array  # shape=(..., n), g_t = 1 while integrating, 0 while refractory


def psc_delta_params(n: int, *, v_reset=0.0, **alif_options) -> PscDeltaParams:
    """Validated parameters: those of :func:`~eprop_jax.models.alif.alif_params` plus ``v_reset``.

    Args:
        n: number of neurons.
        v_reset: reset potential (scalar or shape ``(n,)``), finite.
        **alif_options: ``tau_m, tau_a, beta, thr, refractory, gamma, surrogate_height,
            surrogate_width, dt`` as in :func:`~eprop_jax.models.alif.alif_params`.
    """
    base = alif_params(n, **alif_options)
    v_reset = broadcast_per_neuron("psc_delta_params", "v_reset", v_reset, n)
    check_finite("psc_delta_params", "v_reset", v_reset)
    return PscDeltaParams(*base, v_reset=np.asarray(v_reset, np.float64))


def psc_delta_step(
    params: PscDeltaParams,
    state: AlifState,
    current: jax.Array,
    *,
    surrogate: Surrogate,
    stop_reset_gradient: bool = False,
) -> tuple[AlifState, PscDeltaOutput]:
    """Advance the population by one step (equations in the module docstring).

    Same arguments and state as :func:`~eprop_jax.models.alif.alif_step`.
    """
    z_reset = jax.lax.stop_gradient(state.z) if stop_reset_gradient else state.z
    gate = (state.refractory == 0).astype(current.dtype)
    v_start = (1 - z_reset) * state.v + z_reset * params.v_reset  # reset to V_reset
    v = gate * (params.alpha * v_start + current) + (1 - gate) * params.v_reset
    threshold = params.thr + params.beta * state.a
    distance = v - threshold
    z = surrogate.spike(distance, params.psi_height, params.psi_width) * gate
    psi = jax.lax.stop_gradient(gate * surrogate.psi(distance, params.psi_height, params.psi_width))
    refractory = jnp.where(z > 0, params.n_refractory - 1, state.refractory - 1)
    refractory = jnp.maximum(refractory, 0).astype(jnp.int32)
    a_next = params.rho * state.a + z  # the adaptation sees the un-stopped spike
    # e-prop holds z_{t-1} fixed in the reset: d_t is an observed gate, not differentiated.
    v_decay = jax.lax.stop_gradient(gate * params.alpha * (1 - state.z))
    out = PscDeltaOutput(z=z, v=v, threshold=threshold, psi=psi, v_decay=v_decay, gate=gate)
    return AlifState(v=v, a=a_next, z=z, refractory=refractory), out


def psc_delta_eligibility(
    params: PscDeltaParams, kappa: jax.Array, *, track_e_sum: bool = True
) -> LearningRule:
    """The eligibility rule of the module docstring (eps^v per synapse, eps^a if any beta != 0).

    ``update`` reads the gates from ``step.output`` (a :class:`PscDeltaOutput`). Arguments and
    result as :func:`~eprop_jax.models.alif.alif_eligibility`.
    """
    n = params.alpha.shape[0]
    n_a = n if len(alif_rows(params.beta)) else 0
    rho, beta = params.rho[:, None], params.beta[:, None]

    def init_fn(n_batch: int, n_pre: int, dtype) -> EpropState:
        return EpropState(
            elig_v=jnp.zeros((n_batch, n, n_pre), dtype),
            elig_a=jnp.zeros((n_batch, n_a, n_pre), dtype),
            elig_trace=jnp.zeros((n_batch, n, n_pre), dtype),
            psi_prev=jnp.zeros((n_batch, n_a), dtype),
            e_sum=jnp.zeros((n_batch, n, n_pre) if track_e_sum else (n, n_pre), dtype),
        )

    def update_fn(state: EpropState, step: EpropStep, learning_signal: jax.Array):
        out = step.output
        elig_v = out.v_decay[..., None] * state.elig_v + out.gate[..., None] * step.pre[:, None, :]
        e = step.psi[..., None] * elig_v
        elig_a, psi_prev = state.elig_a, state.psi_prev
        if n_a:
            psi_p = state.psi_prev[..., None]
            elig_a = (rho - beta * psi_p) * state.elig_a + psi_p * state.elig_v
            e = e - step.psi[..., None] * beta * elig_a
            psi_prev = step.psi
        grad, elig_trace = filter_and_contract(kappa, state.elig_trace, e, learning_signal)
        e_sum = state.e_sum + e if track_e_sum else state.e_sum
        return grad, EpropState(elig_v, elig_a, elig_trace, psi_prev, e_sum)

    return LearningRule(init_fn, update_fn)


def psc_delta_adjoint(
    params: PscDeltaParams, surrogate: Surrogate, *, adaptive: bool = True
) -> Adjoint:
    """The eligibility rule backwards in time (module docstring, "Adjoint"); carry
    ``(delta, omega_bar, d_next)``."""

    def init(n_batch: int, n: int, dtype):
        zeros = jnp.zeros((n_batch, n), dtype)
        return zeros, zeros, zeros

    def update(carry, xs):
        adj, w_bar, d_next = carry
        u_t, z_prev, coef = xs
        psi = surrogate.psi(u_t, params.psi_height, params.psi_width)
        gate = (u_t > -jnp.inf).astype(u_t.dtype)  # u = -inf exactly while refractory
        if adaptive:
            w = psi * (coef - params.beta * adj)
            adj = params.rho * adj + w
        else:
            w = psi * coef
        w_bar = w + d_next * w_bar
        d_t = params.alpha * gate * (1 - z_prev)
        return (adj, w_bar, d_t), gate * w_bar

    return Adjoint(init, update, uses_previous_spike=True)


PSC_DELTA = NeuronModel(
    name="psc_delta",
    make_params=psc_delta_params,
    init_state=alif_init_state,
    step=psc_delta_step,
    eligibility=psc_delta_eligibility,
    adjoint=psc_delta_adjoint,
)
