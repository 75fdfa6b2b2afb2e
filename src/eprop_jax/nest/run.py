"""Run a NEST tutorial end to end and write the results: the driver behind ``eprop-jax nest``.

The only module of :mod:`eprop_jax.nest` that writes files (a run folder of kind ``"nest"``,
:mod:`eprop_jax.rundir`). It never changes JAX's global configuration: ``dtype="float64"`` needs
x64 switched on by the caller (the ``eprop-jax`` command does).
"""

from __future__ import annotations

import os
from collections.abc import Callable

import jax.numpy as jnp
import numpy as np

from ..network import Weights
from .params import _err
from .training import nest_train, nest_weights
from .tutorials import nest_handwriting_data, nest_tutorial, tutorial_network


def train_nest_tutorial(
    task: str,
    iterations: int,
    batch_size: int | None = None,
    seed: int = 1,
    out_dir: str | os.PathLike | None = None,
    *,
    dtype: str = "float64",
    handwriting_data: np.ndarray | None = None,
    validate_every: int | None = None,
    test_iterations: int = 0,
    callback: Callable[[int, float], None] | None = None,
    resume: bool = False,
    overwrite: bool = False,
) -> dict:
    """Run one of NEST's e-prop tutorials in NEST mode, as ``eprop-jax nest TASK``.

    Builds the tutorial with :func:`nest_tutorial` (the NEST script's seeds, weights and inputs),
    imports its parameters with :func:`from_nest` and trains with :func:`nest_train`. NEST computes
    in float64; ``dtype="float64"`` (the default) needs JAX's x64 mode
    (``jax.config.update("jax_enable_x64", True)``; the ``eprop-jax`` command switches it on).

    The output folder follows :mod:`eprop_jax.rundir` (kind ``"nest"``): locked while training,
    refused if it already holds a run unless ``overwrite``. NEST mode has no checkpoints (the
    optimiser state and per-synapse learning rates are not saved), so ``resume`` is refused.

    Files written to ``out_dir`` (if given): ``config.json`` (``kind: "nest"``, task, seed and the
    NEST dictionaries), ``metrics.jsonl`` (``iteration``, ``phase``, ``loss`` per iteration),
    ``weights_initial.npz`` and ``weights_final.npz`` (``w_in``, ``w_rec``, ``w_out``,
    ``feedback``, NEST's (post, pre) layout) and ``summary.json`` (the returned dict).

    Args:
        task: ``evidence_accumulation``, ``sine_waves``, ``infinite_loop`` (``lemniscate``) or
            ``handwriting``.
        iterations: training iterations, >= 1.
        batch_size: sequences per iteration (``None``: the script's).
        seed: NEST's ``rng_seed`` (the scripts use 1).
        out_dir: output directory or ``None``.
        dtype: ``"float64"`` (NEST's precision) or ``"float32"``.
        handwriting_data: ``chaos_handwriting.txt`` as an array (default: from installed NEST).
        validate_every, test_iterations: evidence accumulation's validation and test phases
            (:func:`nest_tutorial`; the v3.10 script uses 10 and 4).
        callback: ``callback(iteration, loss)`` after every phase (iteration).
        resume: refused (NEST mode cannot resume).
        overwrite: delete a run already in ``out_dir`` and start anew.

    Returns:
        A summary dict: ``task``, ``iterations``, ``batch_size``, ``seed``, ``phases`` and
        ``loss`` (one per phase), ``final_loss``, ``seconds``, ``seconds_per_iteration``,
        ``compile_seconds``.

    Raises:
        ValueError: bad arguments, float64 while x64 is off, ``resume``, or a folder that cannot
            be used (:class:`~eprop_jax.rundir.RunDirError`).
        TrainingDiverged: the loss or the final weights are NaN/inf (``weights_final.npz`` is
            then not written).
    """

    from ..train import check_x64

    api = "train_nest_tutorial"
    if dtype not in ("float32", "float64"):
        raise _err(api, f"dtype must be 'float32' or 'float64'; got {dtype!r}.")
    if isinstance(iterations, bool) or not isinstance(iterations, int) or iterations < 1:
        raise _err(api, f"iterations must be an integer >= 1; got {iterations!r}.")
    if resume:
        raise _err(
            api,
            "NEST mode cannot resume: it keeps no checkpoint (the optimiser state and NEST's "
            "per-synapse learning rates are not saved); start again with overwrite (--overwrite).",
        )
    check_x64(api, dtype)
    if task == "handwriting" and handwriting_data is None:
        handwriting_data = nest_handwriting_data()
    tut = nest_tutorial(
        task,
        iterations=iterations,
        batch_size=batch_size,
        seed=seed,
        handwriting_data=handwriting_data,
        validate_every=validate_every,
        test_iterations=test_iterations,
    )
    net, config = tutorial_network(tut)
    weights = nest_weights(tut.w_in, tut.w_rec, tut.w_out, tut.feedback, dtype=jnp.dtype(dtype))
    record = {
        "task": tut.task,
        "iterations": iterations,
        "batch_size": tut.inputs.shape[1],
        "seed": seed,
        "dtype": dtype,
        "validate_every": validate_every,
        "test_iterations": test_iterations,
        "kernel": tut.kernel,
        "readout": tut.readout,
        "populations": [[m, n, p] for m, n, p in tut.populations],
        "synapse": tut.synapse,
    }

    def train(on_iteration):
        result = nest_train(
            net, config, weights, tut.inputs, tut.targets, etas=tut.etas, callback=on_iteration
        )
        losses = np.asarray(result.loss)
        summary = {
            "task": tut.task,
            "iterations": iterations,
            "batch_size": int(tut.inputs.shape[1]),
            "seed": seed,
            "phases": list(tut.phases),
            "loss": losses.tolist(),
            "final_loss": float(losses[-1]),
            "seconds": result.seconds + result.compile_seconds,
            "seconds_per_iteration": result.seconds / max(len(tut.phases) - 1, 1),
            "compile_seconds": result.compile_seconds,
        }
        return losses, _weight_arrays(result.weights), summary

    return _with_run_folder(
        api,
        out_dir,
        record,
        overwrite,
        _weight_arrays(weights),
        lambda iteration: tut.phases[iteration],
        callback,
        train,
    )


def _with_run_folder(api, out_dir, record, overwrite, initial, phase, callback, train) -> dict:
    """The run-folder part shared by both tutorial drivers (:mod:`eprop_jax.rundir`).

    Opens ``out_dir`` (if not ``None``) as a ``"nest"`` run with ``record`` as its config,
    saves ``initial`` as ``weights_initial.npz``, appends ``{"iteration", "phase", "loss"}``
    to the metrics after each iteration (``phase(iteration)``) and calls ``callback``; then
    ``losses, final, summary = train(on_iteration)``, refuses NaN/inf (``TrainingDiverged``,
    ``weights_final.npz`` not written), saves ``final`` and ``summary.json``. Returns ``summary``.
    """
    import json

    from .. import rundir
    from ..train import TrainingDiverged

    run = None
    if out_dir is not None:
        record = json.loads(json.dumps(record, default=_json_default))
        run = rundir.open_run(out_dir, "nest", record, overwrite=overwrite, api=api)
    try:
        if run is not None:
            run.write_config(record)
            run.save_npz("weights_initial.npz", {k: np.asarray(v) for k, v in initial.items()})
            run.start_metrics([])

        def on_iteration(iteration: int, loss: float) -> None:
            if run is not None:
                row = {"iteration": iteration + 1, "phase": phase(iteration), "loss": loss}
                run.append_metrics([row])
            if callback is not None:
                callback(iteration, loss)

        losses, final, summary = train(on_iteration)
        if not np.all(np.isfinite(losses)) or rundir.non_finite(final):
            bad = np.flatnonzero(~np.isfinite(losses))
            at = f" at iteration {int(bad[0]) + 1}" if bad.size else ""
            raise TrainingDiverged(
                f"`{api}`: the loss or the weights became NaN/inf{at}; "
                "weights_final.npz was not written."
            )
        if run is not None:
            run.save_npz("weights_final.npz", final)
            run.write_json("summary.json", summary)
        return summary
    finally:
        if run is not None:
            run.close()


def _json_default(value):
    if isinstance(value, np.ndarray):
        return value.tolist()
    if isinstance(value, np.generic):
        return value.item()
    raise TypeError(f"not JSON serialisable: {type(value).__name__}")


def _weight_arrays(weights: Weights) -> dict:
    return {
        "w_in": np.asarray(weights.w_in),
        "w_rec": np.asarray(weights.w_rec),
        "w_out": np.asarray(weights.w_out),
        "feedback": np.asarray(weights.b_fb),
    }


def train_current_tutorial(
    model: str,
    iterations: int = 200,
    seed: int = 1,
    out_dir: str | os.PathLike | None = None,
    *,
    callback: Callable[[int, float], None] | None = None,
    resume: bool = False,
    overwrite: bool = False,
) -> dict:
    """Run NEST 3.10's current-model sine-waves tutorial with ``model``, as ``eprop-jax nest``.

    The recipe is :func:`~eprop_jax.nest.current_tutorials.current_sine_waves` (the script's
    seed, weights, inputs and dictionaries), simulated by
    :func:`~eprop_jax.nest.current.simulate_current` in float64 (needs JAX's x64 mode; the
    ``eprop-jax`` command switches it on). Learning is continuous, so an "iteration" is one
    1000-step sequence of the run. The output folder follows :mod:`eprop_jax.rundir` (kind
    ``"nest"``) with the files of :func:`train_nest_tutorial`; ``weights_final.npz`` holds what
    NEST's ``GetConnections`` returns after the script's forced final update.

    Args:
        model: ``eprop_iaf``, ``eprop_iaf_adapt``, ``eprop_iaf_psc_delta`` or
            ``eprop_iaf_psc_delta_adapt``.
        iterations: sequences, >= 1 (the script: 200).
        seed: the script's NumPy seed (1).
        out_dir: output directory or ``None``.
        callback: ``callback(iteration, loss)`` after every sequence.
        resume: refused (NEST mode cannot resume).
        overwrite: delete a run already in ``out_dir`` and start anew.

    Returns:
        A summary dict: ``task``, ``model``, ``iterations``, ``seed``, ``loss``, ``final_loss``,
        ``seconds``, ``seconds_per_iteration``, ``compile_seconds``.

    Raises:
        ValueError: bad arguments, x64 off, ``resume``, or a folder that cannot be used.
        TrainingDiverged: the loss or the final weights are NaN/inf.
    """

    from ..train import check_x64
    from .current_tutorials import current_sine_waves, run_current_tutorial

    api = "train_current_tutorial"
    if isinstance(iterations, bool) or not isinstance(iterations, int) or iterations < 1:
        raise _err(api, f"iterations must be an integer >= 1; got {iterations!r}.")
    if resume:
        raise _err(
            api,
            "NEST mode cannot resume: it keeps no checkpoint (the synapses' traces and optimiser "
            "states are not saved); start again with overwrite (--overwrite).",
        )
    check_x64(api, "float64")
    tut = current_sine_waves(model, iterations, seed)
    feedback = np.asarray(tut.feedback)
    initial = {"w_in": tut.w_in, "w_rec": tut.w_rec, "w_out": tut.w_out, "feedback": feedback}
    record = {
        "task": "sine_waves",
        "model": model,
        "setup": tut.setup,
        "iterations": iterations,
        "batch_size": 1,
        "seed": seed,
        "dtype": "float64",
        "params_rec": tut.params_rec,
        "params_out": tut.params_out,
        "optimizer": tut.optimizer,
    }

    def train(on_iteration):
        result = run_current_tutorial(tut, callback=on_iteration)
        losses = np.asarray(result["loss"])
        summary = {
            "task": "sine_waves",
            "model": model,
            "iterations": iterations,
            "batch_size": 1,
            "seed": seed,
            "phases": ["train"] * iterations,
            "loss": losses.tolist(),
            "final_loss": float(losses[-1]),
            "seconds": result["seconds"],
            "seconds_per_iteration": result["seconds_per_iteration"],
            "compile_seconds": result["compile_seconds"],
        }
        return losses, {**result["weights"], "feedback": feedback}, summary

    return _with_run_folder(
        api, out_dir, record, overwrite, initial, lambda iteration: "train", callback, train
    )
