r"""Reward-based e-prop: an actor-critic spiking agent trained by eligibility traces and TD errors.

The recurrent network of ``network.py`` (any neuron model: LIF, ALIF, mixed, ``psc_delta``) gets
:math:`K + 1` leaky readouts: :math:`K` policy readouts :math:`y^\pi_t` (the action logits,
:math:`\pi_t = \mathrm{softmax}(y^\pi_t)`) and one value readout :math:`V_t` (the last readout).
An episode (:class:`Episode`) is the observations :math:`x_t`, the actions :math:`a_t \sim \pi_t`
taken, the rewards :math:`r_t` and the alive mask :math:`m_t` (1 up to and including the step on
which the episode ends).

Symbols (per episode :math:`b`; :math:`j` postsynaptic, :math:`i` presynaptic, :math:`t = 1..T`):

=============================== =================================================================
:math:`\gamma`                  discount factor (``gamma``)
:math:`c_V,\ c_H`               value and entropy coefficients (``c_value``, ``c_entropy``)
:math:`B = [B^\pi, B^V]`        feedback matrix ``(n_rec, K+1)``: :math:`W^{out\top}`
                                (symmetric), ``b_fb`` (random / adaptive), as supervised e-prop
:math:`\delta_t`                TD error :math:`m_t (r_t + \gamma m_{t+1} V_{t+1} - V_t)`,
                                where :math:`m_{T+1} V_{T+1} = b` (``Episode.bootstrap``): 0
                                for an episode that ends by :math:`T`, the agent's value after
                                the window for one cut at :math:`T` (truncation bootstrapping)
:math:`\Psi_t`                  :math:`\sum_{s \ge t} \gamma^{s-t} \delta_s = G_t - V_t`
                                (return minus value; :math:`G_t` includes
                                :math:`\gamma^{T+1-t} b`)
:math:`L_t`                     actor-critic learning signal
                                :math:`L_{t,j} = m_t \big(\sum_k B^\pi_{jk}(\pi_{t,k} -
                                \mathbb 1[a_t = k]) - c_V B^V_j\big)`
:math:`\bar e_t`                :math:`\kappa`-filtered eligibility trace (``eprop.py``)
:math:`\mathcal F_\gamma`       forward filter :math:`\mathcal F_\gamma(u)_t = \gamma
                                \mathcal F_\gamma(u)_{t-1} + u_t`
:math:`N`                       :math:`\sum_{t,b} m_{t,b}`, the number of alive steps
=============================== =================================================================

**The update** (Bellec et al. 2020, Methods "Reward-based e-prop", the actor-critic loss
:math:`E = E_\pi + c_V E_V` with the policy-gradient and TD estimates of its gradient, and the
update :math:`\Delta W_{ji} = -\eta \sum_t \delta_t \mathcal F_\gamma(L_j \bar e_{ji})_t`;
cited by section, not by equation number: the numbers could not be checked against the
published PDF). We add an entropy bonus and the firing-rate regulariser of ``losses.py``; the gradient that is
*descended* is

.. math::

    D_{ji} = \frac{1}{N} \sum_{t,b} \Big[ \delta_t\, \mathcal F_\gamma(L_j \bar e_{ji})_t
             + L^H_{t,j}\, \bar e_{t,ji} \Big] + r_j \sum_{t,b} e_{t,ji},
    \qquad L^H_t = B\, \frac{\partial(-c_H \mathcal H(\pi_t))}{\partial y_t}\, m_t

and the readouts get the same expression with :math:`\bar e_{ji}` replaced by the filtered spikes
:math:`\bar z_{t,j}` (and :math:`B` by the identity: their gradient is exact). The sign of
:math:`c_V B^V` in :math:`L` follows from descending :math:`D`: :math:`\delta > 0` must raise
:math:`V` and the taken action's probability.

**The surrogate objective** it follows. Exchanging the sums,
:math:`\sum_t \delta_t \mathcal F_\gamma(u)_t = \sum_t \Psi_t u_t`, so :math:`D` is, exactly, the
e-prop gradient (stop-gradient on :math:`z_{t-1}` in the recurrence and the reset, learning signal
through :math:`B`; Supplementary Note 1) of

.. math::

    J = \frac{1}{N} \sum_{t,b} m_t \Big[ -\mathrm{sg}(\Psi_t) \log \pi_t(\mathrm{sg}(a_t))
        - c_V\, \mathrm{sg}(\Psi_t)\, V_t - c_H\, \mathcal H(\pi_t) \Big] + E_{reg}

(:math:`\mathrm{sg}` = stop-gradient; :math:`-\Psi_t V_t` has the gradient of
:math:`\tfrac12 (G_t - V_t)^2`: Monte-Carlo value regression, TD(1) in its forward view.)
Three computations of :math:`D`, equal to float rounding (``tests/test_reward.py``, 1e-10 in
float64):

- :func:`reward_eprop_online`: the paper's form, forward in time: the carry holds
  :math:`\mathcal F_\gamma(L \bar e)` per episode ``(B, n, P)`` and the previous step's value and
  reward; :math:`\delta_{t-1}` is applied when :math:`V_t` is known. The carry does not grow
  with :math:`T` (only the recorded episode itself does).
- :func:`reward_eprop_factored`: :math:`\Psi` by one reverse scan over the values, then the
  factored e-prop engine (``eprop_factored.py``) on the per-step loss of :math:`J`. Offline,
  fastest; the trainer's default.
- :func:`reward_eprop_autodiff`: ``jax.grad`` of :math:`J` through ``simulate`` with the
  stop-gradients (the reference).

References:
    Bellec et al. 2020, "A solution to the learning dilemma for recurrent networks of spiking
    neurons", Nat. Commun. 11:3625, Methods "Reward-based e-prop" and Supplementary Note 5;
    Eq. 28 (e-prop gradient from filtered traces and learning signals).
"""

from __future__ import annotations

from typing import NamedTuple

import jax
import jax.numpy as jnp
import numpy as np

from ._checks import check_finite, check_positive, check_shape
from .engines import autodiff_gradients, eprop_factored_gradients
from .losses import RateRegularization, rate_regularization, trial_stats
from .models.base import EpropStep
from .network import (
    Network,
    NetworkState,
    Weights,
    cast,
    check_inputs,
    check_weights,
    init_state,
    network_step,
    recurrent_mask,
    simulate,
)
from .rules import Feedback, resolve_feedback

IMPLEMENTATIONS = ("online", "factored", "autodiff")


class ActorCritic(NamedTuple):
    """Hyperparameters of reward-based e-prop (built and checked by :func:`actor_critic`)."""

    n_actions: int  # K; the network has K + 1 readouts (the last is the value V)
    gamma: float = 0.99  # discount factor
    c_value: float = 1.0  # c_V, weight of the value (critic) term
    c_entropy: float = 0.01  # c_H, weight of the entropy bonus


def actor_critic(
    n_actions: int, *, gamma: float = 0.99, c_value: float = 1.0, c_entropy: float = 0.01
) -> ActorCritic:
    """Validated :class:`ActorCritic` (``n_actions >= 1``, ``0 <= gamma <= 1``, ``c_* >= 0``)."""
    api = "actor_critic"
    if isinstance(n_actions, bool) or not isinstance(n_actions, int | np.integer) or n_actions < 1:
        raise ValueError(f"`{api}`: n_actions must be an integer >= 1; got {n_actions!r}.")
    if not 0.0 <= float(gamma) <= 1.0:
        raise ValueError(f"`{api}`: gamma must be in [0, 1]; got {gamma!r}.")
    check_positive(api, "c_value", c_value, allow_zero=True)
    check_positive(api, "c_entropy", c_entropy, allow_zero=True)
    return ActorCritic(int(n_actions), float(gamma), float(c_value), float(c_entropy))


class Episode(NamedTuple):
    """A batch of episodes, time-major (what a rollout records)."""

    inputs: jax.Array  # shape=(T, B, n_in), observations x_t
    actions: jax.Array  # shape=(T, B), dtype=int32, a_t
    rewards: jax.Array  # shape=(T, B), r_t (the reward for a_t)
    mask: jax.Array  # shape=(T, B), m_t: 1 while the episode runs (its last step included)
    # shape=(B,), b = m_{T+1} V_{T+1}: the value after the window of an episode cut at T and
    # still running (truncation bootstrapping), 0 for one that ended; None means all 0
    bootstrap: jax.Array | None = None


class RewardAux(NamedTuple):
    """Side outputs of the reward-based rules, for metrics and plots."""

    episode_return: jax.Array  # shape=(B,), sum_t m_t r_t (undiscounted)
    entropy: jax.Array  # shape=(), mean policy entropy over alive steps
    td_error: jax.Array  # shape=(), mean delta_t^2 over alive steps
    reg_loss: jax.Array  # shape=(), firing-rate regulariser E_reg
    rate: jax.Array  # shape=(n_rec,), mean spikes per step


def policy_and_value(y: jax.Array, n_actions: int) -> tuple[jax.Array, jax.Array]:
    """Split readouts ``(..., K+1)`` into the policy ``softmax(y[..., :K])`` and ``V = y[..., K]``."""
    return jax.nn.softmax(y[..., :n_actions], axis=-1), y[..., n_actions]


def entropy(logits: jax.Array) -> jax.Array:
    """Entropy of ``softmax(logits)`` over the last axis."""
    logp = jax.nn.log_softmax(logits, axis=-1)
    return -jnp.sum(jnp.exp(logp) * logp, axis=-1)


def td_errors(config: ActorCritic, values, rewards, mask, bootstrap=None) -> jax.Array:
    r""":math:`\delta_t = m_t (r_t + \gamma m_{t+1} V_{t+1} - V_t)`, ``(T, B)``, with
    :math:`m_{T+1} V_{T+1} = ` ``bootstrap`` ``(B,)`` (``None``: 0, no bootstrap past the
    recorded window)."""
    last = jnp.zeros_like(values[:1]) if bootstrap is None else bootstrap[None].astype(values.dtype)
    next_alive = jnp.concatenate([mask[1:] * values[1:], last])
    return mask * (rewards + config.gamma * next_alive - values)


def advantages(config: ActorCritic, values, rewards, mask, bootstrap=None) -> jax.Array:
    r""":math:`\Psi_t = \sum_{s \ge t} \gamma^{s-t} \delta_s` by one reverse scan, ``(T, B)``
    (``bootstrap`` as in :func:`td_errors`)."""
    delta = td_errors(config, values, rewards, mask, bootstrap)

    def back(psi_next, delta_t):
        psi = delta_t + config.gamma * psi_next
        return psi, psi

    _, psi = jax.lax.scan(back, jnp.zeros_like(delta[0]), delta, reverse=True)
    return psi


def surrogate_step_loss(config: ActorCritic):
    r"""The per-step term of :math:`J` (module docstring) as a step loss ``(y, target) -> (...)``.

    ``target[..., :K]`` is the one-hot of the action taken and ``target[..., K]`` the stopped
    :math:`\Psi_t` (:func:`surrogate_targets`), so that ``losses.task_loss`` of it over an episode
    with its alive mask is :math:`J - E_{reg}`.
    """
    n_actions = config.n_actions

    def step_loss(y, target):
        logits, psi = y[..., :n_actions], target[..., n_actions]
        log_pi = jnp.sum(target[..., :n_actions] * jax.nn.log_softmax(logits, axis=-1), axis=-1)
        value = y[..., n_actions]
        return -psi * log_pi - config.c_value * psi * value - config.c_entropy * entropy(logits)

    return step_loss


def surrogate_targets(config: ActorCritic, actions, psi, dtype) -> jax.Array:
    """``(T, B, K+1)``: one-hot actions and :math:`\\Psi` side by side (:func:`surrogate_step_loss`)."""
    one_hot = jax.nn.one_hot(actions, config.n_actions, dtype=dtype)
    return jax.lax.stop_gradient(jnp.concatenate([one_hot, psi[..., None].astype(dtype)], -1))


def check_episode(api: str, net: Network, config: ActorCritic, weights, episode: Episode) -> None:
    """Validate an episode batch against the network and the number of actions."""
    check_weights(api, net, weights)
    if net.n_out != config.n_actions + 1:
        raise ValueError(
            f"`{api}`: the network needs n_out = n_actions + 1 = {config.n_actions + 1} readouts "
            f"(policy logits and the value); got n_out={net.n_out}."
        )
    check_inputs(api, net, episode.inputs)
    t, b, _ = episode.inputs.shape
    for name in ("actions", "rewards", "mask"):
        check_shape(api, f"episode.{name}", getattr(episode, name), (t, b))
    check_finite(api, "episode.rewards", episode.rewards)
    if episode.bootstrap is not None:
        check_shape(api, "episode.bootstrap", episode.bootstrap, (b,))
        check_finite(api, "episode.bootstrap", episode.bootstrap)


def _prepare(api, net, config, weights, episode, feedback):
    check_episode(api, net, config, weights, episode)
    dtype = weights.w_rec.dtype
    episode = Episode(
        jnp.asarray(episode.inputs, dtype),
        jnp.asarray(episode.actions, jnp.int32),
        jnp.asarray(episode.rewards, dtype),
        jnp.asarray(episode.mask, dtype),
        jnp.zeros(episode.mask.shape[1:], dtype)
        if episode.bootstrap is None
        else jnp.asarray(episode.bootstrap, dtype),
    )
    fb = resolve_feedback(feedback, api)
    return episode, fb, fb.feedback_matrix(api, net, weights)


def _aux(config, reg, net, y, z_sum, episode, t_steps, n_batch) -> RewardAux:
    logits, values = y[..., : config.n_actions], y[..., config.n_actions]
    mask = episode.mask
    n_alive = jnp.maximum(jnp.sum(mask), 1)
    delta = td_errors(config, values, episode.rewards, mask, episode.bootstrap)
    stats = _stats(reg, net, z_sum, mask, t_steps, n_batch)
    return RewardAux(
        episode_return=jnp.sum(mask * episode.rewards, axis=0),
        entropy=jnp.sum(mask * entropy(logits)) / n_alive,
        td_error=jnp.sum(delta**2) / n_alive,
        reg_loss=stats.reg_loss,
        rate=stats.rate,
    )


def _stats(reg, net, spike_sum, mask, t_steps, n_batch):
    dtype = mask.dtype
    return trial_stats(
        reg,
        net.dt,
        task_loss=jnp.zeros((), dtype),
        spike_sum=spike_sum,
        y_window_sum=jnp.zeros((n_batch, net.n_out), dtype),
        mask=mask,
        n_steps=t_steps,
        n_batch=n_batch,
    )


def _episode_targets(net: Network, weights: Weights, config: ActorCritic, episode: Episode):
    r"""Re-run the episode and build the surrogate targets of :math:`J` from its advantages
    :math:`\Psi` (values held constant). Returns ``(trajectory, targets)``."""
    traj = simulate(net, weights, episode.inputs)
    values = jax.lax.stop_gradient(traj.y[..., config.n_actions])
    psi = advantages(config, values, episode.rewards, episode.mask, episode.bootstrap)
    return traj, surrogate_targets(config, episode.actions, psi, weights.w_rec.dtype)


def reward_eprop_autodiff(
    net: Network,
    weights: Weights,
    episode: Episode,
    *,
    config: ActorCritic,
    feedback: str | Feedback = "symmetric",
    regularization: RateRegularization | None = None,
) -> tuple[Weights, RewardAux]:
    """``jax.grad`` of the surrogate :math:`J` with e-prop's stop-gradients (the reference).

    Args:
        net: the network, with ``n_out = config.n_actions + 1``.
        weights: :class:`~eprop_jax.network.Weights`; their dtype is the computation's.
        episode: the recorded :class:`Episode` batch.
        config: :class:`ActorCritic`.
        feedback: ``"symmetric"``, ``"random"``, ``"adaptive"`` or a function ``weights -> B``.
        regularization: firing-rate regularisation (default none).

    Returns:
        ``(grads, aux)``: the gradient to descend, with ``b_fb``'s entry set as the feedback mode
        says (``w_out``'s transpose for adaptive, else zero), and a :class:`RewardAux`.
    """
    api = "reward_eprop_autodiff"
    episode, fb, b_matrix = _prepare(api, net, config, weights, episode, feedback)
    reg = regularization or rate_regularization()
    traj, targets = _episode_targets(net, weights, config, episode)
    grads, _ = autodiff_gradients(
        net,
        weights,
        episode.inputs,
        targets,
        episode.mask,
        step_loss=surrogate_step_loss(config),
        regularization=reg,
        feedback_matrix=None if fb.mode == "symmetric" else b_matrix,
        stop_recurrent_gradient=True,
        stop_reset_gradient=True,
    )
    t_steps, n_batch, _ = episode.inputs.shape
    aux = _aux(config, reg, net, traj.y, jnp.sum(traj.z, (0, 1)), episode, t_steps, n_batch)
    return fb.train(grads), aux


def reward_eprop_factored(
    net: Network,
    weights: Weights,
    episode: Episode,
    *,
    config: ActorCritic,
    feedback: str | Feedback = "symmetric",
    regularization: RateRegularization | None = None,
) -> tuple[Weights, RewardAux]:
    """Reward-based e-prop offline: :math:`\\Psi` by a reverse scan, then factored e-prop on
    :math:`J` (module docstring). Same arguments and result as :func:`reward_eprop_autodiff`;
    memory grows as ``T * B * n_rec``."""
    api = "reward_eprop_factored"
    episode, fb, b_matrix = _prepare(api, net, config, weights, episode, feedback)
    reg = regularization or rate_regularization()
    traj, targets = _episode_targets(net, weights, config, episode)
    grads, _ = eprop_factored_gradients(
        net,
        weights,
        episode.inputs,
        targets,
        episode.mask,
        step_loss=surrogate_step_loss(config),
        feedback_matrix=b_matrix,
        regularization=reg,
    )
    t_steps, n_batch, _ = episode.inputs.shape
    aux = _aux(config, reg, net, traj.y, jnp.sum(traj.z, (0, 1)), episode, t_steps, n_batch)
    return fb.train(grads), aux


class RewardEpropState(NamedTuple):
    """The carry of online reward-based e-prop (nothing grows with the number of steps)."""

    network: NetworkState  # (B, n) neuron state and (B, K+1) readout
    elig: object  # the neuron model's eligibility state (``EpropState`` for (A)LIF)
    trace: jax.Array  # shape=(B, n, P), F_gamma(L ebar), pending its TD errors
    trace_out: jax.Array  # shape=(B, K+1, n), F_gamma(g zbar^T) for the readout weights
    trace_bias: jax.Array  # shape=(B, K+1), F_gamma(g (1 - kappa^t)) for the readout bias
    z_filtered: jax.Array  # shape=(B, n), kappa-filtered spikes zbar
    bias_filtered: jax.Array  # shape=(), 1 - kappa^t
    value: jax.Array  # shape=(B,), V_{t-1}
    reward: jax.Array  # shape=(B,), r_{t-1}
    alive: jax.Array  # shape=(B,), m_{t-1}
    grad: jax.Array  # shape=(n, P), accumulated sum_t delta_t F_gamma(L ebar) + L^H ebar
    grad_out: jax.Array  # shape=(K+1, n)
    grad_bias: jax.Array  # shape=(K+1,)
    spikes: jax.Array  # shape=(n,), spike count
    n_alive: jax.Array  # shape=(), N so far
    entropy: jax.Array  # shape=(), sum of m_t H(pi_t)
    td_sq: jax.Array  # shape=(), sum of delta_t^2
    episode_return: jax.Array  # shape=(B,)


def reward_eprop_online(
    net: Network,
    weights: Weights,
    episode: Episode,
    *,
    config: ActorCritic,
    feedback: str | Feedback = "symmetric",
    regularization: RateRegularization | None = None,
) -> tuple[Weights, RewardAux]:
    """Reward-based e-prop forward in time (the paper's form, module docstring), one scan.

    Same arguments and result as :func:`reward_eprop_autodiff`. Each step's TD error
    :math:`\\delta_{t-1}` is applied to the pending :math:`\\mathcal F_\\gamma(L \\bar e)_{t-1}`
    as soon as :math:`V_t` is known; the carry (:class:`RewardEpropState`) does not grow with T.
    """
    api = "reward_eprop_online"
    episode, fb, b_matrix = _prepare(api, net, config, weights, episode, feedback)
    reg = regularization or rate_regularization()
    t_steps, n_batch, _ = episode.inputs.shape
    step, init = online_learner(net, weights, config, b_matrix, reg, n_batch)

    def body(carry, xs):
        x, action, reward, alive = xs
        carry, _ = step(carry, x, action, reward, alive)
        return carry, None

    xs = (episode.inputs, episode.actions, episode.rewards, episode.mask)
    carry, _ = jax.lax.scan(body, init, xs)
    grads, aux = online_result(
        net, weights, config, reg, carry, t_steps, n_batch, bootstrap=episode.bootstrap
    )
    return fb.train(grads), aux


def online_learner(net, weights, config: ActorCritic, b_matrix, reg, n_batch: int):
    """``(step, init)``: the per-step pair of :func:`reward_eprop_online` over recorded steps.

    ``step(carry, x_t, a_t, r_t, m_t) -> (carry, y_t)`` advances the network on ``x_t``
    ``(B, n_in)`` and the rule by one step, given the action taken, its reward and the alive
    mask (shapes ``(B,)``); :func:`online_result` turns the final carry into ``(grads, aux)``.
    The action and reward are inputs, so this runs over a recorded episode; a rollout that
    samples :math:`a_t` from this very step's :math:`y_t` and learns in the same scan is not
    provided (``envs.rollout`` records, then a rule of this module learns).
    """
    dtype = weights.w_rec.dtype
    n, n_out, n_in = net.n_rec, net.n_out, net.n_in
    n_pre = n_in + n
    net_c = cast(net, dtype)
    kappa = net_c.readout.kappa
    gamma = jnp.asarray(config.gamma, dtype)
    rule = net.model.eligibility(net_c.neuron, kappa, track_e_sum=reg.c_reg > 0)
    n_actions = config.n_actions
    value_coef = jnp.zeros((n_out,), dtype).at[n_actions].set(-config.c_value)

    def entropy_loss(y):
        return -config.c_entropy * jnp.sum(entropy(y[..., :n_actions]))

    def step(carry: RewardEpropState, x, action, reward, alive):
        pre = jnp.concatenate([x, carry.network.neuron.z], axis=-1)
        state, (y, out) = network_step(net_c, weights, carry.network, x @ weights.w_in.T)
        pi, value = policy_and_value(y, n_actions)
        # delta_{t-1}, applied to the pending F_gamma traces of step t-1
        delta = carry.alive * (carry.reward + gamma * alive * value - carry.value)
        grad = carry.grad + jnp.einsum("b,bji->ji", delta, carry.trace)
        grad_out = carry.grad_out + jnp.einsum("b,bkj->kj", delta, carry.trace_out)
        grad_bias = carry.grad_bias + delta @ carry.trace_bias
        # g_t: d/dy of the step's actor-critic term per unit Psi; L_t = B g_t
        one_hot = jax.nn.one_hot(action, n_actions, dtype=dtype)
        g = alive[:, None] * (jnp.pad(pi - one_hot, ((0, 0), (0, 1))) + value_coef)
        g_entropy = alive[:, None] * jax.grad(entropy_loss)(y)
        grad_entropy, elig = rule.update(
            carry.elig, EpropStep(pre, out.psi, out), g_entropy @ b_matrix.T
        )
        trace = gamma * carry.trace + (g @ b_matrix.T)[..., None] * elig.elig_trace
        z_filtered = kappa * carry.z_filtered + (1 - kappa) * out.z
        bias_filtered = kappa * carry.bias_filtered + (1 - kappa)
        carry = RewardEpropState(
            network=state,
            elig=elig,
            trace=trace,
            trace_out=gamma * carry.trace_out + g[:, :, None] * z_filtered[:, None, :],
            trace_bias=gamma * carry.trace_bias + g * bias_filtered,
            z_filtered=z_filtered,
            bias_filtered=bias_filtered,
            value=value,
            reward=reward,
            alive=alive,
            grad=grad + grad_entropy,
            grad_out=grad_out + g_entropy.T @ z_filtered,
            grad_bias=grad_bias + bias_filtered * g_entropy.sum(0),
            spikes=carry.spikes + out.z.sum(0),
            n_alive=carry.n_alive + alive.sum(),
            entropy=carry.entropy + jnp.sum(alive * entropy(y[:, :n_actions])),
            td_sq=carry.td_sq + jnp.sum(delta**2),
            episode_return=carry.episode_return + alive * reward,
        )
        return carry, y

    zeros = jnp.zeros
    init = RewardEpropState(
        network=init_state(net, n_batch, dtype),
        elig=rule.init(n_batch, n_pre, dtype),
        trace=zeros((n_batch, n, n_pre), dtype),
        trace_out=zeros((n_batch, n_out, n), dtype),
        trace_bias=zeros((n_batch, n_out), dtype),
        z_filtered=zeros((n_batch, n), dtype),
        bias_filtered=zeros((), dtype),
        value=zeros((n_batch,), dtype),
        reward=zeros((n_batch,), dtype),
        alive=zeros((n_batch,), dtype),
        grad=zeros((n, n_pre), dtype),
        grad_out=zeros((n_out, n), dtype),
        grad_bias=zeros((n_out,), dtype),
        spikes=zeros((n,), dtype),
        n_alive=zeros((), dtype),
        entropy=zeros((), dtype),
        td_sq=zeros((), dtype),
        episode_return=zeros((n_batch,), dtype),
    )
    return step, init


def online_result(
    net, weights, config, reg, carry: RewardEpropState, t_steps, n_batch, *, bootstrap=None
):
    """``(grads, aux)`` from the final carry of :func:`online_learner` (before feedback
    training); ``bootstrap`` ``(B,)``: :math:`m_{T+1} V_{T+1}` (``None``: 0)."""
    n, n_in = net.n_rec, net.n_in
    dtype = weights.w_rec.dtype
    after = jnp.zeros_like(carry.value) if bootstrap is None else bootstrap
    delta = carry.alive * (carry.reward + config.gamma * after - carry.value)  # delta_T
    grad = carry.grad + jnp.einsum("b,bji->ji", delta, carry.trace)
    grad_out = carry.grad_out + jnp.einsum("b,bkj->kj", delta, carry.trace_out)
    grad_bias = carry.grad_bias + delta @ carry.trace_bias
    norm = jnp.maximum(carry.n_alive, 1)
    grad, grad_out, grad_bias = grad / norm, grad_out / norm, grad_bias / norm
    mask = jnp.ones((t_steps, n_batch), dtype)  # only its shape matters to the rate statistics
    stats = _stats(reg, net, carry.spikes, mask, t_steps, n_batch)
    if reg.c_reg > 0:
        e_sum = carry.elig.e_sum
        grad = grad + stats.reg_coef[:, None] * (e_sum.sum(0) if e_sum.ndim == 3 else e_sum)
    grads = Weights(
        w_in=grad[:, :n_in],
        w_rec=grad[:, n_in:] * recurrent_mask(n, dtype),
        w_out=grad_out,
        b_out=grad_bias,
        b_fb=jnp.zeros_like(weights.b_fb),
    )
    aux = RewardAux(
        episode_return=carry.episode_return,
        entropy=carry.entropy / norm,
        td_error=(carry.td_sq + jnp.sum(delta**2)) / norm,
        reg_loss=stats.reg_loss,
        rate=stats.rate,
    )
    return grads, aux


ENGINES = {
    "online": reward_eprop_online,
    "factored": reward_eprop_factored,
    "autodiff": reward_eprop_autodiff,
}
