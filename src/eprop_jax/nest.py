r"""NEST-exact mode: NEST 3.10's ``*_bsshslm_2020`` e-prop models, number for number.

NEST's e-prop tutorials (``eprop_supervised_*_bsshslm_2020.py``) are what many users start from.
This module maps their parameter dictionaries (NEST's names and units) onto this project's
:class:`~eprop_jax.network.Network`, and wraps the project's own network step and e-prop
(online, :func:`~eprop_jax.eprop.eprop_gradients`, or its exact offline form
:func:`~eprop_jax.eprop_factored.eprop_factored_gradients`, the faster default) in the transforms
that turn the paper's conventions into NEST's. It is not a second engine: the neuron step, the
eligibility traces and the learning signal are the ones the rest of the package uses.

**NEST's update order** (``eprop_iaf[_adapt]_bsshslm_2020``, per step, for sequence step
:math:`k` of an update interval of :math:`T` steps; all delays are one step):

1. at :math:`k = 0` the neuron is reset (:math:`v = 0`, :math:`a = 0`, refractory counter 0, last
   spike 0): every update interval (sequence) starts from rest;
2. :math:`v_k = \alpha v_{k-1} + \zeta S_k - v_{th} z_{k-1}`, reset by subtraction one step after
   the spike, with :math:`S_k = W^{in} x_k [k \ge 1] + W^{rec} z_{k-1} [k \ge 1]` (the input
   spikes of step 0 and the recurrent spikes of the previous interval's last step are dropped);
   ALIF: :math:`a_k = \rho a_{k-1} + z_{k-1}`, :math:`A_k = v_{th} + \beta a_k` (no
   :math:`1 - \rho` factor; the reset still subtracts :math:`v_{th}`);
3. :math:`\psi_k = h f((v_k - A_k)/w)` (0 while refractory); spike if :math:`v_k \ge A_k` and not
   refractory.

:math:`\zeta = 1` with ``regular_spike_arrival`` (the default) and :math:`1 - \alpha` without.
This is exactly :func:`~eprop_jax.neurons.alif_step` run on one sequence from a zero state with the
input of step 0 zeroed and the weights scaled by :math:`\zeta`.

**Readout** (``eprop_readout_bsshslm_2020``): :math:`y_k = \kappa y_{k-1} + \zeta_{out} W^{out}
z_k` (same step :math:`k`), :math:`\pi_k = \mathrm{softmax}(y_k)` (cross-entropy) or
:math:`\pi_k = y_k` (mean squared error), error :math:`\mathrm{err}_k = (\pi_k - y^*_{k})
[k \ge T - LW]`, where :math:`y^*_k` is the value the target generator holds at NEST time
:math:`4 + nT + k` (:func:`nest_targets`; generators set from ``3 + nT`` give the target one
step early).
Learning signal :math:`L_{j,k} = \sum_o B_{jo}\,\mathrm{err}_{o,k}`.

**Gradient of one interval** :math:`n` (``eprop_synapse_bsshslm_2020``), traces from zero:

.. math::

    \bar z_k &= \alpha_j \bar z_{k-1} + \zeta_j s_k, \qquad
    e_k = \psi_{j,k} (\bar z_k - \beta_j \epsilon_{k-1}), \qquad
    \epsilon_k = \rho_j \epsilon_{k-1} + e_k \\
    \bar e_k &= \kappa \bar e_{k-1} + (1 - \kappa) e_k \\
    g_{ji}(n) &= \Big[\sum_k L_{j,k} \bar e_k
                 + c_{reg} \big(\tfrac{n^{spk}_j(n)}{T} - f^* \big) \tfrac1T \sum_k e_k\Big]
                 \big/ LW \;\text{(if average\_gradient)}

with :math:`s_k = x_k` or :math:`z_{k-1}`: the regularisation uses the *unfiltered* trace and the
interval's own spike count, and (NEST 3.10) is divided by :math:`LW` with the task term. An input
synapse whose presynaptic neuron next spikes at step 1 of the next sequence computes its gradient
before the last learning signal :math:`L_{T-1}` arrives and leaves that term out. Readout synapses:
:math:`g_{oj} = \sum_k \mathrm{err}_{o,k} \bar z^{out}_{j,k}` with
:math:`\bar z^{out}_k = \kappa \bar z^{out}_{k-1} + \zeta_{out} z_k` (/LW if averaging).

**Optimiser** (``weight_optimizer``): the gradients of the :math:`B` intervals of a batch are
summed and divided by :math:`B`; then gradient descent :math:`W \mathrel{-}= \eta G` or NEST's Adam

.. math::

    \alpha_t = \eta \sqrt{1 - \beta_2^t} / (1 - \beta_1^t), \quad
    m \leftarrow \beta_1 m + (1 - \beta_1) G, \quad
    v \leftarrow \beta_2 v + (1 - \beta_2) G^2, \quad
    W \leftarrow W - \alpha_t m / (\sqrt{v} + \epsilon)

(:math:`\epsilon` outside the square root, bias correction folded into the step size), and the
weight is clipped to :math:`[W_{min}, W_{max}]` after the step. Learning rates: NEST keeps one
per synapse (``eta_current``) so that scripts can change ``eta`` between phases (validation and
test phases with ``eta = 0``). It starts as the first non-default ``eta`` the user set
(``eta_first_change``, the first-eta rule) and is reset to the global ``eta`` at each of the
synapse's optimisations; a step uses the value from the synapse's previous optimisation, so a
batch's gradient is applied with the rate of the phase it was computed in, except for synapses
whose presynaptic neuron was silent (:func:`nest_train` with ``etas`` models this per weight
column). NEST applies
an update lazily at the next presynaptic spike; with the reset at every interval this equals the
dense per-batch update here (weights that do not spike do not matter until they do; Adam's
catch-up steps with zero gradient are the dense steps; NEST clips once after a run of catch-up
steps, here after every step, which differs only when a weight reaches a bound).

Deliberate limits: ``eprop_reset_neurons_on_update=True`` only, no current input (``I_e``), no
finite ``V_min``, readout ``E_L = 0``, one-step delays, one surrogate function, ``c_reg`` and
``f_target`` shared by all recurrent populations (:func:`from_nest` says so by name). The spike
condition is ``v > A`` where NEST has ``v >= A`` (equality has probability zero in float64).

References:
    Bellec et al. 2020, Nat. Commun. 11:3625 (Eqs. 13-14, 25-28);
    NEST 3.10 models ``eprop_iaf_bsshslm_2020``, ``eprop_iaf_adapt_bsshslm_2020``,
    ``eprop_readout_bsshslm_2020``, ``eprop_synapse_bsshslm_2020``, ``weight_optimizer``;
    the e-prop tutorials in ``pynest/examples/eprop_plasticity`` (tag v3.10).
"""

from __future__ import annotations

import functools
import math
import os
import time
from collections.abc import Callable, Mapping, Sequence
from typing import Any, NamedTuple

import jax
import jax.numpy as jnp
import numpy as np

from .eprop import LearningRule, eprop_eligibility, eprop_gradients
from .eprop_factored import eprop_factored_gradients
from .losses import get_loss, rate_regularization
from .network import Network, Weights, simulate
from .neurons import AlifParams, ReadoutParams, decay
from .surrogates import surrogate

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
    "C_m", "E_L", "I_e", "V_m", "V_th", "V_min", "tau_m", "t_ref", "c_reg", "f_target",
    "regular_spike_arrival", "surrogate_gradient_function", "surrogate_gradient_height",
    "surrogate_gradient_width", "flush_event_send_interval",
}  # fmt: skip
_ADAPT_KEYS = {"adapt_beta", "adapt_tau", "adaptation"}
_READOUT_KEYS = {"C_m", "E_L", "I_e", "V_m", "V_min", "tau_m", "loss", "regular_spike_arrival"}
_KERNEL_KEYS = {
    "eprop_update_interval", "eprop_learning_window", "eprop_reset_neurons_on_update",
    "resolution", "print_time", "total_num_virtual_procs", "rng_seed", "local_num_threads",
}  # fmt: skip
_SYNAPSE_KEYS = {
    "synapse_model", "optimizer", "average_gradient", "tau_m_readout", "delay", "weight",
    "weight_recorder", "receptor_type",
}  # fmt: skip
_OPTIMIZER_KEYS = {
    "type", "optimizer", "batch_size", "eta", "beta_1", "beta_2", "epsilon",
    "Wmin", "Wmax", "optimize_each_step", "m", "v",
}  # fmt: skip
_STATUS_KEYS = {
    "element_type", "global_id", "model_id", "recordables", "thread_local_id", "node_uses_wfr",
    "synapse_modelid", "num_connections", "sizeof", "has_delay", "requires_symmetric",
}  # fmt: skip
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
    c_reg: float  # NEST's c_reg (no factor 2, see the module docstring)
    f_target: float  # Hz
    zeta: np.ndarray  # shape=(n_rec,), 1 (regular_spike_arrival) or 1 - alpha
    zeta_out: float  # 1 (regular_spike_arrival) or 1 - kappa
    kappa_synapse: float  # exp(-dt / tau_m_readout) of the e-prop synapses (filter of e-bar)
    optimizer: NestOptimizerConfig


def _err(api: str, msg: str) -> ValueError:
    return ValueError(f"`{api}`: {msg}")


def _check_keys(api: str, where: str, params: Mapping, allowed: set) -> None:
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
    arr = np.asarray(value, dtype=np.float64)
    if arr.ndim == 0:
        return np.full((n,), float(arr))
    if arr.shape != (n,):
        raise _err(api, f"{where}: {name} must be a scalar or have shape ({n},); got {arr.shape}.")
    return arr


def _optimizer_config(api: str, optimizer: Mapping) -> NestOptimizerConfig:
    where = "optimizer"
    _check_keys(api, where, optimizer, _OPTIMIZER_KEYS)
    opt = {**_OPTIMIZER_DEFAULTS, **optimizer}
    kind = opt.get("optimizer", opt["type"])
    if kind not in ("adam", "gradient_descent"):
        raise _err(api, f"optimizer type {kind!r} is not supported; use 'adam' or "
                   "'gradient_descent'.")  # fmt: skip
    for moment in ("m", "v"):
        if moment in opt and float(opt[moment]) != 0.0:
            raise _err(api, f"optimizer: initial Adam moment {moment}={opt[moment]!r} is not "
                       "supported; only 0.0 (the default).")  # fmt: skip
    batch = opt["batch_size"]
    if isinstance(batch, bool) or not isinstance(batch, int | np.integer) or batch < 1:
        raise _err(api, f"optimizer: batch_size must be an integer >= 1; got {batch!r}.")
    eta = _number(api, where, "eta", opt["eta"])
    b1, b2 = (
        _number(api, where, "beta_1", opt["beta_1"]),
        _number(api, where, "beta_2", opt["beta_2"]),
    )
    eps = _number(api, where, "epsilon", opt["epsilon"])
    w_min, w_max = (
        _number(api, where, "Wmin", opt["Wmin"]),
        _number(api, where, "Wmax", opt["Wmax"]),
    )
    if eta < 0:
        raise _err(api, f"optimizer: eta must be >= 0; got {eta!r}.")
    if not (0 <= b1 < 1 and 0 <= b2 < 1):
        raise _err(api, f"optimizer: beta_1, beta_2 must be in [0, 1); got {b1!r}, {b2!r}.")
    if eps < 0 or w_min > w_max:
        raise _err(api, f"optimizer: need epsilon >= 0 and Wmin <= Wmax; got {eps!r}, "
                   f"[{w_min!r}, {w_max!r}].")  # fmt: skip
    eta_first = eta if eta != _OPTIMIZER_DEFAULTS["eta"] else None
    return NestOptimizerConfig(kind, int(batch), eta, eta_first, b1, b2, eps, w_min, w_max)


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
    accepted; anything this mode cannot reproduce raises ``ValueError`` naming it.

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
    if dt <= 0:
        raise _err(api, f"kernel: resolution must be > 0; got {dt!r}.")
    if not kernel.get("eprop_reset_neurons_on_update", True):
        raise _err(api, "kernel: eprop_reset_neurons_on_update=False is not supported; the NEST "
                   "mode needs the reset at every update interval (the tutorials' setting).")  # fmt: skip

    def steps(name, default):
        ms = _number(api, "kernel", name, kernel.get(name, default))
        n = round(ms / dt)
        if n < 1 or abs(n * dt - ms) > 1e-9 * max(1.0, ms):
            raise _err(api, f"kernel: {name}={ms!r} ms must be a positive multiple of the "
                       f"resolution {dt!r} ms.")  # fmt: skip
        return n

    t_steps = steps("eprop_update_interval", 1000.0)
    lw = steps("eprop_learning_window", 1000.0)
    if lw > t_steps:
        raise _err(api, f"kernel: eprop_learning_window ({lw} steps) must not exceed "
                   f"eprop_update_interval ({t_steps} steps).")  # fmt: skip
    for name, n in (("n_in", n_in), ("n_out", n_out)):
        if isinstance(n, bool) or not isinstance(n, int | np.integer) or n < 1:
            raise _err(api, f"{name} must be an integer >= 1; got {n!r}.")
    if not populations:
        raise _err(api, "populations must list at least one recurrent population.")

    columns: dict[str, list] = {k: [] for k in ("tau_m", "tau_a", "beta", "thr", "t_ref",
                                                "height", "width", "zeta")}  # fmt: skip
    shared: dict[str, set] = {"surrogate": set(), "c_reg": set(), "f_target": set()}
    for index, population in enumerate(populations):
        if len(population) != 3:
            raise _err(api, f"populations[{index}] must be (model, n, params); got {population!r}.")
        model, n, params = population
        where = f"populations[{index}] ({model})"
        if model not in RECURRENT_MODELS:
            raise _err(api, f"{where}: unsupported model {model!r}; supported: "
                       f"{', '.join(RECURRENT_MODELS)}.")  # fmt: skip
        if isinstance(n, bool) or not isinstance(n, int | np.integer) or n < 1:
            raise _err(api, f"{where}: n must be an integer >= 1; got {n!r}.")
        adaptive = model == "eprop_iaf_adapt_bsshslm_2020"
        _check_keys(api, where, params, _NEURON_KEYS | (_ADAPT_KEYS if adaptive else set()))
        p = {**_NEURON_DEFAULTS, **params}
        if _number(api, where, "I_e", p["I_e"]) != 0.0:
            raise _err(api, f"{where}: I_e={p['I_e']!r} is not supported (only 0.0: no current "
                       "input in this mode).")  # fmt: skip
        if _number(api, where, "V_min", p["V_min"]) != -math.inf:
            raise _err(api, f"{where}: a finite V_min={p['V_min']!r} is not supported.")
        if _number(api, where, "C_m", p["C_m"]) <= 0:
            raise _err(api, f"{where}: C_m must be > 0; got {p['C_m']!r}.")
        e_l = _number(api, where, "E_L", p["E_L"])
        thr = _number(api, where, "V_th", p["V_th"]) - e_l
        if thr <= 0:
            raise _err(api, f"{where}: V_th - E_L must be > 0; got {thr!r} mV.")
        tau_m = _per_neuron(api, where, "tau_m", p["tau_m"], n)
        if np.any(tau_m <= 0):
            raise _err(api, f"{where}: tau_m must be > 0; got {tau_m[tau_m <= 0][:3]}.")
        t_ref = _number(api, where, "t_ref", p["t_ref"])
        if t_ref < 0:
            raise _err(api, f"{where}: t_ref must be >= 0; got {t_ref!r}.")
        function = p["surrogate_gradient_function"]
        if function not in NEST_SURROGATES:
            raise _err(api, f"{where}: unsupported surrogate_gradient_function {function!r}; "
                       f"supported: {', '.join(NEST_SURROGATES)}.")  # fmt: skip
        height = _number(api, where, "surrogate_gradient_height", p["surrogate_gradient_height"])
        width = _number(api, where, "surrogate_gradient_width", p["surrogate_gradient_width"])
        if height <= 0 or width <= 0:
            raise _err(api, f"{where}: surrogate_gradient_height and _width must be > 0; got "
                       f"{height!r}, {width!r}.")  # fmt: skip
        rsa = p["regular_spike_arrival"]
        if not isinstance(rsa, bool | np.bool_):
            raise _err(api, f"{where}: regular_spike_arrival must be True or False; got {rsa!r}.")
        tau_a = _number(api, where, "adapt_tau", p["adapt_tau"]) if adaptive else 1.0
        beta = _number(api, where, "adapt_beta", p["adapt_beta"]) if adaptive else 0.0
        if tau_a <= 0 or beta < 0:
            raise _err(api, f"{where}: need adapt_tau > 0 and adapt_beta >= 0; got {tau_a!r}, "
                       f"{beta!r}.")  # fmt: skip
        c_reg, f_target = (
            _number(api, where, "c_reg", p["c_reg"]),
            _number(api, where, "f_target", p["f_target"]),
        )
        if c_reg < 0 or f_target < 0:
            raise _err(api, f"{where}: c_reg and f_target must be >= 0; got {c_reg!r}, "
                       f"{f_target!r}.")  # fmt: skip
        alpha = decay(tau_m, dt)
        for key, value in (
            ("tau_m", tau_m), ("tau_a", tau_a), ("beta", beta), ("thr", thr), ("t_ref", t_ref),
            ("height", height), ("width", width), ("zeta", 1.0 if rsa else 1.0 - alpha),
        ):  # fmt: skip
            columns[key].append(np.broadcast_to(np.asarray(value, np.float64), (n,)))
        shared["surrogate"].add(function)
        shared["c_reg"].add(c_reg)
        shared["f_target"].add(f_target)
    for key, values in shared.items():
        if len(values) > 1:
            raise _err(api, f"all recurrent populations must share {key}; got "
                       f"{sorted(map(str, values))} (per-population values are not supported).")  # fmt: skip
    col = {k: np.concatenate(v) for k, v in columns.items()}
    n_rec = col["tau_m"].shape[0]
    neuron = AlifParams(
        alpha=decay(col["tau_m"], dt),
        rho=decay(col["tau_a"], dt),
        beta=col["beta"],
        thr=col["thr"],
        n_refractory=np.round(col["t_ref"] / dt).astype(np.int32),
        psi_height=col["height"],
        psi_width=col["width"],
    )

    where = f"readout ({READOUT_MODEL})"
    _check_keys(api, where, readout, _READOUT_KEYS)
    r = {**_READOUT_DEFAULTS, **readout}
    if r["loss"] not in NEST_LOSSES:
        raise _err(api, f"{where}: unsupported loss {r['loss']!r}; supported: "
                   f"{', '.join(NEST_LOSSES)}.")  # fmt: skip
    for name, ok in (("E_L", 0.0), ("I_e", 0.0)):
        if _number(api, where, name, r[name]) != ok:
            raise _err(api, f"{where}: {name}={r[name]!r} is not supported (only {ok}).")
    if _number(api, where, "V_min", r["V_min"]) != -math.inf:
        raise _err(api, f"{where}: a finite V_min={r['V_min']!r} is not supported.")
    tau_out = _number(api, where, "tau_m", r["tau_m"])
    if tau_out <= 0:
        raise _err(api, f"{where}: tau_m must be > 0; got {tau_out!r}.")
    kappa = float(decay(tau_out, dt))

    where = f"synapse ({SYNAPSE_MODEL})"
    _check_keys(api, where, synapse, _SYNAPSE_KEYS)
    model = synapse.get("synapse_model", SYNAPSE_MODEL)
    if model != SYNAPSE_MODEL:
        raise _err(api, f"{where}: unsupported synapse_model {model!r}; only {SYNAPSE_MODEL!r}.")
    delay = _number(api, where, "delay", synapse.get("delay", dt))
    if abs(delay - dt) > 1e-12:
        raise _err(api, f"{where}: delay={delay!r} ms is not supported; only one step "
                   f"({dt!r} ms), as in NEST's e-prop models.")  # fmt: skip
    tau_syn = _number(api, where, "tau_m_readout", synapse.get("tau_m_readout", 10.0))
    if tau_syn <= 0:
        raise _err(api, f"{where}: tau_m_readout must be > 0; got {tau_syn!r}.")
    average = synapse.get("average_gradient", False)
    if not isinstance(average, bool | np.bool_):
        raise _err(api, f"{where}: average_gradient must be True or False; got {average!r}.")
    net = Network(
        neuron=neuron,
        readout=ReadoutParams(kappa=np.asarray(kappa)),
        surrogate=surrogate(NEST_SURROGATES[next(iter(shared["surrogate"]))]),
        n_in=int(n_in),
        n_out=int(n_out),
        dt=dt,
    )
    config = NestConfig(
        update_interval=t_steps,
        learning_window=lw,
        loss=NEST_LOSSES[r["loss"]],
        average_gradient=bool(average),
        c_reg=next(iter(shared["c_reg"])),
        f_target=next(iter(shared["f_target"])),
        zeta=col["zeta"],
        zeta_out=1.0 if r["regular_spike_arrival"] else 1.0 - kappa,
        kappa_synapse=float(decay(tau_syn, dt)),
        optimizer=_optimizer_config(api, synapse.get("optimizer", {})),
    )
    assert n_rec == net.n_rec
    return net, config


# --------------------------------------------------------------------------------------------
# NEST's optimiser


class NestOptimizerState(NamedTuple):
    """State of :func:`nest_optimizer` (per weight: NEST keeps one per synapse)."""

    m: Any  # pytree like the weights, first moment
    v: Any  # pytree like the weights, second raw moment
    beta_1_power: jax.Array  # shape=(), beta_1^t
    beta_2_power: jax.Array  # shape=(), beta_2^t
    count: jax.Array  # shape=(), dtype=int32, optimisation steps done


class NestOptimizer(NamedTuple):
    """``init(params) -> state``; ``update(grads, state, params, eta=None) -> (params, state)``.

    ``eta``: optional learning rates shaped like (or broadcastable to) ``params``, e.g. one per
    synapse; default: ``eta_first`` for the first step, then ``eta``.
    """

    init: Any
    update: Any


def nest_optimizer(config: NestOptimizerConfig) -> NestOptimizer:
    """NEST's weight optimiser: gradient descent or NEST's Adam, then clipping (module docstring).

    ``grads`` is the batch mean :math:`G` (the sum over the batch's intervals divided by ``B``).
    Unlike ``optax.adam``, epsilon is added outside the square root of the raw second moment and
    the bias correction is folded into the step size, and the weights are clipped to
    ``[w_min, w_max]`` after the step. The first step uses ``eta_first`` (if not None).

    Example:
        >>> cfg = NestOptimizerConfig("adam", 1, 0.1, 0.1, 0.9, 0.999, 1e-8, -1.0, 1.0)
        >>> opt = nest_optimizer(cfg)
        >>> w = jnp.array([0.5])
        >>> w, state = opt.update(jnp.array([2.0]), opt.init(w), w)
        >>> round(float(w[0]), 4)  # 0.5 - 0.1 * sqrt(0.001) / 0.1 * 0.2 / (sqrt(0.004) + 1e-8)
        0.4
    """

    def init(params) -> NestOptimizerState:
        zeros = jax.tree.map(jnp.zeros_like, params)
        dtype = jax.tree.leaves(params)[0].dtype
        one = jnp.ones((), dtype)
        return NestOptimizerState(zeros, zeros, one, one, jnp.zeros((), jnp.int32))

    def update(grads, state: NestOptimizerState, params, eta=None):
        dtype = state.beta_1_power.dtype
        if eta is None:
            first = config.eta if config.eta_first is None else config.eta_first
            scalar = jnp.where(state.count == 0, first, config.eta).astype(dtype)
            eta = jax.tree.map(lambda _: scalar, params)
        clip = functools.partial(jnp.clip, min=config.w_min, max=config.w_max)
        if config.kind == "gradient_descent":
            new = jax.tree.map(lambda w, g, e: clip(w - e * g), params, grads, eta)
            return new, state._replace(count=state.count + 1)
        b1, b2 = config.beta_1, config.beta_2
        b1_power, b2_power = state.beta_1_power * b1, state.beta_2_power * b2
        m = jax.tree.map(lambda m, g: b1 * m + (1.0 - b1) * g, state.m, grads)
        v = jax.tree.map(lambda v, g: b2 * v + (1.0 - b2) * g * g, state.v, grads)

        def step(w, m, v, e):
            alpha = e * jnp.sqrt(1.0 - b2_power) / (1.0 - b1_power)  # NEST/TF: bias in the step
            # epsilon outside the square root of the raw moment (not optax's form)
            return clip(w - alpha * m / (jnp.sqrt(v) + config.epsilon))

        new = jax.tree.map(step, params, m, v, eta)
        return new, NestOptimizerState(m, v, b1_power, b2_power, state.count + 1)

    return NestOptimizer(init, update)


# --------------------------------------------------------------------------------------------
# The transforms around simulate / e-prop


def nest_targets(targets: np.ndarray, amplitude_offset: int = 4) -> np.ndarray:
    """The target each readout step ``k`` of NEST's model compares against.

    The readout of sequence step ``k`` of sequence ``n`` computes its error at NEST step
    ``4 + nT + k`` (``total_offset`` = generator offset 1 + three one-step delays) against the
    value the target ``step_rate_generator`` holds at that time. The v3.10 tutorials set their
    ``amplitude_times`` to ``total_offset + nT + k`` (4 + ...), so the value given for step ``k``
    is the one used at ``k``; older scripts that start at ``3 + nT`` see the target one step early
    (at ``k = T - 1`` already the next sequence's first value). ``step_rate_generator`` holds its
    last value at the end.

    Args:
        targets: the generator's values per step in simulation order, shape ``(N, T, K)`` for
            ``N`` consecutive sequences; value ``[n, k]`` is set at time
            ``amplitude_offset + nT + k`` ms (dt = 1 ms).
        amplitude_offset: that offset in steps (4 in the v3.10 tutorials).

    Returns:
        The targets per readout step, shape ``(N, T, K)``.

    Example:
        >>> nest_targets(np.arange(6.0).reshape(2, 3, 1), amplitude_offset=3)[..., 0]
        array([[1., 2., 3.],
               [4., 5., 5.]])
    """
    targets = np.asarray(targets)
    n, t, k = targets.shape
    flat = targets.reshape(n * t, k)
    shift = 4 - int(amplitude_offset)
    index = np.arange(n * t) + shift
    shifted = flat[np.clip(index, 0, n * t - 1)] * (index >= 0)[:, None]  # 0 before the first
    return shifted.reshape(n, t, k)


def nest_truncation(inputs: np.ndarray) -> np.ndarray:
    """Which input synapses miss the last learning signal (module docstring), per sequence.

    An input neuron that spikes at step 1 of sequence ``n + 1`` triggers the update of sequence
    ``n`` before ``L_{T-1}`` of sequence ``n`` has arrived. The last sequence is complete (the
    tutorials' final update comes later).

    Args:
        inputs: input spikes, shape ``(N, T, n_in)``.

    Returns:
        Boolean array of shape ``(N, n_in)``.
    """
    inputs = np.asarray(inputs)
    out = np.zeros((inputs.shape[0], inputs.shape[2]), bool)
    out[:-1] = inputs[1:, 1, :] != 0
    return out


class _NestEligibilityState(NamedTuple):
    inner: Any  # EpropState
    step: jax.Array  # shape=(), dtype=int32, step within the sequence

    @property
    def e_sum(self) -> jax.Array:
        return self.inner.e_sum


def _nest_eligibility(kappa_synapse: float, truncate: jax.Array, t_steps: int):
    """:func:`~eprop_jax.eprop.eprop_eligibility` with the synapse's kappa and NEST's missing
    last learning signal for the presynaptic columns in ``truncate`` (shape ``(P,)``)."""

    def factory(params: AlifParams, kappa: jax.Array):
        inner = eprop_eligibility(params, jnp.asarray(kappa_synapse, kappa.dtype))

        def init(n_batch: int, n_pre: int, dtype):
            return _NestEligibilityState(
                inner.init(n_batch, n_pre, dtype), jnp.zeros((), jnp.int32)
            )

        def update(state: _NestEligibilityState, step, learning_signal):
            grad, new = inner.update(state.inner, step, learning_signal)
            last = (state.step == t_steps - 1).astype(grad.dtype)
            grad = grad * (1 - last * truncate)  # L_{T-1} arrives after NEST computed the update
            return grad, _NestEligibilityState(new, state.step + 1)

        return LearningRule(init, update)

    return factory


def _effective_weights(net: Network, config: NestConfig, weights: Weights):
    """NEST's weights in the project's units: ``v_t = alpha v + I_t`` and
    ``y_t = kappa y + (1 - kappa) W z`` take ``zeta W_in``, ``zeta W_rec`` and
    ``zeta_out / (1 - kappa) W_out``."""
    dtype = weights.w_rec.dtype
    zeta = jnp.asarray(config.zeta, dtype)[:, None]
    out_scale = config.zeta_out / (1.0 - float(np.asarray(net.readout.kappa)))
    eff = Weights(
        w_in=zeta * weights.w_in,
        w_rec=zeta * weights.w_rec,
        w_out=weights.w_out * out_scale,
        b_out=jnp.zeros_like(weights.b_out),
        b_fb=weights.b_fb,
    )
    return zeta, out_scale, eff


def _triggers(net: Network, config: NestConfig, weights: Weights, inputs, counts):
    """Which presynaptic neurons send NEST's lazy update in this batch, per weight column.

    A synapse updates at its presynaptic neuron's first transmitted spike in an interval after the
    first one: input spikes at steps >= 1, recurrent spikes before the last step (the last one
    reaches its recurrent targets at the next interval's step 0 and is dropped) or at any step
    (readouts). ``counts`` (B,) marks the intervals that can trigger.
    """
    _, _, eff = _effective_weights(net, config, weights)
    x = jnp.asarray(inputs, weights.w_rec.dtype).at[:, 0].set(0)  # (B, T, n_in)
    z = simulate(net, eff, jnp.swapaxes(x, 0, 1)).z > 0  # (T, B, n_rec)
    c = counts[:, None]
    return (
        jnp.any(jnp.any(x[:, 1:] > 0, axis=1) & c, axis=0),
        jnp.any(jnp.any(z[:-1], axis=0) & c, axis=0),
        jnp.any(jnp.any(z, axis=0) & c, axis=0),
    )


class NestBatchResult(NamedTuple):
    """What :func:`nest_batch_gradients` returns (gradients in NEST's units and layout)."""

    grad_in: jax.Array  # shape=(n_rec, n_in), batch mean G
    grad_rec: jax.Array  # shape=(n_rec, n_rec)
    grad_out: jax.Array  # shape=(n_out, n_rec)
    loss: jax.Array  # shape=(), the tutorial's loss of this batch
    readout_signal: jax.Array | None  # shape=(B, T, n_out): pi_k (softmax or y), 0 outside window
    spikes: jax.Array | None  # shape=(B, T, n_rec)


def nest_batch_gradients(
    net: Network,
    config: NestConfig,
    weights: Weights,
    inputs: jax.Array,
    targets: jax.Array,
    truncate: jax.Array,
    *,
    record: bool = False,
    implementation: str = "auto",
    any_truncated: bool = True,
) -> NestBatchResult:
    """NEST's batch gradient: per-sequence e-prop (reset, dropped spikes, scaling), batch mean.

    ``implementation="online"`` runs :func:`~eprop_jax.eprop.eprop_gradients` with a wrapped
    eligibility rule; ``"factored"`` runs the same gradient offline
    (:func:`~eprop_jax.eprop_factored.eprop_factored_gradients`, about ten times faster on a CPU)
    and removes the missing last learning signal with a second pass that only has step ``T - 1``
    in its window. ``"auto"`` takes the factored form unless ``record`` is set or the synapses'
    ``tau_m_readout`` differs from the readout's ``tau_m`` (the factored form filters the trace
    with the readout's kappa).

    Args:
        net, config: from :func:`from_nest`.
        weights: NEST's weights (``w_in``, ``w_rec``, ``w_out``; ``b_fb`` = the learning-signal
            connection weights, ``(n_rec, n_out)``; ``b_out`` must be 0).
        inputs: input spikes of the batch's sequences, shape ``(B, T, n_in)`` (step 0 is dropped).
        targets: NEST-aligned targets (:func:`nest_targets`), shape ``(B, T, n_out)``.
        truncate: :func:`nest_truncation` rows of these sequences, shape ``(B, n_in)``.
        record: also return the readout signal and the spikes.
        implementation: ``"auto"``, ``"online"`` or ``"factored"``.
        any_truncated: ``False`` promises that ``truncate`` is all False (skips the factored
            form's second pass).
    """
    if implementation not in ("auto", "online", "factored"):
        raise _err("nest_batch_gradients", f"unknown implementation {implementation!r}; expected "
                   "'auto', 'online' or 'factored'.")  # fmt: skip
    same_kappa = abs(config.kappa_synapse - float(np.asarray(net.readout.kappa))) < 1e-15
    if implementation == "factored" and (record or not same_kappa):
        raise _err("nest_batch_gradients", "implementation='factored' needs record=False and the "
                   "synapses' tau_m_readout equal to the readout's tau_m.")  # fmt: skip
    factored = implementation == "factored" or (
        implementation == "auto" and not record and same_kappa
    )
    dtype = weights.w_rec.dtype
    t_steps, lw = config.update_interval, config.learning_window
    n_rec = net.n_rec
    zeta, out_scale, eff = _effective_weights(net, config, weights)
    # NEST adds c_reg (f - f*) / T * sum(e) to the task term and divides both by LW (average_gradient);
    # the project divides the task term by the window's N = LW and the reg term not: so c_reg / LW.
    reg = rate_regularization(config.c_reg / lw, config.f_target)
    scale = 1.0 if config.average_gradient else float(lw)
    step_loss = get_loss(config.loss)
    mask = (jnp.arange(t_steps) >= t_steps - lw).astype(dtype)[:, None]

    def one(x, target, trunc):
        x = x.at[0].set(0)  # input spikes at interval step 0 are dropped
        if factored:
            res = eprop_factored_gradients(
                net, eff, x[:, None], target[:, None], mask, step_loss=step_loss,
                feedback_matrix=weights.b_fb, regularization=reg,
            )  # fmt: skip
            if not any_truncated:
                return res
            # The update of an input synapse that fires at step 1 of the next sequence runs before
            # L_{T-1} arrives: subtract L_{T-1} e-bar_{T-1} (a pass whose window is step T-1 only;
            # its loss is normalised by 1 instead of LW).
            last = jnp.zeros_like(mask).at[-1].set(1)
            cut = eprop_factored_gradients(
                net, eff, x[:, None], target[:, None], last, step_loss=step_loss,
                feedback_matrix=weights.b_fb, regularization=rate_regularization(0.0),
            )  # fmt: skip
            return res._replace(grad_in=res.grad_in - cut.grad_in * trunc.astype(dtype) / lw)
        row = jnp.concatenate([trunc.astype(dtype), jnp.zeros((n_rec,), dtype)])
        return eprop_gradients(
            net, eff, x[:, None], target[:, None], mask, step_loss=step_loss,
            feedback_matrix=weights.b_fb, regularization=reg,
            eligibility=_nest_eligibility(config.kappa_synapse, row, t_steps), record=record,
        )  # fmt: skip

    res = jax.vmap(one)(jnp.asarray(inputs, dtype), jnp.asarray(targets, dtype), truncate)
    grad_in = scale * zeta * jnp.mean(res.grad_in, axis=0)
    grad_rec = scale * zeta * jnp.mean(res.grad_rec, axis=0)
    grad_out = scale * out_scale * jnp.mean(res.grad_out, axis=0)
    # The tutorials' loss: CE averaged over window and batch; MSE 0.5 sum_t (y - y*)^2 averaged
    # over readouts and batch.
    n_out = weights.w_out.shape[0]
    loss = jnp.mean(res.task_loss) * (1.0 if config.loss == "cross_entropy" else lw / n_out)
    readout = spikes = None
    if record:
        y = res.trajectory.y[:, :, 0]  # (B, T, K)
        signal = jax.nn.softmax(y, axis=-1) if config.loss == "cross_entropy" else y
        readout = signal * mask[None]
        spikes = res.trajectory.z[:, :, 0]
    return NestBatchResult(grad_in, grad_rec, grad_out, loss, readout, spikes)


class NestRun(NamedTuple):
    """What :func:`nest_train` returns."""

    weights: Weights  # final weights
    initial_weights: Weights
    loss: np.ndarray  # shape=(n_iter,), the tutorial's loss per iteration
    readout_signal: np.ndarray | None  # shape=(n_iter, B, T, n_out) when recorded
    seconds: float  # wall time of the training loop (after compilation)
    compile_seconds: float


def nest_weights(w_in, w_rec, w_out, feedback, dtype=jnp.float64) -> Weights:
    """NEST's four matrices, all ``(post, pre)``, as :class:`~eprop_jax.network.Weights`.

    ``feedback`` is the ``eprop_learning_signal_connection_bsshslm_2020`` matrix ``(n_rec, n_out)``.
    The diagonal of ``w_rec`` is ignored (NEST has no autapses).
    """
    w_out = jnp.asarray(w_out, dtype)
    return Weights(
        w_in=jnp.asarray(w_in, dtype),
        w_rec=jnp.asarray(w_rec, dtype) * (1 - jnp.eye(np.shape(w_rec)[0], dtype=dtype)),
        w_out=w_out,
        b_out=jnp.zeros((w_out.shape[0],), dtype),
        b_fb=jnp.asarray(feedback, dtype),
    )


def nest_train(
    net: Network,
    config: NestConfig,
    weights: Weights,
    inputs: np.ndarray,
    targets: np.ndarray,
    *,
    record: bool = False,
    implementation: str = "auto",
    etas: Sequence[float] | None = None,
    callback: Callable[[int, float], None] | None = None,
) -> NestRun:
    """Train as NEST's tutorial does: sequence after sequence, one optimiser step per batch.

    Args:
        net, config: from :func:`from_nest` (``config.optimizer.batch_size`` is ``B``).
        weights: initial weights (:func:`nest_weights`); their dtype is the computation's.
        inputs: input spikes, shape ``(n_iter, B, T, n_in)`` (0/1 or bool), in simulation order.
        targets: the target generators' values per sequence step, shape ``(n_iter, B, T, n_out)``
            (one-hot labels for classification); aligned here with :func:`nest_targets`.
        record: keep the readout signal of every sequence (memory ``n_iter * B * T * n_out``).
        implementation: ``"auto"``, ``"online"`` or ``"factored"`` (:func:`nest_batch_gradients`).
        etas: the learning rate a script sets before each iteration (NEST's phases, e.g. 0 for
            validation), one per iteration; default ``config.optimizer.eta`` throughout. NEST
            keeps one rate per synapse (``eta_current``, initially ``eta_first``, NEST's first
            non-default rate): a synapse's optimiser step uses the rate in force at its previous
            optimisation, which happens at its presynaptic neuron's first spike in each batch
            after the first; modelled here per weight column.
        callback: ``callback(iteration, loss)`` after every iteration (e.g. a progress bar).

    Returns:
        A :class:`NestRun`.
    """
    api = "nest_train"
    inputs, targets = np.asarray(inputs), np.asarray(targets)
    b = config.optimizer.batch_size
    if inputs.ndim != 4 or inputs.shape[1:] != (b, config.update_interval, net.n_in):
        raise _err(api, f"expected inputs of shape (n_iter, B={b}, T={config.update_interval}, "
                   f"n_in={net.n_in}); got {inputs.shape}.")  # fmt: skip
    if targets.shape != (*inputs.shape[:3], net.n_out):
        raise _err(api, f"expected targets of shape {(*inputs.shape[:3], net.n_out)}; got "
                   f"{targets.shape}.")  # fmt: skip
    n_iter, _, t_steps, _ = inputs.shape
    flat_shape = (n_iter * b, t_steps)
    shifted = nest_targets(targets.reshape(*flat_shape, net.n_out)).reshape(targets.shape)
    truncate = nest_truncation(inputs.reshape(*flat_shape, net.n_in)).reshape(n_iter, b, net.n_in)
    dtype = weights.w_rec.dtype
    optimizer = nest_optimizer(config.optimizer)
    any_truncated = bool(truncate.any())  # one compilation for the whole run
    opt_config = config.optimizer
    first = opt_config.eta if opt_config.eta_first is None else opt_config.eta_first
    track = etas is not None or first != opt_config.eta
    if etas is None:
        etas = [opt_config.eta] * n_iter
    etas = np.asarray(etas, np.float64)
    if etas.shape != (n_iter,) or np.any(etas < 0) or not np.all(np.isfinite(etas)):
        raise _err(api, f"etas must hold n_iter={n_iter} learning rates >= 0; got {etas!r}.")
    if opt_config.eta_first is None:  # the first eta a phase sets away from NEST's default
        first = next((float(e) for e in etas if e != _OPTIMIZER_DEFAULTS["eta"]), first)
    counts = np.ones((n_iter, b), bool)
    counts[0] = False  # no optimisation (and so no new eta_current) before the first batch ends

    @functools.partial(jax.jit, static_argnames="any_truncated")
    def train_step(w: Weights, opt_state, eta_current, x, y, trunc, eta, count, any_truncated):
        res = nest_batch_gradients(net, config, w, x, y, trunc, record=record,
                                   implementation=implementation, any_truncated=any_truncated)  # fmt: skip
        trainable = (w.w_in, w.w_rec, w.w_out)
        grads = (res.grad_in, res.grad_rec, res.grad_out)
        if track:
            active = _triggers(net, config, w, x, count)
            eta_current = tuple(
                jnp.where(a, eta, e) for a, e in zip(active, eta_current, strict=True)
            )
            per_column = tuple(e[None, :] for e in eta_current)
            new, opt_state = optimizer.update(grads, opt_state, trainable, per_column)
        else:
            new, opt_state = optimizer.update(grads, opt_state, trainable)
        w = w._replace(w_in=new[0], w_rec=new[1], w_out=new[2])
        return w, opt_state, eta_current, res.loss, res.readout_signal

    w = weights
    opt_state = optimizer.init((w.w_in, w.w_rec, w.w_out))
    eta_current = tuple(jnp.full((n,), first, dtype) for n in (net.n_in, net.n_rec, net.n_rec))
    losses, readouts = [], []
    start = time.perf_counter()
    compile_seconds = 0.0
    for it in range(n_iter):
        x = jnp.asarray(inputs[it], dtype)
        w, opt_state, eta_current, loss, readout = train_step(
            w, opt_state, eta_current, x, jnp.asarray(shifted[it], dtype),
            jnp.asarray(truncate[it]), jnp.asarray(etas[it], dtype), jnp.asarray(counts[it]),
            any_truncated=any_truncated,
        )  # fmt: skip
        losses.append(float(loss))
        if record:
            readouts.append(np.asarray(readout))
        if it == 0:
            compile_seconds = time.perf_counter() - start
            start = time.perf_counter()
        if callback is not None:
            callback(it, losses[-1])
    jax.block_until_ready(w)
    seconds = time.perf_counter() - start
    return NestRun(
        weights=w,
        initial_weights=weights,
        loss=np.asarray(losses),
        readout_signal=np.stack(readouts) if record else None,
        seconds=seconds,
        compile_seconds=compile_seconds,
    )


# --------------------------------------------------------------------------------------------
# The tutorials' recipes (NEST 3.10, pynest/examples/eprop_plasticity/*_bsshslm_2020.py)

TUTORIALS = ("evidence_accumulation", "sine_waves", "infinite_loop", "handwriting")


class NestTutorial(NamedTuple):
    """One NEST tutorial's model, initial weights and inputs, as its script builds them."""

    task: str
    kernel: dict
    populations: list  # [(model, n, params)]
    readout: dict
    synapse: dict  # synapse defaults incl. the optimizer dict
    n_in: int
    n_out: int
    w_in: np.ndarray  # shape=(n_rec, n_in), float32 as the scripts draw them
    w_rec: np.ndarray  # shape=(n_rec, n_rec)
    w_out: np.ndarray  # shape=(n_out, n_rec)
    feedback: np.ndarray  # shape=(n_rec, n_out)
    inputs: np.ndarray  # shape=(n_iter, B, T, n_in), bool
    targets: np.ndarray  # shape=(n_iter, B, T, n_out), the target generators' values
    etas: np.ndarray | None = None  # shape=(n_iter,), learning rate per phase; None: constant
    phases: tuple = ()  # label per iteration ("training", "validation", "test"); () all training


def _kernel(sequence: int, window: int) -> dict:
    return {
        "eprop_learning_window": float(window),
        "eprop_reset_neurons_on_update": True,
        "eprop_update_interval": float(sequence),
        "resolution": 1.0,
    }


def _readout(tau_m: float, loss: str) -> dict:
    return {"C_m": 1.0, "E_L": 0.0, "I_e": 0.0, "loss": loss, "regular_spike_arrival": False,
            "tau_m": tau_m, "V_m": 0.0}  # fmt: skip


def _recurrent(v_th, tau_m, t_ref, c_reg, f_target, c_m, regular_arrival) -> dict:
    return {
        "C_m": c_m, "c_reg": c_reg, "E_L": 0.0, "f_target": f_target, "I_e": 0.0,
        "regular_spike_arrival": regular_arrival, "surrogate_gradient_function": "piecewise_linear",
        "surrogate_gradient_height": 0.3 / v_th, "surrogate_gradient_width": abs(v_th),
        "t_ref": t_ref, "tau_m": tau_m, "V_m": 0.0, "V_th": v_th,
    }  # fmt: skip


def _adam(batch: int, eta: float) -> dict:
    return {"type": "adam", "batch_size": batch, "beta_1": 0.9, "beta_2": 0.999,
            "epsilon": 1e-8, "eta": eta, "Wmin": -100.0, "Wmax": 100.0}  # fmt: skip


def _normal_weights(rng, n_in, n_rec, n_out, glorot_out: bool):
    """The scripts' initial weights, in their draw order (legacy NumPy global stream)."""
    f32 = np.float32
    w_in = np.array(rng.randn(n_in, n_rec).T / np.sqrt(n_in), dtype=f32)
    w_rec = np.array(rng.randn(n_rec, n_rec).T / np.sqrt(n_rec), dtype=f32)
    np.fill_diagonal(w_rec, 0.0)
    if glorot_out:
        limit = np.sqrt(3.0 / max(1.0, (n_rec + n_out) / 2.0))
        w_out = np.array(rng.uniform(-limit, limit, size=(n_rec, n_out)).T, dtype=f32)
        feedback = np.array(rng.randn(n_rec, n_out), dtype=f32)
    else:
        w_out = np.array(rng.randn(n_rec, n_out).T / np.sqrt(n_rec), dtype=f32)
        feedback = np.array(rng.randn(n_rec, n_out) / np.sqrt(n_rec), dtype=f32)
    return w_in, w_rec, w_out, feedback


def _evidence_batch(rng, batch: int, n_in: int, seq: int):
    """One batch of the evidence-accumulation input, drawn as the v3.10 script draws it."""
    n_cues, cue, spacing, recall, prob, spike_prob = 7, 100, 50, 150, 0.3, 0.04
    n_pop = n_in // 4
    choices = np.array([prob, 1 - prob], dtype=np.float32)
    idx = rng.choice([0, 1], batch)
    probs = np.stack([choices[idx], choices[1 - idx]], axis=1)
    cues = np.stack([rng.choice([0, 1], n_cues, p=probs[b]) for b in range(batch)])
    p = np.zeros((batch, seq, n_in))
    for b in range(batch):
        for c in range(n_cues):
            start = c * (cue + spacing) + spacing
            p[b, start : start + cue, cues[b, c] * n_pop : (cues[b, c] + 1) * n_pop] = spike_prob
    p[:, -recall:, 2 * n_pop : 3 * n_pop] = spike_prob
    p[:, :, 3 * n_pop :] = spike_prob / 4.0
    spikes = p > rng.rand(p.size).reshape(p.shape)
    spikes[:, 0, :] = False  # the scripts remove step-0 spikes ("for technical reasons")
    labels = (np.sum(cues, axis=1) > n_cues // 2).astype(int)
    return spikes, labels


def nest_tutorial(
    task: str,
    *,
    iterations: int,
    batch_size: int | None = None,
    seed: int = 1,
    handwriting_data: np.ndarray | None = None,
    validate_every: int | None = None,
    test_iterations: int = 0,
) -> NestTutorial:
    """Build a NEST 3.10 e-prop tutorial the way its script does (same seed -> same numbers).

    Weights, inputs and targets are drawn from NumPy's global-style stream seeded with ``seed``
    (``np.random.seed``), in the scripts' order, so ``seed=1`` reproduces the tutorials' own
    initial weights and inputs. Evidence accumulation follows the v3.10 script's training loop:
    by default training batches only (``do_early_stopping = False``, ``n_iter_test = 0``); with
    ``validate_every`` (the script's 10) a validation batch with ``eta = 0`` comes before every
    ``validate_every``-th training batch, and ``test_iterations`` (the script's 4) test batches
    with ``eta = 0`` follow; each phase draws its inputs in the script's order and the tutorial
    carries the per-phase learning rates (``etas``, pass them to :func:`nest_train`). The
    script's early stopping (extra phases once a validation error falls below 0.07) is not
    reproduced. The lemniscate and handwriting
    scripts draw ``tau_m ~ N(30, 2)`` ms from NEST's own generator, which cannot be reproduced
    here: this recipe draws them from the same NumPy stream after everything else (pass the
    values read back from NEST through ``populations`` to match a given NEST run).

    Args:
        task: one of :data:`TUTORIALS` (``infinite_loop`` is NEST's ``lemniscate``).
        iterations: training iterations (NEST's ``n_iter``).
        batch_size: sequences per iteration (default: the script's, 32 for evidence
            accumulation and 1 for the regression tasks).
        seed: NEST's ``rng_seed`` (the scripts use 1).
        handwriting_data: the ``chaos_handwriting.txt`` array, shape ``(n_points, 2)`` (needed for
            ``handwriting``; it ships with NEST's examples).
        validate_every: evidence accumulation: a validation phase before every this many
            training iterations (``None``: none).
        test_iterations: evidence accumulation: test phases after training.

    Example:
        >>> tut = nest_tutorial("sine_waves", iterations=2)
        >>> tut.inputs.shape, tut.targets.shape
        ((2, 1, 1000, 100), (2, 1, 1000, 1))
    """
    api = "nest_tutorial"
    if task == "lemniscate":
        task = "infinite_loop"
    if task not in TUTORIALS:
        raise _err(api, f"unknown task {task!r}; expected one of {', '.join(TUTORIALS)}.")
    if isinstance(iterations, bool) or not isinstance(iterations, int) or iterations < 1:
        raise _err(api, f"iterations must be an integer >= 1; got {iterations!r}.")
    rng = np.random.RandomState(seed)
    if task == "evidence_accumulation":
        batch = 32 if batch_size is None else batch_size
        n_in, n_reg, n_ad, n_out, seq, window = 40, 50, 50, 2, 2250, 150
        reg = _recurrent(0.6, 20.0, 5.0, 300.0, 10.0, 1.0, True)
        ad = {**reg, "adapt_tau": 2000.0, "adaptation": 0.0,
              "adapt_beta": 1.7 * (1 - np.exp(-1 / 2000.0)) / (1 - np.exp(-1 / 20.0))}  # fmt: skip
        populations = [("eprop_iaf_bsshslm_2020", n_reg, reg),
                       ("eprop_iaf_adapt_bsshslm_2020", n_ad, ad)]  # fmt: skip
        readout = _readout(20.0, "cross_entropy")
        synapse = {"optimizer": _adam(batch, 5e-3), "average_gradient": True,
                   "tau_m_readout": 20.0, "delay": 1.0}  # fmt: skip
        weights = _normal_weights(rng, n_in, n_reg + n_ad, n_out, glorot_out=True)
        if validate_every is not None and (
            isinstance(validate_every, bool) or not isinstance(validate_every, int)
            or validate_every < 1
        ):  # fmt: skip
            raise _err(
                api, f"validate_every must be None or an integer >= 1; got {validate_every!r}."
            )
        if (
            isinstance(test_iterations, bool)
            or not isinstance(test_iterations, int)
            or test_iterations < 0
        ):
            raise _err(api, f"test_iterations must be an integer >= 0; got {test_iterations!r}.")
        phases = []
        for k in range(iterations):
            if validate_every is not None and k % validate_every == 0:
                phases.append("validation")
            phases.append("training")
        phases += ["test"] * test_iterations
        draws = [_evidence_batch(rng, batch, n_in, seq) for _ in phases]
        spikes, labels = [d[0] for d in draws], [d[1] for d in draws]
        inputs = np.stack(spikes)
        targets = np.eye(n_out)[np.stack(labels)][:, :, None, :].repeat(seq, axis=2)
        etas = None
        if len(set(phases)) > 1:  # the script sets eta per phase and none before
            etas = np.array([5e-3 if phase == "training" else 0.0 for phase in phases])
            synapse["optimizer"].pop("eta")
        return NestTutorial(task, _kernel(seq, window), populations, readout, synapse, n_in,
                            n_out, *weights, inputs, targets, etas, tuple(phases))  # fmt: skip
    batch = 1 if batch_size is None else batch_size
    n_in = 100
    if task == "sine_waves":
        n_rec, n_out, seq = 100, 1, 1000
        populations = [("eprop_iaf_bsshslm_2020", n_rec,
                        _recurrent(0.03, 30.0, 0.0, 300.0, 10.0, 1.0, False))]  # fmt: skip
        readout = _readout(30.0, "mean_squared_error")
        optimizer = {"type": "gradient_descent", "batch_size": batch, "eta": 1e-4,
                     "Wmin": -100.0, "Wmax": 100.0}  # fmt: skip
        synapse = {"optimizer": optimizer, "average_gradient": False, "tau_m_readout": 30.0,
                   "delay": 1.0}  # fmt: skip
    else:
        n_rec, n_out = 200, 2
        if task == "handwriting":
            if handwriting_data is None:
                raise _err(api, "handwriting needs handwriting_data (chaos_handwriting.txt from "
                           "NEST's e-prop examples).")  # fmt: skip
            data = np.asarray(handwriting_data, np.float64)
            seq = len(data) * 8
        else:
            seq = 1258
        params = _recurrent(0.03, 30.0, 0.0, 150.0, 20.0, 250.0, False)
        params.update(
            adapt_tau=2000.0,
            adaptation=0.0,
            adapt_beta=1.7 * (1 - np.exp(-1 / 2000.0)) / (1 - np.exp(-1 / 30.0)),
        )
        populations = [("eprop_iaf_adapt_bsshslm_2020", n_rec, params)]
        readout = _readout(50.0, "mean_squared_error")
        synapse = {"optimizer": _adam(batch, 5e-3), "average_gradient": False,
                   "tau_m_readout": 50.0, "delay": 1.0}  # fmt: skip
    weights = _normal_weights(rng, n_in, n_rec, n_out, glorot_out=False)
    frozen = rng.rand(seq, n_in) < 0.05
    frozen[0] = False  # step-0 spikes removed, as in the scripts
    if task == "sine_waves":
        amplitudes = rng.uniform(0.5, 2.0, size=4)
        phases = rng.uniform(0.0, 2.0 * np.pi, size=4)
        target = sum(
            a * np.sin(np.linspace(phi, phi + 2.0 * np.pi * (seq // period), seq))
            for a, phi, period in zip(amplitudes, phases, (1000, 500, 333, 200), strict=True)
        )
        target = target - target[0]
        target = (target / max(np.abs(target).max(), 1e-6))[:, None]
    elif task == "infinite_loop":
        target = np.stack([np.sin(np.linspace(0.0, 2.0 * np.pi, seq)),
                           np.sin(np.linspace(0.0, 4.0 * np.pi, seq))], axis=1)  # fmt: skip
    else:
        columns = []
        for y in np.cumsum(data, axis=0).T:
            y = y / np.max(np.abs(y))
            columns.append(np.interp(np.arange(seq) / 8, np.arange(seq // 8), y - np.mean(y)))
        target = np.stack(columns, axis=1)
    if task != "sine_waves":
        populations[0][2]["tau_m"] = rng.normal(30.0, 2.0, size=n_rec)  # NEST draws these itself
    inputs = np.broadcast_to(frozen, (iterations, batch, seq, n_in))
    targets = np.broadcast_to(target, (iterations, batch, seq, n_out))
    return NestTutorial(task, _kernel(seq, seq), populations, readout, synapse, n_in, n_out,
                        *weights, inputs, targets, None, ("training",) * iterations)  # fmt: skip


def tutorial_network(tutorial: NestTutorial) -> tuple[Network, NestConfig]:
    """:func:`from_nest` applied to a :class:`NestTutorial`."""
    return from_nest(tutorial.kernel, tutorial.populations, tutorial.readout, tutorial.synapse,
                     n_in=tutorial.n_in, n_out=tutorial.n_out)  # fmt: skip


def nest_handwriting_data() -> np.ndarray:
    """``chaos_handwriting.txt`` from an installed ``nest-simulator`` (``eprop-jax[nest]``).

    Raises:
        ValueError: when NEST (and so the file) is not installed.
    """
    import importlib.util
    from pathlib import Path

    spec = importlib.util.find_spec("nest")
    locations = list(spec.submodule_search_locations or []) if spec else []
    for location in locations:
        path = Path(location) / "doc/examples/pynest/eprop_plasticity/chaos_handwriting.txt"
        if path.is_file():
            return np.loadtxt(path)
    raise _err(
        "nest_handwriting_data",
        "NEST's handwriting data (chaos_handwriting.txt) was not found; install the NEST extra "
        "(pip install 'eprop-jax[nest]') or pass handwriting_data=np.loadtxt(path).",
    )


def train_nest_tutorial(
    task: str,
    iterations: int,
    batch_size: int | None = None,
    seed: int = 1,
    out_dir: str | os.PathLike | None = None,
    *,
    dtype: str = "float64",
    handwriting_data: np.ndarray | None = None,
    validate_every: int | None = None,
    test_iterations: int = 0,
    callback: Callable[[int, float], None] | None = None,
    resume: bool = False,
    overwrite: bool = False,
) -> dict:
    """Run one of NEST's e-prop tutorials in NEST mode, as ``eprop-jax nest TASK``.

    Builds the tutorial with :func:`nest_tutorial` (the NEST script's seeds, weights and inputs),
    imports its parameters with :func:`from_nest` and trains with :func:`nest_train`. NEST computes
    in float64; ``dtype="float64"`` (the default) needs JAX's x64 mode
    (``jax.config.update("jax_enable_x64", True)``; the ``eprop-jax`` command switches it on).

    The output folder follows :mod:`eprop_jax.rundir` (kind ``"nest"``): locked while training,
    refused if it already holds a run unless ``overwrite``. NEST mode has no checkpoints (the
    whole tutorial is one compiled call), so ``resume`` is refused.

    Files written to ``out_dir`` (if given): ``config.json`` (``kind: "nest"``, task, seed and the
    NEST dictionaries), ``metrics.jsonl`` (``iteration``, ``phase``, ``loss`` per iteration),
    ``weights_initial.npz`` and ``weights_final.npz`` (``w_in``, ``w_rec``, ``w_out``,
    ``feedback``, NEST's (post, pre) layout) and ``summary.json`` (the returned dict).

    Args:
        task: ``evidence_accumulation``, ``sine_waves``, ``infinite_loop`` (``lemniscate``) or
            ``handwriting``.
        iterations: training iterations, >= 1.
        batch_size: sequences per iteration (``None``: the script's).
        seed: NEST's ``rng_seed`` (the scripts use 1).
        out_dir: output directory or ``None``.
        dtype: ``"float64"`` (NEST's precision) or ``"float32"``.
        handwriting_data: ``chaos_handwriting.txt`` as an array (default: from installed NEST).
        validate_every, test_iterations: evidence accumulation's validation and test phases
            (:func:`nest_tutorial`; the v3.10 script uses 10 and 4).
        callback: ``callback(iteration, loss)`` after every phase (iteration).
        resume: refused (NEST mode cannot resume).
        overwrite: delete a run already in ``out_dir`` and start anew.

    Returns:
        A summary dict: ``task``, ``iterations``, ``batch_size``, ``seed``, ``phases`` and
        ``loss`` (one per phase), ``final_loss``, ``seconds``, ``seconds_per_iteration``,
        ``compile_seconds``.

    Raises:
        ValueError: bad arguments, float64 while x64 is off, ``resume``, or a folder that cannot
            be used (:class:`~eprop_jax.rundir.RunDirError`).
        TrainingDiverged: the loss or the final weights are NaN/inf (``weights_final.npz`` is
            then not written).
    """
    import json

    from . import rundir
    from .train import TrainingDiverged, check_x64

    api = "train_nest_tutorial"
    if dtype not in ("float32", "float64"):
        raise _err(api, f"dtype must be 'float32' or 'float64'; got {dtype!r}.")
    if isinstance(iterations, bool) or not isinstance(iterations, int) or iterations < 1:
        raise _err(api, f"iterations must be an integer >= 1; got {iterations!r}.")
    if resume:
        raise _err(api, "NEST mode cannot resume: it trains the whole tutorial in one compiled "
                   "call and keeps no checkpoint; start again with overwrite (--overwrite).")  # fmt: skip
    check_x64(api, dtype)
    if task == "handwriting" and handwriting_data is None:
        handwriting_data = nest_handwriting_data()
    tut = nest_tutorial(task, iterations=iterations, batch_size=batch_size, seed=seed,
                        handwriting_data=handwriting_data, validate_every=validate_every,
                        test_iterations=test_iterations)  # fmt: skip
    net, config = tutorial_network(tut)
    weights = nest_weights(tut.w_in, tut.w_rec, tut.w_out, tut.feedback, dtype=jnp.dtype(dtype))
    run = None
    if out_dir is not None:
        record = {"task": tut.task, "iterations": iterations, "batch_size": tut.inputs.shape[1],
                  "seed": seed, "dtype": dtype, "validate_every": validate_every,
                  "test_iterations": test_iterations, "kernel": tut.kernel,
                  "readout": tut.readout,
                  "populations": [[m, n, p] for m, n, p in tut.populations],
                  "synapse": tut.synapse}  # fmt: skip
        record = json.loads(json.dumps(record, default=_json_default))
        run = rundir.open_run(out_dir, "nest", record, overwrite=overwrite, api=api)
    try:
        if run is not None:
            run.write_config(record)
            run.save_npz("weights_initial.npz", _weight_arrays(weights))
            run.start_metrics([])

        def on_iteration(iteration: int, loss: float) -> None:
            if run is not None:
                run.append_metrics([{"iteration": iteration + 1, "phase": tut.phases[iteration],
                                     "loss": loss}])  # fmt: skip
            if callback is not None:
                callback(iteration, loss)

        result = nest_train(net, config, weights, tut.inputs, tut.targets, etas=tut.etas,
                            callback=on_iteration)  # fmt: skip
        losses = np.asarray(result.loss)
        if not np.all(np.isfinite(losses)) or rundir.non_finite(_weight_arrays(result.weights)):
            bad = np.flatnonzero(~np.isfinite(losses))
            at = f" at iteration {int(bad[0]) + 1}" if bad.size else ""
            raise TrainingDiverged(f"`{api}`: the loss or the weights became NaN/inf{at}; "
                                   "weights_final.npz was not written.")  # fmt: skip
        summary = {
            "task": tut.task,
            "iterations": iterations,
            "batch_size": int(tut.inputs.shape[1]),
            "seed": seed,
            "phases": list(tut.phases),
            "loss": losses.tolist(),
            "final_loss": float(losses[-1]),
            "seconds": result.seconds + result.compile_seconds,
            "seconds_per_iteration": result.seconds / max(len(tut.phases) - 1, 1),
            "compile_seconds": result.compile_seconds,
        }
        if run is not None:
            run.save_npz("weights_final.npz", _weight_arrays(result.weights))
            run.write_json("summary.json", summary)
        return summary
    finally:
        if run is not None:
            run.close()


def _json_default(value):
    if isinstance(value, np.ndarray):
        return value.tolist()
    if isinstance(value, np.generic):
        return value.item()
    raise TypeError(f"not JSON serialisable: {type(value).__name__}")


def _weight_arrays(weights: Weights) -> dict:
    return {"w_in": np.asarray(weights.w_in), "w_rec": np.asarray(weights.w_rec),
            "w_out": np.asarray(weights.w_out), "feedback": np.asarray(weights.b_fb)}  # fmt: skip


def _save_weights(path, weights: Weights) -> None:
    from .rundir import save_npz

    save_npz(path, _weight_arrays(weights))
