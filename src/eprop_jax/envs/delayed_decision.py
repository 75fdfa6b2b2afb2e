r"""Delayed-reward decision: evidence-accumulation cues, a left/right choice, a reward at the end.

The trial of :mod:`eprop_jax.tasks.evidence_accumulation` (its cues, delay, recall window and
input groups, drawn by that generator) as an episode: the agent acts at every step with two
actions, 0 = left and 1 = right, but only its actions in the recall window count. Each recall
step whose action is the majority side of the cues earns a reward of 1; every other step earns
nothing, so the return of an episode is the number of recall steps answered correctly, in
:math:`[0, n_{recall}]`. The episode ends after the recall window (:math:`T` steps).

The agent's *choice* is the side it picked on most recall steps: the choice is correct when the
return exceeds :math:`n_{recall}/2` (``Env.success_return``; a tie counts as wrong). Actions do
not change what the agent sees, so a small discount ``gamma`` (the reward of a step is then
credited to that step's action) gives the least noisy learning signal.

Example:
    >>> env = delayed_decision(n_cues=3, delay=100.0)
    >>> env.n_obs, env.n_actions, env.n_steps
    (40, 2, 700)
"""

from __future__ import annotations

from typing import NamedTuple

import jax
import jax.numpy as jnp

from ..tasks.evidence_accumulation import evidence_accumulation
from .base import ENVS, Env


class DelayedDecisionState(NamedTuple):
    t: jax.Array  # shape=(), dtype=int32, the current step
    inputs: jax.Array  # shape=(T, n_obs), the trial's input spikes
    label: jax.Array  # shape=(), dtype=int32, the majority side: 0 = left, 1 = right


def delayed_decision(**options) -> Env:
    """The delayed-reward decision environment (module docstring).

    Args:
        **options: keyword arguments of :func:`~eprop_jax.tasks.evidence_accumulation`
            (``n_cues``, ``cue_duration``, ``cue_silence``, ``delay``, ``recall_duration``,
            ``n_per_group``, rates, ``cue_prob``, ``dt``); ``n_batch`` and ``dtype`` are set
            here. Checked once, when the environment is built.

    Returns:
        An :class:`~eprop_jax.envs.base.Env` with ``n_obs = 4 * n_per_group``, two actions and
        ``n_steps = T`` of the trial.
    """
    for name in ("n_batch", "dtype"):
        if name in options:
            raise ValueError(
                f"`delayed_decision`: {name} is set by the environment; got {name}="
                f"{options[name]!r}. Leave it out."
            )
    batch, info = evidence_accumulation(jax.random.key(0), 1, **options)  # checks the options
    n_steps, _, n_obs = batch.inputs.shape
    recall_start = int(info.recall_start)
    n_recall = n_steps - recall_start

    def reset(key):
        batch, info = evidence_accumulation(key, 1, **options)
        state = DelayedDecisionState(
            jnp.zeros((), jnp.int32), batch.inputs[:, 0], info.labels[0].astype(jnp.int32)
        )
        return state, batch.inputs[0, 0]

    def step(state: DelayedDecisionState, action, key):
        del key  # deterministic given the trial
        in_recall = state.t >= recall_start
        reward = jnp.where(in_recall & (action == state.label), 1.0, 0.0)
        t_next = jnp.minimum(state.t + 1, n_steps - 1)
        obs = jax.lax.dynamic_index_in_dim(state.inputs, t_next, keepdims=False)
        done = state.t >= n_steps - 1
        return state._replace(t=state.t + 1), obs, reward, done

    return Env("delayed_decision", reset, step, n_obs, 2, n_steps, n_recall / 2)


ENVS["delayed_decision"] = delayed_decision
