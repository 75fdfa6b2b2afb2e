"""NEST parameter import: NEST 3.10's dictionaries (names and units) -> Network + NestConfig.

The conventions the imported values take part in are in the package docstring
(:mod:`eprop_jax.nest`). The neuron and readout parameters are built with the core's
:func:`~eprop_jax.network.network` constructor (which validates them with :mod:`eprop_jax._checks`);
this module adds only what is NEST's: the names, the units, NEST's defaults and the settings this
mode cannot reproduce, each rejected by name.
"""

from __future__ import annotations

import math
from collections.abc import Mapping, Sequence
from typing import Any, NamedTuple

import numpy as np

from .._checks import broadcast_per_neuron, check_integer, check_positive
from ..models.base import decay
from ..network import Network, network

#: NEST 3.10 surrogate_gradient_function -> this project's surrogate shape.
NEST_SURROGATES = {
    "piecewise_linear": "piecewise_linear",
    "exponential": "exponential",
    "fast_sigmoid_derivative": "fast_sigmoid",
    "arctan_derivative": "arctan",
}
NEST_LOSSES = {"cross_entropy": "cross_entropy", "mean_squared_error": "mse"}
RECURRENT_MODELS = ("eprop_iaf_bsshslm_2020", "eprop_iaf_adapt_bsshslm_2020")
READOUT_MODEL = "eprop_readout_bsshslm_2020"
SYNAPSE_MODEL = "eprop_synapse_bsshslm_2020"

_NEURON_KEYS = {
    "C_m",
    "E_L",
    "I_e",
    "V_m",
    "V_th",
    "V_min",
    "tau_m",
    "t_ref",
    "c_reg",
    "f_target",
    "regular_spike_arrival",
    "surrogate_gradient_function",
    "surrogate_gradient_height",
    "surrogate_gradient_width",
    "flush_event_send_interval",
}
_ADAPT_KEYS = {"adapt_beta", "adapt_tau", "adaptation"}
_READOUT_KEYS = {"C_m", "E_L", "I_e", "V_m", "V_min", "tau_m", "loss", "regular_spike_arrival"}
_KERNEL_KEYS = {
    "eprop_update_interval",
    "eprop_learning_window",
    "eprop_reset_neurons_on_update",
    "resolution",
    "print_time",
    "total_num_virtual_procs",
    "rng_seed",
    "local_num_threads",
}
_SYNAPSE_KEYS = {
    "synapse_model",
    "optimizer",
    "average_gradient",
    "tau_m_readout",
    "delay",
    "weight",
    "weight_recorder",
    "receptor_type",
}
_OPTIMIZER_KEYS = {
    "type",
    "optimizer",
    "batch_size",
    "eta",
    "beta_1",
    "beta_2",
    "epsilon",
    "Wmin",
    "Wmax",
    "optimize_each_step",
    "m",
    "v",
}
_STATUS_KEYS = {
    "element_type",
    "global_id",
    "model_id",
    "recordables",
    "thread_local_id",
    "node_uses_wfr",
    "synapse_modelid",
    "num_connections",
    "sizeof",
    "has_delay",
    "requires_symmetric",
}
_OLD_NAMES = {
    "gamma": "surrogate_gradient_height (NEST 3.10 uses gamma / V_th for the old gamma)",
    "beta": "surrogate_gradient_width (NEST 3.10 uses V_th / beta for the old beta)",
}

# NEST's defaults for the bsshslm models and the weight optimizer (models/*.cpp, v3.10).
_NEURON_DEFAULTS = {
    "C_m": 250.0, "E_L": -70.0, "I_e": 0.0, "V_th": -55.0, "V_min": -math.inf, "tau_m": 10.0,
    "t_ref": 2.0, "c_reg": 0.0, "f_target": 10.0, "regular_spike_arrival": True,
    "surrogate_gradient_function": "piecewise_linear", "surrogate_gradient_height": 1.0,
    "surrogate_gradient_width": 1.0, "adapt_beta": 1.0, "adapt_tau": 10.0,
}  # fmt: skip
_READOUT_DEFAULTS = {
    "C_m": 250.0, "E_L": 0.0, "I_e": 0.0, "V_min": -math.inf, "tau_m": 10.0,
    "loss": "mean_squared_error", "regular_spike_arrival": True,
}  # fmt: skip
_OPTIMIZER_DEFAULTS = {
    "type": "gradient_descent", "batch_size": 1, "eta": 1e-4, "beta_1": 0.9, "beta_2": 0.999,
    "epsilon": 1e-7, "Wmin": -100.0, "Wmax": 100.0,
}  # fmt: skip
#: NEST's default learning rate: a first ``eta`` equal to it does not count as a change.
DEFAULT_ETA = _OPTIMIZER_DEFAULTS["eta"]


class NestOptimizerConfig(NamedTuple):
    """NEST's ``optimizer`` dictionary of ``eprop_synapse_bsshslm_2020``."""

    kind: str  # "adam" or "gradient_descent"
    batch_size: int  # B: update intervals (sequences) per optimisation step
    eta: float
    eta_first: float | None  # NEST's eta_first_change: the first non-default eta set (the
    # synapses' first eta_current); None: eta was left at NEST's default 1e-4
    beta_1: float
    beta_2: float
    epsilon: float
    w_min: float
    w_max: float


class NestConfig(NamedTuple):
    """Everything of NEST's mode that is not in the :class:`~eprop_jax.network.Network`."""

    update_interval: int  # T, steps per update interval (= one sequence)
    learning_window: int  # LW, the last LW steps of each interval carry the error
    loss: str  # "cross_entropy" or "mse" (this project's names)
    average_gradient: bool  # divide every gradient by LW
    c_reg: float  # NEST's c_reg (no factor 2, see the package docstring)
    f_target: float  # Hz
    zeta: np.ndarray  # shape=(n_rec,), 1 (regular_spike_arrival) or 1 - alpha
    zeta_out: float  # 1 (regular_spike_arrival) or 1 - kappa
    kappa_synapse: float  # exp(-dt / tau_m_readout) of the e-prop synapses (filter of e-bar)
    optimizer: NestOptimizerConfig


def _err(api: str, msg: str) -> ValueError:
    return ValueError(f"`{api}`: {msg}")


def _check_keys(api: str, where: str, params: Mapping, allowed: set) -> None:
    """Reject anything but a dict of NEST parameters with names from ``allowed``."""
    if not isinstance(params, Mapping):
        raise _err(
            api, f"{where}: expected a dict of NEST parameters; got {type(params).__name__}."
        )
    status_keys = sorted(set(params) & _STATUS_KEYS)
    if status_keys:
        raise _err(
            api,
            f"{where}: this looks like nest.GetStatus/GetDefaults output (it has {status_keys[0]!r}),"
            " which reports some values in internal units (f_target in spikes/ms); pass the "
            "parameter dicts given to nest.Create / nest.SetDefaults / nest.Connect instead.",
        )
    for key in params:
        if key in _OLD_NAMES and key not in allowed:
            raise _err(api, f"{where}: {key!r} is a NEST 3.8/3.9 name; use {_OLD_NAMES[key]}.")
        if key not in allowed:
            raise _err(
                api,
                f"{where}: unsupported parameter {key!r}; supported: {', '.join(sorted(allowed))}.",
            )


def _number(api: str, where: str, name: str, value) -> float:
    """A NEST dict value that must be a plain number (not a bool, not a NEST parameter)."""
    if isinstance(value, bool) or not isinstance(value, int | float | np.integer | np.floating):
        raise _err(api, f"{where}: {name} must be a number; got {value!r}.")
    return float(value)


def _per_neuron(api: str, where: str, name: str, value, n: int) -> np.ndarray:
    """A scalar or a length-n sequence (e.g. tau_m values read back from NEST)."""
    if hasattr(value, "__module__") and "nest" in type(value).__module__:
        raise _err(
            api,
            f"{where}: {name} is a NEST random parameter ({type(value).__name__}); NEST draws it "
            "from its own generator, which cannot be reproduced here. Pass the drawn values "
            "(nest.GetStatus(neurons, name)) as a sequence of length n.",
        )
    return broadcast_per_neuron(api, f"{where}: {name}", value, n)


def _flag(api: str, where: str, name: str, value) -> bool:
    if not isinstance(value, bool | np.bool_):
        raise _err(api, f"{where}: {name} must be True or False; got {value!r}.")
    return bool(value)


def _optimizer_config(api: str, optimizer: Mapping) -> NestOptimizerConfig:
    where = "optimizer"
    _check_keys(api, where, optimizer, _OPTIMIZER_KEYS)
    opt = {**_OPTIMIZER_DEFAULTS, **optimizer}
    kind = opt.get("optimizer", opt["type"])
    if kind not in ("adam", "gradient_descent"):
        raise _err(
            api, f"optimizer type {kind!r} is not supported; use 'adam' or 'gradient_descent'."
        )
    for moment in ("m", "v"):
        if moment in opt and float(opt[moment]) != 0.0:
            raise _err(
                api,
                f"optimizer: initial Adam moment {moment}={opt[moment]!r} is not supported; "
                "only 0.0 (the default).",
            )
    batch = check_integer(api, "optimizer: batch_size", opt["batch_size"])
    eta = _number(api, where, "eta", opt["eta"])
    check_positive(api, "optimizer: eta", eta, allow_zero=True)
    b1 = _number(api, where, "beta_1", opt["beta_1"])
    b2 = _number(api, where, "beta_2", opt["beta_2"])
    eps = _number(api, where, "epsilon", opt["epsilon"])
    w_min = _number(api, where, "Wmin", opt["Wmin"])
    w_max = _number(api, where, "Wmax", opt["Wmax"])
    if not (0 <= b1 < 1 and 0 <= b2 < 1):
        raise _err(api, f"optimizer: beta_1, beta_2 must be in [0, 1); got {b1!r}, {b2!r}.")
    if eps < 0 or w_min > w_max:
        raise _err(
            api,
            f"optimizer: need epsilon >= 0 and Wmin <= Wmax; got {eps!r}, [{w_min!r}, {w_max!r}].",
        )
    eta_first = eta if eta != DEFAULT_ETA else None
    return NestOptimizerConfig(kind, batch, eta, eta_first, b1, b2, eps, w_min, w_max)


def _steps(api: str, kernel: Mapping, name: str, default: float, dt: float) -> int:
    """A kernel duration in ms as a whole number of steps of ``dt``."""
    ms = _number(api, "kernel", name, kernel.get(name, default))
    n = round(ms / dt)
    if n < 1 or abs(n * dt - ms) > 1e-9 * max(1.0, ms):
        raise _err(
            api,
            f"kernel: {name}={ms!r} ms must be a positive multiple of the resolution {dt!r} ms.",
        )
    return n


def _population(api: str, index: int, population) -> tuple[dict, dict]:
    """One recurrent population's per-neuron columns and shared settings, in this project's terms."""
    if len(population) != 3:
        raise _err(api, f"populations[{index}] must be (model, n, params); got {population!r}.")
    model, n, params = population
    where = f"populations[{index}] ({model})"
    if model not in RECURRENT_MODELS:
        raise _err(
            api, f"{where}: unsupported model {model!r}; supported: {', '.join(RECURRENT_MODELS)}."
        )
    n = check_integer(api, f"{where}: n", n)
    adaptive = model == "eprop_iaf_adapt_bsshslm_2020"
    _check_keys(api, where, params, _NEURON_KEYS | (_ADAPT_KEYS if adaptive else set()))
    p = {**_NEURON_DEFAULTS, **params}
    if _number(api, where, "I_e", p["I_e"]) != 0.0:
        raise _err(
            api,
            f"{where}: I_e={p['I_e']!r} is not supported (only 0.0: no current input in this mode).",
        )
    if _number(api, where, "V_min", p["V_min"]) != -math.inf:
        raise _err(api, f"{where}: a finite V_min={p['V_min']!r} is not supported.")
    check_positive(api, f"{where}: C_m", _number(api, where, "C_m", p["C_m"]))
    thr = _number(api, where, "V_th", p["V_th"]) - _number(api, where, "E_L", p["E_L"])
    if thr <= 0:
        raise _err(api, f"{where}: V_th - E_L must be > 0; got {thr!r} mV.")
    function = p["surrogate_gradient_function"]
    if function not in NEST_SURROGATES:
        raise _err(
            api,
            f"{where}: unsupported surrogate_gradient_function {function!r}; "
            f"supported: {', '.join(NEST_SURROGATES)}.",
        )
    height = _number(api, where, "surrogate_gradient_height", p["surrogate_gradient_height"])
    width = _number(api, where, "surrogate_gradient_width", p["surrogate_gradient_width"])
    check_positive(api, f"{where}: surrogate_gradient_height and _width", [height, width])
    regular = _flag(api, where, "regular_spike_arrival", p["regular_spike_arrival"])
    c_reg = _number(api, where, "c_reg", p["c_reg"])
    f_target = _number(api, where, "f_target", p["f_target"])
    check_positive(api, f"{where}: c_reg and f_target", [c_reg, f_target], allow_zero=True)
    tau_m = _per_neuron(api, where, "tau_m", p["tau_m"], n)
    column = {
        "tau_m": check_positive(api, f"{where}: tau_m", tau_m),
        "t_ref": _number(api, where, "t_ref", p["t_ref"]),
        "thr": thr,
        "height": height,
        "width": width,
        # a LIF population: no adaptation (its tau_a only has to be valid)
        "tau_a": _number(api, where, "adapt_tau", p["adapt_tau"]) if adaptive else 1.0,
        "beta": _number(api, where, "adapt_beta", p["adapt_beta"]) if adaptive else 0.0,
        "regular": regular,  # zeta = 1 or 1 - alpha, set once alpha is known
    }
    check_positive(api, f"{where}: t_ref", column["t_ref"], allow_zero=True)
    check_positive(api, f"{where}: adapt_tau", column["tau_a"])
    check_positive(api, f"{where}: adapt_beta", column["beta"], allow_zero=True)
    columns = {k: np.broadcast_to(np.asarray(v, np.float64), (n,)) for k, v in column.items()}
    shared = {"surrogate": function, "c_reg": c_reg, "f_target": f_target}
    return columns, shared


def from_nest(
    kernel: Mapping[str, Any],
    populations: Sequence[tuple[str, int, Mapping[str, Any]]],
    readout: Mapping[str, Any],
    synapse: Mapping[str, Any],
    *,
    n_in: int,
    n_out: int,
) -> tuple[Network, NestConfig]:
    """Import a NEST 3.10 e-prop (bsshslm_2020) model: NEST dictionaries -> Network + NestConfig.

    Names and units are NEST's (ms, mV, Hz); voltages are taken relative to ``E_L``. Parameters
    without an effect on these networks (``C_m`` without current input, the initial ``V_m`` and
    ``adaptation``, which the reset at every interval overwrites, recorders, flush intervals) are
    accepted; anything this mode cannot reproduce raises ``ValueError`` naming it. The mapping
    (equations in the package docstring):

    ==============================  ==============================================================
    NEST                            this project
    ==============================  ==============================================================
    ``tau_m``, ``t_ref``            ``alpha = exp(-dt/tau_m)``, ``n_refractory = round(t_ref/dt)``
    ``V_th - E_L``                  ``thr`` (also the reset amount)
    ``adapt_beta``, ``adapt_tau``   ``beta`` (used as is: NEST has no ``1 - rho``), ``rho``
    ``surrogate_gradient_*``        ``psi_height``, ``psi_width``, surrogate shape
    ``regular_spike_arrival``       ``zeta = 1`` (True) or ``1 - alpha`` (False); readout alike
    ``c_reg``, ``f_target`` (Hz)    ``NestConfig.c_reg``, ``f_target``
    readout ``tau_m``, ``loss``     ``kappa``, ``"cross_entropy"`` / ``"mse"``
    ``eprop_update_interval``       ``NestConfig.update_interval`` (steps)
    ``eprop_learning_window``       ``NestConfig.learning_window`` (steps)
    synapse ``optimizer``           :class:`NestOptimizerConfig`
    ``average_gradient``            divide gradients by the learning window
    ``tau_m_readout``               ``kappa_synapse`` (filter of the eligibility trace)
    ==============================  ==============================================================

    Args:
        kernel: ``nest.set`` settings (``resolution``, ``eprop_update_interval``,
            ``eprop_learning_window``, ``eprop_reset_neurons_on_update``).
        populations: the recurrent populations in creation order, ``(model, n, params)`` with
            ``model`` in ``eprop_iaf_bsshslm_2020`` / ``eprop_iaf_adapt_bsshslm_2020``.
            Per-neuron values (e.g. ``tau_m`` read back from NEST) may be sequences of length n.
        readout: parameters of the ``eprop_readout_bsshslm_2020`` neurons.
        synapse: ``eprop_synapse_bsshslm_2020`` defaults and connection parameters
            (``optimizer`` dict, ``average_gradient``, ``tau_m_readout``, ``delay``).
        n_in: number of input neurons (parrots); n_out: number of readouts.

    Returns:
        ``(network, config)``.

    Example:
        >>> net, cfg = from_nest(
        ...     {"resolution": 1.0, "eprop_update_interval": 100.0, "eprop_learning_window": 20.0},
        ...     [("eprop_iaf_bsshslm_2020", 4, {"V_th": 0.6, "E_L": 0.0, "tau_m": 20.0})],
        ...     {"tau_m": 20.0, "loss": "cross_entropy", "regular_spike_arrival": False},
        ...     {"optimizer": {"type": "adam", "eta": 5e-3}, "tau_m_readout": 20.0},
        ...     n_in=3, n_out=2)
        >>> net.n_rec, cfg.update_interval, cfg.loss, cfg.optimizer.kind
        (4, 100, 'cross_entropy', 'adam')
    """
    api = "from_nest"
    _check_keys(api, "kernel", kernel, _KERNEL_KEYS)
    dt = _number(api, "kernel", "resolution", kernel.get("resolution", 0.1))
    dt = float(check_positive(api, "kernel: resolution", dt))
    if not kernel.get("eprop_reset_neurons_on_update", True):
        raise _err(
            api,
            "kernel: eprop_reset_neurons_on_update=False is not supported; the NEST mode needs "
            "the reset at every update interval (the tutorials' setting).",
        )
    t_steps = _steps(api, kernel, "eprop_update_interval", 1000.0, dt)
    lw = _steps(api, kernel, "eprop_learning_window", 1000.0, dt)
    if lw > t_steps:
        raise _err(
            api,
            f"kernel: eprop_learning_window ({lw} steps) must not exceed "
            f"eprop_update_interval ({t_steps} steps).",
        )
    n_in, n_out = check_integer(api, "n_in", n_in), check_integer(api, "n_out", n_out)
    if not populations:
        raise _err(api, "populations must list at least one recurrent population.")
    parts = [_population(api, index, population) for index, population in enumerate(populations)]
    col = {k: np.concatenate([c[k] for c, _ in parts]) for k in parts[0][0]}
    for key in ("surrogate", "c_reg", "f_target"):
        values = {s[key] for _, s in parts}
        if len(values) > 1:
            raise _err(
                api,
                f"all recurrent populations must share {key}; got {sorted(map(str, values))} "
                "(per-population values are not supported).",
            )
    shared = parts[0][1]

    where = f"readout ({READOUT_MODEL})"
    _check_keys(api, where, readout, _READOUT_KEYS)
    r = {**_READOUT_DEFAULTS, **readout}
    if r["loss"] not in NEST_LOSSES:
        raise _err(
            api, f"{where}: unsupported loss {r['loss']!r}; supported: {', '.join(NEST_LOSSES)}."
        )
    for name, ok in (("E_L", 0.0), ("I_e", 0.0)):
        if _number(api, where, name, r[name]) != ok:
            raise _err(api, f"{where}: {name}={r[name]!r} is not supported (only {ok}).")
    if _number(api, where, "V_min", r["V_min"]) != -math.inf:
        raise _err(api, f"{where}: a finite V_min={r['V_min']!r} is not supported.")
    tau_out = float(
        check_positive(api, f"{where}: tau_m", _number(api, where, "tau_m", r["tau_m"]))
    )
    regular_out = _flag(api, where, "regular_spike_arrival", r["regular_spike_arrival"])

    where = f"synapse ({SYNAPSE_MODEL})"
    _check_keys(api, where, synapse, _SYNAPSE_KEYS)
    model = synapse.get("synapse_model", SYNAPSE_MODEL)
    if model != SYNAPSE_MODEL:
        raise _err(api, f"{where}: unsupported synapse_model {model!r}; only {SYNAPSE_MODEL!r}.")
    delay = _number(api, where, "delay", synapse.get("delay", dt))
    if abs(delay - dt) > 1e-12:
        raise _err(
            api,
            f"{where}: delay={delay!r} ms is not supported; only one step ({dt!r} ms), as in "
            "NEST's e-prop models.",
        )
    tau_syn = _number(api, where, "tau_m_readout", synapse.get("tau_m_readout", 10.0))
    tau_syn = float(check_positive(api, f"{where}: tau_m_readout", tau_syn))
    average = _flag(api, where, "average_gradient", synapse.get("average_gradient", False))

    net = network(
        n_in,
        col["tau_m"].shape[0],
        n_out,
        tau_m=col["tau_m"],
        tau_a=col["tau_a"],
        beta=col["beta"],  # per neuron, taken as is (NEST's adapt_beta, no 1 - rho factor)
        thr=col["thr"],
        refractory=col["t_ref"],
        surrogate_shape=NEST_SURROGATES[shared["surrogate"]],
        surrogate_height=col["height"],
        surrogate_width=col["width"],
        tau_out=tau_out,
        dt=dt,
    )
    alpha, kappa = net.neuron.alpha, float(net.readout.kappa)
    config = NestConfig(
        update_interval=t_steps,
        learning_window=lw,
        loss=NEST_LOSSES[r["loss"]],
        average_gradient=average,
        c_reg=shared["c_reg"],
        f_target=shared["f_target"],
        zeta=np.where(col["regular"] > 0, 1.0, 1.0 - alpha),
        zeta_out=1.0 if regular_out else 1.0 - kappa,
        kappa_synapse=float(decay(tau_syn, dt)),
        optimizer=_optimizer_config(api, synapse.get("optimizer", {})),
    )
    return net, config
