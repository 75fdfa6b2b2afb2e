"""NEST 3.10's current e-prop models (eprop_jax.nest.current) against NEST's own reference values.

The constants are NEST 3.10.0's ``testsuite/pytests/test_eprop_plasticity.py`` reference values
(``test_eprop_regression`` and ``test_eprop_surrogate_gradients``, also listed in
``shared/reference/paper_numbers.md`` section 2); the networks are set up from that test's own
parameters (:func:`~eprop_jax.nest.current_tutorials.current_sine_waves`, ``setup="testsuite"``).
NEST itself is not needed.
"""

from __future__ import annotations

import math

import numpy as np
import pytest

from eprop_jax.nest.current import (
    current_config_from_nest,
    simulate_current,
    surrogate_gradient,
)
from eprop_jax.nest.current_tutorials import (
    current_arrays,
    current_sine_waves,
    run_current_tutorial,
)

# test_eprop_regression (NEST 3.10.0): loss of each of the 5 iterations
REGRESSION_LOSSES = {
    "eprop_iaf": [
        0.14000491891386,
        0.28735818029752,
        0.22263713699860,
        0.23015072431384,
        0.17565248170694,
    ],
    "eprop_iaf_adapt": [
        0.02242584487453,
        0.01916753791522,
        0.00571493935652,
        0.00037875376195,
        0.00037823157578,
    ],
    "eprop_iaf_psc_delta": [
        0.27039631749159,
        0.51390204375229,
        0.53473859833866,
        0.53608474802202,
        0.49323580244201,
    ],
    "eprop_iaf_psc_delta_adapt": [
        0.16416646182675,
        0.27952159282830,
        0.29937515524341,
        0.26160957500433,
        0.26384514215024,
    ],
}

# the same runs: sum of NEST's final weight changes (GetConnections after the 505 simulated steps
# minus the initial weights) for in->rec, rec->rec, rec->out, printed by NEST 3.10.0 through
# scripts/compare_nest.py's run_nest_current (pip install nest-simulator==3.10.0)
REGRESSION_WEIGHT_CHANGES = {
    "eprop_iaf": (-0.08805932804829905, -0.04598767426960782, -0.0021714752995656344),
    "eprop_iaf_adapt": (-0.00035494605252308156, -0.0001373559610671682, -9.506041296938837e-06),
    "eprop_iaf_psc_delta": (-0.007497053187469328, -0.005877618061774506, -0.0004449499682133909),
    "eprop_iaf_psc_delta_adapt": (
        0.011847730960150182,
        0.004777333892251169,
        -0.0002217571195242652,
    ),
}

# test_eprop_surrogate_gradients (NEST 3.10.0): the last 5 recorded surrogate gradients
SURROGATE_REFERENCES = {
    "piecewise_linear": [
        0.21030100902759,
        0.18933659619924,
        0.17036721102500,
        0.15320300152221,
        0.13767218251307,
    ],
    "exponential": [
        0.28011776848615,
        0.26861558105999,
        0.25861553046549,
        0.24988832085299,
        0.24224569105944,
    ],
    "fast_sigmoid_derivative": [
        0.20044113201621,
        0.19020804299944,
        0.18160934703950,
        0.17432167613232,
        0.16809903522604,
    ],
    "arctan_derivative": [
        0.37433498786304,
        0.36073812744784,
        0.34852165076370,
        0.33759316659435,
        0.32784181049728,
    ],
}


@pytest.mark.parametrize("model", list(REGRESSION_LOSSES))
def test_regression_losses_match_nest_testsuite(model):
    """The four v3.10 test_eprop_regression series (Adam per step for eprop_iaf, gradient
    descent per step for the others) to the test's rtol 1e-8, and NEST's final weights (what
    GetConnections shows: each synapse as of its latest spike or flush event)."""
    tut = current_sine_waves(model, setup="testsuite")
    assert tut.optimizer["type"] == ("adam" if model == "eprop_iaf" else "gradient_descent")
    result = run_current_tutorial(tut)
    np.testing.assert_allclose(result["loss"], REGRESSION_LOSSES[model], rtol=1e-8, atol=0)
    initial = {"w_in": tut.w_in, "w_rec": tut.w_rec, "w_out": tut.w_out}
    changes = [np.sum(result["weights"][k] - np.float64(w)) for k, w in initial.items()]
    np.testing.assert_allclose(changes, REGRESSION_WEIGHT_CHANGES[model], rtol=1e-10, atol=0)


@pytest.mark.parametrize("function", list(SURROGATE_REFERENCES))
def test_surrogate_gradients_match_nest_testsuite(function):
    """test_eprop_surrogate_gradients: one eprop_iaf neuron, one input (weight 0.3, spikes at
    1, 2, 3, 5, 9, 11 ms), t_ref 3 ms; NEST's multimeter records steps 0..18 of a 20 ms run."""
    params = {
        "C_m": 1.0,
        "c_reg": 0.0,
        "E_L": 0.0,
        "I_e": 0.0,
        "surrogate_gradient_function": function,
        "surrogate_gradient_height": 0.5,
        "surrogate_gradient_width": 1.0 / 1.7,
        "t_ref": 3.0,
        "V_m": 0.0,
        "V_th": 0.6,
    }
    config = current_config_from_nest("eprop_iaf", params, {}, {})
    x = np.zeros((20, 1))
    x[[1, 2, 3, 5, 9, 11], 0] = 1.0  # parrot spikes at the generator's spike times
    run = simulate_current(
        config,
        {"in": [[0.3]], "rec": [[0.0]], "out": [[0.0]]},
        [[0.0]],
        x,
        np.zeros((20, 1)),
        np.zeros(20),
    )
    psi = np.asarray(run.surrogate)[:19, 0]
    np.testing.assert_allclose(psi[-5:], SURROGATE_REFERENCES[function], rtol=1e-8, atol=0)
    assert psi[5] == psi[6] == 0.0  # refractory after the spike of step 4


def _naive_adam(eta, b1, b2, eps, grads):
    """NEST's Adam on one synapse, written out per call (the docstring's equations)."""
    w, m, v, k, b1p, b2p = 0.5, 0.0, 0.0, 1, 1.0, 1.0
    for index, g in grads:
        target = 1 + index
        first = True
        while k < target:
            b1p *= b1
            b2p *= b2
            a = eta * math.sqrt(1.0 - b2p) / (1.0 - b1p)
            gk = g if first else 0.0
            m = b1 * m + (1.0 - b1) * gk
            v = b2 * v + (1.0 - b2) * gk * gk
            w -= a * m / (math.sqrt(v) + eps)
            first = False
            k += 1
    return w


def test_adam_catch_up_puts_the_gradient_first():
    """_optimize with a gap: the first catch-up step gets the gradient, the rest zeros, and the
    bias correction counts from step 1 (compared with the plain-Python form)."""
    import jax.numpy as jnp

    from eprop_jax.nest.current import CurrentOptimizerConfig, _optimize, _synapses

    opt = CurrentOptimizerConfig("adam", 1, 0.01, 0.9, 0.999, 1e-7, -100.0, 100.0, True)
    b1 = np.cumprod(np.r_[1.0, np.full(40, 0.9)])
    b2 = np.cumprod(np.r_[1.0, np.full(40, 0.999)])
    tables = (jnp.asarray(b1), jnp.asarray(b2))
    calls = [(5, 0.3), (6, -0.2), (20, 0.7), (21, 0.1)]  # a gap of 13 steps before index 20
    syn = _synapses(np.array([[0.5]]), jnp.float64)
    for index, g in calls:
        call = jnp.ones((1, 1), bool)
        syn = _optimize(opt, tables, syn, call, jnp.int32(index), jnp.full((1, 1), g))
    # the plain loop multiplies the powers step by step, as NEST does: same numbers
    assert float(syn.w[0, 0]) == pytest.approx(
        _naive_adam(0.01, 0.9, 0.999, 1e-7, calls), rel=1e-14
    )
    assert int(syn.n_adam[0, 0]) == 21


def test_tutorial_timing_and_final_update():
    """The tutorial recipe's step layout: input spike k of sequence n at step 1 + nT + k,
    target k at step 2 + nT + k, the forced final update at step task + 1."""
    tut = current_sine_waves("eprop_iaf_psc_delta", iterations=2)
    a = current_arrays(tut)
    task = 2 * 1000
    assert a["x_emit"].shape == (task + 5, 100)
    k = int(np.flatnonzero(tut.input_spikes[0])[0])
    assert a["x_emit"][1 + 1000 + k, 0] == 1.0
    assert a["targets"][2 + 1000 + 7, 0] == tut.target[7]
    assert a["window"][1] == 0.0 and a["window"][2] == 1.0
    assert a["extra_input"][task + 1].min() == 1000.0 and a["x_emit"][task + 1].min() == 1.0
    assert tut.optimizer["optimize_each_step"] is False
    assert tut.params_rec["V_reset"] == -0.5


@pytest.mark.parametrize(
    ("kwargs", "message"),
    [
        ({"model": "iaf_psc_alpha"}, "model='iaf_psc_alpha' is not one of"),
        ({"delay": 2.0}, "delay=2.0 ms is not modelled; eprop_synapse requires one step"),
        ({"params_rec": {"tau_syn": 2.0}}, "eprop_iaf: unsupported parameter 'tau_syn'"),
        ({"params_rec": {"adapt_beta": 1.0}}, "unsupported parameter 'adapt_beta'"),
        ({"params_rec": {"I_e": 5.0}}, "I_e=5.0 is not modelled"),
        ({"params_rec": {"surrogate_gradient_function": "erf"}}, "accepted: piecewise_linear"),
        ({"params_rec": {"eprop_isi_trace_cutoff": 1.0}}, "at least 2 steps required"),
        ({"params_rec": {"eprop_isi_trace_cutoff": math.nan}}, "eprop_isi_trace_cutoff must be"),
        ({"params_rec": {"flush_event_send_interval": math.nan}}, "flush_event_send_interval"),
        ({"params_rec": {"tau_m": "10"}}, "eprop_iaf: tau_m must be a number; got '10'"),
        ({"params_rec": {"c_reg": -1.0}}, "c_reg must be finite and >= 0; got -1.0"),
        ({"params_rec": {"gamma": 0.3}}, "'gamma' is a NEST 3.8/3.9 name; use surrogate_grad"),
        ({"params_rec": {"recordables": ["V_m"]}}, "looks like nest.GetStatus/GetDefaults"),
        ({"params_rec": {"with_refr_input": True}}, "unsupported parameter 'with_refr_input'"),
        (
            {"model": "eprop_iaf_psc_delta", "params_rec": {"V_reset": -50.0}},
            "V_reset=-50.0 must be < V_th=-55.0",
        ),
        (
            {"model": "eprop_iaf_psc_delta", "params_rec": {"refractory_input": True}},
            "refractory_input=True is not modelled",
        ),
        ({"optimizer": {"type": "sgd"}}, "optimizer: type='sgd'; accepted"),
        ({"optimizer": {"optimize_each_step": 1}}, "optimize_each_step must be True or False"),
        ({"optimizer": {"type": "adam", "optimizer": "gradient_descent"}}, "disagree"),
        (
            {"optimizer": {"type": "adam", "optimize_each_step": False}},
            "optimize_each_step=False with type='adam'",
        ),
        ({"resolution": "1"}, "resolution must be a number; got '1'"),
    ],
)
def test_bad_settings_are_refused_by_name(kwargs, message):
    args = {"model": "eprop_iaf", "params_rec": {}, "params_out": {}, "optimizer": {}}
    extra = {k: kwargs.pop(k) for k in ("delay", "resolution") if k in kwargs}
    args.update(kwargs)
    with pytest.raises(ValueError, match=r"^`current_config_from_nest`: ") as info:
        current_config_from_nest(
            args["model"], args["params_rec"], args["params_out"], args["optimizer"], **extra
        )
    assert message in str(info.value) and "\n" not in str(info.value)


def test_get_defaults_name_of_the_optimizer_type_is_accepted():
    """``nest.GetDefaults("eprop_synapse")["optimizer"]`` names the type ``optimizer``."""
    config = current_config_from_nest("eprop_iaf", {}, {}, {"optimizer": "adam", "eta": 0.01})
    assert config.optimizer.kind == "adam" and config.neuron.cutoff == 2**30


def test_surrogate_is_zero_while_refractory():
    config = current_config_from_nest("eprop_iaf", {"V_th": 0.5, "E_L": 0.0}, {}, {})
    neuron = config.neuron
    psi = surrogate_gradient(neuron, np.array([0.5, 0.5]), 0.5, np.array([0, 1]))
    assert psi.tolist() == [pytest.approx(0.3), 0.0]


@pytest.mark.parametrize(
    ("argv", "message"),
    [
        (
            ["nest", "lemniscate", "--model", "eprop_iaf"],
            "eprop-jax nest: error: --model eprop_iaf: NEST 3.10's current models have a "
            "tutorial for sine_waves only; got task 'lemniscate'",
        ),
        (
            ["nest", "sine_waves", "--model", "eprop_iaf", "--batch-size", "4"],
            "eprop-jax nest: error: --batch-size 4: the current models learn continuously",
        ),
        (
            ["nest", "sine_waves", "--model", "eprop_iaf", "--dtype", "float32"],
            "eprop-jax nest: error: --dtype float32: the current models run in float64 only",
        ),
        (
            ["nest", "sine_waves", "--model", "iaf_psc_alpha"],
            "eprop-jax nest: error: argument --model: invalid choice: 'iaf_psc_alpha'",
        ),
    ],
)
def test_cli_refuses_bad_current_model_options(argv, message, capsys, tmp_path):
    from eprop_jax.cli import main

    assert main([*argv, "--out", str(tmp_path / "run")]) == 2
    err = capsys.readouterr().err
    assert message in err and len(err.strip().splitlines()) == 1
    assert not (tmp_path / "run").exists()


@pytest.mark.slow
def test_cli_runs_the_current_sine_waves_tutorial(tmp_path, capsys):
    """``eprop-jax nest sine_waves --model eprop_iaf_psc_delta --iterations 1``: the run folder,
    and the first loss as NEST 3.10.0 computes it (scripts/compare_nest.py, identical to the bit)."""
    import json

    from eprop_jax.cli import main

    out = tmp_path / "run"
    argv = ["nest", "sine_waves", "--model", "eprop_iaf_psc_delta", "--iterations", "1"]
    assert main([*argv, "--out", str(out), "--no-plots", "--no-progress"]) == 0
    summary = json.loads((out / "summary.json").read_text())
    assert summary["model"] == "eprop_iaf_psc_delta"
    assert summary["loss"] == [pytest.approx(102.76578496878753, rel=1e-12)]
    final = np.load(out / "weights_final.npz")
    assert final["w_rec"].shape == (100, 100) and np.all(np.diag(final["w_rec"]) == 0.0)
    assert json.loads((out / "config.json").read_text())["kind"] == "nest"


def _tiny_run_args(n_steps=6, n_in=2, n_rec=3, n_out=1):
    return {
        "weights": {
            "in": np.zeros((n_rec, n_in)),
            "rec": np.zeros((n_rec, n_rec)),
            "out": np.zeros((n_out, n_rec)),
        },
        "feedback": np.zeros((n_rec, n_out)),
        "x_emit": np.zeros((n_steps, n_in)),
        "targets": np.zeros((n_steps, n_out)),
        "window": np.ones(n_steps),
    }


@pytest.mark.parametrize(
    ("change", "message"),
    [
        ({"feedback": np.zeros((1, 3))}, "expected feedback of shape (3, 1), got (1, 3)."),
        ({"targets": np.zeros((1, 6))}, "expected targets of shape (6, 1), got (1, 6)."),
        ({"window": np.ones((6, 1))}, "expected window of shape (6), got (6, 1)."),
        ({"x_emit": np.zeros(6)}, "expected x_emit of shape (T, n_in), got (6,)."),
        ({"extra_input": np.zeros((6, 2))}, "expected extra_input of shape (6, 3), got (6, 2)."),
        ({"connected": {"in": np.ones((2, 3), bool)}}, "connected['in'] of shape (3, 2)"),
        ({"connected": {"bias": np.ones(3, bool)}}, "connected has key 'bias'; accepted"),
        ({"weights": {"in": np.zeros((3, 2))}}, "weights must be a dict with keys in, rec, out"),
    ],
)
def test_simulate_current_refuses_bad_shapes(change, message):
    """Every array is checked before tracing; nothing is silently reshaped (a transposed
    feedback or target matrix of the right size used to be)."""
    args = {**_tiny_run_args(), **change}
    config = current_config_from_nest("eprop_iaf", {}, {}, {})
    with pytest.raises(ValueError, match=r"^`simulate_current`: ") as info:
        simulate_current(config, **args)
    assert message in str(info.value)


def test_simulate_current_refuses_float32():
    """Without JAX's x64 mode the run would silently compute in float32: refused by name."""
    import jax

    config = current_config_from_nest("eprop_iaf", {}, {}, {})
    with (
        jax.enable_x64(False),
        pytest.raises(ValueError, match=r"^`simulate_current`: dtype='float64' needs JAX's x64"),
    ):
        simulate_current(config, **_tiny_run_args())


def test_tutorial_with_adam_is_refused_up_front():
    """The tutorial optimises per spike, modelled for gradient descent only: refused by the
    recipe, not later by the parameter import."""
    with pytest.raises(ValueError, match=r"^`current_sine_waves`: optimizer='adam' with setup"):
        current_sine_waves("eprop_iaf", iterations=1, optimizer="adam")
    assert current_sine_waves("eprop_iaf", 1, setup="testsuite", optimizer="adam").optimizer[
        "type"
    ] == ("adam")
