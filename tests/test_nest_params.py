"""NEST-exact mode, parameter import: every NEST name mapped, everything unsupported rejected."""

import math
import re

import jax.numpy as jnp
import numpy as np
import pytest

from eprop_jax import nest


def _kernel(**kw):
    return {"resolution": 1.0, "eprop_update_interval": 50.0, "eprop_learning_window": 10.0, **kw}


READOUT = {"tau_m": 20.0, "loss": "cross_entropy", "regular_spike_arrival": False}
SYNAPSE = {"optimizer": {"type": "adam", "eta": 5e-3}, "tau_m_readout": 20.0}


def test_import_maps_every_name():
    params = {
        "C_m": 250.0,
        "E_L": -70.0,
        "V_th": -69.4,
        "tau_m": [10.0, 20.0, 30.0],
        "t_ref": 3.0,
        "adapt_beta": 0.2,
        "adapt_tau": 500.0,
        "c_reg": 30.0,
        "f_target": 20.0,
        "regular_spike_arrival": False,
        "surrogate_gradient_function": "arctan_derivative",
        "surrogate_gradient_height": 0.7,
        "surrogate_gradient_width": 0.4,
        "I_e": 0.0,
        "V_m": -70.0,
        "adaptation": 0.0,
        "flush_event_send_interval": 50.0,
    }
    synapse = {
        "synapse_model": "eprop_synapse_bsshslm_2020",
        "delay": 1.0,
        "tau_m_readout": 25.0,
        "average_gradient": True,
        "optimizer": {
            "type": "adam",
            "batch_size": 4,
            "eta": 0.01,
            "beta_1": 0.8,
            "beta_2": 0.99,
            "epsilon": 1e-6,
            "Wmin": -3.0,
            "Wmax": 2.0,
        },
    }
    readout = {
        "C_m": 1.0,
        "E_L": 0.0,
        "I_e": 0.0,
        "tau_m": 40.0,
        "V_m": 0.0,
        "loss": "mean_squared_error",
        "regular_spike_arrival": True,
    }
    net, cfg = nest.from_nest(
        _kernel(), [("eprop_iaf_adapt_bsshslm_2020", 3, params)], readout, synapse, n_in=2, n_out=1
    )
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
        _kernel(),
        [
            ("eprop_iaf_bsshslm_2020", 2, {"V_th": 0.5, "E_L": 0.0}),
            ("eprop_iaf_adapt_bsshslm_2020", 1, {"V_th": 0.5, "E_L": 0.0}),
        ],
        READOUT,
        SYNAPSE,
        n_in=2,
        n_out=2,
    )
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
