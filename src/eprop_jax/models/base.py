r"""The neuron-model protocol: what a model module provides, and the pieces all models share.

A neuron model is one module that defines its parameters, state and one pure step, and the two
derivatives e-prop needs: the forward eligibility rule (online engine) and the reverse-time
adjoint of that rule (factored engine). It exports them as one :class:`NeuronModel` record,
registered by name in :data:`eprop_jax.models.MODELS`; ``network(..., model=name)`` selects it.

========================= =====================================================================
``make_params(n, **kw)``  validated per-neuron parameters (a NamedTuple of arrays)
``init_state(p, b, dt)``  all-zero state of shape ``b + (n,)``; it has fields ``z`` (this
                          step's spikes, fed to the next reset and recurrence) and
                          ``refractory`` (int32 steps left)
``step(p, s, I, ...)``    ``(state, output)``; ``output`` has ``z, v, threshold, psi``
``eligibility(p, kappa)`` a :class:`LearningRule` whose state carries the eligibility vector
``adjoint(p, surrogate)`` an :class:`Adjoint`, the same rule run backwards in time
========================= =====================================================================

What the rest of the package reads from a model's parameters: a per-neuron ``alpha`` (its
length is the population size, ``Network.n_rec``) and ``beta`` (the adaptive rows, for the
compact eligibility storage, the factored engine's choice to skip the adaptation adjoint and the
``n_alif`` a run records; all zeros for a model without adaptation); and ``make_params`` accepts
the keyword arguments ``network()`` passes (the (A)LIF ones; a model may ignore those it does not
use). A model whose parameters lack these fields needs those places extended first.

The contract the conformance suite (``tests/test_models_conformance.py``) checks for every
registered model, in float64 to 1e-10: the eligibility vector is ``jax.jvp`` of the hidden state
with :math:`z_{t-1}` stopped in the recurrence and in the reset; online e-prop equals
stop-gradient autodiff; the factored engine equals the online one; and BPTT's gradient is
:math:`\sum_t (\partial E/\partial z_t)_{total}\, e_t` (Bellec et al. 2020, Eq. 1).

Example:
    >>> decay(20.0, 1.0).round(6)
    np.float64(0.951229)
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any, NamedTuple

import jax
import jax.numpy as jnp
import numpy as np

from .._checks import is_concrete


def decay(tau, dt) -> np.ndarray:
    """Return the per-step decay factor ``exp(-dt / tau)`` (float64 NumPy)."""
    return np.exp(-np.asarray(dt, np.float64) / np.asarray(tau, np.float64))


def cast_params(params: NamedTuple, dtype) -> NamedTuple:
    """Cast the float fields of a parameter record to ``dtype``; integer fields become int32.

    Concrete parameters stay concrete inside ``jit`` (the cast runs at trace time), so the rules
    can still look at their values (e.g. the compact eligibility storage of ``alif.py``).
    """
    fields = []
    with jax.ensure_compile_time_eval():
        for p in params:
            is_int = jnp.issubdtype(jnp.result_type(p), jnp.integer)
            fields.append(jnp.asarray(p, jnp.int32 if is_int else dtype))
    return type(params)(*fields)


class EpropStep(NamedTuple):
    """What the eligibility update needs from one network step."""

    pre: jax.Array  # shape=(B, P), presynaptic activity [x_t, z_{t-1}], P = n_in + n_rec
    psi: jax.Array  # shape=(B, n), pseudo-derivative psi_t of the postsynaptic neurons
    output: Any = None  # the model's step output (gates a model's rule may need), or None


class EpropState(NamedTuple):
    """Eligibility state of all synapses onto the recurrent neurons (W_in and W_rec side by side).

    Storage follows the structure of the population: when every neuron has the same membrane
    decay and nothing gates it per neuron, eps^v depends on the presynaptic side only and is kept
    as ``(B, P)``; eps^a is kept for the adaptive rows only (``n_alif`` = number with beta != 0).
    """

    elig_v: jax.Array  # shape=(B, P) with a shared alpha, else (B, n, P); eps^v
    elig_a: jax.Array  # shape=(B, n_alif, P), eps^a of the adaptive rows
    elig_trace: jax.Array  # shape=(B, n, P), kappa-filtered trace e-bar
    psi_prev: jax.Array  # shape=(B, n_alif), psi_{t-1} of the adaptive rows
    # sum over t of e per trial, shape (B, n, P), for the rate regularisation (else (n, P) zeros);
    # summed over the batch once at the end: a per-step batch reduction of the (B, n, P) trace
    # inside the scan cost 4x the whole step at n_rec = 512 on CPU
    e_sum: jax.Array


class LearningRule(NamedTuple):
    """A per-step learning rule: ``init(n_batch, n_pre, dtype) -> state`` and
    ``update(state, step, learning_signal) -> (grad_t, state)``."""

    init: Callable[..., Any]
    update: Callable[..., tuple[jax.Array, Any]]


class Adjoint(NamedTuple):
    """The eligibility rule run backwards in time (the factored engine's per-neuron part).

    ``update(carry, (u_t, z_prev_t, c_t)) -> (carry, wbar_t)`` is called for ``t = T..1`` with
    the distance to threshold :math:`u_t` (:math:`-\\infty` while refractory), the previous
    spikes :math:`z_{t-1}` (``None`` unless ``uses_previous_spike``) and the coefficient
    :math:`c_t` of :math:`e_t`; it returns the coefficient :math:`\\bar\\omega_t` of the
    presynaptic activity, so that :math:`\\sum_t c_t e_t = \\sum_t \\bar\\omega_t p_t`.
    """

    init: Callable[..., Any]  # (n_batch, n, dtype) -> carry
    update: Callable[..., tuple[Any, jax.Array]]
    uses_previous_spike: bool = False


class NeuronModel(NamedTuple):
    """A neuron model (module docstring). Hashable: a Network keeps it as static data."""

    name: str
    make_params: Callable[..., NamedTuple]
    init_state: Callable[..., NamedTuple]
    step: Callable[..., tuple[NamedTuple, NamedTuple]]
    eligibility: Callable[..., LearningRule]
    adjoint: Callable[..., Adjoint]


def alif_rows(beta) -> np.ndarray:
    """Indices of the adaptive rows (beta != 0); every row when ``beta`` is traced."""
    if not is_concrete(beta):
        return np.arange(np.shape(beta)[0])
    return np.flatnonzero(np.asarray(beta))


def row_index(rows: np.ndarray):
    """A slice for a contiguous run of rows (cheap to gather and update), else the index array."""
    if len(rows) and np.array_equal(rows, np.arange(rows[0], rows[0] + len(rows))):
        return slice(int(rows[0]), int(rows[0]) + len(rows))
    return rows


def filter_and_contract(kappa, state_trace, e, learning_signal):
    r"""``(grad_t, ebar_t)``: :math:`\bar e_t = \kappa \bar e_{t-1} + (1-\kappa) e_t` and
    :math:`\sum_b L_{t,b,j} \bar e_{t,b,ji}`, skipping the contraction where :math:`L_t = 0`."""
    elig_trace = kappa * state_trace + (1 - kappa) * e
    # Outside the learning window L_t is exactly zero: skip the (B, n, P) contraction there.
    grad = jax.lax.cond(
        jnp.any(learning_signal != 0),
        lambda: jnp.einsum("bj,bji->ji", learning_signal, elig_trace),
        lambda: jnp.zeros(elig_trace.shape[1:], elig_trace.dtype),
    )
    return grad, elig_trace
