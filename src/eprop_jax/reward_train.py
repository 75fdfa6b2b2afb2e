"""Training an actor-critic spiking agent with reward-based e-prop: rollout -> rule -> optax.

One jit-compiled step (:func:`make_reward_step`) runs a batch of episodes of a pure-function
environment (:func:`eprop_jax.envs.rollout`), computes the reward-based e-prop gradient on them
(``reward.py``: ``"factored"`` by default, ``"online"`` or ``"autodiff"``) and applies optax Adam.
Keys are ``fold_in(key, iteration)``, so a resumed run draws exactly the episodes an
uninterrupted run would. :func:`train_reward_seeds` vmaps the same step over independent seeds.

:func:`train_reward` is the run-folder trainer behind ``eprop-jax reward``: it follows the contract
of :mod:`eprop_jax.rundir` (kind ``"reward"``: ``config.json``, ``metrics.jsonl``, atomic
``checkpoint.npz`` with its predecessor, a lock, ``resume``/``overwrite``) and writes
``snapshot_first.npz``/``snapshot_last.npz`` (one recorded episode: observations, spikes, action
probabilities, value, rewards and the discounted return) and ``summary.json``.

Metrics per iteration: ``return`` (mean undiscounted return per episode), ``entropy``,
``td_error`` (mean squared TD error), ``rate`` (mean firing rate, Hz) and, for environments
whose episodes end in a choice (``delayed_decision``, ``dnms``), ``correct``: the number of
episodes whose return exceeds ``success_return`` (the *sampled* choice), ``outcomes`` (the same,
per episode). Environments with a ``score`` add, over the recall window: ``greedy`` (fraction of
episodes whose argmax action is right on more than half of the recall steps), ``p_label`` (mean
:math:`\\pi_t(\text{label})`) and, for ``delayed_decision``, ``correct_unanimous`` and
``correct_split``: the fraction of sampled choices correct on trials whose cues all point one way
and on the others (``None`` when the batch has none).

"Trained" is the environment's criterion (``Env.criterion``: 90 % of 100 successive episodes
correct for ``delayed_decision``, Miconi's 95 % for ``dnms``).
"""

from __future__ import annotations

import dataclasses
import json
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any, NamedTuple

import jax
import jax.numpy as jnp
import numpy as np
import optax

from ._checks import check_choice, check_positive
from .envs.base import ENVS, Env, get_env, rollout
from .losses import RateRegularization, rate_regularization
from .network import Network, Weights, init_weights, network
from .reward import ENGINES, ActorCritic, Episode, RewardAux, actor_critic, advantages
from .rules import resolve_feedback


class RewardStepOutput(NamedTuple):
    """What one step returns besides the new weights and optimiser state."""

    aux: RewardAux
    episode: Episode
    scores: dict | None  # Env.score per episode, each shape=(B,) (None without a score)


def make_reward_step(
    net: Network,
    env: Env,
    config: ActorCritic,
    optimizer: optax.GradientTransformation,
    *,
    n_batch: int,
    feedback: str = "random",
    regularization: RateRegularization | None = None,
    implementation: str = "factored",
) -> Callable[..., tuple[Weights, Any, RewardStepOutput]]:
    """The jitted step ``(weights, opt_state, key) -> (weights, opt_state, RewardStepOutput)``.

    Args:
        net: the network (``n_in = env.n_obs``, ``n_out = env.n_actions + 1``).
        env: the pure-function :class:`~eprop_jax.envs.base.Env`.
        config: :class:`~eprop_jax.reward.ActorCritic`.
        optimizer: an optax transformation (``optax.adam(lr)``).
        n_batch: episodes per step.
        feedback: ``"symmetric"``, ``"random"`` or ``"adaptive"``.
        regularization: firing-rate regularisation (default none).
        implementation: ``"factored"``, ``"online"`` or ``"autodiff"`` (same gradient).
    """
    api = "make_reward_step"
    check_choice(api, "implementation", implementation, tuple(ENGINES))
    fb = resolve_feedback(feedback, api)
    engine = ENGINES[implementation]
    reg = regularization or rate_regularization()

    @jax.jit
    def step(weights, opt_state, key):
        episode, trace = rollout(net, weights, env, key, n_batch)
        grads, aux = engine(net, weights, episode, config=config, feedback=fb, regularization=reg)
        updates, opt_state = optimizer.update(grads, opt_state, weights)
        weights = optax.apply_updates(weights, updates)
        return weights, opt_state, RewardStepOutput(aux, episode, trace.scores)

    return step


def step_metrics(output: RewardStepOutput, dt: float, success_return: float | None) -> dict:
    """The per-iteration metrics of the module docstring, as Python numbers."""
    aux = output.aux
    metrics = {
        "return": float(jnp.mean(aux.episode_return)),
        "return_std": float(jnp.std(aux.episode_return)),
        "entropy": float(aux.entropy),
        "td_error": float(aux.td_error),
        "rate": float(jnp.mean(aux.rate)) * 1000.0 / dt,
    }
    if success_return is not None:
        outcomes = np.asarray(aux.episode_return) > success_return
        metrics["correct"] = int(outcomes.sum())
        metrics["outcomes"] = "".join("1" if o else "0" for o in outcomes)  # in batch order
        metrics.update(score_metrics(output.scores, outcomes))
    return metrics


def score_metrics(scores: dict | None, outcomes: np.ndarray) -> dict:
    """``greedy``, ``p_label`` and the accuracy by difficulty (module docstring) of one batch;
    ``outcomes``: the sampled choices' 0/1 correctness ``(B,)``."""
    if scores is None:
        return {}
    metrics = {
        "greedy": float(np.mean(np.asarray(scores["greedy"]))),
        "p_label": float(np.mean(np.asarray(scores["p_label"]))),
    }
    if "unanimous" in scores:
        easy = np.asarray(scores["unanimous"]) > 0.5
        for name, sel in (("correct_unanimous", easy), ("correct_split", ~easy)):
            metrics[name] = float(np.mean(outcomes[sel])) if sel.any() else None
    return metrics


def iterations_to_criterion(
    correct: np.ndarray, n_batch: int, *, window: int = 100, fraction: float = 0.9
) -> int | None:
    """First iteration (1-based) after which the last ``window`` episodes were at least
    ``fraction`` correct, or ``None``.

    ``correct``: per-episode 0/1 outcomes in the order played, shape ``(iterations * n_batch,)``
    (within one iteration the batch order).
    """
    outcomes = np.asarray(correct, np.float64)
    if outcomes.size < window:
        return None
    sums = np.convolve(outcomes, np.ones(window), mode="valid")  # sums[i]: episodes i..i+window-1
    hits = np.flatnonzero(sums >= fraction * window - 1e-9)
    if hits.size == 0:
        return None
    last_episode = int(hits[0]) + window  # number of episodes played when first met
    return -(-last_episode // n_batch)


def train_reward_seeds(
    net: Network,
    env: Env,
    config: ActorCritic,
    *,
    seeds: list[int],
    iterations: int,
    n_batch: int,
    learning_rate: float = 5e-3,
    lr_decay: float = 1.0,
    feedback: str = "random",
    regularization: RateRegularization | None = None,
    implementation: str = "factored",
    feedback_std: float | None = None,
    callback: Callable[[int, dict], None] | None = None,
) -> dict:
    """Train one agent per seed, all seeds vmapped in one compiled step.

    Adam's learning rate is multiplied by ``lr_decay`` every 100 iterations.

    Returns:
        ``{"correct": (n_seeds, iterations, n_batch) bool array, "return": (n_seeds,
        iterations) mean returns, "scores": {name: (n_seeds, iterations, n_batch)} of
        ``env.score`` (empty without one), "seconds_per_iteration": float, "weights": final
        Weights (leading seed axis)}``.
    """
    api = "train_reward_seeds"
    check_positive(api, "learning_rate", learning_rate)
    check_positive(api, "lr_decay", lr_decay)
    for name, value in (("iterations", iterations), ("n_batch", n_batch), ("seeds", len(seeds))):
        if isinstance(value, bool) or not isinstance(value, int) or value < 1:
            what = "a non-empty list" if name == "seeds" else "an integer >= 1"
            raise ValueError(f"`{api}`: {name} must be {what}; got {value!r}.")
    if feedback_std is not None:
        check_positive(api, "feedback_std", feedback_std)
    success_return = env.success_return if env.success_return is not None else np.inf
    schedule = optax.exponential_decay(learning_rate, 100, lr_decay, staircase=True)
    optimizer = optax.adam(schedule)
    step = make_reward_step(
        net,
        env,
        config,
        optimizer,
        n_batch=n_batch,
        feedback=feedback,
        regularization=regularization,
        implementation=implementation,
    )
    keys = [jax.random.key(int(s)) for s in seeds]
    weights = jax.tree.map(
        lambda *w: jnp.stack(w),
        *[init_weights(net, jax.random.fold_in(k, 0), feedback_std=feedback_std) for k in keys],
    )
    opt_state = jax.vmap(optimizer.init)(weights)
    run_keys = jnp.stack([jax.random.fold_in(k, 1) for k in keys])
    vstep = jax.jit(
        jax.vmap(lambda w, s, k, i: step(w, s, jax.random.fold_in(k, i)), in_axes=(0, 0, 0, None))
    )
    correct, returns, scores = [], [], []
    start = None
    for it in range(iterations):
        weights, opt_state, out = vstep(weights, opt_state, run_keys, it)
        ret = np.asarray(out.aux.episode_return)  # (n_seeds, B)
        if it == 0:
            start = time.perf_counter()  # after compilation
        correct.append(ret > success_return)
        returns.append(ret.mean(axis=1))
        if out.scores is not None:
            scores.append({k: np.asarray(v) for k, v in out.scores.items()})
        if callback is not None:
            callback(it, {"return": ret.mean(axis=1), "correct": (ret > success_return).mean(1)})
    elapsed = time.perf_counter() - start
    return {
        "correct": np.stack(correct, axis=1),
        "return": np.stack(returns, axis=1),
        "scores": {k: np.stack([s[k] for s in scores], axis=1) for k in (scores or [{}])[0]},
        "seconds_per_iteration": elapsed / max(iterations - 1, 1),
        "weights": weights,
    }


MAX_SEED = 2**32
RUN_LENGTH_KEYS = ("iterations", "checkpoint_interval")
"""Configuration keys a resumed run may change."""


@dataclasses.dataclass(frozen=True)
class RewardConfig:
    """Everything a reward-based e-prop run needs (what ``config.json`` records).

    The defaults train the delayed-reward decision task (``envs/delayed_decision.py``) with 3
    short cues and a 100 ms delay: the settings of ``scripts/reward_results.py``. For another
    environment start from :func:`reward_defaults` (``reward_defaults("dnms")``), which sets the
    fields of :func:`env_defaults` to that environment's (what the CLI and the script use); a
    config with another ``env`` but the delayed decision's ``env_options`` is refused.
    """

    env: str = "delayed_decision"
    env_options: dict = dataclasses.field(
        default_factory=lambda: {
            "n_cues": 3,
            "cue_duration": 50.0,
            "cue_silence": 25.0,
            "delay": 100.0,
            "recall_duration": 100.0,
        }
    )
    n_rec: int = 100
    n_alif: int = 50
    tau_a: float = 500.0  # ALIF adaptation time constant (ms), about the trial's length
    iterations: int = 800
    batch_size: int = 64
    learning_rate: float = 1e-2
    lr_decay: float = 0.8  # factor on the learning rate every 100 iterations
    gamma: float = 0.0
    c_value: float = 0.1
    c_entropy: float = 0.3  # keeps pi off 0 and 1 (env_defaults)
    c_reg: float = 0.1
    f_target: float = 10.0
    feedback: str = "symmetric"
    feedback_std: float | None = 1.0
    implementation: str = "factored"
    seed: int = 0
    checkpoint_interval: int = 25


def check_reward_config(api: str, config: RewardConfig) -> None:
    """One-line ``ValueError`` for a bad :class:`RewardConfig` field."""
    check_choice(api, "env", config.env, tuple(ENVS))
    if config.env != "delayed_decision" and config.env_options == RewardConfig().env_options:
        raise ValueError(
            f"`{api}`: env={config.env!r} with the delayed decision's env_options "
            f"{config.env_options}; build the config from reward_defaults({config.env!r}) "
            "(eprop_jax.reward_train), which also sets that environment's learning settings."
        )
    for name in ("n_rec", "iterations", "batch_size", "checkpoint_interval"):
        value = getattr(config, name)
        if isinstance(value, bool) or not isinstance(value, int) or value < 1:
            raise ValueError(f"`{api}`: {name} must be an integer >= 1; got {value!r}.")
    if (
        isinstance(config.n_alif, bool)
        or not isinstance(config.n_alif, int)
        or not 0 <= config.n_alif <= config.n_rec
    ):
        raise ValueError(
            f"`{api}`: n_alif must be an integer in [0, n_rec={config.n_rec}]; got {config.n_alif!r}."
        )
    if (
        isinstance(config.seed, bool)
        or not isinstance(config.seed, int)
        or not (0 <= config.seed < MAX_SEED)
    ):
        raise ValueError(
            f"`{api}`: seed must be an integer in [0, 2**32 - 1]; got {config.seed!r}."
        )
    check_positive(api, "tau_a", config.tau_a)
    check_positive(api, "learning_rate", config.learning_rate)
    check_positive(api, "lr_decay", config.lr_decay)
    check_choice(api, "implementation", config.implementation, tuple(ENGINES))
    resolve_feedback(config.feedback, api)
    if config.feedback_std is not None:
        check_positive(api, "feedback_std", config.feedback_std)
    rate_regularization(config.c_reg, config.f_target)


NETWORK_TAU_A = 2000.0
"""The adaptation time constant (ms) of environments other than ``delayed_decision``: the
network's default, sized for the seconds-long supervised evidence-accumulation trial."""
OTHER_ENV_C_ENTROPY = 0.02
"""The entropy coefficient of environments other than ``delayed_decision``."""


DNMS_DEFAULTS = {
    "iterations": 600,
    "batch_size": 32,
    "learning_rate": 2e-3,
    "lr_decay": 1.0,
    "c_value": 0.01,
    "c_entropy": 0.2,
    "c_reg": 0.01,
}
"""The settings with which reward-based e-prop learns DNMS (README; 5 of 5 seeds reach
Miconi's criterion): a smaller, constant learning rate, a strong entropy bonus and a weak rate
regulariser (the reward objective is averaged over all 1000 steps of the trial, so the
regulariser weighs about 10x more against the task than in a supervised run)."""


def env_defaults(env: str) -> dict:
    r"""The :class:`RewardConfig` fields whose default depends on the environment.

    ``delayed_decision``: the defaults of :class:`RewardConfig`: its 3-cue trial of 425 ms,
    ``tau_a = 500`` ms (about the trial's length, so that one spike raises an ALIF threshold by
    :math:`\beta \approx 0.07` rather than the 0.017 of ``tau_a = 2000``) and ``c_entropy =
    0.3`` (it keeps :math:`\pi` from saturating on the trials the agent gets wrong, where the
    policy gradient :math:`\pi(\text{label})(\pi - e_{\text{label}})` would vanish).
    ``dnms``: its own default trial, ``tau_a = NETWORK_TAU_A`` and :data:`DNMS_DEFAULTS`. Any
    other environment: its own default options, ``tau_a = NETWORK_TAU_A`` and ``c_entropy =
    OTHER_ENV_C_ENTROPY``.
    """
    if env == "delayed_decision":
        d = RewardConfig()
        return {"env_options": dict(d.env_options), "tau_a": d.tau_a, "c_entropy": d.c_entropy}
    if env == "dnms":
        return {"env_options": {}, "tau_a": NETWORK_TAU_A, **DNMS_DEFAULTS}
    return {"env_options": {}, "tau_a": NETWORK_TAU_A, "c_entropy": OTHER_ENV_C_ENTROPY}


def reward_defaults(env: str) -> RewardConfig:
    """:class:`RewardConfig` with the defaults of ``env`` (:func:`env_defaults`)."""
    return dataclasses.replace(RewardConfig(), env=env, **env_defaults(env))


def build_reward_run(config: RewardConfig):
    """``(net, env, actor_critic, regularization)`` of a checked configuration."""
    env = get_env(config.env, **config.env_options)
    net = network(
        env.n_obs,
        config.n_rec,
        env.n_actions + 1,
        n_alif=config.n_alif,
        tau_a=config.tau_a,
        dt=env.dt,
    )
    ac = actor_critic(
        env.n_actions, gamma=config.gamma, c_value=config.c_value, c_entropy=config.c_entropy
    )
    return net, env, ac, rate_regularization(config.c_reg, config.f_target)


def record_episode(net, weights, env, config: ActorCritic, key) -> dict:
    """One episode as arrays for ``snapshot_*.npz`` (figures: ``plotting/reward.py``); jittable
    with ``net``, ``env`` and ``config`` closed over."""
    episode, trace = rollout(net, weights, env, key, 1)
    pi = jax.nn.softmax(trace.y[:, 0, : config.n_actions], axis=-1)
    values = trace.y[:, 0, config.n_actions]
    psi = advantages(config, trace.y[..., config.n_actions], episode.rewards, episode.mask)
    return {
        "inputs": episode.inputs[:, 0],
        "z": trace.z[:, 0],
        "pi": pi,
        "value": values,
        "discounted_return": psi[:, 0] + values,
        "actions": episode.actions[:, 0],
        "rewards": episode.rewards[:, 0],
        "mask": episode.mask[:, 0],
    }


class _Built(NamedTuple):
    net: Network
    env: Env
    config: ActorCritic
    optimizer: Any
    step: Callable
    record: Callable


_BUILT: dict[str, _Built] = {}
"""Compiled runs by configuration (all but run length and seed), so that a run resumed or
repeated in the same process reuses its compilation; the last few only."""


def _built(config: RewardConfig) -> _Built:
    text = json.dumps(
        {
            k: v
            for k, v in dataclasses.asdict(config).items()
            if k not in (*RUN_LENGTH_KEYS, "seed")
        },
        sort_keys=True,
    )
    if text not in _BUILT:
        net, env, ac, reg = build_reward_run(config)
        schedule = optax.exponential_decay(
            config.learning_rate, 100, config.lr_decay, staircase=True
        )
        optimizer = optax.adam(schedule)
        step = make_reward_step(
            net,
            env,
            ac,
            optimizer,
            n_batch=config.batch_size,
            feedback=config.feedback,
            regularization=reg,
            implementation=config.implementation,
        )
        record = jax.jit(lambda w, k: record_episode(net, w, env, ac, k))
        while len(_BUILT) >= 4:
            _BUILT.pop(next(iter(_BUILT)))
        _BUILT[text] = _Built(net, env, ac, optimizer, step, record)
    return _BUILT[text]


def _snapshot(built: _Built, weights, key) -> dict:
    arrays = {k: np.asarray(v) for k, v in built.record(weights, key).items()}
    arrays["gamma"] = np.asarray(built.config.gamma)
    arrays["dt"] = np.asarray(built.net.dt)
    return arrays


class Resumed(NamedTuple):
    """What :func:`resume_checkpoint` restores from a run folder."""

    state: Any  # the pytree of the template, restored from checkpoint.npz
    start: int  # iterations done
    arrays: dict  # every array of checkpoint.npz (extra entries such as "scores")
    records: list  # the metrics of the iterations done
    summary: dict | None  # the saved summary with "already_done": True, when nothing is left


def resume_checkpoint(api: str, run, template, iterations: int) -> Resumed:
    """Restore a resumed run's ``template`` pytree (weights, optimiser state) from its checkpoint
    (saved by :func:`checkpoint_arrays`), for a run of ``iterations`` iterations.

    A checkpoint that does not fit the template, or one past ``iterations``, is refused in one
    line (:class:`eprop_jax.rundir.RunDirError`). A run that has done all its iterations and
    written ``summary.json`` returns that summary with ``"already_done": True``: the trainer
    returns it unchanged and writes nothing.
    """
    from . import rundir

    leaves, treedef = jax.tree.flatten(template)

    def check(arrays):
        for i, leaf in enumerate(leaves):
            name = f"leaf_{i:04d}"
            if name not in arrays or arrays[name].shape != np.shape(leaf):
                raise rundir.RunDirError(
                    f"`{api}`: {run.path / rundir.CHECKPOINT} does not fit this run ({name})."
                )

    arrays = run.load_checkpoint(check=check)
    restored = [
        jnp.asarray(arrays[f"leaf_{i:04d}"], np.asarray(leaf).dtype)
        for i, leaf in enumerate(leaves)
    ]
    start = int(arrays["iteration"])
    if start > iterations:
        raise rundir.RunDirError(
            f"`{api}`: cannot resume {run.path} with iterations={iterations}: it has done "
            f"{start} iterations already."
        )
    records = [m for m in run.read_metrics() if m.get("iteration", start) < start]
    saved = run.path / "summary.json"
    summary = None
    if start == iterations and saved.exists():
        summary = {**json.loads(saved.read_text()), "already_done": True}
    return Resumed(jax.tree.unflatten(treedef, restored), start, arrays, records, summary)


def checkpoint_arrays(state, iteration: int, **extra) -> dict:
    """The arrays of ``checkpoint.npz``: the leaves of ``state`` (``leaf_0000``, ...), the
    ``iteration`` and any ``extra`` arrays (read back by :func:`resume_checkpoint`)."""
    arrays = {f"leaf_{i:04d}": np.asarray(x) for i, x in enumerate(jax.tree.leaves(state))}
    arrays["iteration"] = np.asarray(iteration)
    arrays.update({name: np.asarray(value) for name, value in extra.items()})
    return arrays


def progress_bar(progress: bool, total: int, initial: int, desc: str):
    """A tqdm bar over the iterations of a reward run, or ``None`` without ``progress``."""
    if not progress:
        return None
    from tqdm.auto import tqdm

    return tqdm(total=total, initial=initial, desc=desc, unit="it", dynamic_ncols=True)


def check_finite_weights(api: str, run, iteration: int, weights) -> None:
    """Raise :class:`~eprop_jax.train.TrainingDiverged` in one line if an update made any weight
    NaN or inf (the run folder's checkpoint is then the last finite state)."""
    if all(bool(jnp.all(jnp.isfinite(w))) for w in weights):
        return
    from . import rundir
    from .train import TrainingDiverged

    where = "" if run is None else f"; the last finite checkpoint is {run.path / rundir.CHECKPOINT}"
    raise TrainingDiverged(
        f"`{api}`: the weights became NaN/inf at iteration {iteration}{where}. Try a smaller "
        "learning_rate."
    )


def log_iteration(run, metrics: dict, iteration: int, config, save_checkpoint) -> None:
    """Append an iteration's metrics to the run folder and checkpoint every
    ``config.checkpoint_interval`` iterations and after the last (nothing without a folder)."""
    if run is None:
        return
    run.append_metrics([metrics])
    done = iteration + 1
    if done % config.checkpoint_interval == 0 or done == config.iterations:
        save_checkpoint(done)


def train_reward(
    config: RewardConfig | None = None,
    out_dir: str | Path | None = None,
    *,
    progress: bool = True,
    figures: bool = True,
    resume: bool = False,
    overwrite: bool = False,
) -> dict:
    """Train an actor-critic agent with reward-based e-prop and write the run folder.

    Iteration ``i`` plays the episodes of ``fold_in(key(seed), i)``, so a resumed run continues
    bit for bit. Metrics (module docstring) go to ``metrics.jsonl``, one line per iteration;
    the checkpoint (weights, optimiser state, iteration) is written every
    ``checkpoint_interval`` iterations and at the end.

    Args:
        config: :class:`RewardConfig` (``None``: the defaults).
        out_dir: the run folder (``None`` writes nothing).
        progress: show a tqdm bar with the mean return and the fraction of correct episodes.
        figures: write the PNG figures at the end (:func:`eprop_jax.plotting.reward.reward_figures`).
        resume, overwrite: see :func:`eprop_jax.rundir.open_run`.

    Returns:
        The summary (also ``summary.json``): iterations, ``iterations_to_criterion`` (the
        environment's criterion, ``Env.criterion`` of 100 successive episodes correct, ``None``
        if not reached or not defined), final metrics and ``seconds_per_iteration``. Resuming a
        run that has done all its iterations changes nothing and returns the saved summary
        with ``"already_done": True``.

    Raises:
        ValueError: a bad configuration or a folder that cannot be used.
        TrainingDiverged: the weights became NaN or inf.
    """
    from . import rundir

    api = "train_reward"
    config = RewardConfig() if config is None else config
    check_reward_config(api, config)
    if resume and out_dir is None:
        raise ValueError(f"`{api}`: resume=True needs out_dir.")
    built = _built(config)
    net, env, optimizer, step = built.net, built.env, built.optimizer, built.step
    record = dataclasses.asdict(config)
    facts = {"n_in": net.n_in, "n_out": net.n_out, "dt": net.dt, "n_steps": env.n_steps}
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
        weights = init_weights(net, jax.random.fold_in(key, 0), feedback_std=config.feedback_std)
        opt_state = optimizer.init(weights)
        run_key, snapshot_key = jax.random.fold_in(key, 1), jax.random.fold_in(key, 2)
        start, done_records = 0, []
        if run is not None and run.resumed:
            resumed = resume_checkpoint(api, run, (weights, opt_state), config.iterations)
            if resumed.summary is not None:
                return resumed.summary  # nothing to do
            (weights, opt_state), start = resumed.state, resumed.start
            done_records = resumed.records

        def save_checkpoint(iteration):
            run.save_checkpoint(checkpoint_arrays((weights, opt_state), iteration))

        if run is not None:
            run.write_config({**record, **facts})
            run.start_metrics(done_records)
            if start == 0:
                run.save_npz("snapshot_first.npz", _snapshot(built, weights, snapshot_key))
                save_checkpoint(0)
        bar = progress_bar(progress, config.iterations, start, f"reward {config.env}")
        records = list(done_records)
        t_start, seconds = None, 0.0
        try:
            for it in range(start, config.iterations):
                new_weights, new_opt, out = step(
                    weights, opt_state, jax.random.fold_in(run_key, it)
                )
                check_finite_weights(api, run, it, new_weights)
                weights, opt_state = new_weights, new_opt
                metrics = {"iteration": it, **step_metrics(out, net.dt, env.success_return)}
                records.append(metrics)
                if t_start is None:
                    t_start = time.perf_counter()  # after the first (compiling) iteration
                log_iteration(run, metrics, it, config, save_checkpoint)
                if bar is not None:
                    shown = {"return": f"{metrics['return']:.3g}"}
                    if "correct" in metrics:
                        shown["correct"] = f"{metrics['correct'] / config.batch_size:.2f}"
                    bar.set_postfix(shown, refresh=False)
                    bar.update(1)
            if t_start is not None:
                seconds = (time.perf_counter() - t_start) / max(config.iterations - start - 1, 1)
        finally:
            if bar is not None:
                bar.close()
        outcomes = [m["outcomes"] for m in records if "outcomes" in m]
        reached = None
        if outcomes and len(outcomes) == len(records):
            played = np.array([c == "1" for c in "".join(outcomes)])
            reached = iterations_to_criterion(played, config.batch_size, fraction=env.criterion)
        summary = {
            "iterations": config.iterations,
            "iterations_to_criterion": reached,
            "criterion": f"{env.criterion:.0%} of 100 successive episodes correct "
            "(return > success_return)",
            "final": records[-1] if records else None,
            "seconds_per_iteration": seconds,
            "resumed_at_iteration": start,
            "device": str(jax.devices()[0]),
        }
        if run is not None:
            run.save_npz("snapshot_last.npz", _snapshot(built, weights, snapshot_key))
            run.write_json("summary.json", summary)
            if figures:
                from .plotting.reward import reward_figures

                reward_figures(run.path)
        return summary
    finally:
        if run is not None:
            run.close()
