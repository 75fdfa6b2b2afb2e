"""NEST 3.10's current-model sine-waves recipes: the tutorial and ``test_eprop_regression``.

:func:`current_sine_waves` rebuilds, from NumPy's legacy generator seeded as the NEST scripts do,
the network of NEST 3.10's ``eprop_supervised_regression_sine-waves.py`` (``setup="tutorial"``)
or of its test suite's ``test_eprop_regression`` (``setup="testsuite"``): 100 parrot inputs
with frozen Bernoulli(0.05) spikes, 100 recurrent neurons of one of
:data:`~eprop_jax.nest.current.CURRENT_MODELS`, one ``eprop_readout`` and a superposition of four
sines as the target, with the scripts' parameter dictionaries in NEST's names and units. The
draws come in the scripts' order: ``W_in``, ``W_rec`` (no autapses), ``W_out``, ``B`` (float32,
scaled by ``1 - kappa`` as each script does per model), the input spikes, the sines' amplitudes
and phases.

Timing (NEST steps, all delays one step): input spike ``k`` of sequence ``n`` is emitted by its
parrot at step ``1 + nT + k``; the readout holds the target ``target[k]`` and the learning
window at step ``2 + nT + k``; the loss of iteration ``n`` is
:math:`\\tfrac12 \\sum_k (y_{2+nT+k} - y^*_{2+nT+k})^2` (the scripts' multimeter frame). The
tutorial ends with its forced final update (every input and recurrent neuron spikes at step
``task + 1``, the recurrent ones driven by a static weight of 1000). Both simulate ``task + 5``
steps; ``weights`` are then NEST's ``GetConnections`` values.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any, NamedTuple

import numpy as np

from .current import CURRENT_MODELS, current_config_from_nest, simulate_current

SETUPS = ("tutorial", "testsuite")


class CurrentTutorial(NamedTuple):
    """A current-model recipe: NEST's dictionaries, draws and timing (module docstring)."""

    model: str
    setup: str
    iterations: int
    sequence: int  # steps per sequence (= learning window)
    params_rec: dict
    params_out: dict
    optimizer: dict
    w_in: np.ndarray  # (n_rec, n_in), float32 as the scripts make them
    w_rec: np.ndarray  # (n_rec, n_rec)
    w_out: np.ndarray  # (n_out, n_rec)
    feedback: np.ndarray  # (n_rec, n_out)
    input_spikes: np.ndarray  # (n_in, sequence) bool, frozen over the sequences
    target: np.ndarray  # (sequence,)
    final_update: bool


def _superimposed_sines(rng: np.random.RandomState, steps: int, periods) -> np.ndarray:
    amplitudes = rng.uniform(low=0.5, high=2.0, size=len(periods))
    phases = rng.uniform(low=0.0, high=2.0 * np.pi, size=len(periods))
    total = sum(
        a * np.sin(np.linspace(p, p + 2.0 * np.pi * (steps // period), steps))
        for a, p, period in zip(amplitudes, phases, periods, strict=True)
    )
    total = total - total[0]
    return total / max(np.abs(total).max(), 1e-6)


def current_sine_waves(
    model: str = "eprop_iaf",
    iterations: int | None = None,
    seed: int = 1,
    *,
    setup: str = "tutorial",
    optimizer: str | None = None,
) -> CurrentTutorial:
    """The sine-waves recipe of NEST 3.10 for ``model`` (module docstring).

    Args:
        model: one of :data:`~eprop_jax.nest.current.CURRENT_MODELS`.
        iterations: sequences (default: 200 for the tutorial, 5 for the test suite).
        seed: NumPy's seed (the scripts use 1).
        setup: ``"tutorial"`` (1000-step sequences, gradient descent once per spike, forced
            final update; ``eprop_iaf_adapt`` with ``adapt_beta = 0`` and unscaled weights, as
            the script has it) or ``"testsuite"`` (100-step sequences, optimiser per step,
            ``adapt_beta = 0.0174``, ``adapt_tau = 2000``).
        optimizer: ``"adam"`` or ``"gradient_descent"`` (default: the test suite's choice,
            Adam for ``eprop_iaf`` only; the tutorial: gradient descent).

    Returns:
        A :class:`CurrentTutorial`.
    """
    api = "current_sine_waves"
    if model not in CURRENT_MODELS:
        raise ValueError(f"`{api}`: model={model!r}; accepted: {', '.join(CURRENT_MODELS)}.")
    if setup not in SETUPS:
        raise ValueError(f"`{api}`: setup={setup!r}; accepted: {', '.join(SETUPS)}.")
    tutorial = setup == "tutorial"
    if iterations is None:
        iterations = 200 if tutorial else 5
    if isinstance(iterations, bool) or not isinstance(iterations, int) or iterations < 1:
        raise ValueError(f"`{api}`: iterations={iterations!r}; accepted: an integer >= 1.")
    if optimizer is None:
        optimizer = "adam" if (not tutorial and model == "eprop_iaf") else "gradient_descent"
    if optimizer not in ("adam", "gradient_descent"):
        raise ValueError(f"`{api}`: optimizer={optimizer!r}; accepted: adam, gradient_descent.")
    if tutorial and optimizer == "adam":
        raise ValueError(
            f"`{api}`: optimizer='adam' with setup='tutorial' is not modelled (the tutorial "
            "optimises once per spike, which NEST mode models for gradient descent only); "
            "accepted: gradient_descent, or setup='testsuite'."
        )
    sequence = 1000 if tutorial else 100
    n_in = n_rec = 100
    n_out = 1
    rng = np.random.RandomState(seed)  # the scripts' np.random.seed stream, their draw order
    params_out = {
        "C_m": 1.0,
        "E_L": 0.0,
        "eprop_isi_trace_cutoff": 100,
        "I_e": 0.0,
        "tau_m": 30.0,
        "V_m": 0.0,
    }
    params_rec = {
        "C_m": 1.0,
        "c_reg": 300.0 / sequence,
        "E_L": 0.0,
        "eprop_isi_trace_cutoff": 100,
        "f_target": 10.0,
        "flush_event_send_interval": float(sequence),
        "I_e": 0.0,
        "kappa": 0.97,
        "kappa_reg": 0.97,
        "surrogate_gradient_function": "piecewise_linear",
        "surrogate_gradient_height": 10.0,
        "surrogate_gradient_width": 1.0 / 33.3 if tutorial else 0.03,
        "t_ref": 0.0,
        "tau_m": 30.0,
        "V_m": 0.0,
        "V_th": 0.03,
    }
    scale = 1.0 - params_rec["kappa"]
    if model in ("eprop_iaf_psc_delta", "eprop_iaf_psc_delta_adapt"):
        params_rec.update(V_reset=-0.5, c_reg=2.0 / sequence / scale**2, V_th=0.5)
    elif model == "eprop_iaf_adapt":
        if tutorial:
            params_rec["adapt_beta"] = 0.0
        else:
            params_rec.update(adapt_beta=0.0174, adapt_tau=2000.0, adaptation=0.0)
    f32 = np.float32
    w_in = np.array(rng.randn(n_in, n_rec).T / np.sqrt(n_in), dtype=f32)
    w_rec = np.array(rng.randn(n_rec, n_rec).T / np.sqrt(n_rec), dtype=f32)
    np.fill_diagonal(w_rec, 0.0)
    w_out = np.array(rng.randn(n_rec, n_out).T / np.sqrt(n_rec), dtype=f32) * scale
    feedback = np.array(rng.randn(n_rec, n_out) / np.sqrt(n_rec), dtype=f32)
    scaled = ("eprop_iaf",) if tutorial else ("eprop_iaf", "eprop_iaf_adapt")
    if model in scaled:
        w_in *= scale
        w_rec *= scale
        feedback *= scale
    elif model in ("eprop_iaf_psc_delta", "eprop_iaf_psc_delta_adapt"):
        feedback /= scale
    input_spikes = (rng.rand(sequence, n_in) < 0.05).swapaxes(0, 1)
    target = _superimposed_sines(rng, sequence, [1000, 500, 333, 200])
    opt = {
        "type": optimizer,
        "batch_size": 1,
        "eta": 1e-4 * scale**2,
        "optimize_each_step": not tutorial,
        "Wmin": -100.0,
        "Wmax": 100.0,
    }
    if optimizer == "adam":
        opt.update(beta_1=0.9, beta_2=0.999, epsilon=1e-7)
    return CurrentTutorial(
        model,
        setup,
        iterations,
        sequence,
        params_rec,
        params_out,
        opt,
        w_in,
        w_rec,
        w_out,
        feedback,
        input_spikes,
        target,
        final_update=tutorial,
    )


def current_arrays(tut: CurrentTutorial) -> dict[str, np.ndarray]:
    """The step-indexed inputs of :func:`~eprop_jax.nest.current.simulate_current` for ``tut``.

    Returns:
        ``x_emit`` (T, n_in), ``targets`` (T, 1), ``window`` (T,), ``extra_input`` (T, n_rec) or
        None, with ``T = task + 5`` (NEST's ``Simulate`` span in both scripts).
    """
    seq, n_iter = tut.sequence, tut.iterations
    task = seq * n_iter
    n_steps = task + 5  # both scripts simulate total_offset (2) + extension_sim (3) more
    n_in, n_rec = tut.input_spikes.shape[0], tut.w_rec.shape[0]
    x = np.zeros((n_steps, n_in))
    x[1 : 1 + task] = np.tile(tut.input_spikes.T, (n_iter, 1))
    targets = np.zeros((n_steps, 1))
    window = np.zeros(n_steps)
    targets[2 : 2 + task, 0] = np.tile(tut.target, n_iter)
    targets[2 + task :, 0] = tut.target[-1]  # the generator holds its last value
    window[2:] = 1.0
    extra = None
    if tut.final_update:
        x[task + 1] = 1.0  # parrots repeat the final-update generator's spike
        extra = np.zeros((n_steps, n_rec))
        extra[task + 1] = 1000.0
    return {"x_emit": x, "targets": targets, "window": window, "extra_input": extra}


def run_current_tutorial(
    tut: CurrentTutorial,
    *,
    record_neurons: bool = False,
    callback: Callable[[int, float], None] | None = None,
) -> dict[str, Any]:
    """Run ``tut`` with :func:`~eprop_jax.nest.current.simulate_current` in float64.

    Needs JAX's x64 mode (:func:`~eprop_jax.nest.current.simulate_current` refuses to run
    without it). ``callback(iteration, loss)`` after each sequence (iteration); with a
    callback the scan runs one sequence at a time (and the time per iteration excludes the
    compilation), without it in one piece.

    Returns:
        ``loss`` (iterations,), ``weights`` (``w_in``, ``w_rec``, ``w_out``: NEST's
        ``GetConnections`` values), ``seconds`` (total), ``seconds_per_iteration`` (mean of the
        sequences after the first, which compiles) and ``compile_seconds``, both ``None`` without
        a callback or with one iteration (no run without compilation to time), and ``run`` (the
        :class:`~eprop_jax.nest.current.CurrentRun`).
    """
    config = current_config_from_nest(tut.model, tut.params_rec, tut.params_out, tut.optimizer)
    arrays = current_arrays(tut)
    seq, task = tut.sequence, tut.sequence * tut.iterations
    weights = {"in": tut.w_in, "rec": tut.w_rec, "out": tut.w_out}
    weights = {k: np.asarray(w, np.float64) for k, w in weights.items()}
    buffer: list[np.ndarray] = []  # squared errors of the steps seen so far (from step 2)
    reported = [0]

    def on_chunk(done: int, seconds: float, outputs) -> None:
        del seconds
        readout, target = (np.asarray(a)[:, 0] for a in outputs[:2])
        start = done - len(readout)
        keep = slice(max(0, 2 - start), None)
        buffer.append((readout[keep] - target[keep]) ** 2)
        seen = np.concatenate(buffer)
        while reported[0] < tut.iterations and len(seen) >= (reported[0] + 1) * seq:
            n = reported[0]
            callback(n, float(0.5 * np.sum(seen[n * seq : (n + 1) * seq])))
            reported[0] += 1

    run = simulate_current(
        config,
        weights,
        np.asarray(tut.feedback, np.float64),
        arrays["x_emit"],
        arrays["targets"],
        arrays["window"],
        arrays["extra_input"],
        record_neurons=record_neurons,
        chunk_steps=None if callback is None else seq,  # one compilation without progress
        callback=None if callback is None else on_chunk,
    )
    readout = np.asarray(run.readout)[2 : 2 + task, 0]
    target = np.asarray(run.target)[2 : 2 + task, 0]
    loss = 0.5 * np.sum(((readout - target) ** 2).reshape(tut.iterations, seq), axis=1)
    seen = run.weights_seen
    seconds = run.seconds
    # chunks of one sequence; the first compiles, and so does the short last one (a new shape);
    # without a compiled-once chunk (no callback: one piece; one iteration) no timing is known
    full = seconds[1 : len(arrays["window"]) // seq] if callback is not None else []
    per_iteration = sum(full) / len(full) if full else None
    return {
        "loss": loss,
        "weights": {f"w_{k}": np.asarray(w) for k, w in seen.items()},
        "seconds": float(sum(seconds)),
        "seconds_per_iteration": per_iteration,
        "compile_seconds": None if per_iteration is None else max(seconds[0] - per_iteration, 0.0),
        "run": run,
    }
