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
                         (the one before kept as ``checkpoint.prev.npz``)
``traces.npz``           ``before``, ``after``: output rate of a test trial (no perturbation)
                         per network and type, ``(n_networks, 4, trial_steps)``
``summary.json``         trials to criterion (error < 1 and < 0.5, 95 % of 100 trials) per
                         network, final test errors per type, timing
``dnms_rewards.png``     reward per trial type (:func:`~eprop_jax.plotting.plot_dnms_rewards`)
``dnms_traces.png``      output traces before/after learning, network 0
                         (:func:`~eprop_jax.plotting.plot_dnms_traces`)
=======================  ===================================================================

``config.json`` records ``kind: "dnms"``; the folder follows :mod:`eprop_jax.rundir` (lock,
no accidental overwrite, ``resume`` bit for bit). Weights or rewards that become NaN/inf stop the
run with :class:`~eprop_jax.train.TrainingDiverged`; ``checkpoint.npz`` then holds the last
finite chunk.
"""

from __future__ import annotations

import dataclasses
import functools
import json
import time
from pathlib import Path

import jax
import numpy as np

from ..experiment import MAX_SEED
from ..rundir import RunDir, RunDirError, open_run
from ..train import TrainingDiverged, check_x64
from . import model as miconi
from .model import TRIAL_TYPES, MiconiConfig

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


CHECKPOINT_ARRAYS = ("w_in", "w_rec", "mask", "xbar", "baseline", "group")
"""The arrays of a DNMS ``checkpoint.npz`` (leading axis: networks, except ``group``)."""

RUN_LENGTH_KEYS = ("groups", "chunk_groups")
"""Settings a resumed DNMS run may change (chunks compose exactly)."""


def _checkpoint_arrays(states: miconi.TrainState) -> dict:
    w = states.weights
    return {
        "w_in": w.w_in,
        "w_rec": w.w_rec,
        "mask": w.mask,
        "xbar": states.xbar,
        "baseline": states.baseline,
        "group": np.asarray(states.group)[0],
    }


def _states_from(arrays: dict, template: miconi.TrainState, path, api: str) -> miconi.TrainState:
    """A checkpoint's arrays as :class:`~eprop_jax.miconi.TrainState` shaped like ``template``."""
    fields = {
        "w_in": template.weights.w_in,
        "w_rec": template.weights.w_rec,
        "mask": template.weights.mask,
        "xbar": template.xbar,
        "baseline": template.baseline,
    }
    for name, like in fields.items():
        a = arrays.get(name)
        if a is None or a.shape != like.shape or a.dtype != like.dtype:
            got = "missing" if a is None else f"{a.dtype}{list(a.shape)}"
            raise RunDirError(
                f"`{api}`: {path} does not fit this run: {name} is {got}, "
                f"expected {like.dtype}{list(like.shape)}."
            )
    if "group" not in arrays or arrays["group"].shape != ():
        raise RunDirError(f"`{api}`: {path} does not fit this run: no group count.")
    jnp = jax.numpy
    weights = miconi.MiconiWeights(*(jnp.asarray(arrays[k]) for k in ("w_in", "w_rec", "mask")))
    group = jnp.full(template.group.shape, int(arrays["group"]), template.group.dtype)
    return miconi.TrainState(
        weights, jnp.asarray(arrays["xbar"]), jnp.asarray(arrays["baseline"]), group
    )


def _finite(tree) -> bool:
    return all(bool(np.all(np.isfinite(np.asarray(x)))) for x in jax.tree.leaves(tree))


def rewards_from_metrics(records: list[dict], n_networks: int) -> np.ndarray:
    """Rewards ``(n_networks, groups, 4)`` rebuilt from ``metrics.jsonl`` records."""
    if not records:
        return np.zeros((n_networks, 0, 4))
    per_group = [
        r["reward_per_network"] if "reward_per_network" in r else [r["reward"]] for r in records
    ]
    return np.asarray(per_group, dtype=float).transpose(1, 0, 2)


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


def dnms_figures(out_dir: str | Path) -> list[Path]:
    """Redraw the figures of a DNMS run folder from its files (``eprop-jax plot``).

    Reads ``config.json``, ``metrics.jsonl`` and ``traces.npz`` (the trace figure is skipped
    while ``traces.npz`` does not exist, e.g. for an interrupted run).
    """
    from ..rundir import load_npz, read_metrics

    out = Path(out_dir)
    data = json.loads((out / "config.json").read_text())
    fields = {f.name for f in dataclasses.fields(MiconiConfig)}
    config = MiconiConfig(**{k: v for k, v in data.items() if k in fields})
    rewards = rewards_from_metrics(
        read_metrics(out / "metrics.jsonl", "plot"), data.get("n_networks", 1)
    )
    traces = load_npz(out / "traces.npz", "plot") if (out / "traces.npz").exists() else None
    return _write_figures(out, config, rewards, traces)


def _write_figures(out: Path, config: MiconiConfig, rewards, traces) -> list[Path]:
    from ..plotting import DPI
    from .figures import plot_dnms_rewards, plot_dnms_traces

    n = rewards.shape[0]
    label = f"DNMS, Miconi's rule ({n} network{'s' if n > 1 else ''})"
    figures = {}
    if rewards.shape[1] > 0:
        figures["dnms_rewards.png"] = plot_dnms_rewards(rewards, title=label)
    if traces is not None:
        figures["dnms_traces.png"] = plot_dnms_traces(
            traces["before"][0],
            traces["after"][0],
            target=config.target,
            stim_steps=config.stim_steps,
            gap_steps=config.gap_steps,
            response_steps=config.response_steps,
            dt=config.dt,
            title=f"{label}: output unit in test trials (no perturbation), network 0",
        )
    written = []
    for name, fig in figures.items():
        fig.savefig(out / name, dpi=DPI)
        fig.clear()
        written.append(out / name)
    return written


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
    resume: bool = False,
    overwrite: bool = False,
) -> dict:
    """Train Miconi's network on DNMS and write the files of the module docstring.

    The output folder follows :mod:`eprop_jax.rundir` (kind ``"dnms"``): locked while training,
    refused if it already holds a run unless ``resume`` or ``overwrite``. A resumed run continues
    from the checkpoint of the last finished chunk and ends bit for bit where an uninterrupted
    run ends (group ``g`` always draws ``fold_in(key, g)``).

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
        resume: continue the run in ``out_dir`` (same settings apart from ``groups`` and
            ``chunk_groups``).
        overwrite: delete a run already in ``out_dir`` and start anew.

    Returns:
        The summary dict (also ``summary.json``): ``trials_to_criterion`` (``{"1": [...],
        "0.5": [...]}``, one entry per network, ``None`` if not reached), ``test_error``
        (per type, one entry per network), ``test_error_mean``, ``final_error`` (mean error of
        the last 100 groups), ``train_seconds``, ``train_cpu_seconds``, ``groups_per_second``
        (network-groups per wall second of this process, compilation included) and the run's
        settings.

    Raises:
        ValueError: on bad ``groups``, ``n_networks`` or ``chunk_groups``, ``dtype="float64"``
            while JAX's x64 mode is off, or a folder that cannot be used
            (:class:`~eprop_jax.rundir.RunDirError`).
        TypeError: if ``config`` is not a :class:`~eprop_jax.miconi.MiconiConfig`.
        TrainingDiverged: when the weights or rewards become NaN or inf.
    """
    api = "train_dnms"
    config = MiconiConfig() if config is None else config
    if not isinstance(config, MiconiConfig):
        raise TypeError(
            f"`{api}`: expected config to be a MiconiConfig or None, got {type(config).__name__}."
        )
    for name, value in (
        ("groups", groups),
        ("n_networks", n_networks),
        ("chunk_groups", chunk_groups),
        ("seed", seed),
    ):
        least = 0 if name == "seed" else 1
        if isinstance(value, bool) or not isinstance(value, int) or value < least:
            raise ValueError(f"`{api}`: {name} must be an integer >= {least}; got {value!r}.")
    if seed >= MAX_SEED:
        raise ValueError(f"`{api}`: seed must be an integer in [0, 2**32 - 1]; got {seed!r}.")
    check_x64(api, config.dtype)
    if resume and out_dir is None:
        raise ValueError(f"`{api}`: resume=True needs out_dir.")
    settings = {
        "task": "dnms",
        "groups": groups,
        "seed": seed,
        "n_networks": n_networks,
        "chunk_groups": chunk_groups,
    }
    resolved = {"output": config.output, "trial_types": list(TRIAL_TYPES)}
    record = {**dataclasses.asdict(config), **resolved, **settings}
    run = None
    if out_dir is not None:
        run = open_run(
            out_dir,
            "dnms",
            record,
            resume=resume,
            overwrite=overwrite,
            may_change=RUN_LENGTH_KEYS,
            api=api,
        )
    try:
        return _train_dnms(api, config, run, record, settings, progress, figures)
    finally:
        if run is not None:
            run.close()


def _train_dnms(api, config, run: RunDir | None, record, settings, progress, figures) -> dict:
    groups, seed = settings["groups"], settings["seed"]
    n_networks, chunk_groups = settings["n_networks"], settings["chunk_groups"]
    states, train_keys, eval_key = _compiled_init(config, n_networks)(jax.random.key(seed))
    evaluate = _compiled_eval(config)
    before = np.asarray(evaluate(states.weights, eval_key).r_out)
    start, done_records = 0, []
    if run is not None and run.resumed:
        path = run.path / "checkpoint.npz"
        arrays = run.load_checkpoint(check=lambda a: _states_from(a, states, path, api))
        states = _states_from(arrays, states, path, api)
        start = int(arrays["group"])
        done_records = [m for m in run.read_metrics() if m.get("group", start) < start]
        if [m["group"] for m in done_records] != list(range(start)):
            raise RunDirError(
                f"`{api}`: cannot resume {run.path}: metrics.jsonl does not hold "
                f"groups 0-{start - 1} of the checkpoint."
            )
        if start > groups:
            raise RunDirError(
                f"`{api}`: cannot resume {run.path} with groups={groups}: it has "
                f"done {start} groups already."
            )
    if run is not None:
        run.write_config(record)
        run.start_metrics(done_records)
        if start == 0:
            run.save_checkpoint(_checkpoint_arrays(states))

    bar = None
    if progress:
        from tqdm.auto import tqdm

        bar = tqdm(
            total=groups,
            initial=start,
            desc=f"dnms [{n_networks} net]",
            unit="group",
            dynamic_ncols=True,
        )
    all_rewards = [rewards_from_metrics(done_records, n_networks)]
    t_wall, t_cpu = time.perf_counter(), time.process_time()
    try:
        done = start
        while done < groups:
            size = min(chunk_groups, groups - done)
            new_states, result = _compiled(config, size)(states, train_keys)
            rewards, baselines = np.asarray(result.reward), np.asarray(result.baseline)
            if not (_finite(new_states.weights) and _finite(rewards)):
                where = ""
                if run is not None:
                    where = (
                        f"; the last finite checkpoint (after {done} groups) is "
                        f"{run.path / 'checkpoint.npz'}"
                    )
                raise TrainingDiverged(
                    f"`{api}`: the weights or rewards became NaN/inf in groups {done}-"
                    f"{done + size - 1}{where}. Try a smaller eta or clip."
                )
            states = new_states
            all_rewards.append(rewards)
            if run is not None:
                run.append_metrics(_metrics_lines(config, done, rewards, baselines))
                run.save_checkpoint(_checkpoint_arrays(states))
            done += size
            if bar is not None:
                errors = -rewards
                bar.set_postfix(
                    {"err": f"{errors.mean():.3f}", "err<0.5": f"{np.mean(errors < 0.5):.2f}"},
                    refresh=False,
                )
                bar.update(size)
    finally:
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
        "groups_per_second": n_networks * max(groups - start, 1) / train_seconds,
        "resumed_at_group": start,
        "device": str(jax.devices()[0]),
        "jax_version": jax.__version__,
    }
    if run is not None:
        traces = {"before": before, "after": after, "dt": np.asarray(config.dt)}
        run.save_npz("traces.npz", traces)
        run.write_json("summary.json", summary)
        if figures:
            _write_figures(run.path, config, rewards, traces)
    return summary
