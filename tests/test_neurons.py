"""Neuron steps, surrogates and the simulation scan against their docstring equations."""

import math
import re

import jax
import jax.numpy as jnp
import numpy as np
import pytest
from jax.test_util import check_grads

import eprop_jax as ej
from eprop_jax.neurons import cast_params
from eprop_jax.surrogates import SURROGATES

from helpers import random_batch, small_network, strong_weights

SHAPES = {
    "piecewise_linear": lambda x: np.maximum(0.0, 1.0 - np.abs(x)),
    "exponential": lambda x: np.exp(-np.abs(x)),
    "fast_sigmoid": lambda x: (1.0 + np.abs(x)) ** -2,
    "arctan": lambda x: 1.0 / (1.0 + x**2),
}


@pytest.mark.parametrize("name", list(SURROGATES))
def test_spike_gradient_is_the_documented_pseudo_derivative(name):
    spike = ej.spike_function(name)
    u = jnp.linspace(-2.0, 2.0, 41)
    height, width = 0.5, 0.6
    grads = jax.vmap(jax.grad(spike), in_axes=(0, None, None))(u, height, width)
    np.testing.assert_allclose(grads, height * SHAPES[name](np.asarray(u) / width), rtol=1e-12)
    np.testing.assert_array_equal(spike(u, height, width), (np.asarray(u) > 0).astype(float))
    assert float(ej.pseudo_derivative(name)(jnp.array(0.0), height, width)) == height


@pytest.mark.parametrize("name", list(SURROGATES))
def test_refractory_gate_minus_inf_has_zero_first_and_second_derivative(name):
    """A refractory neuron is gated with u = -inf: no spike, psi = 0, and no NaN one level up."""
    spike = ej.spike_function(name)
    u = jnp.array(-jnp.inf)
    assert float(spike(u, 0.5, 0.6)) == 0.0
    assert float(jax.grad(spike)(u, 0.5, 0.6)) == 0.0
    assert float(jax.grad(jax.grad(spike))(u, 0.5, 0.6)) == 0.0


@pytest.mark.parametrize("name", ["exponential", "fast_sigmoid", "arctan"])
def test_smooth_surrogates_pass_check_grads(name):
    psi = ej.pseudo_derivative(name)
    check_grads(lambda u: psi(u, 0.5, 0.6), (jnp.array([0.3, 1.1, -0.7]),), order=2)


def test_lif_closed_form_below_threshold():
    """Constant input I below threshold: v_t = I (1 - alpha^t) / (1 - alpha), no spikes."""
    params = cast_params(ej.lif_params(3, tau_m=[10.0, 20.0, 30.0], thr=10.0), jnp.float64)
    state = ej.alif_init_state(params, (), jnp.float64)
    current = jnp.array([0.1, 0.2, 0.05])
    step = jax.jit(lambda s: ej.alif_step(params, s, current, surrogate=ej.surrogate()))
    alpha = np.exp(-1.0 / np.array([10.0, 20.0, 30.0]))
    for t in range(1, 51):
        state, out = step(state)
        expected = np.asarray(current) * (1 - alpha**t) / (1 - alpha)
        np.testing.assert_allclose(out.v, expected, rtol=1e-12)
        assert float(jnp.sum(out.z)) == 0


def test_alif_step_matches_equations_with_reset_refractoriness_and_adaptation():
    """A naive NumPy loop of the module-docstring equations equals the JAX step."""
    n_ref, thr, beta = 3, 0.6, 0.2
    params = cast_params(
        ej.alif_params(2, tau_m=20.0, tau_a=40.0, beta=[0.0, beta], thr=thr, refractory=3.0),
        jnp.float64,
    )
    alpha, rho = math.exp(-1 / 20), math.exp(-1 / 40)
    state = ej.alif_init_state(params, (), jnp.float64)
    v, a, z, r = np.zeros(2), np.zeros(2), np.zeros(2), np.zeros(2, int)
    spike_times = []
    currents = np.random.default_rng(0).uniform(0.0, 0.5, (80, 2))
    for t, current in enumerate(currents):
        state, out = ej.alif_step(params, state, jnp.asarray(current), surrogate=ej.surrogate())
        v = alpha * v + current - thr * z
        threshold = thr + np.array([0.0, beta]) * a
        free = r == 0
        z = ((v - threshold > 0) & free).astype(float)
        psi = free * (0.3 / thr) * np.maximum(0, 1 - np.abs(v - threshold) / thr)
        r = np.where(z > 0, n_ref - 1, np.maximum(r - 1, 0))
        a = rho * a + z
        np.testing.assert_allclose(out.v, v, rtol=1e-12, atol=1e-14)
        np.testing.assert_allclose(out.threshold, threshold, rtol=1e-12)
        np.testing.assert_allclose(out.psi, psi, rtol=1e-12, atol=1e-14)
        np.testing.assert_array_equal(out.z, z)
        spike_times += [(t, j) for j in np.flatnonzero(z)]
    assert len(spike_times) > 4
    for j in range(2):
        times = [t for t, jj in spike_times if jj == j]
        assert min(np.diff(times)) >= n_ref  # refractory period respected


def test_simulate_equals_python_loop_over_network_step(getkey):
    from eprop_jax.network import cast, init_state, input_currents, network_step

    net = small_network("mixed", 3.0)
    weights = strong_weights(net, getkey())
    batch = random_batch(getkey(), net)
    traj = ej.simulate(net, weights, batch.inputs, record=True)
    state = init_state(net, 2, jnp.float64)
    currents = input_currents(weights, batch.inputs)
    for t in range(batch.inputs.shape[0]):
        state, (y, out) = network_step(cast(net, jnp.float64), weights, state, currents[t])
        np.testing.assert_allclose(traj.y[t], y, rtol=1e-12, atol=1e-15)
        np.testing.assert_array_equal(traj.z[t], out.z)
        np.testing.assert_allclose(traj.psi[t], out.psi, rtol=1e-12, atol=1e-15)
    jitted = jax.jit(lambda w, x: ej.simulate(net, w, x))(weights, batch.inputs)
    np.testing.assert_allclose(jitted.y, traj.y, rtol=1e-12, atol=1e-15)


def test_readout_is_a_leaky_integral_of_spikes_plus_bias(getkey):
    net = small_network("mixed", 3.0)
    weights = strong_weights(net, getkey())._replace(b_out=jnp.array([0.5, -1.0]))
    batch = random_batch(getkey(), net)
    traj = ej.simulate(net, weights, batch.inputs)
    kappa = math.exp(-1 / 20)
    y = np.zeros((2, 2))
    for t in range(batch.inputs.shape[0]):
        y = kappa * y + (1 - kappa) * (
            np.asarray(traj.z[t]) @ np.asarray(weights.w_out).T + np.asarray(weights.b_out)
        )
        np.testing.assert_allclose(traj.y[t], y, rtol=1e-12, atol=1e-15)


def test_no_autapse_diagonal_is_ignored(getkey):
    net = small_network("mixed", 3.0)
    weights = strong_weights(net, getkey())
    batch = random_batch(getkey(), net)
    with_diag = weights._replace(w_rec=weights.w_rec + 5 * jnp.eye(net.n_rec))
    a = ej.simulate(net, weights, batch.inputs)
    b = ej.simulate(net, with_diag, batch.inputs)
    np.testing.assert_array_equal(a.z, b.z)


def test_float32_default_and_dtype_preserved(getkey):
    net = small_network("mixed", 3.0)
    weights = ej.init_weights(net, getkey())
    assert weights.w_rec.dtype == jnp.float32
    traj = ej.simulate(net, weights, jnp.ones((5, 2, 3), jnp.float32), record=True)
    assert all(x.dtype == jnp.float32 for x in traj)


def test_simulate_vmaps_over_independent_networks(getkey):
    net = small_network("mixed", 3.0)
    keys = jax.random.split(getkey(), 3)
    weights = jax.vmap(lambda k: strong_weights(net, k))(keys)
    inputs = random_batch(getkey(), net).inputs
    ys = jax.vmap(lambda w: ej.simulate(net, w, inputs).y)(weights)
    single = ej.simulate(net, jax.tree.map(lambda x: x[1], weights), inputs).y
    np.testing.assert_allclose(ys[1], single, rtol=1e-12, atol=1e-15)


def test_default_beta_is_the_original_heuristic():
    net = ej.network(40, 100, 2, n_alif=50)
    rho, alpha = math.exp(-1 / 2000), math.exp(-1 / 20)
    np.testing.assert_allclose(net.neuron.beta[50:], 1.7 * (1 - rho) / (1 - alpha))
    np.testing.assert_array_equal(net.neuron.beta[:50], 0.0)
    assert net.neuron.n_refractory[0] == 5


BAD_NETWORKS = [
    ({"tau_m": -1.0}, "`network`: tau_m must be finite and > 0"),
    ({"tau_a": 0.0}, "`network`: tau_a must be finite and > 0"),
    ({"thr": float("nan")}, "`alif_params`: thr must be finite and > 0"),
    ({"refractory": -2.0}, "`alif_params`: refractory must be finite and >= 0"),
    ({"dt": 0.0}, "`network`: dt must be finite and > 0"),
    ({"tau_out": -5.0}, "`network`: tau_out must be finite and > 0"),
    ({"n_alif": 9}, "`network`: n_alif must be an integer in [0, n_rec=8]"),
    (
        {"surrogate_shape": "sigmoid"},
        "`network`: unknown surrogate_shape 'sigmoid'; expected one of",
    ),
    ({"tau_m": [1.0, 2.0]}, "`network`: tau_m must be a scalar or have shape (8,)"),
    ({"gamma": 0.0}, "`alif_params`: gamma must be finite and > 0"),
]


@pytest.mark.parametrize(("kwargs", "message"), BAD_NETWORKS)
def test_bad_network_parameters_raise(kwargs, message):
    kwargs = dict(kwargs)
    with pytest.raises(ValueError, match=re.escape(message)):
        ej.network(3, 8, 2, n_alif=kwargs.pop("n_alif", 4), **kwargs)


def test_bad_inputs_raise(getkey):
    net = small_network("mixed", 3.0)
    weights = strong_weights(net, getkey())
    batch = random_batch(getkey(), net)
    with pytest.raises(
        ValueError,
        match=re.escape("`simulate`: expected inputs of shape (*, *, 3), got (30, 2, 4)"),
    ):
        ej.simulate(net, weights, jnp.zeros((30, 2, 4)))
    with pytest.raises(ValueError, match=re.escape("Inputs are time-major (T, B, n_in)")):
        ej.simulate(net, weights, jnp.zeros((30, 3)))
    with pytest.raises(ValueError, match=re.escape("`simulate`: inputs contains NaN or inf")):
        ej.simulate(net, weights, batch.inputs.at[3, 0, 1].set(jnp.nan))
    bad_w = weights._replace(w_out=jnp.zeros((3, 8)))
    with pytest.raises(
        ValueError, match=re.escape("`eprop`: expected weights.w_out of shape (2, 8), got (3, 8)")
    ):
        ej.eprop(net)(bad_w, batch)
    bad_targets = batch._replace(targets=batch.targets.at[0, 0, 0].set(jnp.nan))
    with pytest.raises(ValueError, match=re.escape("`bptt`: batch.targets contains NaN or inf")):
        ej.bptt(net)(weights, bad_targets)
    with pytest.raises(
        ValueError,
        match=re.escape("`eprop_autodiff`: expected batch.mask of shape (30, 2), got (30,)"),
    ):
        ej.eprop_autodiff(net)(weights, batch._replace(mask=batch.mask[:, 0]))


def test_unknown_names_raise():
    net = small_network()
    with pytest.raises(
        ValueError,
        match=re.escape(
            "`make_rule`: unknown rule 'rtrl'; expected one of 'bptt', 'tbptt', 'eprop', "
            "'eprop-factored', 'eprop-autodiff', or 'package.module:function'"
        ),
    ):
        ej.make_rule("rtrl", net)
    with pytest.raises(
        ValueError,
        match=re.escape(
            "`eprop`: unknown feedback 'broadcast'; expected one of 'symmetric', 'random', 'adaptive'"
        ),
    ):
        ej.eprop(net, feedback="broadcast")
    with pytest.raises(
        ValueError,
        match=re.escape("`get_loss`: unknown loss 'hinge'; expected one of 'mse', 'cross_entropy'"),
    ):
        ej.eprop(net, loss="hinge")
    with pytest.raises(
        ValueError, match=re.escape("`make_rule`: rule 'bptt' has no feedback option")
    ):
        ej.make_rule("bptt", net, feedback="random")
    with pytest.raises(
        ValueError, match=re.escape("`rate_regularization`: c_reg must be finite and >= 0")
    ):
        ej.rate_regularization(-1.0)
