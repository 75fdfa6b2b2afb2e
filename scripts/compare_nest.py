"""Run one of NEST 3.10's e-prop tutorials in NEST and in eprop-jax's NEST mode; compare them.

Both sides get the same model, initial weights, inputs and targets: the tutorial recipe of
``eprop_jax.nest.nest_tutorial`` (the NEST script's own draws for ``--seed 1``). NEST runs a
headless network built here from the same dictionaries (spike generators -> parrots -> e-prop
neurons -> readouts, learning-signal and target connections, a forced final update), so nothing
of the tutorial scripts is needed. NEST gets ``rng_seed = --seed`` as in the scripts, and in the
lemniscate and handwriting tutorials draws ``tau_m`` itself (``nest.random.normal(30, 2)``); the
output says whether its values equal the recipe's (``tau_m_nest_equals_recipe``). Prints one JSON object: largest weight and loss differences
and both run times.

Needs ``pip install eprop-jax[nest]`` (``nest-simulator``), e.g. in its own environment::

    python scripts/compare_nest.py --task evidence_accumulation --iterations 5 --batch-size 1
    python scripts/compare_nest.py --task handwriting --iterations 5
    # the evidence-accumulation script's own loop: validation / training / test phases
    python scripts/compare_nest.py --task evidence_accumulation --iterations 12 --batch-size 1 \
        --validate-every 10 --test-iterations 2
    # any learning-rate schedule, one rate per iteration
    python scripts/compare_nest.py --task infinite_loop --iterations 4 --etas 0,5e-3,1e-3,0

Times: NEST's ``Simulate`` wall and CPU seconds per iteration; ours per iteration after the first
(which compiles).

NEST 3.10's current models (``eprop_iaf``, ``eprop_iaf_adapt``, ``eprop_iaf_psc_delta``,
``eprop_iaf_psc_delta_adapt``; ``eprop_jax.nest.current``): ``--task sine_waves_current`` runs the
v3.10 sine-waves tutorial (``eprop_supervised_regression_sine-waves.py``: gradient descent once
per spike, forced final update) with each neuron model of ``--model`` (default: all four) in NEST
and in eprop-jax and prints one JSON object per model; ``--setup testsuite`` runs the network of
NEST's ``test_eprop_regression`` instead (100-step sequences, the optimiser per step)::

    python scripts/compare_nest.py --task sine_waves_current --iterations 200
    python scripts/compare_nest.py --task sine_waves_current --setup testsuite --model eprop_iaf
"""

from __future__ import annotations

import argparse
import json
import os
import time

import numpy as np


def _weight_matrix(nest, pre, post) -> np.ndarray:
    """NEST's weights from ``pre`` to ``post`` as a dense ``(len(post), len(pre))`` array."""
    conns = nest.GetConnections(pre, post).get(["source", "target", "weight"])
    w = np.zeros((len(post), len(pre)))
    w[
        np.array(conns["target"]) - min(post.tolist()),
        np.array(conns["source"]) - min(pre.tolist()),
    ] = conns["weight"]
    return w


def _network_weights(nest, parrots, rec, out) -> dict[str, np.ndarray]:
    """``w_in``, ``w_rec`` and ``w_out`` of a NEST e-prop network (:func:`_weight_matrix`)."""
    return {
        "w_in": _weight_matrix(nest, parrots, rec),
        "w_rec": _weight_matrix(nest, rec, rec),
        "w_out": _weight_matrix(nest, rec, out),
    }


def _import_nest():
    os.environ.setdefault("PYNEST_QUIET", "1")  # no banner on stdout
    import nest

    nest.verbosity = nest.VerbosityLevel.FATAL
    return nest


def _generator_changes(values: np.ndarray, offset: float):
    """Amplitude times/values of a step_rate_generator holding ``values`` from ``offset`` on."""
    keep = np.ones(len(values), bool)
    keep[1:] = values[1:] != values[:-1]
    return (np.flatnonzero(keep) + offset).astype(float), values[keep].astype(float)


NEST_DRAWS_TAU_M = ("infinite_loop", "handwriting")  # tau_m: nest.random.normal(30, 2)


def run_nest(tut, etas=None, rng_seed: int = 1) -> dict:
    """Simulate the tutorial in NEST; return final weights, per-iteration loss and timings.

    ``etas``: optional learning rate per iteration, set with ``nest.SetDefaults`` before each
    iteration's simulation (as the v3.10 evidence-accumulation script does between phases).
    ``rng_seed``: NEST's seed (the scripts set it to their NumPy seed). For the lemniscate and
    handwriting tutorials NEST draws ``tau_m`` itself, as the scripts do; the values it drew are
    returned (``tau_m``) so that they can be compared with the recipe's.
    """
    nest = _import_nest()

    n_iter, batch, steps, n_in = tut.inputs.shape
    n_seq = n_iter * batch
    nest.ResetKernel()
    nest.verbosity = nest.VerbosityLevel.FATAL
    nest.set(**tut.kernel, rng_seed=rng_seed, print_time=False, total_num_virtual_procs=1)
    gen_in = nest.Create("spike_generator", n_in)
    parrots = nest.Create("parrot_neuron", n_in)
    rec = None
    for model, n, params in tut.populations:
        params = dict(params)
        if tut.task in NEST_DRAWS_TAU_M:
            params["tau_m"] = nest.random.normal(mean=30.0, std=2.0)  # NEST draws its own
            pop = nest.Create(model, n, params)
        else:
            tau_m = np.broadcast_to(np.asarray(params.pop("tau_m"), float), (n,))
            pop = nest.Create(model, n, [{**params, "tau_m": float(t)} for t in tau_m])
        rec = pop if rec is None else rec + pop
    tau_m_nest = np.asarray(rec.get("tau_m"), float).reshape(-1)
    out = nest.Create("eprop_readout_bsshslm_2020", tut.n_out, tut.readout)
    gen_target = nest.Create("step_rate_generator", tut.n_out)
    mm = nest.Create(
        "multimeter",
        {"interval": 1.0, "start": 4.0, "record_from": ["readout_signal", "target_signal"]},
    )
    nest.SetDefaults(
        "eprop_synapse_bsshslm_2020",
        {
            "optimizer": tut.synapse["optimizer"],
            "average_gradient": tut.synapse["average_gradient"],
        },
    )
    base = {
        "synapse_model": "eprop_synapse_bsshslm_2020",
        "delay": 1.0,
        "tau_m_readout": tut.synapse["tau_m_readout"],
    }
    all_to_all = {"rule": "all_to_all", "allow_autapses": False}
    static = {"synapse_model": "static_synapse", "delay": 1.0}
    nest.Connect(gen_in, parrots, {"rule": "one_to_one"}, static)
    nest.Connect(parrots, rec, all_to_all, {**base, "weight": tut.w_in})
    nest.Connect(rec, rec, all_to_all, {**base, "weight": tut.w_rec})
    nest.Connect(rec, out, all_to_all, {**base, "weight": tut.w_out})
    nest.Connect(
        out,
        rec,
        all_to_all,
        {
            "synapse_model": "eprop_learning_signal_connection_bsshslm_2020",
            "delay": 1.0,
            "weight": tut.feedback,
        },
    )
    rate = {"synapse_model": "rate_connection_delayed", "delay": 1.0}
    nest.Connect(gen_target, out, {"rule": "one_to_one"}, {**rate, "receptor_type": 2})
    if tut.readout["loss"] == "cross_entropy":
        nest.Connect(out, out, all_to_all, {**rate, "receptor_type": 1, "weight": 1.0})
    nest.Connect(mm, out, "all_to_all", static)
    flat = tut.inputs.reshape(n_seq * steps, n_in)
    timeline = np.arange(n_seq * steps, dtype=float) + 1.0  # offset_gen = 1
    gen_in.set([{"spike_times": timeline[flat[:, i]].astype(np.float32)} for i in range(n_in)])
    targets = tut.targets.reshape(n_seq * steps, tut.n_out)
    params = []
    for o in range(tut.n_out):
        times, values = _generator_changes(targets[:, o], 4.0)  # total_offset = 4
        params.append({"amplitude_times": times, "amplitude_values": values})
    gen_target.set(params)
    final = nest.Create("spike_generator", {"spike_times": [n_seq * steps + 6.0]})
    nest.Connect(final, parrots + rec, "all_to_all", {"weight": 1000.0})

    wall, cpu = time.perf_counter(), time.process_time()
    if etas is None:
        nest.Simulate(n_seq * steps + 8.0)
    else:
        for eta in etas:
            optimizer = {**tut.synapse["optimizer"], "eta": float(eta)}
            nest.SetDefaults("eprop_synapse_bsshslm_2020", {"optimizer": optimizer})
            nest.Simulate(float(batch * steps))
        nest.Simulate(8.0)
    wall, cpu = time.perf_counter() - wall, time.process_time() - cpu
    events = mm.get("events")
    senders = np.asarray(events["senders"])
    order = np.argsort(np.asarray(events["times"]), kind="stable")

    def trace(name):
        vals = np.asarray(events[name])[order]
        snd = senders[order]
        return np.stack([vals[snd == s][: n_seq * steps] for s in np.unique(snd)])

    signal = trace("readout_signal").reshape(tut.n_out, n_iter, batch, steps)
    target = trace("target_signal").reshape(tut.n_out, n_iter, batch, steps)
    if tut.readout["loss"] == "cross_entropy":
        window = int(tut.kernel["eprop_learning_window"])
        s, t = signal[..., -window:], target[..., -window:]
        loss = -np.mean(np.sum(t * np.log(s), axis=0), axis=(1, 2))
    else:
        loss = 0.5 * np.mean(np.sum((signal - target) ** 2, axis=3), axis=(0, 2))
    return {
        **_network_weights(nest, parrots, rec, out),
        "loss": loss,
        "seconds": wall,
        "cpu_seconds": cpu,
        "tau_m": tau_m_nest,
    }


def run_jax(tut, etas=None) -> dict:
    import jax

    jax.config.update("jax_enable_x64", True)
    from eprop_jax import nest as nest_mode

    net, config = nest_mode.tutorial_network(tut)
    weights = nest_mode.nest_weights(tut.w_in, tut.w_rec, tut.w_out, tut.feedback)
    cpu = time.process_time()
    run = nest_mode.nest_train(net, config, weights, tut.inputs, tut.targets, etas=etas)
    cpu = time.process_time() - cpu
    return {
        "w_in": np.asarray(run.weights.w_in),
        "w_rec": np.asarray(run.weights.w_rec),
        "w_out": np.asarray(run.weights.w_out),
        "loss": run.loss,
        "seconds": run.seconds,
        "compile_seconds": run.compile_seconds,
        "cpu_seconds_incl_compile": cpu,
    }


def compare(
    task: str,
    iterations: int,
    batch_size: int | None,
    seed: int,
    etas=None,
    validate_every: int | None = None,
    test_iterations: int = 0,
) -> dict:
    from eprop_jax import nest as nest_mode

    data = nest_mode.nest_handwriting_data() if task == "handwriting" else None
    extra = {}
    if task == "evidence_accumulation":
        extra = {"validate_every": validate_every, "test_iterations": test_iterations}
    tut = nest_mode.nest_tutorial(
        task,
        iterations=iterations,
        batch_size=batch_size,
        seed=seed,
        handwriting_data=data,
        **extra,
    )
    etas = tut.etas if etas is None else etas
    etas = None if etas is None else [float(e) for e in etas]
    ref = run_nest(tut, etas=etas, rng_seed=seed)
    ours = run_jax(tut, etas=etas)
    result = {
        "task": task,
        "iterations": iterations,
        "batch_size": tut.inputs.shape[1],
        "seed": seed,
        "etas": etas,
    }
    recipe_tau_m = np.concatenate(
        [np.broadcast_to(np.asarray(p["tau_m"], float), (n,)) for _, n, p in tut.populations]
    )
    result["tau_m_nest_equals_recipe"] = bool(np.array_equal(ref["tau_m"], recipe_tau_m))
    for name in ("w_in", "w_rec", "w_out"):
        diff = np.abs(ours[name] - ref[name])
        result[f"max_abs_diff_{name}"] = float(diff.max())
        result[f"max_rel_diff_{name}"] = float((diff / np.maximum(np.abs(ref[name]), 1e-12)).max())
    result["max_abs_weight_change_nest"] = float(
        max(
            np.abs(ref[n] - w).max()
            for n, w in (("w_in", tut.w_in), ("w_rec", tut.w_rec), ("w_out", tut.w_out))
        )
    )
    result["loss_nest"] = ref["loss"].tolist()
    result["loss_jax"] = ours["loss"].tolist()
    result["max_abs_diff_loss"] = float(np.abs(ref["loss"] - ours["loss"]).max())
    n_phases = len(tut.inputs)
    result["phases"] = len(tut.phases)
    result["nest_seconds_per_iteration"] = ref["seconds"] / n_phases
    result["nest_cpu_seconds_per_iteration"] = ref["cpu_seconds"] / n_phases
    result["jax_seconds_per_iteration"] = ours["seconds"] / max(n_phases - 1, 1)
    result["jax_compile_seconds"] = ours["compile_seconds"]
    result["speed_ratio_nest_over_jax"] = (
        result["nest_seconds_per_iteration"] / result["jax_seconds_per_iteration"]
    )
    return result


def run_nest_current(tut, record_v: bool = False) -> dict:
    """Simulate a :class:`~eprop_jax.nest.current_tutorials.CurrentTutorial` in NEST.

    The network of NEST 3.10's sine-waves tutorial, built from the recipe's dictionaries: spike
    generators -> parrots -> ``tut.model`` -> ``eprop_readout``, learning-signal, target and
    learning-window connections (all delays 1 ms), the forced final update if the recipe has it.
    Returns the ``GetConnections`` weights after the run, the loss per iteration (the scripts'
    multimeter frame) and ``Simulate``'s wall and CPU seconds; with ``record_v`` also ``v_rec``,
    the recurrent neurons' ``V_m`` after each step, shape (steps, n_rec).
    """
    nest = _import_nest()
    seq, n_iter = tut.sequence, tut.iterations
    task = seq * n_iter
    n_in, n_rec, n_out = tut.w_in.shape[1], tut.w_in.shape[0], tut.w_out.shape[0]
    nest.ResetKernel()
    nest.verbosity = nest.VerbosityLevel.FATAL
    nest.set(resolution=1.0, print_time=False, total_num_virtual_procs=1)
    gen_in = nest.Create("spike_generator", n_in)
    parrots = nest.Create("parrot_neuron", n_in)
    rec = nest.Create(tut.model, n_rec, tut.params_rec)
    out = nest.Create("eprop_readout", n_out, tut.params_out)
    gen_target = nest.Create("step_rate_generator", n_out)
    gen_window = nest.Create("step_rate_generator")
    mm = nest.Create(
        "multimeter",
        {
            "interval": 1.0,
            "record_from": ["readout_signal", "target_signal"],
            "start": 2.0,
            "stop": 2.0 + task,
        },
    )
    nest.SetDefaults("eprop_synapse", {"optimizer": tut.optimizer})
    all_to_all = {"rule": "all_to_all", "allow_autapses": False}
    static = {"synapse_model": "static_synapse", "delay": 1.0}
    eprop = {"synapse_model": "eprop_synapse", "delay": 1.0}
    nest.Connect(gen_in, parrots, {"rule": "one_to_one"}, static)
    nest.Connect(parrots, rec, all_to_all, {**eprop, "weight": tut.w_in})
    nest.Connect(rec, rec, all_to_all, {**eprop, "weight": tut.w_rec})
    nest.Connect(rec, out, all_to_all, {**eprop, "weight": tut.w_out})
    feedback = {
        "synapse_model": "eprop_learning_signal_connection",
        "delay": 1.0,
        "weight": tut.feedback,
    }
    nest.Connect(out, rec, all_to_all, feedback)
    rate = {"synapse_model": "rate_connection_delayed", "delay": 1.0}
    nest.Connect(gen_target, out, {"rule": "one_to_one"}, {**rate, "receptor_type": 2})
    nest.Connect(gen_window, out, all_to_all, {**rate, "receptor_type": 1})
    nest.Connect(mm, out, "all_to_all", static)
    if record_v:
        mm_rec = nest.Create(
            "multimeter", {"interval": 1.0, "record_from": ["V_m", "surrogate_gradient"]}
        )
        nest.Connect(mm_rec, rec, "all_to_all", static)
    starts = np.arange(0.0, task, seq) + 1.0  # offset_gen = 1
    times = np.arange(0.0, seq, 1.0)
    gen_in.set(
        [
            {"spike_times": np.hstack([times[row] + s for s in starts]).astype(np.float32)}
            for row in tut.input_spikes
        ]
    )
    gen_target.set(
        {
            "amplitude_times": np.arange(0.0, task, 1.0) + 2.0,  # total_offset = 2
            "amplitude_values": np.tile(tut.target, n_iter),
        }
    )
    gen_window.set({"amplitude_times": [2.0], "amplitude_values": [1.0]})
    if tut.final_update:
        final = nest.Create("spike_generator", 1, {"spike_times": [task + 1.0]})
        nest.Connect(final, parrots + rec, "all_to_all", {"weight": 1000.0})

    wall, cpu = time.perf_counter(), time.process_time()
    nest.Simulate(task + 5.0)  # total_offset + extension_sim, as both scripts
    wall, cpu = time.perf_counter() - wall, time.process_time() - cpu
    events = mm.get("events")
    order = np.argsort(np.asarray(events["times"]), kind="stable")
    signal = np.asarray(events["readout_signal"])[order][:task]
    target = np.asarray(events["target_signal"])[order][:task]
    loss = 0.5 * np.sum(((signal - target) ** 2).reshape(n_iter, seq), axis=1)
    extra = {}
    if record_v:
        ev = mm_rec.get("events")
        order = np.lexsort((np.asarray(ev["senders"]), np.asarray(ev["times"])))
        extra["v_rec"] = np.asarray(ev["V_m"])[order].reshape(-1, n_rec)
        extra["surrogate_rec"] = np.asarray(ev["surrogate_gradient"])[order].reshape(-1, n_rec)
    return {
        **extra,
        "readout_signal": signal,
        **_network_weights(nest, parrots, rec, out),
        "loss": loss,
        "seconds": wall,
        "cpu_seconds": cpu,
    }


SCRIPT = "eprop_supervised_regression_sine-waves.py"
_SCRIPT_NAMES = {
    "n_iter",
    "group_size",
    "steps",
    "duration",
    "params_nrn_out",
    "params_nrn_rec",
    "scale_factor",
}


def script_parameters(model: str) -> dict | str:
    """NEST's shipped sine-waves tutorial's dictionaries for ``model``, or why they are missing.

    Reads the installed example (``nest/doc/examples/pynest/eprop_plasticity``) with ``ast``
    and evaluates only the statements that build ``params_nrn_rec``, ``params_nrn_out`` (with
    the model's ``if model_nrn_rec ...`` overrides) and the synapses' ``optimizer`` dictionary
    (none of the script's NEST calls run). Returns ``{"params_rec", "params_out",
    "optimizer"}`` or a string saying why it could not (example not installed, layout changed).
    """
    import ast
    from pathlib import Path

    nest_dir = Path(_import_nest().__file__).parent
    path = nest_dir / "doc" / "examples" / "pynest" / "eprop_plasticity" / SCRIPT
    if not path.is_file():
        return f"{SCRIPT} is not installed with this nest package ({path} missing)"
    tree = ast.parse(path.read_text())

    def names(node) -> set:
        return {n.id for n in ast.walk(node) if isinstance(n, ast.Name)}

    def root(stmt) -> str | None:
        """The variable a top-level statement builds: ``x = ...``, ``x[k] = ...``,
        ``x *= ...``, ``x.update(...)``."""
        if isinstance(stmt, ast.Assign) and len(stmt.targets) == 1:
            node = stmt.targets[0]
        elif isinstance(stmt, ast.AugAssign):
            node = stmt.target
        elif isinstance(stmt, ast.Expr) and isinstance(stmt.value, ast.Call):
            node = stmt.value.func
        else:
            return None
        while isinstance(node, ast.Subscript | ast.Attribute):
            node = node.value
        return node.id if isinstance(node, ast.Name) else None

    keep, optimizer = [], None
    for stmt in tree.body:
        if isinstance(stmt, ast.Assign) and names(stmt.targets[0]) == {"params_common_syn_eprop"}:
            for key, value in zip(stmt.value.keys, stmt.value.values, strict=True):
                if isinstance(key, ast.Constant) and key.value == "optimizer":
                    optimizer = value
        elif isinstance(stmt, ast.If) and "model_nrn_rec" in names(stmt.test):
            if all(names(b) <= _SCRIPT_NAMES | {"model_nrn_rec"} for b in stmt.body):
                keep.append(stmt)
        elif root(stmt) in _SCRIPT_NAMES:
            keep.append(stmt)
    if optimizer is None:
        return f"{SCRIPT}: no optimizer dictionary in params_common_syn_eprop (layout changed)"
    space = {"model_nrn_rec": model, "np": np}
    try:
        exec(compile(ast.Module(keep, []), str(path), "exec"), space)
        opt = eval(compile(ast.Expression(optimizer), str(path), "eval"), space)
        return {
            "params_rec": space["params_nrn_rec"],
            "params_out": space["params_nrn_out"],
            "optimizer": opt,
        }
    except (KeyError, NameError, TypeError) as error:
        return f"{SCRIPT}: its dictionaries could not be evaluated ({error!r}; layout changed)"


def check_recipe(tut) -> str:
    """``"equal"`` if ``tut``'s dictionaries are the shipped script's (float-exact), else raise;
    ``"skipped: ..."`` if the script is not available."""
    shipped = script_parameters(tut.model)
    if isinstance(shipped, str):
        return f"skipped: {shipped}"
    for name in ("params_rec", "params_out", "optimizer"):
        ours, theirs = getattr(tut, name), shipped[name]
        if ours != theirs:
            diff = {
                k: (ours.get(k, "missing"), theirs.get(k, "missing"))
                for k in sorted(set(ours) | set(theirs))
                if ours.get(k, "missing") != theirs.get(k, "missing")
            }
            raise SystemExit(
                f"compare_nest.py: the recipe's {name} for {tut.model} differs from {SCRIPT} "
                f"(name: (ours, script)): {diff}"
            )
    return "equal"


def compare_current(model: str, iterations: int | None, seed: int, setup: str) -> dict:
    """NEST vs eprop-jax on the current-model sine-waves recipe of ``model`` (one JSON row)."""
    import jax

    jax.config.update("jax_enable_x64", True)
    from eprop_jax.nest.current_tutorials import current_sine_waves, run_current_tutorial

    tut = current_sine_waves(model, iterations, seed, setup=setup)
    recipe = check_recipe(tut) if setup == "tutorial" else "not applicable (testsuite setup)"
    ref = run_nest_current(tut)
    cpu, last = [], [time.process_time()]

    def on_iteration(iteration, loss):
        now = time.process_time()
        cpu.append(now - last[0])
        last[0] = now

    ours = run_current_tutorial(tut, callback=on_iteration)
    result = {
        "task": "sine_waves_current",
        "setup": setup,
        "model": model,
        "optimizer": tut.optimizer["type"],
        "optimize_each_step": tut.optimizer["optimize_each_step"],
        "iterations": tut.iterations,
        "seed": seed,
        "recipe_equals_nest_script": recipe,
    }
    worst = 0.0
    for name, w0 in (("w_in", tut.w_in), ("w_rec", tut.w_rec), ("w_out", tut.w_out)):
        diff = np.abs(ours["weights"][name] - ref[name])
        rel = float((diff / np.maximum(np.abs(ref[name]), 1e-12)).max())
        worst = max(worst, rel)
        result[f"max_abs_diff_{name}"] = float(diff.max())
        result[f"max_rel_diff_{name}"] = rel
        result[f"max_abs_change_nest_{name}"] = float(np.abs(ref[name] - w0).max())
    result["max_rel_weight_diff"] = worst
    result["max_abs_diff_loss"] = float(np.abs(ref["loss"] - ours["loss"]).max())
    result["max_rel_diff_loss"] = float(np.abs(ours["loss"] / ref["loss"] - 1.0).max())
    result["loss_nest_first_last"] = [float(ref["loss"][0]), float(ref["loss"][-1])]
    result["loss_jax_first_last"] = [float(ours["loss"][0]), float(ours["loss"][-1])]
    result["nest_seconds_per_iteration"] = ref["seconds"] / tut.iterations
    result["nest_cpu_seconds_per_iteration"] = ref["cpu_seconds"] / tut.iterations
    result["jax_seconds_per_iteration"] = ours["seconds_per_iteration"]
    result["jax_compile_seconds"] = ours["compile_seconds"]
    # CPU time of the iterations after the first (compiling) one, as reported by the callback
    result["jax_cpu_seconds_per_iteration"] = float(np.median(cpu[1:] if len(cpu) > 1 else cpu))
    per_iteration = result["jax_seconds_per_iteration"]  # None with one iteration
    result["speed_ratio_nest_over_jax"] = (
        None if per_iteration is None else result["nest_seconds_per_iteration"] / per_iteration
    )
    result["cpu_ratio_nest_over_jax"] = (
        result["nest_cpu_seconds_per_iteration"] / result["jax_cpu_seconds_per_iteration"]
    )
    return result


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument(
        "--task",
        default="evidence_accumulation",
        choices=(
            "evidence_accumulation",
            "sine_waves",
            "infinite_loop",
            "handwriting",
            "sine_waves_current",
        ),
    )
    parser.add_argument(
        "--model",
        default=None,
        choices=(
            "all",
            "eprop_iaf",
            "eprop_iaf_adapt",
            "eprop_iaf_psc_delta",
            "eprop_iaf_psc_delta_adapt",
        ),
        help="sine_waves_current: the recurrent neuron model (default: all four, one row each)",
    )
    parser.add_argument(
        "--setup",
        default=None,
        choices=("tutorial", "testsuite"),
        help="sine_waves_current: NEST's tutorial or its test_eprop_regression network",
    )
    parser.add_argument("--iterations", type=int, default=5)
    parser.add_argument("--batch-size", type=int, default=None)
    parser.add_argument("--seed", type=int, default=1)
    parser.add_argument(
        "--validate-every",
        type=int,
        default=None,
        help="evidence accumulation: validation phase every N training iterations",
    )
    parser.add_argument(
        "--test-iterations",
        type=int,
        default=0,
        help="evidence accumulation: test phases after training",
    )
    parser.add_argument(
        "--etas",
        default=None,
        help="comma-separated learning rate per iteration (phases, e.g. 0 for validation)",
    )
    args = parser.parse_args()
    current = args.task == "sine_waves_current"
    given = {
        "--batch-size": args.batch_size is not None,
        "--etas": args.etas is not None,
        "--validate-every": args.validate_every is not None,
        "--test-iterations": args.test_iterations != 0,
        "--model": args.model is not None,
        "--setup": args.setup is not None,
    }
    only_current = ("--model", "--setup")
    for option, set_ in given.items():
        if set_ and current != (option in only_current):
            task = "sine_waves_current" if option in only_current else "the bsshslm_2020 tasks"
            parser.error(f"{option} applies to {task} only; got --task {args.task}")
    args.model = args.model or "all"
    args.setup = args.setup or "tutorial"
    etas = None if args.etas is None else [float(v) for v in args.etas.split(",")]
    os.environ.setdefault("OMP_NUM_THREADS", "1")
    if args.task == "sine_waves_current":
        models = (
            ["eprop_iaf", "eprop_iaf_adapt", "eprop_iaf_psc_delta", "eprop_iaf_psc_delta_adapt"]
            if args.model == "all"
            else [args.model]
        )
        rows = [compare_current(m, args.iterations, args.seed, args.setup) for m in models]
        print(json.dumps(rows if len(rows) > 1 else rows[0], indent=1))
        return
    result = compare(
        args.task,
        args.iterations,
        args.batch_size,
        args.seed,
        etas,
        args.validate_every,
        args.test_iterations,
    )
    print(json.dumps(result, indent=1))


if __name__ == "__main__":
    main()
