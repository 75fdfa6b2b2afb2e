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

``reward_mode="end"`` instead gives ONE reward, of 1, on the last step when the agent's choice
(the majority of its recall actions) is right (``success_return = 0.5``): credit has to travel
back over the recall window, so a discount near 1 (``gamma = 0.99``) and the TD error / the
:math:`\mathcal F_\gamma` filter of ``reward.py`` matter. Criterion for both: 90 % of 100
successive episodes correct (``Env.criterion``).

Example:
    >>> env = delayed_decision(n_cues=3, delay=100.0)
    >>> env.n_obs, env.n_actions, env.n_steps
    (40, 2, 700)
"""

from __future__ import annotations

import inspect
from typing import NamedTuple

import jax
import jax.numpy as jnp

from .._checks import check_choice
from ..tasks.evidence_accumulation import evidence_accumulation
from .base import ENVS, Env, check_options

REWARD_MODES = ("per_step", "end")
TASK_SET = ("n_batch", "dtype", "key")  # evidence_accumulation arguments the environment sets


class DelayedDecisionState(NamedTuple):
    t: jax.Array  # shape=(), dtype=int32, the current step
    inputs: jax.Array  # shape=(T, n_obs), the trial's input spikes
    label: jax.Array  # shape=(), dtype=int32, the majority side: 0 = left, 1 = right
    unanimous: jax.Array  # shape=(), dtype=bool, all cues on one side (the easy trials)
    hits: jax.Array  # shape=(), dtype=int32, recall steps answered correctly so far


def delayed_decision(*, reward_mode: str = "per_step", **options) -> Env:
    """The delayed-reward decision environment (module docstring).

    Args:
        reward_mode: ``"per_step"`` (1 per recall step answered right) or ``"end"`` (one reward
            of 1 on the last step when the majority of the recall actions was right).
        **options: keyword arguments of :func:`~eprop_jax.tasks.evidence_accumulation`
            (``n_cues``, ``cue_duration``, ``cue_silence``, ``delay``, ``recall_duration``,
            ``n_per_group``, rates, ``cue_prob``, ``dt``); ``n_batch`` and ``dtype`` are set
            here. Checked once, when the environment is built.

    Returns:
        An :class:`~eprop_jax.envs.base.Env` with ``n_obs = 4 * n_per_group``, two actions,
        ``n_steps = T`` of the trial, the task's ``dt``, criterion 90 % and a ``score``.
    """
    api = "delayed_decision"
    for name in ("n_batch", "dtype"):
        if name in options:
            raise ValueError(
                f"`{api}`: {name} is set by the environment; got {name}="
                f"{options[name]!r}. Leave it out."
            )
    accepted = [p for p in inspect.signature(evidence_accumulation).parameters if p not in TASK_SET]
    check_options(api, options, [*accepted, "reward_mode"])
    check_choice(api, "reward_mode", reward_mode, REWARD_MODES)
    batch, info = evidence_accumulation(jax.random.key(0), 1, **options)  # checks the options
    dt = float(options.get("dt", inspect.signature(evidence_accumulation).parameters["dt"].default))
    n_steps, _, n_obs = batch.inputs.shape
    recall_start = int(info.recall_start)
    n_recall = n_steps - recall_start
    at_end = reward_mode == "end"

    def reset(key):
        batch, info = evidence_accumulation(key, 1, **options)
        n_left, n_cues = info.n_left[0], info.cue_sides.shape[1]
        state = DelayedDecisionState(
            jnp.zeros((), jnp.int32),
            batch.inputs[:, 0],
            info.labels[0].astype(jnp.int32),
            (n_left == 0) | (n_left == n_cues),
            jnp.zeros((), jnp.int32),
        )
        return state, batch.inputs[0, 0]

    def step(state: DelayedDecisionState, action, key):
        del key  # deterministic given the trial
        right = (state.t >= recall_start) & (action == state.label)
        hits = state.hits + right.astype(jnp.int32)
        last = state.t >= n_steps - 1
        if at_end:  # one reward, for the majority of the recall actions
            reward = jnp.where(last & (2 * hits > n_recall), 1.0, 0.0)
        else:
            reward = jnp.where(right, 1.0, 0.0)
        t_next = jnp.minimum(state.t + 1, n_steps - 1)
        obs = jax.lax.dynamic_index_in_dim(state.inputs, t_next, keepdims=False)
        return state._replace(t=state.t + 1, hits=hits), obs, reward, last

    def score(state: DelayedDecisionState, pi):
        return recall_scores(pi[recall_start:], state.label, unanimous=state.unanimous)

    success = 0.5 if at_end else n_recall / 2
    return Env(api, reset, step, n_obs, 2, n_steps, success, dt, 0.9, score)


def recall_scores(pi_recall, label, unanimous=None) -> dict:
    """Per-episode scores over the recall window ``pi_recall`` ``(n_recall, K)``: ``greedy``
    (1 when the argmax action is the label on more than half of the steps), ``p_label`` (mean
    :math:`\\pi_t(\text{label})`) and, if given, ``unanimous`` (1 for an easy trial)."""
    greedy_hits = jnp.sum(jnp.argmax(pi_recall, axis=-1).astype(jnp.int32) == label)
    scores = {
        "greedy": (2 * greedy_hits > pi_recall.shape[0]).astype(pi_recall.dtype),
        "p_label": jnp.mean(pi_recall[:, label]),
    }
    if unanimous is not None:
        scores["unanimous"] = unanimous.astype(pi_recall.dtype)
    return scores


ENVS["delayed_decision"] = delayed_decision
