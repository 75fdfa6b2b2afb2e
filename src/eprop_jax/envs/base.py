r"""The pure-function environment interface and the batched rollout of an actor-critic agent.

An :class:`Env` describes one episode of a fixed maximum length ``n_steps``:

.. code-block:: text

    reset(key)                -> (state, obs)                    obs: (n_obs,)
    step(state, action, key)  -> (state, obs, reward, done)      action: int32 scalar

Both are pure and jittable; ``state`` is any pytree. :func:`rollout` vmaps them over ``B``
episodes and runs them, with the network (``network.py``) and the policy
:math:`a_t \sim \mathrm{softmax}(y^\pi_t)` (``reward.py``), in one ``lax.scan``. Per step
:math:`t`: the network reads :math:`x_t` (the observation), the agent samples :math:`a_t`, the
environment returns :math:`r_t`, ``done_t`` and :math:`x_{t+1}`. The alive mask is
:math:`m_1 = 1`, :math:`m_{t+1} = m_t (1 - \mathrm{done}_t)`: steps after the end are recorded
with :math:`m = 0` and their rewards zeroed; the environment may do anything there.

An environment may also say how to *score* an episode beyond its return (``Env.score``):
``score(final_state, pi)`` with the policy :math:`\pi_t` of the whole episode ``(T, K)`` returns
a dict of per-episode scalars (for ``delayed_decision`` and ``dnms``: the greedy (argmax)
accuracy over the recall window, the mean :math:`\pi_t(\text{label})` there and the trial's
difficulty); :func:`rollout` evaluates it for every episode (``RolloutTrace.scores``).
"""

from __future__ import annotations

import inspect
from collections.abc import Callable
from typing import Any, NamedTuple

import jax
import jax.numpy as jnp

from .._checks import check_choice
from ..network import Network, Weights, cast, check_weights, init_state, network_step
from ..reward import Episode


class Env(NamedTuple):
    """A pure-function environment (module docstring)."""

    name: str
    reset: Callable[[jax.Array], tuple[Any, jax.Array]]
    step: Callable[..., tuple[Any, jax.Array, jax.Array, jax.Array]]
    n_obs: int  # observation size, the network's n_in
    n_actions: int  # the network has n_actions + 1 readouts (policy logits and value)
    n_steps: int  # maximum episode length T
    success_return: float | None = None  # a return above this counts as a correct episode
    dt: float = 1.0  # ms per step; the network must use the same (reward_train builds it so)
    criterion: float = 0.9  # "trained": this fraction of 100 successive episodes correct
    score: Callable[[Any, jax.Array], dict] | None = None  # (final state, pi (T, K)) -> scalars


class RolloutTrace(NamedTuple):
    """What a rollout records besides the :class:`~eprop_jax.reward.Episode` (for plots)."""

    y: jax.Array  # shape=(T, B, K+1), readouts: policy logits and value
    z: jax.Array  # shape=(T, B, n_rec), spikes
    scores: dict | None = None  # Env.score per episode, each shape=(B,); None without a score


ENVS: dict[str, Callable[..., Env]] = {}


def get_env(name: str, **options) -> Env:
    """Build the registered environment called ``name`` with its keyword options (an unknown
    option is a one-line ``ValueError`` naming it and the accepted ones)."""
    factory = ENVS[check_choice("get_env", "env", name, tuple(ENVS))]
    params = inspect.signature(factory).parameters.values()
    if not any(p.kind is p.VAR_KEYWORD for p in params):  # **options: the factory checks
        check_options(name, options, [p.name for p in params])
    return factory(**options)


def check_options(api: str, options: dict, accepted) -> None:
    """``ValueError`` naming the first key of ``options`` not in ``accepted``."""
    for key in options:
        if key not in accepted:
            raise ValueError(
                f"`{api}`: unknown option {key!r}; accepted: {', '.join(sorted(accepted))}."
            )


def rollout(
    net: Network,
    weights: Weights,
    env: Env,
    key: jax.Array,
    n_batch: int,
) -> tuple[Episode, RolloutTrace]:
    """Run ``n_batch`` episodes of ``env`` with the agent, sampling actions from its policy.

    Jittable with ``net``, ``env`` and ``n_batch`` closed over. Gradients do not flow through
    the rollout (the actions are samples); train on the returned episode with a rule of
    ``reward.py``.

    Args:
        net: the network, ``n_in = env.n_obs`` and ``n_out = env.n_actions + 1``.
        weights: its :class:`~eprop_jax.network.Weights` (their dtype is the computation's).
        env: the :class:`Env`.
        key: a PRNG key, split for the resets, the actions and the environment's steps.
        n_batch: number of episodes ``B``.

    Returns:
        ``(episode, trace)``: the :class:`~eprop_jax.reward.Episode` and a :class:`RolloutTrace`.
    """
    api = "rollout"
    check_weights(api, net, weights)
    if (net.n_in, net.n_out) != (env.n_obs, env.n_actions + 1):
        raise ValueError(
            f"`{api}`: environment {env.name!r} needs a network with n_in = {env.n_obs} and "
            f"n_out = n_actions + 1 = {env.n_actions + 1}; got n_in={net.n_in}, n_out={net.n_out}."
        )
    dtype = weights.w_rec.dtype
    net_c = cast(net, dtype)
    n_actions = env.n_actions
    key_reset, key_steps = jax.random.split(key)
    env_state, obs = jax.vmap(env.reset)(jax.random.split(key_reset, n_batch))

    def body(carry, key_t):
        state, env_state, obs, alive = carry
        key_act, key_env = jax.random.split(key_t)
        obs = obs.astype(dtype)
        state, (y, out) = network_step(net_c, weights, state, obs @ weights.w_in.T)
        logits = jax.lax.stop_gradient(y[:, :n_actions])
        action = jax.random.categorical(key_act, logits, axis=-1).astype(jnp.int32)
        env_state, next_obs, reward, done = jax.vmap(env.step)(
            env_state, action, jax.random.split(key_env, n_batch)
        )
        reward = alive * reward.astype(dtype)
        ys = (Episode(obs, action, reward, alive), RolloutTrace(y, out.z))
        alive = alive * (1 - done.astype(dtype))
        return (state, env_state, next_obs, alive), ys

    carry0 = (init_state(net, n_batch, dtype), env_state, obs, jnp.ones((n_batch,), dtype))
    carry, (episode, trace) = jax.lax.scan(body, carry0, jax.random.split(key_steps, env.n_steps))
    if env.score is not None:
        pi = jax.nn.softmax(trace.y[..., :n_actions], axis=-1)  # (T, B, K)
        scores = jax.vmap(env.score, in_axes=(0, 1))(carry[1], pi)
        trace = trace._replace(scores=scores)
    return episode, trace
