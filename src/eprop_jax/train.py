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

A loss or weight that becomes NaN/inf stops the run with :class:`TrainingDiverged`; the checkpoint
on disk is then the last good state.
"""

from __future__ import annotations

import math
import re
import time
import warnings
from pathlib import Path
from typing import Any, NamedTuple

import jax
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
from .steps import make_evaluate as make_evaluate
from .steps import make_recorder as make_recorder
from .steps import make_train_step as make_train_step


class TrainingDiverged(RuntimeError):
    """The loss, the gradients or the weights became NaN or inf (the message says where)."""


class TrainResult(NamedTuple):
    weights: Weights
    opt_state: Any
    metrics: list[dict]
    iterations_done: int
    stopped_early: bool
    seconds_per_iteration: float


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
        TrainingDiverged: when the loss, the gradients or the weights become NaN or inf; the
            folder keeps the last finite checkpoint.
        RunDirError (a ``ValueError``): the folder cannot be used (see :func:`rundir.open_run`).
        ValueError: a bad configuration, or ``dtype="float64"`` while x64 is off.

    Warns:
        RuntimeWarning: when the loss grows :data:`LOSS_BLOWUP` times above its minimum.
    """
    api = "train"
    exp = build(config)
    if resume and out_dir is None:
        raise ValueError(f"`{api}`: resume=True needs out_dir.")
    config_dict = _config_json(exp)
    run = None
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


def _train(exp: Experiment, run: rundir.RunDir | None, progress: bool) -> TrainResult:
    api = "train"
    cfg = exp.config
    seed_key = jax.random.key(cfg.seed)
    init_key, loop_key, eval_key, record_key = (
        jax.random.fold_in(seed_key, i) for i in (2, 3, 4, 5)
    )
    weights = init_weights(exp.net, init_key, dtype=exp.dtype, feedback_std=cfg.feedback_std)
    opt_state = exp.optimizer.init(weights)
    start, metrics = 0, []
    if run is not None and run.resumed:
        arrays = run.load_checkpoint(
            check=lambda a: _unflatten(run.path / rundir.CHECKPOINT, a, weights, opt_state, api)
        )
        weights, opt_state = _unflatten(run.path, arrays, weights, opt_state, api)
        start = int(arrays["iteration"])
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

    step = make_train_step(exp)
    evaluate = make_evaluate(exp) if cfg.eval_interval > 0 else None
    recorder = make_recorder(exp) if run is not None else None
    if run is not None:
        run.write_config(_config_json(exp))
        run.start_metrics(metrics)
        if start == 0:
            run.save_checkpoint(checkpoint_arrays(weights, opt_state, 0, cfg))
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
            desc=f"{cfg.task} [{cfg.rule}]",
            unit="it",
            dynamic_ncols=True,
        )
    stopped_early = False
    saved_at = start
    lowest, warned = math.inf, False
    t_start = time.perf_counter()

    def checkpoint(done: int) -> None:
        nonlocal saved_at
        if run is not None:
            run.save_checkpoint(checkpoint_arrays(weights, opt_state, done, cfg))
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

    steps_run = 0
    try:
        for iteration in range(start, cfg.iterations):
            out = step(weights, opt_state, jax.random.fold_in(loop_key, iteration))
            if cfg.check_finite:
                from jax.experimental import checkify

                error, out = out
                try:
                    error.throw()
                except checkify.JaxRuntimeError as err:
                    raise diverged(iteration, _check_error_text(err), advice="") from None
            new_weights, new_opt_state, m = out
            m = {k: v.item() for k, v in jax.device_get(m).items()}
            if not (m.pop("finite") and np.isfinite(m["loss"])):
                raise diverged(iteration, "the loss, the gradients or the weights became NaN/inf")
            if m["loss"] > LOSS_BLOWUP * lowest and lowest > 0 and not warned:
                warned = True
                warnings.warn(
                    f"`{api}`: the loss grew from {lowest:.3g} to {m['loss']:.3g} by "
                    f"iteration {iteration}; the run may be diverging (try a smaller "
                    "learning rate).",
                    RuntimeWarning,
                    stacklevel=3,
                )
            lowest = min(lowest, m["loss"])
            weights, opt_state = new_weights, new_opt_state
            steps_run += 1
            record = {"iteration": iteration, **m, "time_s": time.perf_counter() - t_start}
            if exp.classification:
                record["recall_error"] = 1.0 - record["accuracy"]
            done = iteration + 1
            if evaluate is not None and (done % cfg.eval_interval == 0 or done == cfg.iterations):
                ev = {
                    k: v.item()
                    for k, v in jax.device_get(
                        evaluate(weights, jax.random.fold_in(eval_key, iteration))
                    ).items()
                }
                if exp.classification:
                    ev["eval_recall_error"] = 1.0 - ev["eval_accuracy"]
                record.update(ev)
            metrics.append(record)
            if run is not None:
                run.append_metrics([record])
            if done % cfg.checkpoint_interval == 0 or done == cfg.iterations:
                checkpoint(done)
            if bar is not None:
                shown = {"loss": f"{record['loss']:.4f}", "rate": f"{record['rate_hz']:.1f}Hz"}
                if exp.classification:
                    shown["acc"] = f"{record['accuracy']:.2f}"
                    if "eval_recall_error" in record:
                        shown["eval_err"] = f"{record['eval_recall_error']:.3f}"
                bar.set_postfix(shown, refresh=False)
                bar.update(1)
            if (
                exp.classification
                and cfg.target_error is not None
                and done < cfg.iterations
                and record.get("eval_recall_error", 1.0) < cfg.target_error
            ):
                stopped_early = True
                checkpoint(done)
                break
    finally:
        if bar is not None:
            bar.close()
    done = start + steps_run  # not len(metrics): a resumed run's metrics may have gaps
    elapsed = time.perf_counter() - t_start
    per_iteration = elapsed / max(done - start, 1)
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
        run.write_json("summary.json", summary)
    return TrainResult(weights, opt_state, metrics, done, stopped_early, per_iteration)
