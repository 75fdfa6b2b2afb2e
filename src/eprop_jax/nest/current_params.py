r"""NEST 3.10's parameter dictionaries of its current e-prop models -> :class:`CurrentConfig`.

:func:`current_config_from_nest` takes what a NEST user passes to ``nest.Create`` (the
recurrent model and ``eprop_readout``) and to ``nest.SetDefaults("eprop_synapse",
{"optimizer": ...})``, in NEST's names and units, fills in NEST 3.10's defaults, converts to
steps of ``resolution`` (voltages relative to :math:`E_L`, as NEST stores them; :math:`\alpha =
e^{-dt/\tau_m}` with ``math.exp``, as NEST's ``std::exp``; ``f_target`` from Hz to spikes per
step) and refuses by name what :func:`~eprop_jax.nest.current.simulate_current` does not model.
The message format and the helpers are those of :mod:`eprop_jax.nest.params` (the
``bsshslm_2020`` importer): ``"`api`: where: ..."``.
"""

from __future__ import annotations

import math
import sys
from collections.abc import Mapping
from typing import Any, NamedTuple

from .params import _OPTIMIZER_DEFAULTS as _BSSHSLM_OPTIMIZER_DEFAULTS
from .params import NEST_SURROGATES, _check_keys, _err, _flag, _number

CURRENT_MODELS = (
    "eprop_iaf",
    "eprop_iaf_adapt",
    "eprop_iaf_psc_delta",
    "eprop_iaf_psc_delta_adapt",
)
SURROGATES = tuple(NEST_SURROGATES)


class CurrentNeuronConfig(NamedTuple):
    """A recurrent population of one of :data:`CURRENT_MODELS` (NEST's units: ms, mV, Hz)."""

    model: str
    alpha: float  # exp(-dt / tau_m), std::exp
    v_th: float  # relative to E_L, as NEST stores it
    v_reset: float  # psc_delta variants only, relative to E_L
    refractory_steps: int
    adapt_beta: float  # 0 for the non-adaptive models
    rho: float  # exp(-dt / adapt_tau)
    adaptation: float  # initial a
    v_m: float  # initial v, relative to E_L
    kappa: float
    kappa_reg: float
    c_reg: float
    f_target: float  # spikes per step (NEST: f_target / 1000 * dt)
    surrogate: str
    height: float
    width: float
    cutoff: int  # eprop_isi_trace_cutoff in steps (2**30 for NEST's default, inf)
    flush_interval: int  # flush_event_send_interval in steps (2**30 for inf)
    dt: float = 1.0  # resolution in ms (the online rate divides by it)


class CurrentReadoutConfig(NamedTuple):
    """``eprop_readout`` (mean squared error)."""

    kappa: float  # exp(-dt / tau_m)
    v_m: float  # initial v, relative to E_L
    e_l: float  # the readout signal is v + E_L
    cutoff: int


class CurrentOptimizerConfig(NamedTuple):
    """``eprop_synapse``'s ``optimizer`` dictionary."""

    kind: str  # "gradient_descent" | "adam"
    batch_size: int
    eta: float
    beta_1: float
    beta_2: float
    epsilon: float
    w_min: float
    w_max: float
    optimize_each_step: bool


class CurrentConfig(NamedTuple):
    """Everything :func:`~eprop_jax.nest.current.simulate_current` needs besides weights and
    inputs."""

    neuron: CurrentNeuronConfig
    readout: CurrentReadoutConfig
    optimizer: CurrentOptimizerConfig


# NEST 3.10.0's defaults (nest.GetDefaults; f_target in Hz as nest.Create takes it)
_NEURON_DEFAULTS = {
    "C_m": 250.0,
    "E_L": -70.0,
    "I_e": 0.0,
    "V_m": -70.0,
    "V_th": -55.0,
    "V_min": -math.inf,
    "tau_m": 10.0,
    "t_ref": 2.0,
    "c_reg": 0.0,
    "f_target": 10.0,
    "kappa": 0.97,
    "kappa_reg": 0.97,
    "eprop_isi_trace_cutoff": math.inf,  # NEST 3.10's default: no cutoff
    "surrogate_gradient_function": "piecewise_linear",
    "surrogate_gradient_height": 0.3,
    "surrogate_gradient_width": 1.0,
    "flush_event_send_interval": math.inf,
}
_ADAPT_DEFAULTS = {"adapt_beta": 1.0, "adapt_tau": 10.0, "adaptation": 0.0}
_PSC_DELTA_DEFAULTS = {"V_reset": -70.0, "refractory_input": False}
_READOUT_DEFAULTS = {
    "C_m": 250.0,
    "E_L": 0.0,
    "I_e": 0.0,
    "V_m": 0.0,
    "V_min": -math.inf,
    "tau_m": 10.0,
    "eprop_isi_trace_cutoff": math.inf,
}
# the bsshslm_2020 synapse's optimizer defaults, plus the current synapse's per-step switch
_OPTIMIZER_DEFAULTS = {**_BSSHSLM_OPTIMIZER_DEFAULTS, "optimize_each_step": True}
_STRINGS = {"surrogate_gradient_function", "type"}
_FLAGS = {"refractory_input", "optimize_each_step"}


def _merged(api: str, where: str, defaults: Mapping, given: Mapping) -> dict:
    """``given`` over ``defaults``: unknown names, NEST 3.9 names, ``GetStatus`` output, NaN and
    non-numbers refused by name."""
    _check_keys(api, where, given, set(defaults))
    merged = {**defaults, **given}
    for name in given:
        if name in _FLAGS:
            merged[name] = _flag(api, where, name, given[name])
        elif name not in _STRINGS:
            merged[name] = _number(api, where, name, given[name])
            if math.isnan(merged[name]):
                raise _err(api, f"{where}: {name} must be a number; got nan.")
    return merged


def _steps(api: str, where: str, name: str, ms: float, dt: float, minimum: int = 0) -> int:
    """``ms`` in steps of ``dt`` (2**30 for ``inf``: longer than any run)."""
    steps = round(ms / dt) if math.isfinite(ms) else 2**30
    if steps < minimum:
        raise _err(
            api, f"{where}: {name}={ms!r} ms is {steps} steps; at least {minimum} steps required."
        )
    return int(steps)


def _positive(api: str, where: str, d: Mapping, *names: str) -> None:
    for name in names:
        if not 0 < d[name] < math.inf:
            raise _err(api, f"{where}: {name} must be finite and > 0; got {d[name]!r}.")


def current_config_from_nest(
    model: str,
    params_rec: Mapping[str, Any],
    params_out: Mapping[str, Any],
    optimizer: Mapping[str, Any],
    *,
    resolution: float = 1.0,
    delay: float | None = None,
) -> CurrentConfig:
    """NEST 3.10's dictionaries (names and units, NEST's defaults) -> :class:`CurrentConfig`.

    Args:
        model: one of :data:`CURRENT_MODELS`.
        params_rec: the recurrent neurons' parameters (``nest.Create(model, n, params_rec)``).
        params_out: the ``eprop_readout`` parameters.
        optimizer: ``eprop_synapse``'s ``optimizer`` dictionary (``type`` or, as
            ``GetDefaults`` shows it, ``optimizer``).
        resolution: NEST's ``resolution`` in ms.
        delay: the e-prop synapses' delay in ms (default: one step); NEST allows only one step.

    Returns:
        The :class:`CurrentConfig`; a setting this mode does not model, or that NEST refuses,
        raises ``ValueError`` naming it.
    """
    api = "current_config_from_nest"
    if model not in CURRENT_MODELS:
        raise _err(api, f"model={model!r} is not one of {', '.join(CURRENT_MODELS)}.")
    dt = _number(api, "kernel", "resolution", resolution)
    if not 0 < dt < math.inf:
        raise _err(api, f"kernel: resolution={resolution!r} must be finite and > 0 ms.")
    if delay is not None and round(_number(api, "eprop_synapse", "delay", delay) / dt) != 1:
        raise _err(
            api,
            f"eprop_synapse: delay={delay!r} ms is not modelled; eprop_synapse requires one "
            f"step ({dt} ms).",
        )
    defaults = dict(_NEURON_DEFAULTS)
    adaptive = model.endswith("_adapt")
    psc_delta = "psc_delta" in model
    if adaptive:
        defaults.update(_ADAPT_DEFAULTS)
    if psc_delta:
        defaults.update(_PSC_DELTA_DEFAULTS)
    p = _merged(api, model, defaults, params_rec)
    q = _merged(api, "eprop_readout", _READOUT_DEFAULTS, params_out)
    opt_given = dict(optimizer) if isinstance(optimizer, Mapping) else optimizer
    if isinstance(opt_given, dict) and "optimizer" in opt_given:  # GetDefaults' name of type
        kind = opt_given.pop("optimizer")
        if opt_given.setdefault("type", kind) != kind:
            raise _err(
                api, f"optimizer: type={opt_given['type']!r} and optimizer={kind!r} disagree."
            )
    o = _merged(api, "optimizer", _OPTIMIZER_DEFAULTS, opt_given)
    for where, d in ((model, p), ("eprop_readout", q)):
        if d["I_e"] != 0.0:
            raise _err(api, f"{where}: I_e={d['I_e']!r} is not modelled; accepted: 0.")
        if d["V_min"] > -sys.float_info.max:  # NEST's default: -DBL_MAX
            raise _err(api, f"{where}: V_min={d['V_min']!r} is not modelled; accepted: -inf.")
        _positive(api, where, d, "tau_m", "C_m")
    if p.get("refractory_input", False):
        raise _err(api, f"{model}: refractory_input=True is not modelled; accepted: False.")
    function = p["surrogate_gradient_function"]
    if function not in SURROGATES:
        raise _err(
            api,
            f"{model}: surrogate_gradient_function={function!r}; accepted: "
            + ", ".join(SURROGATES)
            + ".",
        )
    _positive(api, model, p, "surrogate_gradient_height", "surrogate_gradient_width")
    for name in ("kappa", "kappa_reg"):
        if not 0.0 <= p[name] <= 1.0:
            raise _err(api, f"{model}: {name} must be in [0, 1]; got {p[name]!r}.")
    if not 0.0 <= p["c_reg"] < math.inf:
        raise _err(api, f"{model}: c_reg must be finite and >= 0; got {p['c_reg']!r}.")
    if not 0.0 <= p["t_ref"] < math.inf:
        raise _err(api, f"{model}: t_ref must be finite and >= 0 ms; got {p['t_ref']!r}.")
    if psc_delta and not p["V_reset"] < p["V_th"]:
        raise _err(
            api, f"{model}: V_reset={p['V_reset']!r} must be < V_th={p['V_th']!r} (as in NEST)."
        )
    if adaptive:
        _positive(api, model, p, "adapt_tau")
    kind = o["type"]
    if kind not in ("gradient_descent", "adam"):
        raise _err(api, f"optimizer: type={kind!r}; accepted: gradient_descent, adam.")
    batch = o["batch_size"]
    if batch != int(batch) or batch < 1:
        raise _err(api, f"optimizer: batch_size must be an integer >= 1; got {batch!r}.")
    batch = int(batch)
    if not o["optimize_each_step"] and (kind != "gradient_descent" or batch != 1):
        raise _err(
            api,
            f"optimizer: optimize_each_step=False with type={kind!r}, batch_size={batch} is not "
            "modelled; accepted: gradient_descent with batch_size 1 (or optimize_each_step=True).",
        )
    if not 0 <= o["eta"] < math.inf:
        raise _err(api, f"optimizer: eta must be finite and >= 0; got {o['eta']!r}.")
    if not o["Wmin"] <= o["Wmax"]:
        raise _err(api, f"optimizer: Wmin={o['Wmin']!r} must be <= Wmax={o['Wmax']!r}.")
    for name in ("beta_1", "beta_2"):
        if not 0.0 <= o[name] < 1.0:
            raise _err(api, f"optimizer: {name} must be in [0, 1); got {o[name]!r}.")
    neuron = CurrentNeuronConfig(
        model=model,
        alpha=math.exp(-dt / p["tau_m"]),
        v_th=p["V_th"] - p["E_L"],
        v_reset=p.get("V_reset", 0.0) - p["E_L"],
        refractory_steps=_steps(api, model, "t_ref", p["t_ref"], dt),
        adapt_beta=p["adapt_beta"] if adaptive else 0.0,
        rho=math.exp(-dt / p["adapt_tau"]) if adaptive else 0.0,
        adaptation=p["adaptation"] if adaptive else 0.0,
        v_m=p["V_m"] - p["E_L"],
        kappa=p["kappa"],
        kappa_reg=p["kappa_reg"],
        c_reg=p["c_reg"],
        f_target=p["f_target"] / 1000.0 * dt,  # NEST stores spikes/ms
        surrogate=function,
        height=p["surrogate_gradient_height"],
        width=p["surrogate_gradient_width"],
        cutoff=_steps(api, model, "eprop_isi_trace_cutoff", p["eprop_isi_trace_cutoff"], dt, 2),
        flush_interval=_steps(
            api, model, "flush_event_send_interval", p["flush_event_send_interval"], dt, 1
        ),
        dt=dt,
    )
    readout = CurrentReadoutConfig(
        kappa=math.exp(-dt / q["tau_m"]),
        v_m=q["V_m"] - q["E_L"],
        e_l=q["E_L"],
        cutoff=_steps(
            api, "eprop_readout", "eprop_isi_trace_cutoff", q["eprop_isi_trace_cutoff"], dt, 2
        ),
    )
    opt = CurrentOptimizerConfig(
        kind=kind,
        batch_size=batch,
        eta=o["eta"],
        beta_1=o["beta_1"],
        beta_2=o["beta_2"],
        epsilon=o["epsilon"],
        w_min=o["Wmin"],
        w_max=o["Wmax"],
        optimize_each_step=o["optimize_each_step"],
    )
    return CurrentConfig(neuron, readout, opt)
