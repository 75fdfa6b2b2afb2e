"""Training driver for Miconi's network on DNMS: files, progress bar and figures.

:func:`train_dnms` trains ``n_networks`` independent networks at once (``jax.vmap`` of
:func:`eprop_jax.miconi.train_groups`), in compiled chunks of ``chunk_groups`` groups, and writes
into ``out_dir``:

=======================  ===================================================================
``config.json``          the :class:`~eprop_jax.miconi.MiconiConfig` plus ``output`` (the
                         output unit), ``trial_types``, ``task`` (``"dnms"``), ``groups``,
                         ``seed``, ``n_networks``, ``chunk_groups``
``metrics.jsonl``        one JSON object per group: ``group`` (0-based), ``trials`` (done
                         after it), ``learning``, ``reward`` and ``baseline`` (per type AA, AB,
                         BA, BB, mean over networks), ``error`` (mean), ``frac_error_below_1``
                         and ``frac_error_below_0.5`` (over the group's trials and networks),
                         ``reward_per_network`` (``[n_networks][4]``, only if several)
``checkpoint.npz``       ``w_in``, ``w_rec``, ``mask``, ``xbar``, ``baseline`` (leading axis:
                         networks) and ``group``; written atomically after every chunk
``traces.npz``           ``before``, ``after``: output rate of a test trial (no perturbation)
                         per network and type, ``(n_networks, 4, trial_steps)``
``summary.json``         trials to criterion (error < 1 and < 0.5, 95 % of 100 trials) per
                         network, final test errors per type, timing
``dnms_rewards.png``     reward per trial type (:func:`~eprop_jax.plotting.plot_dnms_rewards`)
``dnms_traces.png``      output traces before/after learning, network 0
                         (:func:`~eprop_jax.plotting.plot_dnms_traces`)
=======================  ===================================================================

Weights or rewards that become NaN/inf stop the run with
:class:`~eprop_jax.train.TrainingDiverged`; ``checkpoint.npz`` then holds the last good chunk.
"""

from __future__ import annotations

import dataclasses
import functools
import json
import time
from pathlib import Path

import jax
import numpy as np

from . import miconi
from .miconi import TRIAL_TYPES, MiconiConfig
from .train import TrainingDiverged, _atomic_write, _save_npz

CRITERIA = (1.0, 0.5)
"""Error thresholds of the trials-to-criterion measures (95 % of 100 successive trials)."""


@functools.cache
def _compiled(config: MiconiConfig, n_groups: int):
    """``(states, keys) -> (states, GroupOutput)`` over a batch of networks, jit-compiled."""

    def one(state, key):
        return miconi.train_groups(config, state, n_groups=n_groups, key=key)

    return jax.jit(jax.vmap(one))


@functools.cache
def _compiled_init(config: MiconiConfig, n_networks: int):
    """``seed_key -> (states, train_keys, eval_key)`` for ``n_networks`` networks, jit-compiled."""

    def make(seed_key):
        init_keys = jax.random.split(jax.random.fold_in(seed_key, 0), n_networks)
        train_keys = jax.random.split(jax.random.fold_in(seed_key, 1), n_networks)
        states = jax.vmap(lambda k: miconi.init(config, key=k))(init_keys)
        return states, train_keys, jax.random.fold_in(seed_key, 2)

    return jax.jit(make)


@functools.cache
def _compiled_eval(config: MiconiConfig):
    return jax.jit(jax.vmap(lambda w, k: miconi.evaluate(config, w, key=k), in_axes=(0, None)))


def _write_json(path: Path, data) -> None:
    _atomic_write(path, lambda p: p.write_text(json.dumps(data, indent=2)))


def _checkpoint(path: Path, states: miconi.TrainState) -> None:
    w = states.weights
    _save_npz(path, {
        "w_in": w.w_in, "w_rec": w.w_rec, "mask": w.mask, "xbar": states.xbar,
        "baseline": states.baseline, "group": np.asarray(states.group)[0],
    })  # fmt: skip


def _finite(tree) -> bool:
    return all(bool(np.all(np.isfinite(np.asarray(x)))) for x in jax.tree.leaves(tree))


def _metrics_lines(config: MiconiConfig, start: int, rewards: np.ndarray, baselines: np.ndarray):
    """Metric records of groups ``start..``; ``rewards``/``baselines``: ``(n_networks, c, 4)``."""
    for i in range(rewards.shape[1]):
        group = start + i
        r, errors = rewards[:, i], -rewards[:, i]
        record = {
            "group": group,
            "trials": 4 * (group + 1),
            "learning": group >= config.n_warmup,
            "reward": r.mean(axis=0).tolist(),
            "baseline": baselines[:, i].mean(axis=0).tolist(),
            "error": float(errors.mean()),
            "frac_error_below_1": float(np.mean(errors < 1.0)),
            "frac_error_below_0.5": float(np.mean(errors < 0.5)),
        }
        if rewards.shape[0] > 1:
            record["reward_per_network"] = r.tolist()
        yield record


def _write_figures(out: Path, config: MiconiConfig, rewards, before, after) -> None:
    from .plotting import DPI, plot_dnms_rewards, plot_dnms_traces

    n = rewards.shape[0]
    label = f"DNMS, Miconi's rule ({n} network{'s' if n > 1 else ''})"
    figures = {
        "dnms_rewards.png": plot_dnms_rewards(rewards, title=label),
        "dnms_traces.png": plot_dnms_traces(
            before[0], after[0], target=config.target, stim_steps=config.stim_steps,
            gap_steps=config.gap_steps, response_steps=config.response_steps, dt=config.dt,
            title=f"{label}: output unit in test trials (no perturbation), network 0",
        ),
    }  # fmt: skip
    for name, fig in figures.items():
        fig.savefig(out / name, dpi=DPI)
        fig.clear()


def train_dnms(
    config: MiconiConfig | None = None,
    groups: int = 2000,
    out_dir: str | Path | None = None,
    *,
    seed: int = 0,
    n_networks: int = 1,
    progress: bool = True,
    chunk_groups: int = 50,
    figures: bool = True,
) -> dict:
    """Train Miconi's network on DNMS and write the files of the module docstring.

    Args:
        config: the :class:`~eprop_jax.miconi.MiconiConfig` (``None``: the defaults, i.e. the
            ANNarchy notebook with the AB baseline fixed).
        groups: number of groups of 4 trials (AA, AB, BA, BB), >= 1.
        out_dir: output directory, created if needed; ``None`` writes nothing.
        seed: seeds every network's weights and perturbations.
        n_networks: independent networks trained at once (vmapped), >= 1.
        progress: show a tqdm progress bar (mean error and fraction of errors < 0.5 per chunk).
        chunk_groups: groups per compiled call (checkpoint and metrics after each), >= 1.
        figures: write the PNG figures (needs ``out_dir``).

    Returns:
        The summary dict (also ``summary.json``): ``trials_to_criterion`` (``{"1": [...],
        "0.5": [...]}``, one entry per network, ``None`` if not reached), ``test_error``
        (per type, one entry per network), ``test_error_mean``, ``final_error`` (mean error of
        the last 100 groups), ``train_seconds``, ``train_cpu_seconds``, ``groups_per_second``
        (network-groups per wall second, compilation included) and the run's settings.

    Raises:
        ValueError: on bad ``groups``, ``n_networks`` or ``chunk_groups``.
        TypeError: if ``config`` is not a :class:`~eprop_jax.miconi.MiconiConfig`.
        TrainingDiverged: when the weights or rewards become NaN or inf.
    """
    api = "train_dnms"
    config = MiconiConfig() if config is None else config
    if not isinstance(config, MiconiConfig):
        raise TypeError(f"`{api}`: expected config to be a MiconiConfig or None, got {type(config).__name__}.")  # fmt: skip
    for name, value in (("groups", groups), ("n_networks", n_networks),
                        ("chunk_groups", chunk_groups)):  # fmt: skip
        if isinstance(value, bool) or not isinstance(value, int) or value < 1:
            raise ValueError(f"`{api}`: {name} must be an integer >= 1; got {value!r}.")
    out = None if out_dir is None else Path(out_dir)
    states, train_keys, eval_key = _compiled_init(config, n_networks)(jax.random.key(seed))
    evaluate = _compiled_eval(config)
    before = np.asarray(evaluate(states.weights, eval_key).r_out)

    settings = {"task": "dnms", "groups": groups, "seed": seed, "n_networks": n_networks,
                "chunk_groups": chunk_groups}  # fmt: skip
    metrics_file = None
    if out is not None:
        out.mkdir(parents=True, exist_ok=True)
        resolved = {"output": config.output, "trial_types": list(TRIAL_TYPES)}
        _write_json(out / "config.json", {**dataclasses.asdict(config), **resolved, **settings})
        _atomic_write(out / "metrics.jsonl", lambda p: p.write_text(""))
        _checkpoint(out / "checkpoint.npz", states)
        metrics_file = open(out / "metrics.jsonl", "a")

    bar = None
    if progress:
        from tqdm.auto import tqdm

        bar = tqdm(total=groups, desc=f"dnms [{n_networks} net]", unit="group",
                   dynamic_ncols=True)  # fmt: skip
    all_rewards = []
    t_wall, t_cpu = time.perf_counter(), time.process_time()
    try:
        done = 0
        while done < groups:
            size = min(chunk_groups, groups - done)
            new_states, result = _compiled(config, size)(states, train_keys)
            rewards, baselines = np.asarray(result.reward), np.asarray(result.baseline)
            if not (_finite(new_states.weights) and _finite(rewards)):
                where = f"; the last good state is in {out / 'checkpoint.npz'}" if out else ""
                raise TrainingDiverged(
                    f"`{api}`: the weights or rewards became NaN/inf in groups {done}-"
                    f"{done + size - 1}{where}. Try a smaller eta or clip."
                )
            states = new_states
            all_rewards.append(rewards)
            if metrics_file is not None:
                for record in _metrics_lines(config, done, rewards, baselines):
                    metrics_file.write(json.dumps(record) + "\n")
                metrics_file.flush()
                _checkpoint(out / "checkpoint.npz", states)
            done += size
            if bar is not None:
                errors = -rewards
                bar.set_postfix({"err": f"{errors.mean():.3f}",
                                 "err<0.5": f"{np.mean(errors < 0.5):.2f}"}, refresh=False)  # fmt: skip
                bar.update(size)
    finally:
        if metrics_file is not None:
            metrics_file.close()
        if bar is not None:
            bar.close()
    train_seconds = time.perf_counter() - t_wall
    train_cpu = time.process_time() - t_cpu

    rewards = np.concatenate(all_rewards, axis=1)  # (n_networks, groups, 4)
    final = evaluate(states.weights, eval_key)
    after = np.asarray(final.r_out)
    test_error = -np.asarray(final.reward)  # (n_networks, 4)
    errors = miconi.trial_errors(rewards)  # (n_networks, 4 groups)
    summary = {
        **settings,
        "trials": 4 * groups,
        "trials_to_criterion": {
            f"{c:g}": [miconi.trials_to_criterion(e, c) for e in errors] for c in CRITERIA
        },
        "test_error": {name: test_error[:, k].tolist() for k, name in enumerate(TRIAL_TYPES)},
        "test_error_mean": {
            name: float(test_error[:, k].mean()) for k, name in enumerate(TRIAL_TYPES)
        },
        "final_error": float(errors[:, -400:].mean()),
        "train_seconds": train_seconds,
        "train_cpu_seconds": train_cpu,
        "groups_per_second": n_networks * groups / train_seconds,
        "device": str(jax.devices()[0]),
        "jax_version": jax.__version__,
    }
    if out is not None:
        _save_npz(out / "traces.npz", {"before": before, "after": after, "dt": config.dt})
        _write_json(out / "summary.json", summary)
        if figures:
            _write_figures(out, config, rewards, before, after)
    return summary
