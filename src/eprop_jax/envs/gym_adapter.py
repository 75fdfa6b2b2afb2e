r"""Python-side environments (Gymnasium) for reward-based e-prop: a rollout stepped in Python.

A Gymnasium environment cannot run inside ``lax.scan``; :func:`gym_rollout` steps ``B`` of them in
Python around one jitted agent step (network step and action sampling for the whole batch) and
returns the same :class:`~eprop_jax.reward.Episode` as :func:`eprop_jax.envs.rollout`, padded to
``max_steps`` so that the rule compiles once: the observation :math:`x_t` the agent saw, its
action, the reward, and the alive mask :math:`m_t` (1 up to and including the step on which the
episode terminated or was truncated). The gradient is then any rule of ``reward.py`` on that
episode. Truncated episodes are not bootstrapped (:math:`V` after the last step counts as 0).

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
from typing import Any

import jax
import jax.numpy as jnp
import numpy as np

from ..network import Network, Weights, cast, check_weights, init_state, network_step
from ..reward import Episode
from .base import RolloutTrace


def gym_spaces(env: Any) -> tuple[int, int]:
    """``(n_obs, n_actions)`` of a Gymnasium environment with a Box observation and Discrete
    actions; a one-line ``ValueError`` otherwise."""
    api = "gym_rollout"
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
    check_weights(api, net, weights)
    if isinstance(max_steps, bool) or not isinstance(max_steps, int | np.integer) or max_steps < 1:
        raise ValueError(f"`{api}`: max_steps must be an integer >= 1; got {max_steps!r}.")
    if not envs:
        raise ValueError(f"`{api}`: envs must hold at least one environment; got {envs!r}.")
    _, n_actions = gym_spaces(envs[0])
    encode = encode or (lambda o: np.asarray(o, np.float64).reshape(-1))
    n_in = np.asarray(encode(envs[0].observation_space.sample())).size
    if (net.n_in, net.n_out) != (n_in, n_actions + 1):
        raise ValueError(
            f"`{api}`: the environment needs a network with n_in = {n_in} and n_out = n_actions "
            f"+ 1 = {n_actions + 1}; got n_in={net.n_in}, n_out={net.n_out}."
        )
    dtype = weights.w_rec.dtype
    agent_step = agent_step or make_agent_step(net, dtype)
    n_batch = len(envs)
    key_reset, key = jax.random.split(key)
    seeds = np.asarray(jax.random.randint(key_reset, (n_batch,), 0, 2**31 - 1))
    obs = np.stack([encode(env.reset(seed=int(s))[0]) for env, s in zip(envs, seeds, strict=True)])
    alive = np.ones(n_batch)
    state = init_state(net, n_batch, dtype)
    record = {name: [] for name in ("obs", "action", "reward", "alive", "y", "z")}
    for key_t in jax.random.split(key, max_steps):
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
    t_alive = np.asarray(record["alive"]).reshape(max_steps, n_batch)
    episode = Episode(
        inputs=jnp.asarray(np.stack(record["obs"]), dtype),
        actions=jnp.asarray(np.stack(record["action"]), jnp.int32),
        rewards=jnp.asarray(np.stack(record["reward"]) * t_alive, dtype),
        mask=jnp.asarray(t_alive, dtype),
    )
    return episode, RolloutTrace(jnp.stack(record["y"]), jnp.stack(record["z"]))
