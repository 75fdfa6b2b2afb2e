r"""Reward-based e-prop on Gymnasium environments: long games played in bootstrapped segments.

Iteration :math:`i` plays ``segment`` more steps of ``batch_size`` parallel games
(:func:`eprop_jax.envs.gym_adapter.gym_segment`: the network starts each segment from rest, the
games go on across segments, an episode still running at the cut is bootstrapped with the value
readout :math:`V_{T+1}`), computes the reward-based e-prop gradient of that segment
(``reward.py``: ``"factored"`` by default) and applies optax Adam. Whole episodes are segments
too when they end within ``segment`` steps (CartPole with ``segment >= 500``). A game stopped by
its time limit (``truncated``, CartPole's 500-step cap) counts as terminal, :math:`V = 0`, not
bootstrapped (the limitation in :mod:`eprop_jax.envs.gym_adapter`).

:func:`train_gym` follows the run-folder contract of :mod:`eprop_jax.rundir` (kind ``"reward"``,
so ``eprop-jax plot`` redraws the reward curve): ``config.json`` (``env`` is ``"gym:ID"``),
``metrics.jsonl``, atomic ``checkpoint.npz`` with its predecessor, a lock, ``resume`` and
``overwrite``, ``summary.json``. A resumed run restores the weights, the optimiser state, the
iteration and the scores of the finished episodes, but the games restart (the emulators' state
is not saved), so it is not the uninterrupted run bit for bit. Resuming a run that has done all
its iterations changes nothing and returns the saved summary with ``"already_done": True``
(:func:`eprop_jax.reward_train.resume_checkpoint`, shared with the built-in environments).

Metrics per iteration: ``return`` (reward per game over the segment, mean over the games) and
``return_std``, ``score`` (mean undiscounted return of the last 100 finished episodes, ``None``
before the first), ``episodes`` (finished so far), ``entropy``, ``td_error``, ``rate`` (Hz) and
``seconds`` (wall time of the iteration), split into ``seconds_play`` (the games and the agent's
steps, in Python) and ``seconds_learn`` (the jitted gradient and Adam).
"""

from __future__ import annotations

import dataclasses
import json
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

import jax
import jax.numpy as jnp
import numpy as np
import optax

from ._checks import check_choice, check_positive
from .losses import rate_regularization
from .network import init_weights, network
from .reward import ENGINES, actor_critic
from .rules import resolve_feedback

PREFIX = "gym:"
GYMNASIUM_MAKE = "gymnasium.make"
"""``GymConfig.env_maker`` of environments built by ``gymnasium.make(env, **env_options)``;
anything else (``"scripts/pong.py"``) names the script whose ``make_env`` builds them."""
RUN_LENGTH_KEYS = ("iterations", "checkpoint_interval")
SCORE_WINDOW = 100


@dataclasses.dataclass(frozen=True)
class GymConfig:
    """Everything a Gymnasium run needs (what ``config.json`` records besides the sizes)."""

    env: str = "CartPole-v1"  # a Gymnasium id (``config.json`` records "gym:" + it)
    env_options: dict = dataclasses.field(default_factory=dict)  # recorded; for make_env
    env_maker: str = GYMNASIUM_MAKE  # what builds the environments (a script passes make_env)
    n_rec: int = 100
    n_alif: int = 50
    iterations: int = 200
    batch_size: int = 16  # parallel games
    segment: int = 200  # steps per game and iteration
    learning_rate: float = 1e-3
    lr_decay: float = 1.0  # factor on the learning rate every 100 iterations
    gamma: float = 0.99
    c_value: float = 0.5
    c_entropy: float = 0.01
    c_reg: float = 0.1
    f_target: float = 10.0
    feedback: str = "symmetric"
    feedback_std: float | None = None
    input_gain: float = 1.0
    implementation: str = "factored"
    seed: int = 0
    checkpoint_interval: int = 25


def check_gym_config(api: str, config: GymConfig) -> None:
    """One-line ``ValueError`` for a bad :class:`GymConfig` field."""
    if not isinstance(config.env, str) or not config.env:
        raise ValueError(
            f"`{api}`: env must be a Gymnasium id such as 'CartPole-v1'; got {config.env!r}."
        )
    names = ("n_rec", "iterations", "batch_size", "segment", "checkpoint_interval")
    for name in names:
        value = getattr(config, name)
        if isinstance(value, bool) or not isinstance(value, int) or value < 1:
            raise ValueError(f"`{api}`: {name} must be an integer >= 1; got {value!r}.")
    if (
        isinstance(config.n_alif, bool)
        or not isinstance(config.n_alif, int)
        or not (0 <= config.n_alif <= config.n_rec)
    ):
        raise ValueError(
            f"`{api}`: n_alif must be an integer in [0, n_rec={config.n_rec}]; got {config.n_alif!r}."
        )
    if (
        isinstance(config.seed, bool)
        or not isinstance(config.seed, int)
        or not (0 <= config.seed < 2**32)
    ):
        raise ValueError(
            f"`{api}`: seed must be an integer in [0, 2**32 - 1]; got {config.seed!r}."
        )
    check_positive(api, "learning_rate", config.learning_rate)
    check_positive(api, "lr_decay", config.lr_decay)
    check_positive(api, "input_gain", config.input_gain)
    check_choice(api, "implementation", config.implementation, tuple(ENGINES))
    resolve_feedback(config.feedback, api)
    if config.feedback_std is not None:
        check_positive(api, "feedback_std", config.feedback_std)
    actor_critic(1, gamma=config.gamma, c_value=config.c_value, c_entropy=config.c_entropy)
    rate_regularization(config.c_reg, config.f_target)


def make_gym_env(env_id: str, api: str = "make_gym_env", **options) -> Any:
    """``gymnasium.make(env_id, **options)``, with a one-line ``ValueError`` for an unknown id,
    a bad option or a missing Gymnasium."""
    try:
        import gymnasium
    except ImportError:
        raise ValueError(
            f"`{api}`: Gymnasium environments need gymnasium (pip install eprop-jax[rl])."
        ) from None
    if env_id.startswith("ALE/"):  # Atari ids are registered by ale-py's import
        try:
            import ale_py
        except ImportError:
            raise ValueError(
                f"`{api}`: Atari environment {env_id!r} needs ale-py (pip install eprop-jax[rl])."
            ) from None
        gymnasium.register_envs(ale_py)
    try:
        return gymnasium.make(env_id, **options)
    except (gymnasium.error.Error, TypeError) as err:
        shown = f"{env_id!r}" + (f" with options {options}" if options else "")
        text = " ".join(str(err).split())
        raise ValueError(f"`{api}`: cannot make Gymnasium environment {shown}: {text}") from None


_BUILT: dict[str, tuple] = {}
"""Networks and compiled steps of recent configurations, so that a resumed run in the same
process reuses its compilation; the last few only."""


def _built(config: GymConfig, n_obs: int, n_actions: int) -> tuple:
    """``(net, optimizer, update, agent_step)``: ``update(weights, opt_state, episode) ->
    (weights, opt_state, aux)`` jitted, cached by everything but the run length and the seed."""
    from .envs.gym_adapter import make_agent_step

    skip = (*RUN_LENGTH_KEYS, "seed")
    fields = {k: v for k, v in dataclasses.asdict(config).items() if k not in skip}
    text = json.dumps({**fields, "n_obs": n_obs, "n_actions": n_actions}, sort_keys=True)
    if text not in _BUILT:
        net = network(n_obs, config.n_rec, n_actions + 1, n_alif=config.n_alif)
        ac = actor_critic(
            n_actions, gamma=config.gamma, c_value=config.c_value, c_entropy=config.c_entropy
        )
        reg = rate_regularization(config.c_reg, config.f_target)
        fb = resolve_feedback(config.feedback, "train_gym")
        engine = ENGINES[config.implementation]
        optimizer = optax.adam(
            optax.exponential_decay(config.learning_rate, 100, config.lr_decay, staircase=True)
        )

        @jax.jit
        def update(weights, opt_state, episode):
            grads, aux = engine(net, weights, episode, config=ac, feedback=fb, regularization=reg)
            updates, opt_state = optimizer.update(grads, opt_state, weights)
            return optax.apply_updates(weights, updates), opt_state, aux

        while len(_BUILT) >= 4:
            _BUILT.pop(next(iter(_BUILT)))
        _BUILT[text] = (net, optimizer, update, make_agent_step(net, jnp.float32))
    return _BUILT[text]


def train_gym(
    config: GymConfig | None = None,
    out_dir: str | Path | None = None,
    *,
    make_env: Callable[[], Any] | None = None,
    progress: bool = True,
    figures: bool = True,
    resume: bool = False,
    overwrite: bool = False,
) -> dict:
    """Train an actor-critic agent with reward-based e-prop on a Gymnasium environment.

    Args:
        config: :class:`GymConfig` (``None``: the defaults, CartPole).
        out_dir: the run folder (``None`` writes nothing).
        make_env: builds one environment (``batch_size`` calls); default
            ``gymnasium.make(config.env, **config.env_options)``, which needs
            ``config.env_maker == "gymnasium.make"``. Its observation space must be a Box and its
            action space Discrete (preprocessing wrappers go here; ``config.env_options`` records
            their settings and ``config.env_maker`` names the script, e.g. ``"scripts/pong.py"``).
        progress: show a tqdm bar with the mean score of the last 100 finished episodes.
        figures: draw ``reward_curve.png`` at the end (:func:`eprop_jax.plotting.reward.reward_figures`).
        resume, overwrite: see :func:`eprop_jax.rundir.open_run` (resume: module docstring).

    Returns:
        The summary (also ``summary.json``): iterations, episodes finished, final metrics,
        ``seconds_per_iteration`` (after the first, compiling, iteration; split into
        ``seconds_play``, the games and the agent's steps, and ``seconds_learn``, the gradient
        and Adam) and the device. Resuming a finished run returns the saved summary with
        ``"already_done": True`` and writes nothing.

    Raises:
        ValueError: a bad configuration, environment or folder.
        TrainingDiverged: the weights became NaN or inf.
    """
    api = "train_gym"
    config = GymConfig() if config is None else config
    check_gym_config(api, config)
    if resume and out_dir is None:
        raise ValueError(f"`{api}`: resume=True needs out_dir.")
    if make_env is None and config.env_maker != GYMNASIUM_MAKE:
        raise ValueError(
            f"`{api}`: env_maker={config.env_maker!r} builds its environments itself and passes "
            f"make_env; got make_env=None (only env_maker={GYMNASIUM_MAKE!r} uses gymnasium.make)."
        )
    make_env = make_env or (lambda: make_gym_env(config.env, api, **config.env_options))
    envs = [make_env() for _ in range(config.batch_size)]
    try:
        return _train(api, config, envs, out_dir, progress, figures, resume, overwrite)
    finally:
        for env in envs:
            env.close()


def _train(api, config, envs, out_dir, progress, figures, resume, overwrite) -> dict:
    from . import rundir
    from .envs.gym_adapter import gym_segment, gym_spaces, gym_start
    from .reward_train import (
        check_finite_weights,
        checkpoint_arrays,
        log_iteration,
        progress_bar,
        resume_checkpoint,
    )

    n_obs, n_actions = gym_spaces(envs[0], api)
    net, optimizer, update, agent_step = _built(config, n_obs, n_actions)
    record = {**dataclasses.asdict(config), "env": PREFIX + config.env}
    facts = {"n_in": net.n_in, "n_out": net.n_out, "dt": net.dt}
    run = None
    if out_dir is not None:
        run = rundir.open_run(
            out_dir,
            "reward",
            {**record, **facts},
            resume=resume,
            overwrite=overwrite,
            may_change=RUN_LENGTH_KEYS,
            api=api,
        )
    try:
        key = jax.random.key(config.seed)
        weights = init_weights(
            net,
            jax.random.fold_in(key, 0),
            input_gain=config.input_gain,
            feedback_std=config.feedback_std,
        )
        opt_state = optimizer.init(weights)
        run_key = jax.random.fold_in(key, 1)
        start, scores, done_records = 0, [], []
        if run is not None and run.resumed:
            resumed = resume_checkpoint(api, run, (weights, opt_state), config.iterations)
            if resumed.summary is not None:
                return resumed.summary  # nothing to do: summary.json stays as it was
            (weights, opt_state), start = resumed.state, resumed.start
            done_records = resumed.records
            scores = [float(s) for s in resumed.arrays["scores"]]

        def save_checkpoint(iteration):
            arrays = checkpoint_arrays(
                (weights, opt_state), iteration, scores=np.asarray(scores, np.float64)
            )
            run.save_checkpoint(arrays)

        if run is not None:
            run.write_config({**record, **facts})
            run.start_metrics(done_records)
            if start == 0:
                save_checkpoint(0)
        stream = gym_start(envs, jax.random.fold_in(jax.random.fold_in(key, 2), start))
        bar = progress_bar(progress, config.iterations, start, f"reward gym:{config.env}")
        records, seconds = list(done_records), []
        try:
            for it in range(start, config.iterations):
                t0 = time.perf_counter()
                episode, _, stream, finished = gym_segment(
                    net,
                    weights,
                    envs,
                    stream,
                    jax.random.fold_in(run_key, it),
                    max_steps=config.segment,
                    agent_step=agent_step,
                )
                t1 = time.perf_counter()
                new_weights, new_opt, aux = update(weights, opt_state, episode)
                check_finite_weights(api, run, it, new_weights)
                weights, opt_state = new_weights, new_opt
                scores.extend(score for score, _ in finished)
                t2 = time.perf_counter()
                seconds.append((t2 - t0, t1 - t0, t2 - t1))
                metrics = _metrics(it, aux, scores, net.dt, seconds[-1])
                records.append(metrics)
                log_iteration(run, metrics, it, config, save_checkpoint)
                if bar is not None:
                    shown = {
                        "score": "-" if metrics["score"] is None else f"{metrics['score']:.3g}"
                    }
                    shown["episodes"] = str(len(scores))
                    bar.set_postfix(shown, refresh=False)
                    bar.update(1)
        finally:
            if bar is not None:
                bar.close()
        summary = {
            "iterations": config.iterations,
            "episodes_finished": len(scores),
            "final": records[-1] if records else None,
            **{
                f"seconds_{name}": float(np.mean([s[i] for s in seconds[1:]]))
                if len(seconds) > 1
                else None
                for i, name in enumerate(("per_iteration", "play", "learn"))
            },
            "seconds_first_iteration": seconds[0][0] if seconds else None,
            "resumed_at_iteration": start,
            "device": str(jax.devices()[0]),
        }
        if run is not None:
            run.write_json("summary.json", summary)
            if figures:
                from .plotting.reward import reward_figures

                reward_figures(run.path)
        return summary
    finally:
        if run is not None:
            run.close()


def _metrics(it: int, aux, scores: list[float], dt: float, seconds: tuple) -> dict:
    recent = scores[-SCORE_WINDOW:]
    return {
        "iteration": it,
        "return": float(jnp.mean(aux.episode_return)),
        "return_std": float(jnp.std(aux.episode_return)),
        "score": float(np.mean(recent)) if recent else None,
        "episodes": len(scores),
        "entropy": float(aux.entropy),
        "td_error": float(aux.td_error),
        "rate": float(jnp.mean(aux.rate)) * 1000.0 / dt,
        "seconds": seconds[0],
        "seconds_play": seconds[1],
        "seconds_learn": seconds[2],
    }
