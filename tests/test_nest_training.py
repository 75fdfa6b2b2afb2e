"""NEST-exact mode, training: parity with NEST 3.10's evidence-accumulation tutorial, the
tutorials' recipes, per-phase learning rates and the file-writing driver."""

import json
import re
import subprocess
import sys
from pathlib import Path

import jax.numpy as jnp
import numpy as np
import pytest

from eprop_jax import nest

DATA = Path(__file__).parent / "data" / "nest_ref_evidence_accumulation.npz"


@pytest.fixture(scope="module")
def reference():
    return np.load(DATA)


def _reference_model(ref):
    p = json.loads(str(ref["params_json"]))
    populations = [
        ("eprop_iaf_bsshslm_2020", 50, p["params_nrn_reg"]),
        ("eprop_iaf_adapt_bsshslm_2020", 50, p["params_nrn_ad"]),
    ]
    synapse = {**p["syn_base"], **p["syn_common_eprop"]}
    return nest.from_nest(p["kernel"], populations, p["nrn_out"], synapse, n_in=40, n_out=2)


def test_parity_with_nest_evidence_accumulation(reference):
    """NEST 3.10's tutorial, batch 1, 5 iterations: final weights and readout within 1e-6."""
    ref = reference
    net, config = _reference_model(ref)
    weights = nest.nest_weights(
        ref["w_in_init"], ref["w_rec_init"], ref["w_out_init"], ref["feedback"], dtype=jnp.float64
    )
    shape = tuple(ref["input_shape"])
    inputs = np.unpackbits(ref["input_spike_bools_packed"], axis=-1, count=shape[-1]).astype(bool)
    targets = np.eye(2)[ref["target_cues"]][:, :, None, :].repeat(shape[2], axis=2)
    run = nest.nest_train(net, config, weights, inputs, targets, record=True)

    def rel(a, b):
        return float(np.max(np.abs(a - b) / np.maximum(np.abs(b), 1e-12)))

    for name in ("w_in", "w_rec", "w_out"):
        final = np.asarray(getattr(run.weights, name))
        assert rel(final, ref[f"{name}_final"]) < 1e-6, name
        # and the weights did move (by far more than the tolerance)
        assert np.max(np.abs(ref[f"{name}_final"] - ref[f"{name}_init"])) > 1e-3
    readout = run.readout_signal.reshape(-1, 2).T  # (n_out, n_iter * B * T)
    np.testing.assert_allclose(readout, ref["readout_signal"], rtol=1e-6, atol=1e-12)
    np.testing.assert_allclose(run.loss, ref["loss"], rtol=1e-6)


def test_tutorial_recipe_reproduces_the_scripts_draws(reference):
    tut = nest.nest_tutorial("evidence_accumulation", iterations=5, batch_size=1, seed=1)
    for name, key in (
        ("w_in", "w_in_init"),
        ("w_rec", "w_rec_init"),
        ("w_out", "w_out_init"),
        ("feedback", "feedback"),
    ):
        np.testing.assert_array_equal(getattr(tut, name), reference[key])
    shape = tuple(reference["input_shape"])
    inputs = np.unpackbits(reference["input_spike_bools_packed"], axis=-1, count=shape[-1])
    np.testing.assert_array_equal(tut.inputs, inputs.astype(bool))
    np.testing.assert_array_equal(tut.targets[:, :, 0].argmax(-1), reference["target_cues"])


def _kernel(**kw):
    return {"resolution": 1.0, "eprop_update_interval": 50.0, "eprop_learning_window": 10.0, **kw}


READOUT = {"tau_m": 20.0, "loss": "cross_entropy", "regular_spike_arrival": False}
SYNAPSE = {"optimizer": {"type": "adam", "eta": 5e-3}, "tau_m_readout": 20.0}


LIF = ("eprop_iaf_bsshslm_2020", 2, {"V_th": 0.6, "E_L": 0.0})


def test_nest_train_checks_shapes():
    net, cfg = nest.from_nest(_kernel(), [LIF], READOUT, SYNAPSE, n_in=3, n_out=2)
    w = nest.nest_weights(np.zeros((2, 3)), np.zeros((2, 2)), np.zeros((2, 2)), np.zeros((2, 2)))
    with pytest.raises(ValueError, match=re.escape("expected inputs of shape (n_iter, B=1, T=50")):
        nest.nest_train(net, cfg, w, np.zeros((1, 1, 49, 3)), np.zeros((1, 1, 49, 2)))


def test_train_nest_tutorial_writes_results(tmp_path):
    summary = nest.train_nest_tutorial("sine_waves", iterations=2, seed=1, out_dir=tmp_path)
    assert summary["task"] == "sine_waves" and len(summary["loss"]) == 2
    # the tutorial's first loss (NEST 3.10: 101.96 for rng_seed 1)
    assert summary["loss"][0] == pytest.approx(101.96, abs=0.01)
    for name in (
        "config.json",
        "metrics.jsonl",
        "weights_initial.npz",
        "weights_final.npz",
        "summary.json",
    ):
        assert (tmp_path / name).is_file()
    assert len((tmp_path / "metrics.jsonl").read_text().splitlines()) == 2
    with pytest.raises(ValueError, match="unknown task 'xor'"):
        nest.train_nest_tutorial("xor", iterations=1)


@pytest.mark.slow
def test_learning_rate_phases():
    """Per-phase learning rates (NEST's eta_current): constant etas equal the scalar path, a first
    non-default eta of 0 applies nothing, and a phase's rate reaches its own batch."""
    tut = nest.nest_tutorial("sine_waves", iterations=3)
    kernel = {**tut.kernel, "eprop_update_interval": 100.0, "eprop_learning_window": 100.0}
    optimizer = {k: v for k, v in tut.synapse["optimizer"].items() if k != "eta"}
    net, cfg = nest.from_nest(
        kernel,
        tut.populations,
        tut.readout,
        {**tut.synapse, "optimizer": optimizer},
        n_in=100,
        n_out=1,
    )
    assert cfg.optimizer.eta_first is None  # eta left at NEST's default
    w = nest.nest_weights(tut.w_in * 5, tut.w_rec, tut.w_out, tut.feedback)
    x, y = tut.inputs[:, :, :100].copy(), tut.targets[:, :, :100]
    x[:, :, 1] = False  # no truncated last learning signal: runs of 2 and 3 iterations compare
    plain = nest.nest_train(net, cfg, w, x, y)
    same = nest.nest_train(net, cfg, w, x, y, etas=[cfg.optimizer.eta] * 3)
    for name in ("w_in", "w_rec", "w_out"):
        np.testing.assert_allclose(
            getattr(same.weights, name), getattr(plain.weights, name), rtol=1e-12, atol=1e-15
        )
    frozen = nest.nest_train(net, cfg, w, x, y, etas=[0.0, 0.0, 0.0])
    np.testing.assert_array_equal(frozen.weights.w_in, w.w_in)
    # eta 0 in the last phase: with gradient descent the last batch's gradient is not applied
    # (a synapse silent in that phase has no gradient from it either)
    last_off = nest.nest_train(net, cfg, w, x, y, etas=[1e-3, 1e-3, 0.0])
    two = nest.nest_train(net, cfg, w, x[:2], y[:2], etas=[1e-3, 1e-3])
    for name in ("w_in", "w_rec", "w_out"):
        np.testing.assert_allclose(
            getattr(last_off.weights, name), getattr(two.weights, name), rtol=1e-12, atol=1e-15
        )
    assert not np.allclose(two.weights.w_out, w.w_out)
    with pytest.raises(ValueError, match="etas must hold n_iter=3 learning rates"):
        nest.nest_train(net, cfg, w, x, y, etas=[1e-3])


def test_evidence_accumulation_script_pipeline():
    """The v3.10 script's own loop (validation with eta 0 first, 5 training and 4 test phases,
    batch 1): per-phase losses as NEST 3.10 printed them for rng_seed 1."""
    tut = nest.nest_tutorial(
        "evidence_accumulation", iterations=5, batch_size=1, validate_every=10, test_iterations=4
    )
    assert tut.phases == ("validation",) + ("training",) * 5 + ("test",) * 4
    np.testing.assert_array_equal(tut.etas, [0.0] + [5e-3] * 5 + [0.0] * 4)
    assert "eta" not in tut.synapse["optimizer"]  # the script sets eta per phase only
    net, cfg = nest.tutorial_network(tut)
    w = nest.nest_weights(tut.w_in, tut.w_rec, tut.w_out, tut.feedback)
    run = nest.nest_train(net, cfg, w, tut.inputs, tut.targets, etas=tut.etas)
    nest_losses = [0.7412, 0.7589, 0.6458, 0.6504, 0.7395, 0.6486, 0.6329, 0.7596, 0.6313, 0.6562]
    np.testing.assert_allclose(run.loss, nest_losses, atol=6e-5)


def test_library_modules_leave_jax_config_alone():
    """Only the driver (nest.run) may switch on x64: building, importing and training in float32
    in a fresh process leaves jax_enable_x64 off and computes in float32."""
    code = """
import jax, jax.numpy as jnp
from eprop_jax import nest
tut = nest.nest_tutorial("sine_waves", iterations=1)
kernel = {**tut.kernel, "eprop_update_interval": 50.0, "eprop_learning_window": 50.0}
net, cfg = nest.from_nest(kernel, tut.populations, tut.readout, tut.synapse, n_in=100, n_out=1)
w = nest.nest_weights(tut.w_in, tut.w_rec, tut.w_out, tut.feedback, dtype=jnp.float32)
run = nest.nest_train(net, cfg, w, tut.inputs[:, :, :50], tut.targets[:, :, :50])
assert not jax.config.jax_enable_x64
assert run.weights.w_in.dtype == jnp.float32, run.weights.w_in.dtype
print("ok")
"""
    result = subprocess.run(
        [sys.executable, "-c", code], capture_output=True, text=True, timeout=300, check=False
    )
    assert result.returncode == 0, result.stderr[-2000:]
    assert result.stdout.strip() == "ok"
