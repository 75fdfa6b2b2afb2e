"""Print NEST 3.10's values for the small networks of ``tests/test_nest_current_refs.py``.

Builds each case of that test module (its :func:`build_case`) in NEST: spike generators ->
parrots -> the recurrent model -> ``eprop_readout``, learning-signal, target and
learning-window connections, all delays one step (``resolution``), only the synapses of the
case's ``connected`` masks; records the readout signal and the recurrent neurons' ``V_m`` and
surrogate gradient every step, and reads the weights back with ``GetConnections``. Prints the
``REFERENCES`` dictionary the test pastes, then ``TUTORIAL_REFERENCES``: two iterations of the
current-model sine-waves tutorial per neuron model (``compare_nest.py``'s NEST network). Needs ``nest-simulator`` (3.10.0)::

    python scripts/nest_current_refs.py > /tmp/refs.py
"""

from __future__ import annotations

import importlib.util
import os
import pprint
from pathlib import Path

import numpy as np

TEST = Path(__file__).resolve().parents[1] / "tests" / "test_nest_current_refs.py"


def _test_module():
    spec = importlib.util.spec_from_file_location("test_nest_current_refs", TEST)
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def run_nest(case: dict, summarise) -> dict:
    """Simulate ``case`` in NEST; :func:`summarise` of the recordings."""
    os.environ.setdefault("PYNEST_QUIET", "1")
    import nest

    nest.verbosity = nest.VerbosityLevel.FATAL
    dt = case["resolution"]
    w = case["weights"]
    n_rec, n_in = w["in"].shape
    n_out = w["out"].shape[0]
    n_steps = len(case["window"])
    masks = case["connected"] or {
        "in": np.ones((n_rec, n_in), bool),
        "rec": ~np.eye(n_rec, dtype=bool),
        "out": np.ones((n_out, n_rec), bool),
    }
    nest.ResetKernel()
    nest.set(resolution=dt, print_time=False, total_num_virtual_procs=1)
    gen_in = nest.Create("spike_generator", n_in)
    parrots = nest.Create("parrot_neuron", n_in)
    rec = nest.Create(case["model"], n_rec, case["params_rec"])
    out = nest.Create("eprop_readout", n_out, case["params_out"])
    gen_target = nest.Create("step_rate_generator", n_out)
    gen_window = nest.Create("step_rate_generator")
    mm_out = nest.Create("multimeter", {"interval": dt, "record_from": ["readout_signal"]})
    mm_rec = nest.Create(
        "multimeter", {"interval": dt, "record_from": ["V_m", "surrogate_gradient"]}
    )
    nest.SetDefaults("eprop_synapse", {"optimizer": case["optimizer"], "weight": 0.0})
    static = {"synapse_model": "static_synapse", "delay": dt}
    eprop = {"synapse_model": "eprop_synapse", "delay": dt}
    nest.Connect(gen_in, parrots, {"rule": "one_to_one"}, static)
    for pre, post, key in ((parrots, rec, "in"), (rec, rec, "rec"), (rec, out, "out")):
        for i in range(len(pre)):  # presynaptic neurons in id order, their existing synapses
            targets = np.flatnonzero(masks[key][:, i])
            if len(targets):
                weights = w[key][targets, i][:, None]
                nest.Connect(
                    pre[i], post[targets.tolist()], "all_to_all", {**eprop, "weight": weights}
                )
    feedback = {
        "synapse_model": "eprop_learning_signal_connection",
        "delay": dt,
        "weight": case["feedback"],
    }
    nest.Connect(out, rec, "all_to_all", feedback)
    rate = {"synapse_model": "rate_connection_delayed", "delay": dt}
    nest.Connect(gen_target, out, {"rule": "one_to_one"}, {**rate, "receptor_type": 2})
    nest.Connect(gen_window, out, "all_to_all", {**rate, "receptor_type": 1})
    nest.Connect(mm_out, out, "all_to_all", static)
    nest.Connect(mm_rec, rec, "all_to_all", static)
    steps = np.arange(n_steps)
    gen_in.set([{"spike_times": steps[col > 0] * dt} for col in case["x_emit"].T])
    times = steps[1:] * dt
    gen_target.set(
        [
            {"amplitude_times": times, "amplitude_values": case["targets"][1:, o]}
            for o in range(n_out)
        ]
    )
    first = int(np.flatnonzero(case["window"])[0])
    gen_window.set({"amplitude_times": [first * dt], "amplitude_values": [1.0]})
    nest.Simulate(n_steps * dt)

    def recorded(mm, names, n):
        ev = mm.get("events")
        order = np.lexsort((np.asarray(ev["senders"]), np.asarray(ev["times"])))
        return [np.asarray(ev[name])[order].reshape(-1, n) for name in names]

    def matrix(pre, post):
        conns = nest.GetConnections(pre, post).get(["source", "target", "weight"])
        m = np.zeros((len(post), len(pre)))
        m[
            np.array(conns["target"]) - min(post.tolist()),
            np.array(conns["source"]) - min(pre.tolist()),
        ] = conns["weight"]
        return m

    (readout,) = recorded(mm_out, ["readout_signal"], n_out)
    v_m, psi = recorded(mm_rec, ["V_m", "surrogate_gradient"], n_rec)
    seen = {"in": matrix(parrots, rec), "rec": matrix(rec, rec), "out": matrix(rec, out)}
    return summarise(case, readout, v_m, psi, seen)


def tutorial_references(test) -> dict:
    """Two iterations of NEST 3.10's sine-waves tutorial per model (compare_nest.py's NEST run)."""
    from compare_nest import run_nest_current
    from eprop_jax.nest.current_tutorials import current_sine_waves

    refs = {}
    for model in (
        "eprop_iaf",
        "eprop_iaf_adapt",
        "eprop_iaf_psc_delta",
        "eprop_iaf_psc_delta_adapt",
    ):
        tut = current_sine_waves(model, iterations=2)
        ref = run_nest_current(tut)
        seen = {k: ref[f"w_{k}"] for k in ("in", "rec", "out")}
        refs[model] = test.tutorial_summary(tut, ref["loss"], seen)
    return refs


def main() -> None:
    test = _test_module()
    refs = {name: run_nest(test.build_case(name), test.summarise) for name in test.CASES}
    print("# printed by `python scripts/nest_current_refs.py` (NEST 3.10.0)")
    print("REFERENCES = " + pprint.pformat(refs, width=99, sort_dicts=False))
    print()
    print("# printed by `python scripts/nest_current_refs.py` (NEST 3.10.0)")
    print(
        "TUTORIAL_REFERENCES = "
        + pprint.pformat(tutorial_references(test), width=99, sort_dicts=False)
    )


if __name__ == "__main__":
    main()
