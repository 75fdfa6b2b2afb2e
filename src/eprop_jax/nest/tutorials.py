"""NEST 3.10's e-prop tutorials as recipes: the scripts' models, seeds, weights and inputs.

``pynest/examples/eprop_plasticity/eprop_supervised_*_bsshslm_2020.py`` (tag v3.10):
:func:`nest_tutorial` builds one the way its script does, :func:`tutorial_network` imports it with
:func:`~eprop_jax.nest.params.from_nest`, and :func:`nest_handwriting_data` finds the handwriting
data of an installed NEST. Nothing here trains or writes files.
"""

from __future__ import annotations

from typing import NamedTuple

import numpy as np

from .._checks import check_choice, check_integer
from ..network import Network
from .params import NestConfig, _err, from_nest
from .random import nest_normal_draws

TUTORIALS = ("evidence_accumulation", "sine_waves", "infinite_loop", "handwriting")


class NestTutorial(NamedTuple):
    """One NEST tutorial's model, initial weights and inputs, as its script builds them."""

    task: str
    kernel: dict
    populations: list  # [(model, n, params)]
    readout: dict
    synapse: dict  # synapse defaults incl. the optimizer dict
    n_in: int
    n_out: int
    w_in: np.ndarray  # shape=(n_rec, n_in), float32 as the scripts draw them
    w_rec: np.ndarray  # shape=(n_rec, n_rec)
    w_out: np.ndarray  # shape=(n_out, n_rec)
    feedback: np.ndarray  # shape=(n_rec, n_out)
    inputs: np.ndarray  # shape=(n_iter, B, T, n_in), bool
    targets: np.ndarray  # shape=(n_iter, B, T, n_out), the target generators' values
    etas: np.ndarray | None = None  # shape=(n_iter,), learning rate per phase; None: constant
    phases: tuple = ()  # label per iteration ("training", "validation", "test"); () all training


def _kernel(sequence: int, window: int) -> dict:
    return {
        "eprop_learning_window": float(window),
        "eprop_reset_neurons_on_update": True,
        "eprop_update_interval": float(sequence),
        "resolution": 1.0,
    }


def _readout(tau_m: float, loss: str) -> dict:
    return {
        "C_m": 1.0,
        "E_L": 0.0,
        "I_e": 0.0,
        "loss": loss,
        "regular_spike_arrival": False,
        "tau_m": tau_m,
        "V_m": 0.0,
    }


def _recurrent(v_th, tau_m, t_ref, c_reg, f_target, c_m, regular_arrival) -> dict:
    return {
        "C_m": c_m,
        "c_reg": c_reg,
        "E_L": 0.0,
        "f_target": f_target,
        "I_e": 0.0,
        "regular_spike_arrival": regular_arrival,
        "surrogate_gradient_function": "piecewise_linear",
        "surrogate_gradient_height": 0.3 / v_th,
        "surrogate_gradient_width": abs(v_th),
        "t_ref": t_ref,
        "tau_m": tau_m,
        "V_m": 0.0,
        "V_th": v_th,
    }


def _adam(batch: int, eta: float) -> dict:
    return {
        "type": "adam",
        "batch_size": batch,
        "beta_1": 0.9,
        "beta_2": 0.999,
        "epsilon": 1e-8,
        "eta": eta,
        "Wmin": -100.0,
        "Wmax": 100.0,
    }


def _normal_weights(rng, n_in, n_rec, n_out, glorot_out: bool):
    """The scripts' initial weights, in their draw order (legacy NumPy global stream)."""
    f32 = np.float32
    w_in = np.array(rng.randn(n_in, n_rec).T / np.sqrt(n_in), dtype=f32)
    w_rec = np.array(rng.randn(n_rec, n_rec).T / np.sqrt(n_rec), dtype=f32)
    np.fill_diagonal(w_rec, 0.0)
    if glorot_out:
        limit = np.sqrt(3.0 / max(1.0, (n_rec + n_out) / 2.0))
        w_out = np.array(rng.uniform(-limit, limit, size=(n_rec, n_out)).T, dtype=f32)
        feedback = np.array(rng.randn(n_rec, n_out), dtype=f32)
    else:
        w_out = np.array(rng.randn(n_rec, n_out).T / np.sqrt(n_rec), dtype=f32)
        feedback = np.array(rng.randn(n_rec, n_out) / np.sqrt(n_rec), dtype=f32)
    return w_in, w_rec, w_out, feedback


def _evidence_batch(rng, batch: int, n_in: int, seq: int):
    """One batch of the evidence-accumulation input, drawn as the v3.10 script draws it."""
    n_cues, cue, spacing, recall, prob, spike_prob = 7, 100, 50, 150, 0.3, 0.04
    n_pop = n_in // 4
    choices = np.array([prob, 1 - prob], dtype=np.float32)
    idx = rng.choice([0, 1], batch)
    probs = np.stack([choices[idx], choices[1 - idx]], axis=1)
    cues = np.stack([rng.choice([0, 1], n_cues, p=probs[b]) for b in range(batch)])
    p = np.zeros((batch, seq, n_in))
    for b in range(batch):
        for c in range(n_cues):
            start = c * (cue + spacing) + spacing
            p[b, start : start + cue, cues[b, c] * n_pop : (cues[b, c] + 1) * n_pop] = spike_prob
    p[:, -recall:, 2 * n_pop : 3 * n_pop] = spike_prob
    p[:, :, 3 * n_pop :] = spike_prob / 4.0
    spikes = p > rng.rand(p.size).reshape(p.shape)
    spikes[:, 0, :] = False  # the scripts remove step-0 spikes ("for technical reasons")
    labels = (np.sum(cues, axis=1) > n_cues // 2).astype(int)
    return spikes, labels


def nest_tutorial(
    task: str,
    *,
    iterations: int,
    batch_size: int | None = None,
    seed: int = 1,
    handwriting_data: np.ndarray | None = None,
    validate_every: int | None = None,
    test_iterations: int = 0,
) -> NestTutorial:
    """Build a NEST 3.10 e-prop tutorial the way its script does (same seed -> same numbers).

    Weights, inputs and targets are drawn from NumPy's global-style stream seeded with ``seed``
    (``np.random.seed``), in the scripts' order, so ``seed=1`` reproduces the tutorials' own
    initial weights and inputs. Evidence accumulation follows the v3.10 script's training loop:
    by default training batches only (``do_early_stopping = False``, ``n_iter_test = 0``); with
    ``validate_every`` (the script's 10) a validation batch with ``eta = 0`` comes before every
    ``validate_every``-th training batch, and ``test_iterations`` (the script's 4) test batches
    with ``eta = 0`` follow; each phase draws its inputs in the script's order and the tutorial
    carries the per-phase learning rates (``etas``, pass them to
    :func:`~eprop_jax.nest.training.nest_train`). The script's early stopping (extra phases once
    a validation error falls below 0.07) is not reproduced. The lemniscate and handwriting scripts
    draw ``tau_m ~ N(30, 2)`` ms from NEST's own generator (``nest.random.normal`` with
    ``rng_seed = seed``); :func:`~eprop_jax.nest.random.nest_normal_draws` repeats NEST's draws
    bit for bit, so these recipes carry NEST's own values.

    Args:
        task: one of :data:`TUTORIALS` (``infinite_loop`` is NEST's ``lemniscate``).
        iterations: training iterations (NEST's ``n_iter``).
        batch_size: sequences per iteration (default: the script's, 32 for evidence
            accumulation and 1 for the regression tasks).
        seed: NEST's ``rng_seed`` (the scripts use 1).
        handwriting_data: the ``chaos_handwriting.txt`` array, shape ``(n_points, 2)`` (needed for
            ``handwriting``; it ships with NEST's examples).
        validate_every: evidence accumulation: a validation phase before every this many
            training iterations (``None``: none).
        test_iterations: evidence accumulation: test phases after training.

    Example:
        >>> tut = nest_tutorial("sine_waves", iterations=2)
        >>> tut.inputs.shape, tut.targets.shape
        ((2, 1, 1000, 100), (2, 1, 1000, 1))
    """
    api = "nest_tutorial"
    if task == "lemniscate":
        task = "infinite_loop"
    check_choice(api, "task", task, TUTORIALS)
    check_integer(api, "iterations", iterations)
    check_integer(api, "seed", seed)
    if seed >= 2**32:  # NEST's rng_seed range, and NumPy's RandomState's
        raise _err(api, f"seed must be an integer in [1, 2**32 - 1] (NEST's rng_seed); got {seed}.")
    rng = np.random.RandomState(seed)
    if task == "evidence_accumulation":
        if validate_every is not None:
            check_integer(api, "validate_every", validate_every)
        check_integer(api, "test_iterations", test_iterations, minimum=0)
        batch = 32 if batch_size is None else batch_size
        return _evidence_accumulation(rng, iterations, batch, validate_every, test_iterations)
    if task == "handwriting" and handwriting_data is None:
        raise _err(
            api,
            "handwriting needs handwriting_data (chaos_handwriting.txt from NEST's e-prop "
            "examples).",
        )
    batch = 1 if batch_size is None else batch_size
    return _regression(rng, task, iterations, batch, handwriting_data, seed)


def _evidence_accumulation(
    rng, iterations: int, batch: int, validate_every: int | None, test_iterations: int
) -> NestTutorial:
    """The evidence-accumulation script: two populations, Adam, phases with their own eta."""
    n_in, n_reg, n_ad, n_out, seq, window = 40, 50, 50, 2, 2250, 150
    reg = _recurrent(0.6, 20.0, 5.0, 300.0, 10.0, 1.0, True)
    ad = {
        **reg,
        "adapt_tau": 2000.0,
        "adaptation": 0.0,
        "adapt_beta": 1.7 * (1 - np.exp(-1 / 2000.0)) / (1 - np.exp(-1 / 20.0)),
    }
    populations = [
        ("eprop_iaf_bsshslm_2020", n_reg, reg),
        ("eprop_iaf_adapt_bsshslm_2020", n_ad, ad),
    ]
    readout = _readout(20.0, "cross_entropy")
    synapse = {
        "optimizer": _adam(batch, 5e-3),
        "average_gradient": True,
        "tau_m_readout": 20.0,
        "delay": 1.0,
    }
    weights = _normal_weights(rng, n_in, n_reg + n_ad, n_out, glorot_out=True)
    phases = []
    for k in range(iterations):
        if validate_every is not None and k % validate_every == 0:
            phases.append("validation")
        phases.append("training")
    phases += ["test"] * test_iterations
    draws = [_evidence_batch(rng, batch, n_in, seq) for _ in phases]
    spikes, labels = [d[0] for d in draws], [d[1] for d in draws]
    inputs = np.stack(spikes)
    targets = np.eye(n_out)[np.stack(labels)][:, :, None, :].repeat(seq, axis=2)
    etas = None
    if len(set(phases)) > 1:  # the script sets eta per phase and none before
        etas = np.array([5e-3 if phase == "training" else 0.0 for phase in phases])
        synapse["optimizer"].pop("eta")
    return NestTutorial(
        "evidence_accumulation",
        _kernel(seq, window),
        populations,
        readout,
        synapse,
        n_in,
        n_out,
        *weights,
        inputs,
        targets,
        etas,
        tuple(phases),
    )


def _regression(
    rng, task: str, iterations: int, batch: int, handwriting_data, seed: int
) -> NestTutorial:
    """The sine-waves, infinite-loop and handwriting scripts: one frozen input pattern."""
    n_in = 100
    if task == "sine_waves":
        n_rec, n_out, seq = 100, 1, 1000
        populations = [
            ("eprop_iaf_bsshslm_2020", n_rec, _recurrent(0.03, 30.0, 0.0, 300.0, 10.0, 1.0, False))
        ]
        readout = _readout(30.0, "mean_squared_error")
        optimizer = {
            "type": "gradient_descent",
            "batch_size": batch,
            "eta": 1e-4,
            "Wmin": -100.0,
            "Wmax": 100.0,
        }
        synapse = {
            "optimizer": optimizer,
            "average_gradient": False,
            "tau_m_readout": 30.0,
            "delay": 1.0,
        }
    else:
        n_rec, n_out = 200, 2
        if task == "handwriting":
            data = np.asarray(handwriting_data, np.float64)
            seq = len(data) * 8
        else:
            seq = 1258
        params = _recurrent(0.03, 30.0, 0.0, 150.0, 20.0, 250.0, False)
        params.update(
            adapt_tau=2000.0,
            adaptation=0.0,
            adapt_beta=1.7 * (1 - np.exp(-1 / 2000.0)) / (1 - np.exp(-1 / 30.0)),
        )
        populations = [("eprop_iaf_adapt_bsshslm_2020", n_rec, params)]
        readout = _readout(50.0, "mean_squared_error")
        synapse = {
            "optimizer": _adam(batch, 5e-3),
            "average_gradient": False,
            "tau_m_readout": 50.0,
            "delay": 1.0,
        }
    weights = _normal_weights(rng, n_in, n_rec, n_out, glorot_out=False)
    frozen = rng.rand(seq, n_in) < 0.05
    frozen[0] = False  # step-0 spikes removed, as in the scripts
    if task == "sine_waves":
        amplitudes = rng.uniform(0.5, 2.0, size=4)
        phases = rng.uniform(0.0, 2.0 * np.pi, size=4)
        target = sum(
            a * np.sin(np.linspace(phi, phi + 2.0 * np.pi * (seq // period), seq))
            for a, phi, period in zip(amplitudes, phases, (1000, 500, 333, 200), strict=True)
        )
        target = target - target[0]
        target = (target / max(np.abs(target).max(), 1e-6))[:, None]
    elif task == "infinite_loop":
        target = np.stack(
            [
                np.sin(np.linspace(0.0, 2.0 * np.pi, seq)),
                np.sin(np.linspace(0.0, 4.0 * np.pi, seq)),
            ],
            axis=1,
        )
    else:
        columns = []
        for y in np.cumsum(data, axis=0).T:
            y = y / np.max(np.abs(y))
            columns.append(np.interp(np.arange(seq) / 8, np.arange(seq // 8), y - np.mean(y)))
        target = np.stack(columns, axis=1)
    if task != "sine_waves":  # NEST's own draws: nest.random.normal(mean=30.0, std=2.0)
        populations[0][2]["tau_m"] = nest_normal_draws(n_rec, 30.0, 2.0, rng_seed=seed)
    inputs = np.broadcast_to(frozen, (iterations, batch, seq, n_in))
    targets = np.broadcast_to(target, (iterations, batch, seq, n_out))
    return NestTutorial(
        task,
        _kernel(seq, seq),
        populations,
        readout,
        synapse,
        n_in,
        n_out,
        *weights,
        inputs,
        targets,
        None,
        ("training",) * iterations,
    )


def tutorial_network(tutorial: NestTutorial) -> tuple[Network, NestConfig]:
    """:func:`~eprop_jax.nest.params.from_nest` applied to a :class:`NestTutorial`."""
    return from_nest(
        tutorial.kernel,
        tutorial.populations,
        tutorial.readout,
        tutorial.synapse,
        n_in=tutorial.n_in,
        n_out=tutorial.n_out,
    )


def nest_handwriting_data() -> np.ndarray:
    """``chaos_handwriting.txt`` from an installed ``nest-simulator`` (``eprop-jax[nest]``).

    Raises:
        ValueError: when NEST (and so the file) is not installed.
    """
    import importlib.util
    from pathlib import Path

    spec = importlib.util.find_spec("nest")
    locations = list(spec.submodule_search_locations or []) if spec else []
    for location in locations:
        path = Path(location) / "doc/examples/pynest/eprop_plasticity/chaos_handwriting.txt"
        if path.is_file():
            return np.loadtxt(path)
    raise _err(
        "nest_handwriting_data",
        "NEST's handwriting data (chaos_handwriting.txt) was not found; install the NEST extra "
        "(pip install 'eprop-jax[nest]') or pass handwriting_data=np.loadtxt(path).",
    )
