"""Environments for reward-based e-prop (``eprop_jax.reward``).

A pure-function environment is an :class:`~eprop_jax.envs.base.Env`: ``reset(key) -> (state,
obs)`` and ``step(state, action, key) -> (state, obs, reward, done)`` for *one* episode, jittable;
:func:`~eprop_jax.envs.base.rollout` vmaps them over a batch of episodes and runs them with the
agent inside one ``lax.scan``. Python-side environments (Gymnasium) go through
:mod:`eprop_jax.envs.gym_adapter`, which steps them in Python around a jitted agent step.

======================  ==============================================================
name                    environment
======================  ==============================================================
``delayed_decision``    evidence-accumulation cues, then a left/right choice in the
                        recall window, rewarded only there (``delayed_decision.py``)
``dnms``                delayed non-match-to-sample, Miconi's trial structure (``dnms.py``)
======================  ==============================================================
"""

from .base import ENVS as ENVS
from .base import Env as Env
from .base import RolloutTrace as RolloutTrace
from .base import get_env as get_env
from .base import rollout as rollout
from .delayed_decision import delayed_decision as delayed_decision
from .dnms import dnms as dnms
