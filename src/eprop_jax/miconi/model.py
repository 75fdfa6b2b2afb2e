r"""Miconi's reward-modulated rate network (eLife 2017) on delayed non-match-to-sample (DNMS).

A recurrent network of :math:`N` tanh rate units learns, from one scalar reward per trial, to
answer whether two successive stimuli differ. Learning is node perturbation made local: random
kicks :math:`\xi` drive the units, each synapse accumulates a Hebbian trace of its presynaptic
rate and the high-pass filtered postsynaptic activation, and at the end of a trial the trace is
multiplied by the reward's deviation from its running mean. This module follows the ANNarchy
notebook ``Miconi.ipynb`` (ANNarchy 4.8 and 5.0) step for step, with the reward-baseline bug of
that notebook fixed (see below). The training driver with files, progress bar and figures is
:func:`eprop_jax.miconi.train_dnms`.

**Network.** Units :math:`j = 0..N-1`; two inputs :math:`u` (A = channel 0, B = channel 1);
:math:`W^{in}` (``(N, 2)``, :math:`U(-1, 1)`, fixed); :math:`W` (``(N, N)``, post x pre) with
each synapse :math:`i \to j`, :math:`i \ne j`, present with probability :math:`p` and
:math:`W_{ji} \sim \mathcal N(0, g^2/(pN))` (``dense=True``: every :math:`i \ne j`, sd
:math:`g/\sqrt N`). Only present synapses carry a trace and learn. Bias units (default 0, 1, 2)
have their rate clamped to :math:`\tanh(+1), \tanh(+1), \tanh(-1)`; their :math:`x` integrates
as usual. The output is the rate of unit ``output_unit`` (default :math:`N/2`, 100 for 200 units).

**One step** (the order of ANNarchy's generated code: sums, then neurons, then synapses):

.. math::

    I_{t,j} &= \textstyle\sum_k W^{in}_{jk} u_{t,k} + \sum_i W_{ji}\, r_{t-1,i} \\
    \xi_{t,j} &= A\, U(-1, 1) \;\text{with probability}\; f = 0.003, \;\text{else}\; 0 \\
    x_{t,j} &= x_{t-1,j} + \tfrac{dt}{\tau}\,(I_{t,j} + \xi_{t,j} - x_{t-1,j}),
        \qquad r_{t,j} = \tanh(x_{t,j}) \;\;(\text{bias units: clamped})\\
    \Delta x_{t,j} &= x_{t,j} - \bar x_{t-1,j}, \qquad
        \bar x_{t,j} = \alpha\, \bar x_{t-1,j} + (1 - \alpha)\, x_{t,j} \\
    e_{ji} &\mathrel{+}= (r_{t-1,i}\, \Delta x_{t,j})^3 \quad\text{(present synapses only)}

with :math:`A = 16`, :math:`\alpha = 0.05` (so :math:`\Delta x` is almost the one-step change of
:math:`x`). Because :math:`(r\,\Delta x)^3 = r^3 \Delta x^3`, the trace over a trial is the
matrix product :math:`e = (\Delta X^3)^\top R_{prev}^3` of the ``(T, N)`` histories; this
``trace="factored"`` path (the default, one GEMM per trial) equals the per-step
``trace="online"`` path to float rounding (tested).

**Trial** (:math:`T = 1000` steps of 1 ms): :math:`x \sim U(-0.1, 0.1)`, :math:`r = \tanh(x)`
(bias units clamped), :math:`e = 0`; :math:`\bar x` carries over from the previous trial. The
first stimulus is on for steps 0-199, the second for 400-599. Targets: AA, BB :math:`\to -0.98`,
AB, BA :math:`\to +0.98`. Reward :math:`R = -\overline{|target - r_{out,t}|}` over the last 200
steps; the error is :math:`-R`.

**Learning** after each trial of type :math:`k`, from group ``n_warmup`` on:

.. math::

    \Delta W_{ji} = \operatorname{clip}\big(\eta\, e_{ji}\, |\bar R_k|\, (R - \bar R_k),
        \; -3\cdot 10^{-4},\; 3\cdot 10^{-4}\big)

with :math:`\eta = 0.5`; :math:`\bar R_k` is the running reward of trial type :math:`k` before
this trial. A *group* is the four types in the fixed order AA, AB, BA, BB; the weights change
after every trial, so the four trials run one after the other. After each group (warm-up groups
included) every type's baseline moves: :math:`\bar R_k \leftarrow 0.75 \bar R_k + 0.25 R_k`,
from :math:`\bar R_k = -1`. (Per group or per trial is the same thing: type :math:`k` runs once
per group and only its own trials read :math:`\bar R_k`.)

**Differences from the ANNarchy notebook**, all deliberate:

* *AB baseline.* The notebook stores ``[[rAA, rBA], [rBA, rBB]]``, so the AB slot tracks BA's
  reward and AB's own reward never enters a baseline; in the reference run AB never learned.
  Here each type has its own baseline; ``ab_baseline_bug=True`` reproduces the notebook.
* *Trace reset.* The notebook zeroes the trace only after a learning step, so the first update
  (group 26) uses a trace summed over the ~108 earlier trials. Here the trace starts at zero in
  every trial (as in Miconi's ``net.cpp``); clipping bounds that one update anyway.
* *Learning step.* The notebook applies :math:`\Delta W` during one extra simulated step (zero
  input, trace frozen). Here the update is applied directly; the extra step changes only one
  update of :math:`\bar x`.
* *Warm-up.* ``n_warmup = 26`` reproduces the notebook's ``if trial > 25`` over groups counted
  from 0 (groups 0-25 do not learn; Miconi's code: trials 0-100).

**Differences from Miconi's** ``dnms/net.cpp`` (kept as in ANNarchy): sparse :math:`p = 0.1`
without self-connections (net.cpp: dense, diagonal included), :math:`\eta = 0.5` (0.1), output
unit 100 with direct input (unit 0, no input), biases clamp :math:`r` (net.cpp clamps :math:`x`),
two inputs (three, one unused), perturbations from the first trial (from trial 4), baseline
initialised to -1 (0) and updated per trial.

**Randomness.** One uniform draw :math:`v \sim U(0, 1)` per unit and step gives both the event
and its amplitude: :math:`\xi = A (2v/f - 1)` if :math:`v < f`, else 0 (given :math:`v < f`,
:math:`v/f` is uniform). Group :math:`g` uses ``fold_in(key, g)``, so chunked training equals
one long run.

Example:
    >>> import jax
    >>> cfg = MiconiConfig(n=8, trial_steps=40, stim_steps=8, gap_steps=8, response_steps=10)
    >>> state = init(cfg, key=jax.random.key(0))
    >>> state, out = train_groups(cfg, state, n_groups=3, key=jax.random.key(1))
    >>> out.reward.shape, int(state.group)
    ((3, 4), 3)

References:
    T. Miconi, `Biologically plausible learning in recurrent neural networks reproduces neural
    dynamics observed during cognitive tasks <https://doi.org/10.7554/eLife.20899>`_, eLife
    6:e20899, 2017 (Eq. 1 and Methods); the ANNarchy notebook ``Miconi.ipynb``
    (ANNarchy/ANNarchy.github.io).
"""

from __future__ import annotations

import dataclasses
import functools
from typing import NamedTuple

import jax
import jax.numpy as jnp
import numpy as np

from .._checks import check_choice
from ..models.rate import RateParams, RateState, rate_params, rate_step

TRIAL_TYPES = ("AA", "AB", "BA", "BB")
"""The four trial types, in the order of a group; type ``k`` shows stimuli ``k // 2, k % 2``."""

TRACE_MODES = ("factored", "online")


@dataclasses.dataclass(frozen=True)
class MiconiConfig:
    """Hyperparameters of the network, the DNMS trials and the learning rule.

    Defaults are those of the ANNarchy notebook (times in ms, ``dt = 1``). Validated on
    construction (``ValueError`` naming the field and the accepted range). Hashable, so it can
    be a static argument of ``jax.jit``.

    Attributes:
        n: number of units, >= 4 (three bias units and the output unit).
        tau: time constant (ms), > 0.
        dt: time step (ms), > 0.
        p: connection probability of the sparse network, in (0, 1].
        g: gain; weights have sd ``g / sqrt(p n)``, > 0.
        dense: connect every pair ``i != j`` (``p`` is then ignored; sd ``g / sqrt(n)``).
        eta: learning rate, >= 0.
        clip: bound on ``|dW|`` per synapse and trial, > 0.
        perturb_prob: probability of a perturbation per unit and step, in [0, 1].
        perturb_amplitude: perturbation amplitude A (``xi ~ A U(-1, 1)``), >= 0.
        xbar_alpha: decay of the running mean of x, in [0, 1).
        baseline_decay: decay of the per-type reward baseline, in [0, 1).
        baseline_init: initial reward baseline.
        n_warmup: groups (0-based) that do not learn, >= 0.
        stim_steps: steps each stimulus is on, >= 1.
        gap_steps: steps between the two stimuli, >= 0.
        trial_steps: steps per trial, >= ``2 stim_steps + gap_steps``.
        response_steps: steps at the end of the trial over which the reward is taken.
        target: target magnitude (``+target`` for AB/BA, ``-target`` for AA/BB), in (0, 1).
        output_unit: index of the output unit (``None``: ``n // 2``, or ``n - 1`` if that is a
            bias unit); not a bias unit.
        bias_units: indices of the bias units.
        bias_values: their clamped rates are ``tanh(bias_values)``.
        x_init: initial x of each trial is ``U(-x_init, x_init)``, >= 0.
        ab_baseline_bug: reproduce the ANNarchy notebook (AB slot tracks BA's reward).
        trace: ``"factored"`` (one matrix product per trial) or ``"online"`` (per step).
        dtype: ``"float32"`` or ``"float64"``.
    """

    n: int = 200
    tau: float = 30.0
    dt: float = 1.0
    p: float = 0.1
    g: float = 1.5
    dense: bool = False
    eta: float = 0.5
    clip: float = 3e-4
    perturb_prob: float = 0.003
    perturb_amplitude: float = 16.0
    xbar_alpha: float = 0.05
    baseline_decay: float = 0.75
    baseline_init: float = -1.0
    n_warmup: int = 26
    stim_steps: int = 200
    gap_steps: int = 200
    trial_steps: int = 1000
    response_steps: int = 200
    target: float = 0.98
    output_unit: int | None = None
    bias_units: tuple[int, ...] = (0, 1, 2)
    bias_values: tuple[float, ...] = (1.0, 1.0, -1.0)
    x_init: float = 0.1
    ab_baseline_bug: bool = False
    trace: str = "factored"
    dtype: str = "float32"

    def __post_init__(self) -> None:
        api = "MiconiConfig"

        def fail(name, accepted):
            raise ValueError(f"`{api}`: {name} must be {accepted}; got {getattr(self, name)!r}.")

        def integer(name, low):
            value = getattr(self, name)
            if isinstance(value, bool) or not isinstance(value, int | np.integer) or value < low:
                fail(name, f"an integer >= {low}")

        def real(name, ok, accepted):
            value = getattr(self, name)
            if isinstance(value, bool) or not isinstance(value, int | float | np.number):
                fail(name, f"a number {accepted}")
            if not (np.isfinite(value) and ok(float(value))):
                fail(name, accepted)

        integer("n", 4)
        for name in ("stim_steps", "response_steps"):
            integer(name, 1)
        integer("gap_steps", 0)
        integer("n_warmup", 0)
        integer("trial_steps", 2 * self.stim_steps + self.gap_steps)
        if self.response_steps > self.trial_steps:
            fail("response_steps", f"in [1, trial_steps={self.trial_steps}]")
        for name in ("tau", "dt", "g", "clip"):
            real(name, lambda v: v > 0, "> 0")
        real("p", lambda v: 0 < v <= 1, "in (0, 1]")
        real("eta", lambda v: v >= 0, ">= 0")
        real("perturb_prob", lambda v: 0 <= v <= 1, "in [0, 1]")
        real("perturb_amplitude", lambda v: v >= 0, ">= 0")
        real("x_init", lambda v: v >= 0, ">= 0")
        for name in ("xbar_alpha", "baseline_decay"):
            real(name, lambda v: 0 <= v < 1, "in [0, 1)")
        real("baseline_init", lambda v: True, "(finite)")
        real("target", lambda v: 0 < v < 1, "in (0, 1)")
        for name in ("dense", "ab_baseline_bug"):
            if not isinstance(getattr(self, name), bool):
                fail(name, "True or False")
        check_choice(api, "trace", self.trace, TRACE_MODES)
        check_choice(api, "dtype", self.dtype, ("float32", "float64"))
        bias = tuple(self.bias_units)
        if len(bias) != len(self.bias_values) or len(set(bias)) != len(bias):
            raise ValueError(
                f"`{api}`: bias_units and bias_values must have the same length and distinct "
                f"units; got {self.bias_units!r} and {self.bias_values!r}."
            )
        if any(not isinstance(b, int | np.integer) or not 0 <= b < self.n for b in bias):
            fail("bias_units", f"indices in [0, n={self.n})")
        out = self.output
        if not isinstance(out, int | np.integer) or not 0 <= out < self.n or out in bias:
            fail("output_unit", f"None or an index in [0, n={self.n}) that is not a bias unit")
        # Store tuples (hashable) even when lists were given.
        object.__setattr__(self, "bias_units", tuple(int(b) for b in bias))
        object.__setattr__(self, "bias_values", tuple(float(v) for v in self.bias_values))

    @property
    def output(self) -> int:
        """The output unit's index: ``output_unit``, or when that is ``None`` ``n // 2`` (``n - 1``
        if ``n // 2`` is a bias unit)."""
        if self.output_unit is not None:
            return self.output_unit
        return self.n // 2 if self.n // 2 not in self.bias_units else self.n - 1

    @property
    def connection_probability(self) -> float:
        """``1.0`` for a dense network, else ``p``."""
        return 1.0 if self.dense else float(self.p)

    @property
    def jnp_dtype(self):
        return jnp.float64 if self.dtype == "float64" else jnp.float32


class MiconiWeights(NamedTuple):
    """The network's weights; only ``w_rec`` learns."""

    w_in: jax.Array  # shape=(n, 2), input weights U(-1, 1), fixed
    w_rec: jax.Array  # shape=(n, n), recurrent weights W[post, pre]; 0 where mask is 0
    mask: jax.Array  # shape=(n, n), 1.0 where a synapse exists (never on the diagonal)


class MiconiState(NamedTuple):
    """The state carried from step to step within a trial."""

    x: jax.Array  # shape=(n,), activation x_t
    r: jax.Array  # shape=(n,), rate r_t (bias units clamped)
    xbar: jax.Array  # shape=(n,), running mean of x, xbar_t


class StepOutput(NamedTuple):
    """What one step hands to the trace and the reward."""

    r_prev: jax.Array  # shape=(n,), r_{t-1} (the presynaptic factor of the trace)
    dx: jax.Array  # shape=(n,), x_t - xbar_{t-1} (the postsynaptic factor)
    r_out: jax.Array  # shape=(), the output unit's rate r_t


class TrialOutput(NamedTuple):
    reward: jax.Array  # shape=(), R = -mean |target - r_out| over the response window
    r_out: jax.Array  # shape=(trial_steps,), the output unit's rate
    trace: jax.Array  # shape=(n, n), eligibility trace e[post, pre] summed over the trial
    xbar: jax.Array  # shape=(n,), xbar after the last step (carried to the next trial)


class TrainState(NamedTuple):
    """Everything that changes over training (one network; ``jax.vmap`` for many)."""

    weights: MiconiWeights
    xbar: jax.Array  # shape=(n,), running mean of x, carried across trials
    baseline: jax.Array  # shape=(4,), reward baseline per type, order AA, AB, BA, BB
    group: jax.Array  # shape=(), dtype=int32, groups done so far


class GroupOutput(NamedTuple):
    reward: jax.Array  # shape=(4,), reward of each trial type, order AA, AB, BA, BB
    baseline: jax.Array  # shape=(4,), the baselines after this group's update


class EvalOutput(NamedTuple):
    reward: jax.Array  # shape=(4,), reward per trial type
    r_out: jax.Array  # shape=(4, trial_steps), the output unit's rate per trial type


# --------------------------------------------------------------------------------------------
# Building blocks
# --------------------------------------------------------------------------------------------


def init_weights(config: MiconiConfig, *, key: jax.Array) -> MiconiWeights:
    """Draw ``w_in ~ U(-1, 1)``, the connectivity mask and ``w_rec ~ N(0, g^2 / (p n))``."""
    n, p, dtype = config.n, config.connection_probability, config.jnp_dtype
    key_in, key_mask, key_rec = jax.random.split(key, 3)
    w_in = jax.random.uniform(key_in, (n, 2), dtype, -1.0, 1.0)
    off_diagonal = ~jnp.eye(n, dtype=bool)  # no self-connections
    present = jax.random.bernoulli(key_mask, p, (n, n)) if p < 1 else jnp.ones((n, n), bool)
    mask = (present & off_diagonal).astype(dtype)
    w_rec = jax.random.normal(key_rec, (n, n), dtype) * float(config.g / np.sqrt(p * n)) * mask
    return MiconiWeights(w_in=w_in, w_rec=w_rec, mask=mask)


def init(config: MiconiConfig, *, key: jax.Array) -> TrainState:
    """A fresh network: weights from :func:`init_weights`, ``xbar = 0``, baselines at the start."""
    dtype = config.jnp_dtype
    return TrainState(
        weights=init_weights(config, key=key),
        xbar=jnp.zeros(config.n, dtype),
        baseline=jnp.full(4, config.baseline_init, dtype),
        group=jnp.zeros((), jnp.int32),
    )


def _rate_params(config: MiconiConfig) -> RateParams:
    params = rate_params(config.n, tau=config.tau, dt=config.dt)
    return RateParams(jnp.asarray(params.dt_over_tau, config.jnp_dtype))


def _clamp_bias(config: MiconiConfig, r: jax.Array) -> jax.Array:
    """Set the bias units' rates to ``tanh(bias_values)``."""
    is_bias = np.zeros(config.n, bool)
    values = np.zeros(config.n)
    is_bias[list(config.bias_units)] = True
    values[list(config.bias_units)] = np.tanh(config.bias_values)
    return jnp.where(is_bias, jnp.asarray(values, r.dtype), r)


def miconi_step(
    config: MiconiConfig,
    weights: MiconiWeights,
    state: MiconiState,
    external: jax.Array,
) -> tuple[MiconiState, StepOutput]:
    r"""One step of the network in ANNarchy's order (equations in the module docstring).

    Args:
        config: the :class:`MiconiConfig`.
        weights: ``w_rec`` ``(n, n)`` (``w_in`` enters through ``external``).
        state: :class:`MiconiState` after step t-1.
        external: :math:`W^{in} u_t + \xi_t`, shape ``(n,)`` (:func:`external_input` computes
            it for a whole trial, outside the time loop).

    Returns:
        ``(new_state, StepOutput(r_prev, dx, r_out))``.
    """
    current = external + weights.w_rec @ state.r  # r_{t-1}
    rate, r = rate_step(_rate_params(config), RateState(state.x, state.r), current)
    r = _clamp_bias(config, r)
    dx = rate.x - state.xbar  # xbar_{t-1}
    xbar = config.xbar_alpha * state.xbar + (1.0 - config.xbar_alpha) * rate.x
    out = StepOutput(r_prev=state.r, dx=dx, r_out=r[config.output])
    return MiconiState(x=rate.x, r=r, xbar=xbar), out


def trace_increment(mask: jax.Array, r_prev: jax.Array, dx: jax.Array) -> jax.Array:
    """One step's trace increment ``mask_ji (r_prev_i dx_j)^3``, shape ``(n, n)`` [post, pre]."""
    return (r_prev[None, :] * dx[:, None]) ** 3 * mask


def trial_inputs(config: MiconiConfig, trial_type) -> tuple[jax.Array, jax.Array]:
    """Stimuli ``u`` ``(trial_steps, 2)`` and target (scalar) of trial type 0-3 (AA..BB)."""
    dtype = config.jnp_dtype
    trial_type = jnp.asarray(trial_type, jnp.int32)
    first, second = trial_type // 2, trial_type % 2
    t = jnp.arange(config.trial_steps)
    s, gap = config.stim_steps, config.gap_steps
    on_first = (t < s).astype(dtype)[:, None]
    on_second = ((t >= s + gap) & (t < 2 * s + gap)).astype(dtype)[:, None]
    u = on_first * jax.nn.one_hot(first, 2, dtype=dtype) + on_second * jax.nn.one_hot(
        second, 2, dtype=dtype
    )
    target = jnp.where(first != second, config.target, -config.target).astype(dtype)
    return u, target


def perturbations(config: MiconiConfig, amplitude, *, key: jax.Array) -> jax.Array:
    """Draw the perturbations ``xi`` of one trial, shape ``(trial_steps, n)``.

    ``xi = amplitude (2 v / f - 1)`` where ``v < f`` and 0 elsewhere, ``v ~ U(0, 1)``,
    ``f = perturb_prob``.
    """
    dtype = config.jnp_dtype
    f = config.perturb_prob
    if f == 0:
        return jnp.zeros((config.trial_steps, config.n), dtype)
    v = jax.random.uniform(key, (config.trial_steps, config.n), dtype)
    amplitude = jnp.asarray(amplitude, dtype)
    return jnp.where(v < f, amplitude * (2.0 * v / f - 1.0), jnp.zeros((), dtype))


def external_input(weights: MiconiWeights, u: jax.Array, xi: jax.Array) -> jax.Array:
    """The input that does not depend on the state, ``W_in u_t + xi_t``, shape ``(T, n)``."""
    return u @ weights.w_in.T + xi


def run_trial(
    config: MiconiConfig,
    weights: MiconiWeights,
    xbar: jax.Array,
    trial_type,
    *,
    key: jax.Array,
    amplitude=None,
) -> TrialOutput:
    """Simulate one trial (one ``lax.scan`` over ``trial_steps``) and compute its trace.

    Args:
        config: the :class:`MiconiConfig`.
        weights: the :class:`MiconiWeights`.
        xbar: running mean of x from the previous trial, ``(n,)``.
        trial_type: 0-3 for AA, AB, BA, BB (may be traced).
        key: draws the initial x and the perturbations.
        amplitude: perturbation amplitude (``None``: ``config.perturb_amplitude``; 0 to test).

    Returns:
        :class:`TrialOutput` (reward, output trace, eligibility trace, final xbar).
    """
    dtype = config.jnp_dtype
    amplitude = config.perturb_amplitude if amplitude is None else amplitude
    key_x, key_xi = jax.random.split(key)
    x0 = jax.random.uniform(key_x, (config.n,), dtype, -config.x_init, config.x_init)
    state0 = MiconiState(x=x0, r=_clamp_bias(config, jnp.tanh(x0)), xbar=xbar)
    u, target = trial_inputs(config, trial_type)
    external = external_input(weights, u, perturbations(config, amplitude, key=key_xi))

    def step(state, external_t):
        return miconi_step(config, weights, state, external_t)

    if config.trace == "online":

        def step_online(carry, inputs):
            state, trace = carry
            state, out = step(state, inputs)
            return (state, trace + trace_increment(weights.mask, out.r_prev, out.dx)), out.r_out

        trace0 = jnp.zeros((config.n, config.n), dtype)
        (final, trace), r_out = jax.lax.scan(step_online, (state0, trace0), external)
    else:
        final, out = jax.lax.scan(step, state0, external)
        r_out = out.r_out
        # sum_t (r_prev_i dx_j)^3 = sum_t dx_j^3 r_prev_i^3: one (n, T) x (T, n) product.
        trace = (out.dx**3).T @ (out.r_prev**3) * weights.mask
    error = jnp.mean(jnp.abs(target - r_out[-config.response_steps :]))
    return TrialOutput(reward=-error, r_out=r_out, trace=trace, xbar=final.xbar)


def weight_update(
    config: MiconiConfig, trace: jax.Array, mask: jax.Array, reward, baseline
) -> jax.Array:
    """``dW = clip(eta e |Rbar| (R - Rbar), -clip, clip)`` on present synapses, ``(n, n)``."""
    dw = config.eta * trace * jnp.abs(baseline) * (reward - baseline)
    return jnp.clip(dw, -config.clip, config.clip) * mask


def update_baseline(config: MiconiConfig, baseline: jax.Array, rewards: jax.Array) -> jax.Array:
    """``Rbar_k <- d Rbar_k + (1 - d) R_k`` for the four types (AA, AB, BA, BB).

    With ``ab_baseline_bug`` the AB slot takes BA's reward, as the ANNarchy notebook does.
    """
    if config.ab_baseline_bug:
        rewards = rewards.at[1].set(rewards[2])
    d = config.baseline_decay
    return d * baseline + (1.0 - d) * rewards


def run_group(
    config: MiconiConfig, state: TrainState, *, key: jax.Array
) -> tuple[TrainState, GroupOutput]:
    """One group: trials AA, AB, BA, BB in that order, each followed by its weight update.

    The weights learn after each trial once ``state.group >= n_warmup``; the baselines are
    updated at the end of the group (:func:`update_baseline`).
    """
    learn = state.group >= config.n_warmup

    def trial(carry, inputs):
        weights, xbar = carry
        trial_type, trial_key = inputs
        out = run_trial(config, weights, xbar, trial_type, key=trial_key)
        baseline = state.baseline[trial_type]
        dw = weight_update(config, out.trace, weights.mask, out.reward, baseline)
        w_rec = jnp.where(learn, weights.w_rec + dw, weights.w_rec)
        return (weights._replace(w_rec=w_rec), out.xbar), out.reward

    types = jnp.arange(4, dtype=jnp.int32)
    (weights, xbar), rewards = jax.lax.scan(
        trial, (state.weights, state.xbar), (types, jax.random.split(key, 4))
    )
    baseline = update_baseline(config, state.baseline, rewards)
    new_state = TrainState(weights=weights, xbar=xbar, baseline=baseline, group=state.group + 1)
    return new_state, GroupOutput(reward=rewards, baseline=baseline)


def train_groups(
    config: MiconiConfig, state: TrainState, *, n_groups: int, key: jax.Array
) -> tuple[TrainState, GroupOutput]:
    """Run ``n_groups`` groups in one ``lax.scan``; jit-compiled (``config`` and ``n_groups``
    static).

    Group ``g`` (counted by ``state.group``) uses ``fold_in(key, g)``, so two calls of 50 groups
    equal one call of 100. Vmap over networks with
    ``jax.vmap(lambda s, k: train_groups(config, s, n_groups=G, key=k))``.

    Returns:
        ``(state, GroupOutput)`` with fields of shape ``(n_groups, 4)``.
    """
    return _train_groups(config, state, n_groups, key)


@functools.partial(jax.jit, static_argnums=(0, 2))
def _train_groups(config, state, n_groups, key):
    def group(state, _):
        return run_group(config, state, key=jax.random.fold_in(key, state.group))

    return jax.lax.scan(group, state, None, length=n_groups)


def evaluate(
    config: MiconiConfig,
    weights: MiconiWeights,
    *,
    key: jax.Array,
    amplitude=0.0,
) -> EvalOutput:
    """One test trial of each type (no learning; no perturbation by default).

    The trials run in parallel from ``xbar = 0`` (xbar affects only the trace, not the output).
    """
    xbar = jnp.zeros(config.n, config.jnp_dtype)
    types = jnp.arange(4, dtype=jnp.int32)

    def one(trial_type, trial_key):
        out = run_trial(config, weights, xbar, trial_type, key=trial_key, amplitude=amplitude)
        return out.reward, out.r_out

    reward, r_out = jax.vmap(one)(types, jax.random.split(key, 4))
    return EvalOutput(reward=reward, r_out=r_out)


# --------------------------------------------------------------------------------------------
# Criterion
# --------------------------------------------------------------------------------------------


def trial_errors(rewards) -> np.ndarray:
    """Errors ``-R`` in trial order from rewards of shape ``(..., groups, 4)``: ``(..., 4 groups)``."""
    rewards = np.asarray(rewards)
    return -rewards.reshape(*rewards.shape[:-2], -1)


def trials_to_criterion(
    errors, threshold: float, *, window: int = 100, fraction: float = 0.95
) -> int | None:
    """The first trial count ``t`` at which the ``window`` trials before it have at least
    ``fraction`` of errors below ``threshold`` (Miconi 2017: 95 % of 100 below 1).

    Args:
        errors: per-trial errors in trial order, shape ``(n_trials,)``.
        threshold: error threshold.
        window: number of successive trials.
        fraction: required fraction in (0, 1].

    Returns:
        ``t`` (trials done, ``window <= t <= n_trials``), or ``None`` if never reached.

    Example:
        >>> trials_to_criterion([2.0] * 10 + [0.1] * 100, 1.0, window=100, fraction=0.95)
        105
    """
    below = (np.asarray(errors, np.float64) < threshold).astype(np.int64)
    if below.ndim != 1:
        raise ValueError(
            f"`trials_to_criterion`: expected errors of shape (n_trials,), got {below.shape}."
        )
    if below.size < window:
        return None
    counts = np.convolve(below, np.ones(window, np.int64), mode="valid")  # trials t-window..t-1
    hit = np.flatnonzero(counts >= fraction * window - 1e-9)
    return int(hit[0]) + window if hit.size else None
