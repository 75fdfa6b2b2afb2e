"""NEST-exact mode: parity with NEST 3.10's evidence-accumulation tutorial, parameter import,
NEST's Adam form and the interval transforms."""

import json
import math
import re
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
    weights = nest.nest_weights(ref["w_in_init"], ref["w_rec_init"], ref["w_out_init"],
                                ref["feedback"], dtype=jnp.float64)  # fmt: skip
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
    for name, key in (("w_in", "w_in_init"), ("w_rec", "w_rec_init"), ("w_out", "w_out_init"),
                      ("feedback", "feedback")):  # fmt: skip
        np.testing.assert_array_equal(getattr(tut, name), reference[key])
    shape = tuple(reference["input_shape"])
    inputs = np.unpackbits(reference["input_spike_bools_packed"], axis=-1, count=shape[-1])
    np.testing.assert_array_equal(tut.inputs, inputs.astype(bool))
    np.testing.assert_array_equal(tut.targets[:, :, 0].argmax(-1), reference["target_cues"])


def _kernel(**kw):
    return {"resolution": 1.0, "eprop_update_interval": 50.0, "eprop_learning_window": 10.0,
            **kw}  # fmt: skip


READOUT = {"tau_m": 20.0, "loss": "cross_entropy", "regular_spike_arrival": False}
SYNAPSE = {"optimizer": {"type": "adam", "eta": 5e-3}, "tau_m_readout": 20.0}


def test_import_maps_every_name():
    params = {
        "C_m": 250.0, "E_L": -70.0, "V_th": -69.4, "tau_m": [10.0, 20.0, 30.0], "t_ref": 3.0,
        "adapt_beta": 0.2, "adapt_tau": 500.0, "c_reg": 30.0, "f_target": 20.0,
        "regular_spike_arrival": False, "surrogate_gradient_function": "arctan_derivative",
        "surrogate_gradient_height": 0.7, "surrogate_gradient_width": 0.4, "I_e": 0.0,
        "V_m": -70.0, "adaptation": 0.0, "flush_event_send_interval": 50.0,
    }  # fmt: skip
    synapse = {
        "synapse_model": "eprop_synapse_bsshslm_2020", "delay": 1.0, "tau_m_readout": 25.0,
        "average_gradient": True,
        "optimizer": {"type": "adam", "batch_size": 4, "eta": 0.01, "beta_1": 0.8,
                      "beta_2": 0.99, "epsilon": 1e-6, "Wmin": -3.0, "Wmax": 2.0},
    }  # fmt: skip
    readout = {"C_m": 1.0, "E_L": 0.0, "I_e": 0.0, "tau_m": 40.0, "V_m": 0.0,
               "loss": "mean_squared_error", "regular_spike_arrival": True}  # fmt: skip
    net, cfg = nest.from_nest(_kernel(), [("eprop_iaf_adapt_bsshslm_2020", 3, params)], readout,
                              synapse, n_in=2, n_out=1)  # fmt: skip
    tau = np.array([10.0, 20.0, 30.0])
    np.testing.assert_allclose(net.neuron.alpha, np.exp(-1.0 / tau))
    np.testing.assert_allclose(net.neuron.rho, np.exp(-1.0 / 500.0))
    np.testing.assert_allclose(net.neuron.beta, 0.2)  # adapt_beta as is (no 1 - rho)
    np.testing.assert_allclose(net.neuron.thr, 0.6)  # V_th - E_L
    np.testing.assert_array_equal(net.neuron.n_refractory, 3)
    np.testing.assert_allclose(net.neuron.psi_height, 0.7)
    np.testing.assert_allclose(net.neuron.psi_width, 0.4)
    assert float(net.surrogate.psi(jnp.array(0.4), 0.7, 0.4)) == pytest.approx(0.35)  # arctan
    np.testing.assert_allclose(float(net.readout.kappa), math.exp(-1 / 40.0))
    assert (cfg.update_interval, cfg.learning_window, cfg.loss) == (50, 10, "mse")
    assert cfg.average_gradient and cfg.c_reg == 30.0 and cfg.f_target == 20.0
    np.testing.assert_allclose(cfg.zeta, 1 - np.exp(-1.0 / tau))  # regular_spike_arrival False
    assert cfg.zeta_out == 1.0  # readout regular_spike_arrival True
    assert cfg.kappa_synapse == pytest.approx(math.exp(-1 / 25.0))
    opt = cfg.optimizer
    assert (opt.kind, opt.batch_size, opt.eta, opt.eta_first) == ("adam", 4, 0.01, 0.01)
    assert (opt.beta_1, opt.beta_2, opt.epsilon, opt.w_min, opt.w_max) == (0.8, 0.99, 1e-6, -3, 2)
    # a LIF population next to it: beta 0, zeta 1 by default
    net2, cfg2 = nest.from_nest(
        _kernel(), [("eprop_iaf_bsshslm_2020", 2, {"V_th": 0.5, "E_L": 0.0}),
                    ("eprop_iaf_adapt_bsshslm_2020", 1, {"V_th": 0.5, "E_L": 0.0})],
        READOUT, SYNAPSE, n_in=2, n_out=2,
    )  # fmt: skip
    np.testing.assert_allclose(net2.neuron.beta, [0.0, 0.0, 1.0])  # NEST's adapt_beta default
    np.testing.assert_allclose(cfg2.zeta, 1.0)
    assert cfg2.zeta_out == pytest.approx(1 - math.exp(-1 / 20.0))


LIF = ("eprop_iaf_bsshslm_2020", 2, {"V_th": 0.6, "E_L": 0.0})


@pytest.mark.parametrize(
    ("where", "change", "message"),
    [
        ("pop", {"gamma": 0.3}, "'gamma' is a NEST 3.8/3.9 name"),
        ("pop", {"adapt_beta": 0.1}, "unsupported parameter 'adapt_beta'"),
        ("pop", {"foo": 1.0}, "unsupported parameter 'foo'"),
        ("pop", {"I_e": 5.0}, "I_e=5.0 is not supported"),
        ("pop", {"V_min": -1.0}, "a finite V_min=-1.0 is not supported"),
        ("pop", {"V_th": -1.0}, "V_th - E_L must be > 0"),
        ("pop", {"surrogate_gradient_function": "tanh"}, "unsupported surrogate_gradient_function"),
        ("pop", {"surrogate_gradient_height": 0.0}, "surrogate_gradient_height and _width must"),
        ("pop", {"tau_m": [10.0, 20.0, 30.0]}, "tau_m must be a scalar or have shape (2,)"),
        ("readout", {"loss": "hinge"}, "unsupported loss 'hinge'"),
        ("readout", {"E_L": 1.0}, "E_L=1.0 is not supported"),
        ("synapse", {"delay": 2.0}, "delay=2.0 ms is not supported"),
        ("synapse", {"synapse_model": "eprop_synapse"}, "unsupported synapse_model"),
        ("optimizer", {"type": "sgd"}, "optimizer type 'sgd' is not supported"),
        ("optimizer", {"m": 0.5}, "initial Adam moment m=0.5 is not supported"),
        ("optimizer", {"batch_size": 0}, "batch_size must be an integer >= 1"),
        ("kernel", {"eprop_reset_neurons_on_update": False}, "eprop_reset_neurons_on_update"),
        ("kernel", {"eprop_learning_window": 60.0}, "must not exceed eprop_update_interval"),
        ("kernel", {"eprop_update_interval": 10.5}, "must be a positive multiple"),
        ("kernel", {"foo": 1}, "kernel: unsupported parameter 'foo'"),
        ("pop", {"global_id": 3, "f_target": 0.01}, "looks like nest.GetStatus/GetDefaults output"),
    ],
)
def test_import_rejects_unsupported(where, change, message):
    kernel, pop, readout, synapse = _kernel(), dict(LIF[2]), dict(READOUT), dict(SYNAPSE)
    if where == "pop":
        pop.update(change)
    elif where == "readout":
        readout.update(change)
    elif where == "synapse":
        synapse.update(change)
    elif where == "optimizer":
        synapse["optimizer"] = {**synapse["optimizer"], **change}
    else:
        kernel.update(change)
    with pytest.raises(ValueError, match=re.escape(message)):
        nest.from_nest(kernel, [(LIF[0], LIF[1], pop)], readout, synapse, n_in=2, n_out=2)


def test_import_rejects_mixed_populations():
    with pytest.raises(ValueError, match="unsupported model 'iaf_psc_alpha'"):
        nest.from_nest(_kernel(), [("iaf_psc_alpha", 2, {})], READOUT, SYNAPSE, n_in=1, n_out=1)
    other = ("eprop_iaf_bsshslm_2020", 2, {"V_th": 0.6, "E_L": 0.0, "c_reg": 1.0})
    with pytest.raises(ValueError, match="must share c_reg"):
        nest.from_nest(_kernel(), [LIF, other], READOUT, SYNAPSE, n_in=1, n_out=1)


def test_nest_adam_form():
    """eps outside the square root, bias correction in the step size, clipping after the step."""
    b1, b2, eps, eta = 0.9, 0.999, 1e-3, 0.1
    cfg = nest.NestOptimizerConfig("adam", 1, eta, eta, b1, b2, eps, -1.0, 0.45)
    opt = nest.nest_optimizer(cfg)
    w = jnp.array([0.5, -0.2, 0.0], jnp.float64)
    grads = [jnp.array([2.0, -1e-4, 0.0], jnp.float64), jnp.array([-1.0, 3e-4, 0.0], jnp.float64)]
    state = opt.init(w)
    m = v = np.zeros(3)
    expected = np.asarray(w)
    for t, g in enumerate(grads, start=1):
        w, state = opt.update(g, state, w)
        g = np.asarray(g)
        m, v = b1 * m + (1 - b1) * g, b2 * v + (1 - b2) * g * g
        alpha = eta * math.sqrt(1 - b2**t) / (1 - b1**t)
        expected = np.clip(expected - alpha * m / (np.sqrt(v) + eps), -1.0, 0.45)
        np.testing.assert_allclose(np.asarray(w), expected, rtol=1e-12)
    # the textbook (optax) form, eps added to sqrt(v_hat), differs for small gradients
    m_hat, v_hat = m / (1 - b1**2), v / (1 - b2**2)
    assert (
        abs(m_hat[1] / (np.sqrt(v_hat[1]) + eps) - m[1] * alpha / eta / (np.sqrt(v[1]) + eps))
        > 1e-3
    )
    assert float(w[0]) == 0.45 or float(w[0]) < 0.45  # clipped to w_max


def test_gradient_descent_and_first_eta():
    cfg = nest.NestOptimizerConfig("gradient_descent", 1, 0.1, 0.0, 0.9, 0.999, 1e-8, -5.0, 5.0)
    opt = nest.nest_optimizer(cfg)
    w = jnp.array([1.0], jnp.float64)
    state = opt.init(w)
    w, state = opt.update(jnp.array([2.0], jnp.float64), state, w)
    assert float(w[0]) == 1.0  # first step: eta_first = 0
    w, state = opt.update(jnp.array([2.0], jnp.float64), state, w)
    assert float(w[0]) == pytest.approx(0.8)


def test_target_alignment_and_truncation():
    targets = np.arange(8.0).reshape(2, 4, 1)
    np.testing.assert_array_equal(nest.nest_targets(targets), targets)  # v3.10 timing
    early = nest.nest_targets(targets, amplitude_offset=3)[..., 0]
    np.testing.assert_array_equal(early, [[1, 2, 3, 4], [5, 6, 7, 7]])
    inputs = np.zeros((3, 4, 2), bool)
    inputs[1, 1, 0] = inputs[2, 2, 1] = inputs[0, 1, 1] = True
    np.testing.assert_array_equal(nest.nest_truncation(inputs), [[1, 0], [0, 0], [0, 0]])


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
    for name in ("config.json", "metrics.jsonl", "weights_initial.npz", "weights_final.npz",
                 "summary.json"):  # fmt: skip
        assert (tmp_path / name).is_file()
    assert len((tmp_path / "metrics.jsonl").read_text().splitlines()) == 2
    with pytest.raises(ValueError, match="unknown task 'xor'"):
        nest.train_nest_tutorial("xor", iterations=1)


def test_truncation_drops_only_the_last_learning_signal_of_input_synapses():
    """An input spike at step 1 of the next sequence leaves L_{T-1} e-bar_{T-1} out of W_in."""
    tut = nest.nest_tutorial("sine_waves", iterations=1)
    tut = tut._replace(kernel={**tut.kernel, "eprop_update_interval": 60.0,
                               "eprop_learning_window": 60.0})  # fmt: skip
    net, cfg = nest.tutorial_network(tut)
    w = nest.nest_weights(tut.w_in * 20, tut.w_rec, tut.w_out, tut.feedback)
    x = jnp.asarray(tut.inputs[0, :, :60], jnp.float64)
    y = jnp.asarray(tut.targets[0, :, :60], jnp.float64)
    full = nest.nest_batch_gradients(net, cfg, w, x, y, jnp.zeros((1, 100), bool))
    cut = nest.nest_batch_gradients(net, cfg, w, x, y, jnp.ones((1, 100), bool))
    np.testing.assert_array_equal(cut.grad_rec, full.grad_rec)
    np.testing.assert_array_equal(cut.grad_out, full.grad_out)
    assert float(jnp.max(jnp.abs(cut.grad_in - full.grad_in))) > 0


@pytest.mark.parametrize("task", ["sine_waves", "evidence_accumulation"])
def test_factored_equals_online(task):
    """The fast offline form gives the online rule's NEST gradient, truncation included."""
    tut = nest.nest_tutorial(task, iterations=1, batch_size=2)
    t_steps = 200
    kernel = {**tut.kernel, "eprop_update_interval": float(t_steps),
              "eprop_learning_window": float(min(t_steps, tut.kernel["eprop_learning_window"]))}  # fmt: skip
    net, cfg = nest.from_nest(kernel, tut.populations, tut.readout, tut.synapse,
                              n_in=tut.n_in, n_out=tut.n_out)  # fmt: skip
    w = nest.nest_weights(tut.w_in * 10, tut.w_rec, tut.w_out, tut.feedback)
    x = jnp.asarray(tut.inputs[0, :, :t_steps], jnp.float64)
    y = jnp.asarray(tut.targets[0, :, :t_steps], jnp.float64)
    trunc = jnp.asarray(np.arange(tut.n_in) % 3 == 0)[None].repeat(2, axis=0)
    online = nest.nest_batch_gradients(net, cfg, w, x, y, trunc, implementation="online")
    fact = nest.nest_batch_gradients(net, cfg, w, x, y, trunc, implementation="factored")
    for name in ("grad_in", "grad_rec", "grad_out"):
        a, b = np.asarray(getattr(online, name)), np.asarray(getattr(fact, name))
        assert np.max(np.abs(a)) > 0
        np.testing.assert_allclose(b, a, rtol=1e-9, atol=1e-12 * np.max(np.abs(a)))
    assert float(fact.loss) == pytest.approx(float(online.loss), rel=1e-12)


def test_learning_rate_phases():
    """Per-phase learning rates (NEST's eta_current): constant etas equal the scalar path, a first
    non-default eta of 0 applies nothing, and a phase's rate reaches its own batch."""
    tut = nest.nest_tutorial("sine_waves", iterations=3)
    kernel = {**tut.kernel, "eprop_update_interval": 100.0, "eprop_learning_window": 100.0}
    optimizer = {k: v for k, v in tut.synapse["optimizer"].items() if k != "eta"}
    net, cfg = nest.from_nest(kernel, tut.populations, tut.readout,
                              {**tut.synapse, "optimizer": optimizer}, n_in=100, n_out=1)  # fmt: skip
    assert cfg.optimizer.eta_first is None  # eta left at NEST's default
    w = nest.nest_weights(tut.w_in * 5, tut.w_rec, tut.w_out, tut.feedback)
    x, y = tut.inputs[:, :, :100].copy(), tut.targets[:, :, :100]
    x[:, :, 1] = False  # no truncated last learning signal: runs of 2 and 3 iterations compare
    plain = nest.nest_train(net, cfg, w, x, y)
    same = nest.nest_train(net, cfg, w, x, y, etas=[cfg.optimizer.eta] * 3)
    for name in ("w_in", "w_rec", "w_out"):
        np.testing.assert_allclose(getattr(same.weights, name), getattr(plain.weights, name),
                                   rtol=1e-12, atol=1e-15)  # fmt: skip
    frozen = nest.nest_train(net, cfg, w, x, y, etas=[0.0, 0.0, 0.0])
    np.testing.assert_array_equal(frozen.weights.w_in, w.w_in)
    # eta 0 in the last phase: with gradient descent the last batch's gradient is not applied
    # (a synapse silent in that phase has no gradient from it either)
    last_off = nest.nest_train(net, cfg, w, x, y, etas=[1e-3, 1e-3, 0.0])
    two = nest.nest_train(net, cfg, w, x[:2], y[:2], etas=[1e-3, 1e-3])
    for name in ("w_in", "w_rec", "w_out"):
        np.testing.assert_allclose(getattr(last_off.weights, name), getattr(two.weights, name),
                                   rtol=1e-12, atol=1e-15)  # fmt: skip
    assert not np.allclose(two.weights.w_out, w.w_out)
    with pytest.raises(ValueError, match="etas must hold n_iter=3 learning rates"):
        nest.nest_train(net, cfg, w, x, y, etas=[1e-3])


def test_evidence_accumulation_script_pipeline():
    """The v3.10 script's own loop (validation with eta 0 first, 5 training and 4 test phases,
    batch 1): per-phase losses as NEST 3.10 printed them for rng_seed 1."""
    tut = nest.nest_tutorial("evidence_accumulation", iterations=5, batch_size=1,
                             validate_every=10, test_iterations=4)  # fmt: skip
    assert tut.phases == ("validation",) + ("training",) * 5 + ("test",) * 4
    np.testing.assert_array_equal(tut.etas, [0.0] + [5e-3] * 5 + [0.0] * 4)
    assert "eta" not in tut.synapse["optimizer"]  # the script sets eta per phase only
    net, cfg = nest.tutorial_network(tut)
    w = nest.nest_weights(tut.w_in, tut.w_rec, tut.w_out, tut.feedback)
    run = nest.nest_train(net, cfg, w, tut.inputs, tut.targets, etas=tut.etas)
    nest_losses = [0.7412, 0.7589, 0.6458, 0.6504, 0.7395, 0.6486, 0.6329, 0.7596, 0.6313, 0.6562]
    np.testing.assert_allclose(run.loss, nest_losses, atol=6e-5)
