r"""Delayed non-match-to-sample (DNMS) for a spiking agent: Miconi's trial, reward-based e-prop.

The trial structure of :mod:`eprop_jax.miconi` (Miconi 2017; defaults in brackets, steps of
1 ms): stimulus one on for ``stim_steps`` (200), a gap of ``gap_steps`` (200), stimulus two for
``stim_steps``, then silence until ``trial_steps`` (1000); the response window is the last
``response_steps`` (200). Each episode draws its type uniformly from AA, AB, BA, BB. The two
stimuli A and B are two groups of ``n_per_group`` Poisson inputs firing at ``stim_rate`` (Hz)
while their stimulus is on; a third group fires at ``noise_rate`` throughout (observation size
``3 * n_per_group``). There is no response cue, as in Miconi's task.

Actions: 0 = "same", 1 = "different". Each response-window step whose action is right (1 for AB
and BA, 0 for AA and BB) earns 1; nothing else is rewarded. The episode's *answer* is correct
when more than half of the response steps were right (``Env.success_return``), the analogue of
Miconi's criterion "error < 1" (the output on the right side of 0 on average); trained means
Miconi's 95 % of 100 successive trials correct (``Env.criterion``).

Example:
    >>> env = dnms()
    >>> env.n_obs, env.n_actions, env.n_steps, env.success_return
    (30, 2, 1000, 100.0)
"""

from __future__ import annotations

from typing import NamedTuple

import jax
import jax.numpy as jnp

from .._checks import check_positive
from .base import ENVS, Env
from .delayed_decision import recall_scores

TRIAL_TYPES = ("AA", "AB", "BA", "BB")


class DnmsState(NamedTuple):
    t: jax.Array  # shape=(), dtype=int32, the current step
    trial_type: jax.Array  # shape=(), dtype=int32, 0..3 = AA, AB, BA, BB


def dnms(
    *,
    stim_steps: int = 200,
    gap_steps: int = 200,
    trial_steps: int = 1000,
    response_steps: int = 200,
    n_per_group: int = 10,
    stim_rate: float = 40.0,
    noise_rate: float = 10.0,
    dt: float = 1.0,
) -> Env:
    """The DNMS environment (module docstring); every argument is checked here."""
    api = "dnms"
    for name, value, least in (
        ("stim_steps", stim_steps, 1),
        ("gap_steps", gap_steps, 0),
        ("response_steps", response_steps, 1),
        ("n_per_group", n_per_group, 1),
    ):
        if isinstance(value, bool) or not isinstance(value, int) or value < least:
            raise ValueError(f"`{api}`: {name} must be an integer >= {least}; got {value!r}.")
    shortest = max(2 * stim_steps + gap_steps, response_steps)
    if isinstance(trial_steps, bool) or not isinstance(trial_steps, int) or trial_steps < shortest:
        raise ValueError(
            f"`{api}`: trial_steps must be an integer >= {shortest} (two stimuli, the gap and "
            f"the response window); got {trial_steps!r}."
        )
    dt = float(check_positive(api, "dt", dt))
    for name, rate in (("stim_rate", stim_rate), ("noise_rate", noise_rate)):
        if not 0 <= float(rate) * dt / 1000.0 <= 1:
            raise ValueError(
                f"`{api}`: {name} must be in [0, {1000.0 / dt:g}] Hz (one spike per step at "
                f"most); got {rate!r}."
            )
    response_start = trial_steps - response_steps

    def observe(state: DnmsState, key):
        first, second = state.trial_type // 2, state.trial_type % 2
        t = state.t
        on_first = t < stim_steps
        on_second = (t >= stim_steps + gap_steps) & (t < 2 * stim_steps + gap_steps)
        shown = jnp.where(on_first, first, second)
        stim_on = on_first | on_second
        rates = jnp.stack(
            [
                jnp.where(stim_on & (shown == 0), stim_rate, 0.0),
                jnp.where(stim_on & (shown == 1), stim_rate, 0.0),
                jnp.asarray(noise_rate),
            ]
        )
        prob = jnp.repeat(rates, n_per_group) * (dt / 1000.0)
        return jax.random.bernoulli(key, prob).astype(jnp.float32)

    def reset(key):
        key_type, key_obs = jax.random.split(key)
        state = DnmsState(jnp.zeros((), jnp.int32), jax.random.randint(key_type, (), 0, 4))
        return state, observe(state, key_obs)

    def step(state: DnmsState, action, key):
        different = (state.trial_type // 2) != (state.trial_type % 2)
        right = action == different.astype(jnp.int32)
        reward = jnp.where((state.t >= response_start) & right, 1.0, 0.0)
        done = state.t >= trial_steps - 1
        state = state._replace(t=state.t + 1)
        return state, observe(state, key), reward, done

    def score(state: DnmsState, pi):
        different = ((state.trial_type // 2) != (state.trial_type % 2)).astype(jnp.int32)
        return recall_scores(pi[response_start:], different)

    n_obs = 3 * n_per_group
    return Env("dnms", reset, step, n_obs, 2, trial_steps, response_steps / 2, dt, 0.95, score)


ENVS["dnms"] = dnms
