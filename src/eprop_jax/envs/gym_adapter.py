r"""Python-side environments (Gymnasium) for reward-based e-prop: a rollout stepped in Python.

A Gymnasium environment cannot run inside ``lax.scan``; :func:`gym_rollout` steps ``B`` of them in
Python around one jitted agent step (network step and action sampling for the whole batch) and
returns the same :class:`~eprop_jax.reward.Episode` as :func:`eprop_jax.envs.rollout`, padded to
``max_steps`` so that the rule compiles once: the observation :math:`x_t` the agent saw, its
action, the reward, and the alive mask :math:`m_t` (1 up to and including the step on which the
episode terminated or was truncated). The gradient is then any rule of ``reward.py`` on that
episode.

Limitation: a game stopped by its time limit (Gymnasium's ``truncated=True``, e.g. CartPole-v1
at 500 steps) is treated like one that reached a terminal state: :math:`V` after its last step
counts as 0, so the TD error there is :math:`r_t - V_t` instead of :math:`r_t + \gamma
V(s_{t+1}) - V_t`, and the value learns that steps near the limit are worth less. Only the cut at
the end of a window (below) is bootstrapped. Give long time limits (or ``max_episode_steps``)
where this matters.

Episodes too long for one rollout (Atari games: thousands of steps) are played in **segments**
by :func:`gym_segment`: each call plays ``T`` more steps of the same ``B`` games
(:class:`GymStream` holds where they stand), and an episode still running at the cut is
bootstrapped: ``Episode.bootstrap`` :math:`= V_{T+1}`, the value readout after one more network
step on the next observation (its action is not taken), so that :math:`\delta_T = r_T + \gamma
V_{T+1} - V_T` (``reward.py``). The network starts every segment from rest (the rules re-run a
segment from ``init_state``, so the rollout must too): memory does not cross a cut. A game that
ends inside a segment leaves the rest of it masked and is reset for the next segment.

Gymnasium is an optional dependency (``pip install eprop-jax[rl]``). Observations must be
``Box`` vectors (flattened, as currents into the network, optionally through ``encode``) and
actions ``Discrete``.

Example (not run: needs Gymnasium)::

    import gymnasium
    envs = [gymnasium.make("CartPole-v1") for _ in range(4)]
    net = ej.network(4, 32, 3)               # 2 actions + the value readout
    episode, trace = gym_rollout(net, weights, envs, key, max_steps=200)
    grads, aux = reward_eprop_factored(net, weights, episode, config=actor_critic(2))
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from typing import Any, NamedTuple

import jax
import jax.numpy as jnp
import numpy as np

from ..network import Network, Weights, cast, check_weights, init_state, network_step
from ..reward import Episode
from .base import RolloutTrace


def gym_spaces(env: Any, api: str = "gym_spaces") -> tuple[int, int]:
    """``(n_obs, n_actions)`` of a Gymnasium environment with a Box observation and Discrete
    actions; a one-line ``ValueError`` (prefixed with ``api``, the caller's name) otherwise."""
    space = getattr(env, "action_space", None)
    n_actions = getattr(space, "n", None)
    if n_actions is None:
        raise ValueError(
            f"`{api}`: the environment's action space must be Discrete; got {space!r}."
        )
    obs_space = getattr(env, "observation_space", None)
    shape = getattr(obs_space, "shape", None)
    if not shape:
        raise ValueError(
            f"`{api}`: the environment's observation space must be a Box vector; got {obs_space!r}."
        )
    return int(np.prod(shape)), int(n_actions)


def make_agent_step(net: Network, dtype):
    """The jitted ``(weights, state, obs, key) -> (state, action, y, z)`` for a batch ``obs``
    ``(B, n_in)``: one network step and :math:`a_t \\sim \\mathrm{softmax}(y^\\pi_t)`."""
    n_actions = net.n_out - 1
    net_c = cast(net, dtype)

    @jax.jit
    def agent_step(weights, state, obs, key):
        state, (y, out) = network_step(net_c, weights, state, obs @ weights.w_in.T)
        action = jax.random.categorical(key, y[:, :n_actions], axis=-1).astype(jnp.int32)
        return state, action, y, out.z

    return agent_step


class GymStream(NamedTuple):
    """Where ``B`` Gymnasium environments stand between segments (:func:`gym_segment`)."""

    obs: np.ndarray  # shape=(B, n_in), the encoded observation each environment shows now
    score: np.ndarray  # shape=(B,), undiscounted reward of each running episode so far
    steps: np.ndarray  # shape=(B,), steps of each running episode so far


def _check_net(api: str, net: Network, weights: Weights, envs, encode, max_steps):
    check_weights(api, net, weights)
    if isinstance(max_steps, bool) or not isinstance(max_steps, int | np.integer) or max_steps < 1:
        raise ValueError(f"`{api}`: max_steps must be an integer >= 1; got {max_steps!r}.")
    if not envs:
        raise ValueError(f"`{api}`: envs must hold at least one environment; got {envs!r}.")
    _, n_actions = gym_spaces(envs[0], api)
    n_in = np.asarray(encode(envs[0].observation_space.sample())).size
    if (net.n_in, net.n_out) != (n_in, n_actions + 1):
        raise ValueError(
            f"`{api}`: the environment needs a network with n_in = {n_in} and n_out = n_actions "
            f"+ 1 = {n_actions + 1}; got n_in={net.n_in}, n_out={net.n_out}."
        )


def _flatten(obs) -> np.ndarray:
    return np.asarray(obs, np.float64).reshape(-1)


def _reset(envs, key, encode, which=None) -> np.ndarray:
    """Reset the environments ``which`` (default all) with seeds drawn from ``key``; their
    encoded observations ``(len(which), n_in)``."""
    which = range(len(envs)) if which is None else which
    seeds = np.asarray(jax.random.randint(key, (len(envs),), 0, 2**31 - 1))
    return np.stack([encode(envs[b].reset(seed=int(seeds[b]))[0]) for b in which])


def _play(agent_step, weights, envs, obs, keys, encode, state):
    """Step every environment ``len(keys)`` times (the loop of :func:`gym_rollout`); returns the
    record, the observations after the last step, the alive flags and the network state."""
    n_batch = len(envs)
    alive = np.ones(n_batch)
    dtype = weights.w_rec.dtype
    record = {name: [] for name in ("obs", "action", "reward", "alive", "y", "z")}
    for key_t in keys:
        state, action, y, z = agent_step(weights, state, jnp.asarray(obs, dtype), key_t)
        action = np.asarray(action)
        reward = np.zeros(n_batch)
        next_obs = np.zeros_like(obs)
        for b, env in enumerate(envs):
            if alive[b]:
                o, r, terminated, truncated, _ = env.step(int(action[b]))
                reward[b], next_obs[b] = float(r), encode(o)
                done = terminated or truncated
            else:
                done = True
            record["alive"].append(alive[b])
            alive[b] = alive[b] * (not done)
        for name, value in (("obs", obs), ("action", action), ("reward", reward)):
            record[name].append(value)
        record["y"].append(y)
        record["z"].append(z)
        obs = next_obs
    return record, obs, alive, state


def _episode(record, n_steps, n_batch, dtype, bootstrap=None) -> tuple[Episode, RolloutTrace]:
    t_alive = np.asarray(record["alive"]).reshape(n_steps, n_batch)
    episode = Episode(
        inputs=jnp.asarray(np.stack(record["obs"]), dtype),
        actions=jnp.asarray(np.stack(record["action"]), jnp.int32),
        rewards=jnp.asarray(np.stack(record["reward"]) * t_alive, dtype),
        mask=jnp.asarray(t_alive, dtype),
        bootstrap=bootstrap,
    )
    return episode, RolloutTrace(jnp.stack(record["y"]), jnp.stack(record["z"]))


def gym_rollout(
    net: Network,
    weights: Weights,
    envs: Sequence[Any],
    key: jax.Array,
    *,
    max_steps: int,
    encode: Callable[[np.ndarray], np.ndarray] | None = None,
    agent_step: Callable | None = None,
) -> tuple[Episode, RolloutTrace]:
    """Run one episode in each Gymnasium environment of ``envs`` (module docstring).

    Args:
        net: the network, ``n_in`` = the (encoded) observation size, ``n_out = n_actions + 1``.
        weights: its :class:`~eprop_jax.network.Weights`.
        envs: ``B`` Gymnasium environments (``gymnasium.make(...)`` each), reset here with
            seeds drawn from ``key``.
        key: a PRNG key.
        max_steps: the episode window ``T``; longer episodes are cut there (not bootstrapped).
        encode: maps one observation to the network's input vector (default: flattened floats).
        agent_step: a :func:`make_agent_step` to reuse across calls (built here if ``None``).

    Returns:
        ``(episode, trace)`` of shapes ``(T, B, ...)``, as :func:`eprop_jax.envs.rollout`.
    """
    api = "gym_rollout"
    encode = encode or _flatten
    _check_net(api, net, weights, envs, encode, max_steps)
    dtype = weights.w_rec.dtype
    agent_step = agent_step or make_agent_step(net, dtype)
    key_reset, key = jax.random.split(key)
    obs = _reset(envs, key_reset, encode)
    state = init_state(net, len(envs), dtype)
    record, _, _, _ = _play(
        agent_step, weights, envs, obs, jax.random.split(key, max_steps), encode, state
    )
    return _episode(record, max_steps, len(envs), dtype)


def gym_start(
    envs: Sequence[Any], key: jax.Array, *, encode: Callable[[np.ndarray], np.ndarray] | None = None
) -> GymStream:
    """Reset every environment of ``envs`` (seeds drawn from ``key``): the stream before the
    first :func:`gym_segment`."""
    if not envs:
        raise ValueError(f"`gym_start`: envs must hold at least one environment; got {envs!r}.")
    gym_spaces(envs[0], "gym_start")
    obs = _reset(envs, key, encode or _flatten)
    zeros = np.zeros(len(envs))
    return GymStream(obs, zeros, zeros.copy())


def gym_segment(
    net: Network,
    weights: Weights,
    envs: Sequence[Any],
    stream: GymStream,
    key: jax.Array,
    *,
    max_steps: int,
    encode: Callable[[np.ndarray], np.ndarray] | None = None,
    agent_step: Callable | None = None,
) -> tuple[Episode, RolloutTrace, GymStream, list[tuple[float, int]]]:
    """Play ``max_steps`` more steps of the games in ``envs``, bootstrapped at the cut (module
    docstring).

    Args:
        net, weights, envs, encode, agent_step: as :func:`gym_rollout`.
        stream: where the games stand (:func:`gym_start`, then this function's result).
        key: a PRNG key (actions, the bootstrap step, the seeds of games reset at the end).
        max_steps: the segment length ``T``.

    Returns:
        ``(episode, trace, stream, finished)``: the segment as an :class:`~eprop_jax.reward.Episode`
        whose ``bootstrap`` is :math:`V_{T+1}` for the games still running (0 for those that
        ended in it), its :class:`RolloutTrace`, the stream for the next segment (games that
        ended are reset) and ``(score, steps)`` of each game that ended in the segment.
    """
    api = "gym_segment"
    encode = encode or _flatten
    _check_net(api, net, weights, envs, encode, max_steps)
    n_batch = len(envs)
    if np.shape(stream.obs) != (n_batch, net.n_in):
        raise ValueError(
            f"`{api}`: stream.obs must have shape (len(envs), n_in) = ({n_batch}, {net.n_in}); "
            f"got {np.shape(stream.obs)}."
        )
    dtype = weights.w_rec.dtype
    n_actions = net.n_out - 1
    agent_step = agent_step or make_agent_step(net, dtype)
    key_reset, key_boot, key = jax.random.split(key, 3)
    state = init_state(net, n_batch, dtype)  # every segment starts from rest (module docstring)
    record, obs, alive, state = _play(
        agent_step, weights, envs, stream.obs, jax.random.split(key, max_steps), encode, state
    )
    _, _, y, _ = agent_step(weights, state, jnp.asarray(obs, dtype), key_boot)
    bootstrap = jnp.asarray(alive, dtype) * jax.lax.stop_gradient(y[:, n_actions])
    episode, trace = _episode(record, max_steps, n_batch, dtype, bootstrap)
    t_alive = np.asarray(record["alive"]).reshape(max_steps, n_batch)
    score = stream.score + (np.stack(record["reward"]) * t_alive).sum(0)
    steps = stream.steps + t_alive.sum(0)
    ended = np.flatnonzero(alive == 0)
    finished = [(float(score[b]), int(steps[b])) for b in ended]
    if ended.size:
        obs = obs.copy()
        obs[ended] = _reset(envs, key_reset, encode, ended)
        score[ended], steps[ended] = 0.0, 0
    return episode, trace, GymStream(obs, score, steps), finished
