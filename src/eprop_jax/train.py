"""The training loop: task -> rule -> gradients -> optax -> weights, with metrics and checkpoints.

One jit-compiled ``train_step`` samples the task's batch (fresh tasks) or takes the frozen batch,
asks the learning rule for gradients, applies optax Adam (beta1 0.9, beta2 0.999, eps 1e-8) and
optionally clips the weights to ``[w_min, w_max]``. Keys are derived from the iteration number
(``fold_in(key, iteration)``), so a resumed run draws exactly the batches an uninterrupted run
would: ``resume`` continues bit for bit.

The pieces live in their own modules and are re-exported here: the configuration, its checks and
:func:`build` in :mod:`eprop_jax.experiment`; the compiled train step, evaluation and recorder in
:mod:`eprop_jax.steps`; checkpoints and ``config.json`` in :mod:`eprop_jax.checkpoints`. This
module holds the loop (:func:`train`) and its results.

Files written to the output directory (all optional; ``out_dir=None`` keeps everything in memory):

==========================  ==============================================================
``config.json``             the resolved configuration (everything needed to rerun)
``metrics.jsonl``           one JSON object per iteration (``iteration``, ``loss``, ...)
``checkpoint.npz``          weights, optimiser state and iteration, written atomically
``snapshot_first.npz``      one recorded trial (spikes, v, thresholds, psi, learning signals,
``snapshot_last.npz``       readout, target, error) at the first and the last iteration
``weights_initial.npz``     the weights before and after training
``weights_final.npz``
``summary.json``            final metrics and timing
==========================  ==============================================================

With ``config.seeds > 1`` the same loop trains every seed at once (one vmapped step, see
:mod:`eprop_jax.steps`); the files then follow the multi-seed layout of :mod:`eprop_jax.rundir`
and ``summary.json`` adds the per-seed results of :func:`summarise_seeds`.

A loss or weight that becomes NaN/inf stops the run with :class:`TrainingDiverged`; the checkpoint
on disk is then the last good state. In a multi-seed run only the seed that diverged stops: it is
frozen at its last finite state, its ``diverged_at`` recorded in the checkpoint and summary, with
a one-line ``RuntimeWarning``, and the others train on; :class:`TrainingDiverged` comes only when
every seed has diverged (one seed: at once, as before).

**Early stopping and resume, one rule for one seed and many.** At every evaluation of the
``eval_interval`` grid (the last iteration's included) a seed whose evaluation recall error is
below ``target_error`` is finished: ``stopped_at`` (the iterations it did) is recorded in the
checkpoint and it trains no more; the run ends when no seed is left training. A resumed run
honours ``stopped_at`` whatever its ``iterations``: a finished seed is never trained again, so a
run of 10 iterations resumed to 20 equals a straight run of 20, and resuming a run whose seeds
have all finished trains nothing (it rewrites the final files; ``stopped_early`` is then whether
that happened before the new ``iterations``). A seed that diverged before the checkpoint's
iteration stays frozen; one that diverged in that iteration (a single-seed run, or the last seeds
of a run that raised) is tried again from its last finite state, as a straight run would be.
"""

from __future__ import annotations

import json
import math
import re
import time
import warnings
from pathlib import Path
from typing import Any, NamedTuple

import jax
import jax.numpy as jnp
import numpy as np

from . import rundir
from .checkpoints import _config_json, _unflatten
from .checkpoints import checkpoint_arrays as checkpoint_arrays
from .checkpoints import load_checkpoint as load_checkpoint
from .checkpoints import load_config as load_config
from .checkpoints import save_checkpoint as save_checkpoint
from .experiment import NAMED_RULE_OPTIONS as NAMED_RULE_OPTIONS
from .experiment import TASK_PRESETS as TASK_PRESETS
from .experiment import Experiment as Experiment
from .experiment import TrainConfig as TrainConfig
from .experiment import build as build
from .experiment import check_x64 as check_x64
from .experiment import resolve as resolve
from .network import Weights, init_weights
from .parallel import replicate
from .steps import _masked, reuse
from .steps import make_evaluate as make_evaluate
from .steps import make_recorder as make_recorder
from .steps import make_train_step as make_train_step


class TrainingDiverged(RuntimeError):
    """The loss, the gradients or the weights became NaN or inf (the message says where)."""


class TrainResult(NamedTuple):
    """What :func:`train` returns.

    ``seeds`` are the run's seeds (``(config.seed,)`` for a single-seed run); ``stopped_early``
    is true when the run ended before ``config.iterations`` because no seed was left training
    (each reached the criterion, or diverged while another reached it). A multi-seed run
    (``config.seeds > 1``) returns weights and optimiser state stacked on a leading seed axis,
    metrics whose values are lists over seeds (``None`` for a frozen seed), and ``seed_summary``
    (:func:`summarise_seeds`); ``seconds_per_iteration`` is then the time of one vmapped
    iteration of all seeds.
    """

    weights: Weights
    opt_state: Any
    metrics: list[dict]
    iterations_done: int
    stopped_early: bool
    seconds_per_iteration: float
    seeds: tuple[int, ...]
    seed_summary: dict | None = None


RUN_LENGTH_KEYS = ("iterations", "eval_interval", "checkpoint_interval", "check_finite")
"""Configuration keys a resumed run may change (they do not change the trajectory)."""

LOSS_BLOWUP = 1e3
"""A loss this many times its smallest value so far triggers a warning (divergence without NaN)."""


def _check_error_text(error) -> str:
    """The first line of a checkify error without its source location."""
    text = str(error).strip().splitlines()[0]
    return re.split(r" \(`?check`? failed", text)[0]


def train(
    config: TrainConfig,
    out_dir: str | Path | None = None,
    *,
    resume: bool = False,
    overwrite: bool = False,
    progress: bool = True,
) -> TrainResult:
    """Train a network as configured; optionally write the files of the module docstring.

    The output folder follows :mod:`eprop_jax.rundir` (kind ``"spiking"``): locked while
    training, refused if it already holds a run unless ``resume`` or ``overwrite``.

    Args:
        config: the :class:`TrainConfig` (``None`` fields from the task preset).
        out_dir: output directory, created if needed; ``None`` writes nothing.
        resume: continue from ``out_dir``'s checkpoint, bit for bit; the configuration must be
            the saved one apart from :data:`RUN_LENGTH_KEYS`.
        overwrite: delete a run already in ``out_dir`` (its files and figures) and start anew.
        progress: show a progress bar with loss and accuracy.

    Raises:
        TrainingDiverged: when the loss, the gradients or the weights become NaN or inf (several
            seeds: once every seed has; see the module docstring); the folder keeps the last
            finite checkpoint.
        RunDirError (a ``ValueError``): the folder cannot be used (see :func:`rundir.open_run`).
        ValueError: a bad configuration, or ``dtype="float64"`` while x64 is off.

    Warns:
        RuntimeWarning: when the loss grows :data:`LOSS_BLOWUP` times above its minimum, and
            when one seed of several diverges (it is frozen, the others go on).
    """
    api = "train"
    exp = build(config)
    if resume and out_dir is None:
        raise ValueError(f"`{api}`: resume=True needs out_dir.")
    config_dict = _config_json(exp)
    run = None
    if resume and out_dir is not None:
        _check_resumed_seeds(Path(out_dir), exp, api)
    if out_dir is not None:
        run = rundir.open_run(
            out_dir,
            "spiking",
            config_dict,
            resume=resume,
            overwrite=overwrite,
            may_change=RUN_LENGTH_KEYS,
            api=api,
        )
    try:
        return _train(exp, run, progress)
    finally:
        if run is not None:
            run.close()


def _seed_keys(seed: int) -> tuple[jax.Array, ...]:
    """The ``(init, loop, eval, record)`` keys of one seed."""
    seed_key = jax.random.key(seed)
    return tuple(jax.random.fold_in(seed_key, i) for i in (2, 3, 4, 5))


def _stack(trees: list):
    """Stack pytrees of the same structure on a new leading (seed) axis."""
    return jax.tree.map(lambda *x: jnp.stack(x), *trees)


def _check_resumed_seeds(path: Path, exp: Experiment, api: str) -> None:
    """Refuse, in one line, to resume a run folder that trained other seeds."""
    try:
        saved = json.loads((path / "config.json").read_text())
    except (OSError, ValueError):
        return  # missing or damaged: open_run says so
    if not isinstance(saved, dict) or rundir.run_kind(saved) != "spiking":
        return
    saved_seeds = saved.get("seed_list", [saved.get("seed")])
    if saved_seeds != list(exp.seeds):
        raise rundir.RunDirError(
            f"`{api}`: cannot resume {path}: it trains seed(s) {_seed_text(saved_seeds)}, not "
            f"{_seed_text(exp.seeds)}; give the run's own --seed/--seeds."
        )


def _seed_text(seeds) -> str:
    seeds = list(seeds)
    return str(seeds[0]) if len(seeds) == 1 else f"{seeds[0]}..{seeds[-1]} ({len(seeds)} seeds)"


def _per_seed(arrays: dict, name: str, n_seeds: int, path: Path, api: str) -> np.ndarray:
    """A checkpoint's per-seed ``stopped_at`` or ``diverged_at`` (all -1 where it has none: a
    single-seed checkpoint written before these were stored)."""
    saved = arrays.get(name)
    if saved is None and n_seeds == 1:
        return np.full(1, -1, dtype=np.int64)
    if saved is None and name == "diverged_at":
        return np.full(n_seeds, -1, dtype=np.int64)
    if saved is None or np.shape(saved) != (n_seeds,):
        raise rundir.RunDirError(
            f"`{api}`: {path} is not a checkpoint of a {n_seeds}-seed run (no {name} for each "
            "seed)."
        )
    return np.asarray(saved, dtype=np.int64)


def _train(exp: Experiment, run: rundir.RunDir | None, progress: bool) -> TrainResult:
    api = "train"
    cfg = exp.config
    seeds = exp.seeds
    multi = len(seeds) > 1
    criterion = cfg.target_error or None  # 0: no early stopping
    keys = [_seed_keys(s) for s in seeds]
    per_seed = [
        init_weights(exp.net, k[0], dtype=exp.dtype, feedback_std=cfg.feedback_std) for k in keys
    ]
    if multi:  # each seed's weights, optimiser state and keys as its own run draws them
        weights = _stack(per_seed)
        opt_state = _stack([exp.optimizer.init(w) for w in per_seed])
        loop_key, eval_key = (jnp.stack([k[i] for k in keys]) for i in (1, 2))
        fold = jax.jit(jax.vmap(jax.random.fold_in, in_axes=(0, None)))
    else:
        weights = per_seed[0]
        opt_state = exp.optimizer.init(weights)
        loop_key, eval_key = keys[0][1], keys[0][2]
        fold = jax.random.fold_in
    record_key = keys[0][3]
    # per seed: iterations after which it reached the criterion (frozen), -1: not reached
    stopped_at = np.full(len(seeds), -1, dtype=np.int64)
    # per seed: the iteration whose step made it NaN/inf (frozen at its state before), -1: none
    diverged_at = np.full(len(seeds), -1, dtype=np.int64)
    start, metrics = 0, []
    if run is not None and run.resumed:
        arrays = run.load_checkpoint(
            check=lambda a: _unflatten(run.path / rundir.CHECKPOINT, a, weights, opt_state, api)
        )
        weights, opt_state = _unflatten(run.path, arrays, weights, opt_state, api)
        start = int(arrays["iteration"])
        where = run.path / rundir.CHECKPOINT
        stopped_at = _per_seed(arrays, "stopped_at", len(seeds), where, api)
        diverged_at = _per_seed(arrays, "diverged_at", len(seeds), where, api)
        # a seed that diverged in the checkpoint's own iteration is tried again from there (a
        # straight run would be at that state); one that diverged earlier stays frozen
        diverged_at[diverged_at == start] = -1
        if start > cfg.iterations:
            raise rundir.RunDirError(
                f"`{api}`: cannot resume {run.path} with iterations="
                f"{cfg.iterations}: it has done {start} iterations already."
            )
        metrics = [m for m in run.read_metrics() if m.get("iteration", start) < start]
        if [m.get("iteration") for m in metrics] != list(range(start)):
            warnings.warn(
                f"{run.path / 'metrics.jsonl'} lacks some of the checkpoint's {start} "
                "iterations; the learning curve will have gaps.",
                rundir.RunDirWarning,
                stacklevel=3,
            )
    if exp.mesh is not None:
        weights, opt_state = replicate((weights, opt_state), exp.mesh)

    step = reuse(make_train_step, exp)
    evaluate = reuse(make_evaluate, exp) if cfg.eval_interval > 0 else None
    recorder = reuse(make_recorder, exp) if run is not None else None
    if run is not None:
        run.write_config(_config_json(exp))
        run.start_metrics(metrics)
        if start == 0:
            run.save_checkpoint(
                checkpoint_arrays(weights, opt_state, 0, cfg, stopped_at, diverged_at)
            )
            run.save_npz("weights_initial.npz", weights._asdict())
            run.save_npz(
                "snapshot_first.npz",
                {**recorder(weights, record_key), "iteration": 0, "dt": exp.net.dt},
            )

    bar = None
    if progress:
        from tqdm.auto import tqdm

        bar = tqdm(
            total=cfg.iterations,
            initial=start,
            desc=f"{cfg.task} [{cfg.rule}]"
            + (f" x{len(seeds)} seeds, medians of the seeds training" if multi else ""),
            unit="it",
            dynamic_ncols=True,
        )
    saved_at = start
    lowest, warned = np.full(len(seeds), math.inf), False
    t_start = time.perf_counter()

    def checkpoint(done: int) -> None:
        nonlocal saved_at
        if run is not None:
            run.save_checkpoint(
                checkpoint_arrays(weights, opt_state, done, cfg, stopped_at, diverged_at)
            )
            saved_at = done

    def diverged(
        iteration: int, what: str, advice: str = " Try a smaller learning rate or weight bounds."
    ) -> TrainingDiverged:
        where = ""
        if run is not None:
            try:
                checkpoint(iteration)  # the state before the failing step, finite
            except rundir.RunDirError:
                pass
            where = (
                f"; the last finite checkpoint (after {saved_at} iterations) is "
                f"{run.path / rundir.CHECKPOINT}"
            )
        return TrainingDiverged(f"`{api}`: {what} at iteration {iteration}{where}.{advice}")

    def record_of(
        iteration: int, columns: dict, first: tuple, active: np.ndarray, time_s: float
    ) -> dict:
        """One metrics line: scalars (one seed) or lists over seeds, ``None`` for frozen seeds;
        the ``first`` columns (the step's metrics) come before ``time_s``."""

        def value(v):
            if not multi:
                return float(v[0])
            return [float(x) if a else None for x, a in zip(v, active, strict=True)]

        head = {k: value(v) for k, v in columns.items() if k in first}
        tail = {k: value(v) for k, v in columns.items() if k not in first}
        return {"iteration": iteration, **head, "time_s": time_s, **tail}

    steps_run = 0
    active = (stopped_at < 0) & (diverged_at < 0)
    try:
        for iteration in range(start, cfg.iterations):
            if not active.any():  # a resumed run whose seeds have all finished
                break
            iteration_key = fold(loop_key, iteration)
            if multi:
                out = step(weights, opt_state, iteration_key, jnp.asarray(active))
            else:
                out = step(weights, opt_state, iteration_key)
            if cfg.check_finite:
                from jax.experimental import checkify

                error, out = out
                try:
                    error.throw()
                except checkify.JaxRuntimeError as err:
                    what = _check_error_text(err)
                    if multi:  # name the seeds whose step was not finite
                        finite = np.atleast_1d(np.asarray(jax.device_get(out[2]["finite"])))
                        bad = [
                            s
                            for s, ok, a in zip(seeds, finite, active, strict=True)
                            if a and not ok
                        ]
                        if bad:
                            what += (
                                f" (seed{'s' if len(bad) > 1 else ''} {', '.join(map(str, bad))})"
                            )
                    raise diverged(iteration, what, advice="") from None
            new_weights, new_opt_state, m = out
            m = jax.device_get(m)
            finite = np.atleast_1d(np.asarray(m.pop("finite")))
            # float64 before any arithmetic: a single-seed record is what Python floats gave
            m = {k: np.atleast_1d(np.asarray(v, dtype=np.float64)) for k, v in m.items()}
            bad = active & ~(finite & np.isfinite(m["loss"]))
            if bad.any():
                diverged_at[bad] = iteration
                what = "the loss, the gradients or the weights became NaN/inf"
                if (diverged_at >= 0).all():  # no seed left with a result: stop the run
                    which = ", ".join(str(seeds[i]) for i in np.flatnonzero(bad))
                    raise diverged(
                        iteration, what + (f" (seed {which}; every seed has diverged)" * multi)
                    )
                # keep each diverged seed's last finite state; the others go on
                new_weights = _masked(jnp.asarray(~bad), new_weights, weights)
                new_opt_state = _masked(jnp.asarray(~bad), new_opt_state, opt_state)
                for i in np.flatnonzero(bad):
                    kept = (
                        f"kept in {run.path / rundir.CHECKPOINT}"
                        if run is not None
                        else "kept in the result"
                    )
                    warnings.warn(
                        f"`{api}`: seed {seeds[i]}: {what} at iteration {iteration}; its last "
                        f"finite state (after {iteration} iterations) is frozen and {kept}; the "
                        "other seeds go on.",
                        RuntimeWarning,
                        stacklevel=3,
                    )
                active = active & ~bad
            loss = m["loss"]
            grew = active & (lowest > 0) & (loss > LOSS_BLOWUP * lowest)
            if grew.any() and not warned:
                warned = True
                i = int(np.flatnonzero(grew)[0])
                warnings.warn(
                    f"`{api}`: the loss grew from {lowest[i]:.3g} to {loss[i]:.3g} by "
                    f"iteration {iteration}{f' (seed {seeds[i]})' if multi else ''}; the run may "
                    "be diverging (try a smaller learning rate).",
                    RuntimeWarning,
                    stacklevel=3,
                )
            lowest = np.where(active, np.minimum(lowest, loss), lowest)
            weights, opt_state = new_weights, new_opt_state
            steps_run += 1
            time_s = time.perf_counter() - t_start
            columns = dict(m)
            if exp.classification:
                columns["recall_error"] = 1.0 - columns["accuracy"]
            done = iteration + 1
            on_grid = evaluate is not None and done % cfg.eval_interval == 0
            if evaluate is not None and (on_grid or done == cfg.iterations):
                ev = jax.device_get(evaluate(weights, fold(eval_key, iteration)))
                ev = {k: np.atleast_1d(np.asarray(v, dtype=np.float64)) for k, v in ev.items()}
                if exp.classification:
                    ev["eval_recall_error"] = 1.0 - ev["eval_accuracy"]
                columns.update(ev)
            record = record_of(iteration, columns, tuple(m), active, time_s)
            metrics.append(record)
            if run is not None:
                run.append_metrics([record])
            reached = np.zeros_like(active)  # seeds that reach the criterion now
            if exp.classification and criterion is not None and on_grid:
                # every evaluation of the eval_interval grid, the last iteration's included (so
                # a run resumed with more iterations freezes what a straight run would)
                reached = active & (columns["eval_recall_error"] < criterion)
                stopped_at[reached] = done
            ending = not (active & ~reached).any()
            if done % cfg.checkpoint_interval == 0 or done == cfg.iterations or ending or bad.any():
                checkpoint(done)
            if bar is not None:
                shown = {
                    "loss": f"{_median(columns['loss'], active):.4f}",
                    "rate": f"{_median(columns['rate_hz'], active):.1f}Hz",
                }
                if exp.classification:
                    shown["acc"] = f"{_median(columns['accuracy'], active):.2f}"
                    if "eval_recall_error" in columns:
                        err = _median(columns["eval_recall_error"], active)
                        shown["eval_err"] = f"{err:.3f}"
                if multi:
                    shown["training"] = f"{int(active.sum())}/{len(seeds)}"
                bar.set_postfix(shown, refresh=False)
                bar.update(1)
            active = active & ~reached  # frozen from the next step on
            if ending:
                break
    finally:
        if bar is not None:
            bar.close()
    done = start + steps_run  # not len(metrics): a resumed run's metrics may have gaps
    stopped_early = done < cfg.iterations  # no seed was left training
    elapsed = time.perf_counter() - t_start
    per_iteration = elapsed / max(done - start, 1)
    seed_summary = None
    if multi:
        seed_summary = summarise_seeds(
            metrics, seeds, stopped_at, done, criterion, diverged_at, cfg.iterations
        )
    if run is not None:
        run.save_npz("weights_final.npz", weights._asdict())
        run.save_npz(
            "snapshot_last.npz",
            {**recorder(weights, record_key), "iteration": done, "dt": exp.net.dt},
        )
        summary = {
            "iterations_done": done,
            "stopped_early": stopped_early,
            "seconds_per_iteration": per_iteration,
            "final": metrics[-1] if metrics else None,
            "device": str(jax.devices()[0]),
            "jax_version": jax.__version__,
        }
        if multi:
            summary.update(seed_summary)  # its "final": each seed's last values
            summary["seconds_per_seed_iteration"] = per_iteration / len(seeds)
        run.write_json("summary.json", summary)
    return TrainResult(
        weights, opt_state, metrics, done, stopped_early, per_iteration, seeds, seed_summary
    )


def _median(values: np.ndarray, active: np.ndarray) -> float:
    """The median of the seeds still training (all seeds if none is)."""
    chosen = values[active] if active.any() else values
    return float(np.median(chosen))


SUMMARY_KEYS = (
    "loss",
    "task_loss",
    "rate_hz",
    "accuracy",
    "recall_error",
    "eval_loss",
    "eval_accuracy",
    "eval_recall_error",
)
"""The metrics :func:`summarise_seeds` reports per seed and as median and IQR."""


def summarise_seeds(
    metrics: list[dict],
    seeds: tuple[int, ...],
    stopped_at,
    done: int,
    target_error: float | None,
    diverged_at=None,
    iterations: int | None = None,
) -> dict:
    """Per-seed results of a multi-seed run and their median and inter-quartile range.

    Args:
        metrics: the run's records (each metric a list over seeds, ``None`` for a frozen seed).
        seeds: the seeds, in the order of the lists.
        stopped_at: per seed, the iterations after which it reached the criterion and was
            frozen, or -1.
        done: the iterations the run did.
        target_error: the early-stopping criterion (``None``: none).
        diverged_at: per seed, the iteration whose step made it NaN/inf, or -1 (``None``: none
            diverged).
        iterations: the configured run length (``None``: ``done``); a seed stopped before it
            counts as stopped early.

    Returns:
        ``{"seeds", "seed_list", "per_seed", "final", "median", "iqr",
        "iterations_to_criterion"}``: ``seeds`` the count and ``seed_list`` the seeds (as in
        ``config.json``); ``per_seed`` a list of ``{"seed", "iterations_done", "stopped_at",
        "stopped_early", "diverged_at", "iterations_to_criterion", "final"}`` (``stopped_at``
        and ``diverged_at`` ``None`` where not; ``final`` the last value of each metric of
        :data:`SUMMARY_KEYS` the seed recorded; ``iterations_to_criterion`` its ``stopped_at``,
        or where it was not frozen the iterations after which its evaluation recall error was
        first below ``target_error``, or ``None``); ``final`` those finals as lists over seeds
        (the multi-seed layout of a metrics line, ``iteration`` each seed's last recorded
        iteration); ``median`` and ``iqr`` (the 25th and 75th
        percentiles) of each final metric over the seeds that have it, for the metrics every
        seed that did not diverge has; ``iterations_to_criterion`` the median and IQR of the
        seeds' iterations to the criterion, a seed that never reached it counting as infinitely
        many (``None`` where that makes the figure infinite).
    """
    stopped_at = np.asarray(stopped_at, dtype=np.int64)
    diverged_at = (
        np.full(len(seeds), -1, dtype=np.int64)
        if diverged_at is None
        else np.asarray(diverged_at, dtype=np.int64)
    )
    iterations = done if iterations is None else iterations
    per_seed, last_iterations = [], []
    for i, seed in enumerate(seeds):
        final, last_iteration = {}, None
        to_criterion = int(stopped_at[i]) if stopped_at[i] >= 0 else None
        for record in metrics:
            loss = record.get("loss")
            if loss is not None and loss[i] is not None:
                last_iteration = record["iteration"]
            for key in SUMMARY_KEYS:
                values = record.get(key)
                if values is not None and values[i] is not None:
                    final[key] = values[i]
            err = record.get("eval_recall_error")
            if (
                to_criterion is None
                and target_error is not None
                and err is not None
                and err[i] is not None
                and err[i] < target_error
            ):
                to_criterion = record["iteration"] + 1
        if stopped_at[i] >= 0:
            seed_done = int(stopped_at[i])
        elif diverged_at[i] >= 0:
            seed_done = int(diverged_at[i])
        else:
            seed_done = done
        last_iterations.append(last_iteration)
        per_seed.append(
            {
                "seed": seed,
                "iterations_done": seed_done,
                "stopped_at": int(stopped_at[i]) if stopped_at[i] >= 0 else None,
                "stopped_early": bool(0 <= stopped_at[i] < iterations),
                "diverged_at": int(diverged_at[i]) if diverged_at[i] >= 0 else None,
                "iterations_to_criterion": to_criterion,
                "final": final,
            }
        )
    median, iqr = {}, {}
    finished = [p for p in per_seed if p["diverged_at"] is None] or per_seed
    for key in SUMMARY_KEYS:
        values = [p["final"][key] for p in finished if key in p["final"]]
        if values and len(values) == len(finished):
            median[key] = float(np.median(values))
            iqr[key] = [float(q) for q in np.percentile(values, [25, 75])]
    finals = {"iteration": last_iterations}
    for key in SUMMARY_KEYS:
        if any(key in p["final"] for p in per_seed):
            finals[key] = [p["final"].get(key) for p in per_seed]
    reached = [p["iterations_to_criterion"] for p in per_seed]
    to_criterion = median_iqr(reached)
    return {
        "seeds": len(seeds),
        "seed_list": list(seeds),
        "per_seed": per_seed,
        "final": finals,
        "median": median,
        "iqr": iqr,
        "iterations_to_criterion": {
            "target_error": target_error,
            "per_seed": reached,
            "median": to_criterion["median"],
            "iqr": to_criterion["iqr"],
        },
    }


def median_iqr(values) -> dict:
    """``{"median", "iqr": [q25, q75]}`` of ``values`` (linear interpolation, as numpy's
    default), where ``None`` counts as infinitely many; an infinite result is ``None``."""
    x = np.sort(np.array([math.inf if v is None else v for v in values], dtype=float))

    def quantile(q: float) -> float | None:
        position = q * (len(x) - 1)
        lo, hi = math.floor(position), math.ceil(position)
        value = x[lo] if x[lo] == x[hi] else x[lo] + (position - lo) * (x[hi] - x[lo])
        return float(value) if math.isfinite(value) else None

    return {"median": quantile(0.5), "iqr": [quantile(0.25), quantile(0.75)]}
