r"""NEST 3.10's current e-prop models, step for step: ``eprop_iaf[_psc_delta][_adapt]``,
``eprop_readout`` and ``eprop_synapse`` (continuous learning, Korcsak-Gorzo et al. 2025).

NEST computes these models event by event: each synapse integrates its traces and calls its
optimiser only when its presynaptic neuron spikes, over the target's history since the previous
spike. This module runs the same arithmetic densely, one ``lax.scan`` step per NEST time step
:math:`t`, with the gradient bookkeeping of history entry :math:`t - 2` done in step :math:`t`
(exactly what a synapse transmitting a spike at step :math:`t` has done in NEST), so every
floating-point operation, and its order, is NEST's. The parameter import (NEST's dictionaries
-> :class:`CurrentConfig`) is :mod:`eprop_jax.nest.current_params`.

**Why a simulator of its own, not models behind** :mod:`eprop_jax.models.base`: that seam's
models give one pure neuron step and an eligibility rule that the engines combine into
gradients over a whole sequence, applied afterwards. NEST's current models learn inside the
run: each synapse keeps its own lazily updated traces, optimiser state and visible weight, the
optimiser runs between time steps, a spike is sent with the weight of two steps before, and the
rounding of every product and the order of every sum follow NEST's event delivery. That needs a
step that owns all per-synapse state and NEST's event order, which the seam's step does not
have. The neuron equations are the same as those of ``models/`` (``alif``, ``psc_delta``) in
structure, but NEST's exact operation order (no :math:`1 - \alpha` factor, rounding before
every sum) is spelled out here rather than shared.

**Recurrent neurons** (voltages relative to :math:`E_L`, as NEST stores them; :math:`\alpha = e^{-dt/\tau_m}`,
:math:`\rho = e^{-dt/\tau_a}`, refractory counter :math:`r`, :math:`R = t_{ref}/dt`):

- ``eprop_iaf[_adapt]``: :math:`r \leftarrow \max(r - 1, 0)`,
  :math:`v_t = S_t + \alpha v_{t-1}` (spikes add the weight, no :math:`1-\alpha`),
  adaptive: :math:`a_t = \rho a_{t-1} + z_{t-1}`, :math:`A_t = v_{th} + \beta a_t` (else
  :math:`A_t = v_{th}`); :math:`\psi_t = h f((v_t - A_t)/w)` (0 while :math:`r > 0`); spike
  :math:`z_t = [v_t \ge A_t][r = 0]`, then :math:`v_t \mathrel{-}= v_{th} z_t`, :math:`r = R`.
- ``eprop_iaf_psc_delta[_adapt]`` (``iaf_psc_delta``): if :math:`r = 0`: :math:`v_t = \alpha
  v_{t-1} + S_t` (adaptive: :math:`a_t = \rho a_{t-1} + z_{t-1}`, :math:`A_t = v_{th} + \beta
  a_t`), else :math:`r \leftarrow r - 1` (input during refractoriness is lost, and so is the
  adaptation increment of a spike followed by a refractory step); :math:`\psi_t` as above with
  the new :math:`r`; spike :math:`z_t = [v_t \ge A_t]`, then :math:`v_t = V_{reset}`, :math:`r = R`.
- online rate regularisation: :math:`\bar f_t = \kappa_{reg} \bar f_{t-1} + (1 - \kappa_{reg})
  z_t / dt`, :math:`\mathrm{reg}_t = c_{reg} (\bar f_t - f^* dt)` (:math:`f^*` in spikes/ms;
  the division is rounded after the product, :math:`((1 - \kappa_{reg}) z_t) / dt`: tested
  against NEST at ``resolution`` 0.5 ms, where either order is exact).

:math:`S_t` holds the spikes emitted at step :math:`t - 1` (all delays are one step):
:math:`S_t = W^{in} x_{t-1} + W^{rec} z_{t-1}`.

**Readout** ``eprop_readout``: :math:`y_t = \kappa_{out} y_{t-1} + W^{out} z_{t-1}` (plus
:math:`E_L` in the readout signal), error
:math:`\mathrm{err}_t = (y_t - y^*_t) \omega_t` with the target :math:`y^*_t` and the learning
window :math:`\omega_t \in \{0, 1\}` that the readout holds at step :math:`t`. Learning signal of
recurrent entry :math:`t`: :math:`L_{j,t} = \sum_o B_{jo} \mathrm{err}_{o,t+1}` (the readout sees
step :math:`t`'s spikes one step later).

**Synapse** ``eprop_synapse`` :math:`i \to j`, for each history entry :math:`t` inside the ISI
cutoff window of the presynaptic neuron's latest spike :math:`e \le t` (:math:`0 \le t - e <
c`, :math:`c` = the target's ``eprop_isi_trace_cutoff``; entries before the first spike and past
the cutoff are skipped):

.. math::

    \bar z_t &= \alpha_j \bar z_{t-1} + s_{t-1}, \qquad
    e_t = \psi_{j,t} (\bar z_t - \beta_j \epsilon_{t-1}), \qquad
    \epsilon_t = \rho_j \epsilon_{t-1} + e_t \\
    \bar e_t &= \kappa \bar e_{t-1} + e_t, \qquad
    \bar e^{reg}_t = \kappa_{reg} \bar e^{reg}_{t-1} + (1 - \kappa_{reg}) e_t, \qquad
    g_t = L_{j,t} \bar e_t + \mathrm{reg}_{j,t} \bar e^{reg}_t

(non-adaptive: :math:`\beta = 0`, no :math:`\epsilon`; readout synapses :math:`j \to o`:
:math:`\bar z_t = \kappa_{out} \bar z_{t-1} + z_{j,t-1}`, :math:`g_t = \mathrm{err}_{o,t} \bar
z_t`). After a gap of :math:`n` skipped entries the traces are decayed at once,
:math:`\bar z \mathrel{*}= \alpha^n`, :math:`\bar e \mathrel{*}= \kappa^n`, :math:`\bar e^{reg}
\mathrel{*}= \kappa_{reg}^n`, :math:`\epsilon \mathrel{*}= \rho^n` (``std::pow``: tabulated here
with :func:`math.pow`, bit for bit).

**Optimiser** (NEST's ``WeightOptimizer``, one per synapse): ``optimize_each_step=True`` calls it
for every integrated entry :math:`t` with index :math:`t + 1` and gradient :math:`g_t`;
``False`` calls it once per presynaptic spike with the sum of the :math:`g_t` since the previous
spike. NEST's index of that call is ``t_compute_until`` :math:`= \min(t_{prev} + c,
t_{spike})`; this module passes the spike's step :math:`t_s` instead. The two agree in what
matters: the only per-spike optimiser modelled is gradient descent with ``batch_size`` 1,
where a call steps whenever its index exceeds the previous call's, and both indices grow
strictly from spike to spike (:math:`t_{prev} + c > t_{prev}` as :math:`c \ge 2`); a first spike
at step 0 (index 0, no step) is the one case not covered by the tests against NEST's per-spike
runs (``tests/test_nest_current_refs.py``). A call adds the gradient to the synapse's sum
:math:`G`; if its step counter :math:`k` is below :math:`K = 1 + \mathrm{index} \div B`, then
:math:`G \leftarrow G / B` and gradient descent :math:`W \mathrel{-}= \eta G` or Adam, stepped from
:math:`k` to :math:`K - 1` (the first step gets :math:`G`, catch-up steps after a gap get 0; the
bias-correction counter runs from the start of the simulation), then the clip to
:math:`[W_{min}, W_{max}]` and :math:`k \leftarrow K`. Adam's step:
:math:`\alpha_k = \eta \sqrt{1 - \beta_2^k} / (1 - \beta_1^k)`,
:math:`m \leftarrow \beta_1 m + (1-\beta_1) G`, :math:`v \leftarrow \beta_2 v + (1-\beta_2) G^2`,
:math:`W \mathrel{-}= \alpha_k m / (\sqrt{v} + \epsilon)`.

**Lazy weights.** A spike emitted at step :math:`t - 1` is transmitted with the weight after
the entries up to :math:`t - 2` (per-step optimisation) or after the per-spike call; NEST's
``GetConnections`` shows each synapse's weight as of its latest event (``weights_seen`` here).
Flush events (a recurrent neuron silent for ``flush_event_send_interval`` since its latest spike
or flush) split a synapse's work into more calls without changing its arithmetic; they only
update what ``GetConnections`` shows (per-step optimisation), which is modelled.

**Floating point.** The step performs NEST's operations in NEST's order: each product is
rounded before it is added (:func:`_rounded`; XLA's CPU backend would fuse it into an FMA), the
surrogate and the batch mean divide (XLA turns a division by a constant into a multiplication by
its reciprocal), and the spikes arriving at a neuron are added one by one in NEST's delivery
order (static input first, then the e-prop synapses by presynaptic id: inputs, then recurrent
neurons). The result equals NEST 3.10.0 bit for bit (losses, weights, ``V_m``, surrogate
gradients) for the piecewise-linear and arctan surrogates; the exponential and fast-sigmoid
ones use XLA's ``exp`` and ``1/x^2`` where NEST calls glibc's ``exp`` and ``pow`` and can differ
in the last bit.

Deliberate limits (refused when set): one-step delays only (NEST's ``eprop_synapse`` allows
no other), no current input (``I_e``, ``CurrentEvent``), no finite ``V_min``,
``refractory_input = False``, a cutoff of at least 2 steps, one learning rate for the whole run
(``eta`` changed between phases is not modelled), per-spike optimisation only with gradient
descent and ``batch_size`` 1.
"""

from __future__ import annotations

import math
import time
from collections.abc import Mapping
from typing import Any, NamedTuple

import jax
import jax.numpy as jnp
import numpy as np

from .._checks import check_shape
from ..experiment import check_x64
from .current_params import (
    CURRENT_MODELS,
    SURROGATES,
    CurrentConfig,
    CurrentNeuronConfig,
    CurrentOptimizerConfig,
    CurrentReadoutConfig,
    current_config_from_nest,
)

__all__ = [
    "CURRENT_MODELS",
    "SURROGATES",
    "CurrentConfig",
    "CurrentNeuronConfig",
    "CurrentOptimizerConfig",
    "CurrentReadoutConfig",
    "CurrentRun",
    "current_config_from_nest",
    "simulate_current",
    "surrogate_gradient",
]


def surrogate_gradient(neuron: CurrentNeuronConfig, v, threshold, refractory, zero=None):
    r"""NEST 3.10's pseudo-derivative :math:`\psi` (0 while refractory), ``u = v - threshold``.

    piecewise_linear :math:`h \max(0, 1 - |u|/w)`; exponential :math:`h e^{-|u|/w}`;
    fast_sigmoid_derivative :math:`h (1 + |u|/w)^{-2}`; arctan_derivative
    :math:`h / (1 + (u/w)^2)`. ``zero``: int64 zeros shaped like ``v`` that the compiler
    cannot see through (see :func:`_rounded`), so that :math:`|u|/w` is a true division (XLA turns a division by a
    constant into a multiplication by its reciprocal, which rounds differently) and no product
    is fused into an FMA.
    """
    h, w = neuron.height, neuron.width
    if zero is None:

        def rn(p):
            return p

    else:

        def rn(p):
            return _rounded(p, zero)

        # an opaque array, not a broadcast scalar: XLA would divide by multiplying with 1/w
        w = rn(jnp.full(jnp.shape(v), w, jnp.result_type(v)))
    u = v - threshold
    if neuron.surrogate == "piecewise_linear":
        psi = h * jnp.maximum(0.0, 1.0 - rn(jnp.abs(u) / w))
    elif neuron.surrogate == "exponential":
        psi = h * jnp.exp(-jnp.abs(u) / w)
    elif neuron.surrogate == "fast_sigmoid_derivative":
        x = 1.0 + rn(jnp.abs(u) / w)
        psi = h * (1.0 / rn(x * x))  # NEST: std::pow(x, -2.0)
    else:
        x = u / w
        psi = h / (1.0 + rn(x * x))
    return jnp.where(refractory > 0, 0.0, psi)


def _ordered_sum(w, spikes, start):
    r"""``start + w[:, 0] s_0 + w[:, 1] s_1 + ...``, added in this order (NEST's ring buffer).

    With spikes in {0, 1} the result is the float64 sum NEST forms when it delivers the spikes
    one by one (a matrix product would add them in another order).
    """
    n_pre = w.shape[1]
    # adding a non-spiking column adds +-0 and changes nothing: visit the spiking ones only
    (order,) = jnp.nonzero(spikes > 0, size=n_pre, fill_value=0)
    count = jnp.sum(spikes > 0)

    def body(carry):
        i, acc = carry
        return i + 1, acc + w[:, order[i]]

    return jax.lax.while_loop(lambda c: c[0] < count, body, (jnp.zeros((), count.dtype), start))[1]


def _rounded(p, zero):
    """``p``, rounded to float64 on its own: no fused multiply-add with what follows.

    XLA's CPU backend always allows LLVM to fuse ``a * b + c`` into one FMA (rounded once);
    NEST's C++ rounds the product first. Passing the product through the integer domain with a
    zero the compiler cannot see keeps the two roundings, so the sums are NEST's bit for bit.
    """
    bits = jax.lax.bitcast_convert_type(p, jnp.int64) | zero
    return jax.lax.bitcast_convert_type(bits, p.dtype)


class _Synapses(NamedTuple):
    """One projection's per-synapse state, shape (n_post, n_pre) each."""

    w: jax.Array
    w_seen: jax.Array  # weight as of the latest transmitted spike (GetConnections)
    z_bar: jax.Array
    e_bar: jax.Array
    e_bar_reg: jax.Array
    epsilon: jax.Array
    grad_sum: jax.Array  # the optimiser's sum (G)
    spike_grad: jax.Array  # per-spike mode: sum since the previous spike
    opt_step: jax.Array  # int, the optimiser's step counter k
    m: jax.Array
    v: jax.Array
    n_adam: jax.Array  # int, Adam steps taken (NEST's running beta powers)


def _synapses(w, dtype) -> _Synapses:
    w = jnp.asarray(w, dtype)
    z = jnp.zeros_like(w)
    return _Synapses(
        w, w, z, z, z, z, z, z, jnp.ones(w.shape, jnp.int32), z, z, jnp.zeros(w.shape, jnp.int32)
    )


def _optimize(
    opt: CurrentOptimizerConfig, tables, syn: _Synapses, call, index, grad, rn=lambda p: p
):
    """NEST's ``optimized_weight`` for the synapses where ``call``; ``index`` scalar int."""
    b1_powers, b2_powers = tables
    grad_sum = jnp.where(call, syn.grad_sum + grad, syn.grad_sum)
    target = 1 + index // opt.batch_size
    due = call & (syn.opt_step < target)
    if opt.batch_size > 1:
        # a divisor XLA cannot see as a constant (it would multiply by 1/B, rounding otherwise)
        divisor = jnp.where(syn.opt_step < 0, 1.0, float(opt.batch_size))
        g = jnp.where(due, grad_sum / divisor, grad_sum)
    else:
        g = grad_sum
    if opt.kind == "gradient_descent":
        w = jnp.where(due, syn.w - rn(opt.eta * g), syn.w)
        m, v, n_adam = syn.m, syn.v, syn.n_adam
    else:
        n_steps = jnp.where(due, target - syn.opt_step, 0)

        def body(carry):
            k, w, m, v, g = carry
            on = k < n_steps
            step = syn.n_adam + k + 1  # this Adam step's number (1-based)
            b1p = b1_powers[step]
            b2p = b2_powers[step]
            a = opt.eta * jnp.sqrt(1.0 - b2p) / (1.0 - b1p)
            m_new = rn(opt.beta_1 * m) + rn((1.0 - opt.beta_1) * g)
            v_new = rn(opt.beta_2 * v) + rn(rn((1.0 - opt.beta_2) * g) * g)
            w_new = w - a * m_new / (jnp.sqrt(v_new) + opt.epsilon)
            return (
                k + 1,
                jnp.where(on, w_new, w),
                jnp.where(on, m_new, m),
                jnp.where(on, v_new, v),
                jnp.where(on, 0.0, g),  # catch-up steps after the first get no gradient
            )

        _, w, m, v, _ = jax.lax.while_loop(
            lambda c: c[0] < jnp.max(n_steps),
            body,
            (jnp.zeros((), jnp.int32), syn.w, syn.m, syn.v, g),
        )
        n_adam = syn.n_adam + n_steps
    w = jnp.where(due, jnp.maximum(opt.w_min, jnp.minimum(w, opt.w_max)), syn.w)
    return syn._replace(
        w=w,
        grad_sum=jnp.where(due, 0.0, grad_sum),
        opt_step=jnp.where(due, target, syn.opt_step),
        m=m,
        v=v,
        n_adam=n_adam,
    )


class CurrentRun(NamedTuple):
    """What :func:`simulate_current` returns (time-major arrays over the run's steps)."""

    readout: jax.Array  # (T, n_out), y_t * window_t (NEST's recorded readout_signal)
    target: jax.Array  # (T, n_out), y*_t * window_t (recorded target_signal)
    v_out: jax.Array  # (T, n_out), the readout signal v_t + E_L without the window
    v_rec: jax.Array | None  # (T, n_rec), relative to E_L (NEST's V_m - E_L), after the reset
    surrogate: jax.Array | None  # (T, n_rec) (if record_neurons)
    spikes: jax.Array | None  # (T, n_rec) (if record_neurons)
    weights: dict  # final live weights {"in", "rec", "out"}
    weights_seen: dict  # as of each synapse's latest transmitted spike (NEST's GetConnections)
    seconds: list  # wall seconds of each chunk (the first includes compilation)


def _check_arrays(
    api: str, weights, feedback, x_emit, targets, window, extra_input, connected
) -> tuple[int, int, int, int]:
    """Shapes of :func:`simulate_current`'s arrays, checked before tracing (no reshapes).

    Returns:
        ``(T, n_in, n_rec, n_out)``.
    """
    if np.ndim(x_emit) != 2 or np.shape(x_emit)[0] < 1:
        raise ValueError(f"`{api}`: expected x_emit of shape (T, n_in), got {np.shape(x_emit)}.")
    n_steps, n_in = np.shape(x_emit)
    if not isinstance(weights, Mapping) or set(weights) != {"in", "rec", "out"}:
        got = sorted(weights) if isinstance(weights, Mapping) else type(weights).__name__
        raise ValueError(f"`{api}`: weights must be a dict with keys in, rec, out; got {got}.")
    if np.ndim(weights["in"]) != 2 or np.ndim(weights["out"]) != 2:
        raise ValueError(
            f"`{api}`: expected 2-D weights['in'] (n_rec, n_in) and weights['out'] "
            f"(n_out, n_rec), got {np.shape(weights['in'])} and {np.shape(weights['out'])}."
        )
    n_rec = np.shape(weights["in"])[0]
    n_out = np.shape(weights["out"])[0]
    shapes = {"in": (n_rec, n_in), "rec": (n_rec, n_rec), "out": (n_out, n_rec)}
    for k, shape in shapes.items():
        check_shape(api, f"weights[{k!r}]", weights[k], shape)
    check_shape(api, "feedback", feedback, (n_rec, n_out), " (B is (n_rec, n_out): transpose it?)")
    check_shape(api, "targets", targets, (n_steps, n_out), " (time-major: (T, n_out))")
    check_shape(api, "window", window, (n_steps,))
    if extra_input is not None:
        check_shape(api, "extra_input", extra_input, (n_steps, n_rec))
    if connected is not None:
        unknown = sorted(set(connected) - set(shapes))
        if unknown:
            raise ValueError(f"`{api}`: connected has key {unknown[0]!r}; accepted: in, rec, out.")
        for k, mask in connected.items():
            check_shape(api, f"connected[{k!r}]", mask, shapes[k])
    return n_steps, n_in, n_rec, n_out


def simulate_current(
    config: CurrentConfig,
    weights: Mapping[str, Any],
    feedback,
    x_emit,
    targets,
    window,
    extra_input=None,
    connected: Mapping[str, Any] | None = None,
    *,
    record_neurons: bool = True,
    chunk_steps: int | None = None,
    callback=None,
) -> CurrentRun:
    """Run NEST's current e-prop network for ``T`` steps (module docstring), float64.

    Step :math:`t` is NEST's update step ``t`` (the state at time :math:`(t+1) dt`).

    Args:
        config: the :class:`CurrentConfig`.
        weights: ``{"in": (n_rec, n_in), "rec": (n_rec, n_rec), "out": (n_out, n_rec)}``.
        feedback: :math:`B`, ``(n_rec, n_out)`` (``eprop_learning_signal_connection`` weights).
        x_emit: ``(T, n_in)`` input spikes emitted at step :math:`t` (the parrot neurons'
            spikes; NEST stamps them :math:`t + 1`).
        targets: ``(T, n_out)`` :math:`y^*_t`, the target the readout holds at step :math:`t`.
        window: ``(T,)`` :math:`\\omega_t`, the learning window at step :math:`t`.
        extra_input: optional ``(T, n_rec)`` static input arriving at step :math:`t` (e.g. the
            tutorials' forced final update, weight 1000).
        connected: optional boolean masks like ``weights``: which synapses exist (default: all,
            except autapses, ``allow_autapses=False``). Absent synapses keep their weight (0).
        record_neurons: also return the recurrent neurons' ``v``, ``psi`` and spikes.
        chunk_steps: run the scan in chunks of this many steps (one compiled function; the
            state carries over exactly), e.g. one sequence, for progress reports.
        callback: ``callback(steps_done, seconds, outputs)`` after each chunk, ``outputs`` =
            the chunk's ``(readout, target, v_out)`` (as in :class:`CurrentRun`).

    Returns:
        A :class:`CurrentRun`.
    """
    api = "simulate_current"
    check_x64(api, "float64")  # NEST mode is float64; without x64 JAX would run float32
    neuron, ro, opt = config
    dtype = jnp.float64
    n_steps, n_in, n_rec, n_out = _check_arrays(
        api, weights, feedback, x_emit, targets, window, extra_input, connected
    )
    x_emit = jnp.asarray(x_emit, dtype)
    w_in = jnp.asarray(weights["in"], dtype)
    w_out = jnp.asarray(weights["out"], dtype)
    b = jnp.asarray(feedback, dtype)
    targets = jnp.asarray(targets, dtype)
    window = jnp.asarray(window, dtype)
    has_extra = extra_input is not None
    adaptive = neuron.model.endswith("_adapt")
    psc_delta = "psc_delta" in neuron.model
    each_step = opt.optimize_each_step

    # std::pow(x, n) and the Adam powers, tabulated in float64 exactly as NEST computes them
    n_tab = n_steps + 8
    powers = {
        name: jnp.asarray([math.pow(x, k) for k in range(n_tab)], dtype)
        for name, x in (
            ("alpha", neuron.alpha),
            ("kappa", neuron.kappa),
            ("kappa_reg", neuron.kappa_reg),
            ("rho", neuron.rho),
            ("kappa_out", ro.kappa),
        )
    }
    b1 = np.ones(n_tab)
    b2 = np.ones(n_tab)
    for k in range(1, n_tab):
        b1[k] = b1[k - 1] * opt.beta_1
        b2[k] = b2[k - 1] * opt.beta_2
    tables = (jnp.asarray(b1, dtype), jnp.asarray(b2, dtype))

    masks = {
        "in": np.ones(w_in.shape, bool),
        "rec": ~np.eye(n_rec, dtype=bool),
        "out": np.ones(w_out.shape, bool),
    }
    masks.update({k: np.asarray(v, bool) for k, v in (connected or {}).items()})
    masks = {k: jnp.asarray(v) for k, v in masks.items()}
    syn0 = {
        "in": _synapses(w_in, dtype),
        "rec": _synapses(weights["rec"], dtype),
        "out": _synapses(w_out, dtype),
    }
    zeros_rec = jnp.zeros(n_rec, dtype)
    carry0 = {
        "syn": syn0,
        "v": jnp.full(n_rec, neuron.v_m, dtype),
        "r": jnp.zeros(n_rec, jnp.int32),
        "a": jnp.full(n_rec, neuron.adaptation, dtype),
        "f_av": zeros_rec,
        "z1": zeros_rec,  # spikes emitted at t-1
        "z2": zeros_rec,
        "z3": zeros_rec,
        "psi1": zeros_rec,  # psi_{t-1}
        "psi2": zeros_rec,
        "reg1": zeros_rec,
        "reg2": zeros_rec,
        "err1": jnp.zeros(n_out, dtype),  # err_{t-1}
        "err2": jnp.zeros(n_out, dtype),
        "v_out": jnp.full(n_out, ro.v_m, dtype),
        # steps from each presynaptic neuron's latest spike to the entry processed (-1: none)
        "d_in": jnp.full(n_in, -1, jnp.int32),
        "d_rec": jnp.full(n_rec, -1, jnp.int32),
        "flush1": zeros_rec,  # flush events sent at t-1
        # step of the latest spike or flush event (-1: none yet; silent neurons never flush)
        "last_event": jnp.full(n_rec, -1, jnp.int32),
        "zeros": jnp.zeros(n_rec, jnp.int64),
        # input rows emitted at t-1, t-2, t-3 (the rows of x_emit pass through the carry)
        "x1": jnp.zeros(n_in, dtype),
        "x2": jnp.zeros(n_in, dtype),
        "x3": jnp.zeros(n_in, dtype),
    }
    xs = {
        "t": jnp.arange(n_steps, dtype=jnp.int32),
        "x": x_emit,  # emitted at t
        "target": targets,
        "window": window,
        # a zero the compiler cannot see (see _rounded)
        "zero": jnp.zeros(n_steps, jnp.int64),
    }
    if has_extra:
        xs["extra"] = jnp.asarray(extra_input, dtype)

    def presyn(d, emitted, cutoff):
        """Advance the spike clock to entry t-2; return (d, active, decay steps, first)."""
        d_new = jnp.where(emitted > 0, 0, jnp.where(d >= 0, d + 1, -1))
        active = (d_new >= 0) & (d_new < cutoff)
        # entries skipped since the cutoff, applied when a new spike's window starts
        gap = jnp.where((d_new == 0) & (d >= cutoff), d + 1 - cutoff, 0)
        return d_new, active, gap

    def integrate(syn, active, gap, z_arr, post, call_index, mask, rn):
        """One history entry for every synapse of a projection (module docstring)."""
        kind, psi, learn, reg = post
        act = active[None, :] & mask
        has_gap = (gap > 0)[None, :]
        gap = gap[None, :]
        if kind == "out":
            z_bar = jnp.where(has_gap, syn.z_bar * powers["kappa_out"][gap], syn.z_bar)
            z_bar = rn(ro.kappa * z_bar) + z_arr[None, :]
            grad = rn(learn[:, None] * z_bar)
            new = syn._replace(z_bar=jnp.where(act, z_bar, syn.z_bar))
        else:
            z_bar = jnp.where(has_gap, syn.z_bar * powers["alpha"][gap], syn.z_bar)
            e_bar = jnp.where(has_gap, syn.e_bar * powers["kappa"][gap], syn.e_bar)
            e_bar_reg = jnp.where(has_gap, syn.e_bar_reg * powers["kappa_reg"][gap], syn.e_bar_reg)
            z_bar = rn(neuron.alpha * z_bar) + z_arr[None, :]
            if adaptive:
                eps = jnp.where(has_gap, syn.epsilon * powers["rho"][gap], syn.epsilon)
                e = rn(psi[:, None] * (z_bar - rn(neuron.adapt_beta * eps)))
                eps = rn(neuron.rho * eps) + e
            else:
                eps = syn.epsilon
                e = rn(psi[:, None] * z_bar)
            e_bar = rn(neuron.kappa * e_bar) + e
            e_bar_reg = rn(neuron.kappa_reg * e_bar_reg) + rn((1.0 - neuron.kappa_reg) * e)
            grad = rn(learn[:, None] * e_bar) + rn(reg[:, None] * e_bar_reg)
            new = syn._replace(
                z_bar=jnp.where(act, z_bar, syn.z_bar),
                e_bar=jnp.where(act, e_bar, syn.e_bar),
                e_bar_reg=jnp.where(act, e_bar_reg, syn.e_bar_reg),
                epsilon=jnp.where(act, eps, syn.epsilon),
            )
        act = jnp.broadcast_to(act, syn.w.shape)
        if each_step:
            return _optimize(opt, tables, new, act, call_index, grad, rn)
        return new._replace(spike_grad=jnp.where(act, new.spike_grad + grad, new.spike_grad))

    def deliver(syn, spiked, flushed, index, rn):
        """A spike (or flush event) reaches the synapse: per-spike optimiser call, weight seen."""
        em = jnp.broadcast_to((spiked > 0)[None, :], syn.w.shape)
        if not each_step:
            syn = _optimize(opt, tables, syn, em, index, syn.spike_grad, rn)
            syn = syn._replace(spike_grad=jnp.where(em, 0.0, syn.spike_grad))
        seen = em | jnp.broadcast_to((flushed > 0)[None, :], syn.w.shape)
        return syn._replace(w_seen=jnp.where(seen, syn.w, syn.w_seen))

    def w_pre_in(syn):
        return jnp.concatenate([syn["in"].w, syn["rec"].w], axis=1)

    def step(c, x):
        t = x["t"]
        syn = c["syn"]

        def rn(p):
            return _rounded(p, x["zero"])

        zeros = c["zeros"] | x["zero"]  # int64 zeros per neuron, opaque to the compiler
        dt_opaque = rn(jnp.full((n_rec,), neuron.dt, dtype))  # a divisor XLA cannot see

        # 1. gradient bookkeeping of history entry t-2 (spikes emitted at t-1 are delivered now)
        learn = b @ c["err1"]  # L_{t-2} = B err_{t-1}
        d_in, act_in, gap_in = presyn(c["d_in"], c["x2"], neuron.cutoff)
        d_rec, act_rec, gap_rec = presyn(c["d_rec"], c["z2"], neuron.cutoff)
        _, act_out, gap_out = presyn(c["d_rec"], c["z2"], ro.cutoff)
        post_rec = ("rec", c["psi2"], learn, c["reg2"])
        index = t - 1  # NEST's optimiser index of entry t-2
        syn = {
            "in": integrate(syn["in"], act_in, gap_in, c["x3"], post_rec, index, masks["in"], rn),
            "rec": integrate(
                syn["rec"], act_rec, gap_rec, c["z3"], post_rec, index, masks["rec"], rn
            ),
            "out": integrate(
                syn["out"],
                act_out,
                gap_out,
                c["z3"],
                ("out", None, c["err2"], None),
                index,
                masks["out"],
                rn,
            ),
        }
        syn = {
            "in": deliver(syn["in"], c["x1"], 0.0 * c["x1"], t - 1, rn),
            "rec": deliver(syn["rec"], c["z1"], c["flush1"], t - 1, rn),
            "out": deliver(syn["out"], c["z1"], c["flush1"], t - 1, rn),
        }
        # 2. neuron update of step t
        # NEST adds the arriving spikes one by one: the static input first, then the e-prop
        # synapses by presynaptic id (inputs, then recurrent neurons); the order is NEST's sum
        start = x["extra"] if has_extra else zeros_rec
        s_in = _ordered_sum(w_pre_in(syn), jnp.concatenate([c["x1"], c["z1"]]), start)
        v, r, a = c["v"], c["r"], c["a"]
        if psc_delta:
            free = r == 0
            v = jnp.where(free, rn(neuron.alpha * v) + s_in, v)
            if adaptive:
                a = jnp.where(free, rn(neuron.rho * a) + c["z1"], a)
            r = jnp.where(free, r, r - 1)
        else:
            r = jnp.maximum(r - 1, 0)
            v = s_in + rn(neuron.alpha * v)
            if adaptive:
                a = rn(neuron.rho * a) + c["z1"]
        threshold = neuron.v_th + rn(neuron.adapt_beta * a) if adaptive else neuron.v_th
        psi = surrogate_gradient(neuron, v, threshold, r, zeros)
        if psc_delta:
            z = (v >= threshold).astype(dtype)
            v = jnp.where(z > 0, neuron.v_reset, v)
        else:
            z = ((v >= threshold) & (r == 0)).astype(dtype)
            v = v - rn(neuron.v_th * z)
        r = jnp.where(z > 0, neuron.refractory_steps, r)
        # silent neurons send flush events (no transmission, only the synapses' bookkeeping)
        last = c["last_event"]
        flush = (z == 0) & (last >= 0) & (t - last >= neuron.flush_interval)
        last = jnp.where((z > 0) | flush, t, last)
        # NEST: kappa_reg f + (1 - kappa_reg) z / dt, a true division (see _rounded)
        f_av = rn(neuron.kappa_reg * c["f_av"]) + rn((1.0 - neuron.kappa_reg) * z) / dt_opaque
        reg = neuron.c_reg * (f_av - neuron.f_target)
        # readout of step t
        v_out = _ordered_sum(syn["out"].w, c["z1"], jnp.zeros(n_out, dtype)) + rn(
            ro.kappa * c["v_out"]
        )
        signal = v_out + ro.e_l
        err = (signal - x["target"]) * x["window"]
        new = {
            "syn": syn,
            "v": v,
            "r": r,
            "a": a,
            "f_av": f_av,
            "z1": z,
            "z2": c["z1"],
            "z3": c["z2"],
            "psi1": psi,
            "psi2": c["psi1"],
            "reg1": reg,
            "reg2": c["reg1"],
            "err1": err,
            "err2": c["err1"],
            "v_out": v_out,
            "d_in": d_in,
            "d_rec": d_rec,
            "flush1": flush.astype(dtype),
            "last_event": last,
            "zeros": zeros,
            "x1": x["x"],
            "x2": c["x1"],
            "x3": c["x2"],
        }
        out = (signal * x["window"], x["target"] * x["window"], signal)
        if record_neurons:
            out = (*out, v, psi, z)
        return new, out

    run_chunk = jax.jit(lambda c, xs: jax.lax.scan(step, c, xs))
    chunk = n_steps if chunk_steps is None else max(1, int(chunk_steps))
    carry, parts, seconds = carry0, [], []
    for start in range(0, n_steps, chunk):
        piece = jax.tree.map(lambda a, s=start: a[s : s + chunk], xs)
        tic = time.perf_counter()
        carry, ys = run_chunk(carry, piece)
        ys = jax.block_until_ready(ys)
        seconds.append(time.perf_counter() - tic)
        parts.append(ys)
        if callback is not None:
            callback(min(start + chunk, n_steps), seconds[-1], ys[:3])
    ys = [jnp.concatenate(p, axis=0) for p in zip(*parts, strict=True)]
    if not record_neurons:
        ys = [*ys, None, None, None]
    syn = carry["syn"]
    return CurrentRun(
        *ys,
        {k: s.w for k, s in syn.items()},
        {k: s.w_seen for k, s in syn.items()},
        seconds,
    )
