"""Run a NEST tutorial end to end and write the results: the driver behind ``--nest-compatible``.

The only module of :mod:`eprop_jax.nest` that writes files or changes JAX's global configuration
(``jax_enable_x64`` for ``dtype="float64"``).
"""

from __future__ import annotations

import os
from collections.abc import Callable

import jax
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
) -> dict:
    """Run one of NEST's e-prop tutorials in NEST mode, as ``eprop-jax train TASK --nest-compatible``.

    Builds the tutorial with :func:`nest_tutorial` (the NEST script's seeds, weights and inputs),
    imports its parameters with :func:`from_nest` and trains with :func:`nest_train`. NEST computes
    in float64; ``dtype="float64"`` (the default) switches on JAX's x64 mode for that.

    Files written to ``out_dir`` (if given): ``config.json`` (task, seed and the NEST dictionaries),
    ``metrics.jsonl`` (``iteration``, ``loss`` per iteration), ``weights_initial.npz`` and
    ``weights_final.npz`` (``w_in``, ``w_rec``, ``w_out``, ``feedback``, NEST's (post, pre)
    layout) and ``summary.json`` (the returned dict).

    Args:
        task: ``evidence_accumulation``, ``sine_waves``, ``infinite_loop`` (``lemniscate``) or
            ``handwriting``.
        iterations: training iterations.
        batch_size: sequences per iteration (``None``: the script's).
        seed: NEST's ``rng_seed`` (the scripts use 1).
        out_dir: output directory or ``None``.
        dtype: ``"float64"`` (NEST's precision) or ``"float32"``.
        handwriting_data: ``chaos_handwriting.txt`` as an array (default: from installed NEST).
        validate_every, test_iterations: evidence accumulation's validation and test phases
            (:func:`nest_tutorial`; the v3.10 script uses 10 and 4).
        callback: ``callback(iteration, loss)`` after every phase (iteration).

    Returns:
        A summary dict: ``task``, ``iterations``, ``batch_size``, ``seed``, ``phases`` and
        ``loss`` (one per phase), ``final_loss``, ``seconds``, ``seconds_per_iteration``,
        ``compile_seconds``.
    """
    import json
    from pathlib import Path

    if dtype not in ("float32", "float64"):
        raise _err("train_nest_tutorial", f"dtype must be 'float32' or 'float64'; got {dtype!r}.")
    if dtype == "float64":
        jax.config.update("jax_enable_x64", True)
    if task == "handwriting" and handwriting_data is None:
        handwriting_data = nest_handwriting_data()
    tut = nest_tutorial(task, iterations=iterations, batch_size=batch_size, seed=seed,
                        handwriting_data=handwriting_data, validate_every=validate_every,
                        test_iterations=test_iterations)  # fmt: skip
    net, config = tutorial_network(tut)
    weights = nest_weights(tut.w_in, tut.w_rec, tut.w_out, tut.feedback, dtype=jnp.dtype(dtype))
    out = None if out_dir is None else Path(out_dir)
    metrics = None
    if out is not None:
        out.mkdir(parents=True, exist_ok=True)
        record = {"task": tut.task, "iterations": iterations, "batch_size": tut.inputs.shape[1],
                  "seed": seed, "dtype": dtype, "kernel": tut.kernel, "readout": tut.readout,
                  "populations": [[m, n, p] for m, n, p in tut.populations],
                  "synapse": tut.synapse}  # fmt: skip
        (out / "config.json").write_text(json.dumps(record, indent=1, default=_json_default))
        _save_weights(out / "weights_initial.npz", weights)
        metrics = (out / "metrics.jsonl").open("w")

    def on_iteration(iteration: int, loss: float) -> None:
        if metrics is not None:
            line = {"iteration": iteration + 1, "phase": tut.phases[iteration], "loss": loss}
            metrics.write(json.dumps(line) + "\n")
            metrics.flush()
        if callback is not None:
            callback(iteration, loss)

    try:
        run = nest_train(net, config, weights, tut.inputs, tut.targets, etas=tut.etas,
                         callback=on_iteration)  # fmt: skip
    finally:
        if metrics is not None:
            metrics.close()
    summary = {
        "task": tut.task,
        "iterations": iterations,
        "batch_size": int(tut.inputs.shape[1]),
        "seed": seed,
        "phases": list(tut.phases),
        "loss": run.loss.tolist(),
        "final_loss": float(run.loss[-1]),
        "seconds": run.seconds + run.compile_seconds,
        "seconds_per_iteration": run.seconds / max(len(tut.phases) - 1, 1),
        "compile_seconds": run.compile_seconds,
    }
    if out is not None:
        _save_weights(out / "weights_final.npz", run.weights)
        (out / "summary.json").write_text(json.dumps(summary, indent=1))
    return summary


def _json_default(value):
    if isinstance(value, np.ndarray):
        return value.tolist()
    if isinstance(value, np.generic):
        return value.item()
    raise TypeError(f"not JSON serialisable: {type(value).__name__}")


def _save_weights(path, weights: Weights) -> None:
    np.savez(path, w_in=np.asarray(weights.w_in), w_rec=np.asarray(weights.w_rec),
             w_out=np.asarray(weights.w_out), feedback=np.asarray(weights.b_fb))  # fmt: skip
