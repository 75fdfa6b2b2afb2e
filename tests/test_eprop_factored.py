"""The factored offline e-prop equals online e-prop (float64, rel err <= 1e-10)."""

import functools
import importlib
import itertools
import re
import types

import jax
import jax.numpy as jnp
import pytest

import eprop_jax as ej
from eprop_jax.eprop_factored import eprop_factored_gradients

from helpers import active_case, random_batch, rel_err, small_network, strong_weights

TOL = 1e-10
FIELDS = ("grad_in", "grad_rec", "grad_out", "grad_bias", "task_loss", "reg_loss", "rate", "y_mean")
STEP_LOSSES = {"mse": ej.mse_step, "cross_entropy": ej.cross_entropy_step}
SHAPES = ("piecewise_linear", "exponential", "fast_sigmoid", "arctan")
PER_NEURON_TAU_M = (10.0, 20.0, 30.0, 40.0) * 2  # per-neuron alpha: eps^v is per synapse


def _cases():
    """Every (population, refractory, loss); regularisation, feedback and surrogate shape are
    spread so that each value meets both refractory settings and both losses. The mixed
    population with cross-entropy has one membrane time constant per neuron."""
    for i, (population, refractory, loss) in enumerate(
        itertools.product(["lif", "alif", "mixed"], [0.0, 3.0], ["mse", "cross_entropy"])
    ):
        c_reg = (0.0, 0.5)[(i + i // 2) % 2]
        feedback = ("symmetric", "random")[(i + i // 4) % 2]
        tau_m = PER_NEURON_TAU_M if (population, loss) == ("mixed", "cross_entropy") else 20.0
        yield population, refractory, loss, c_reg, feedback, SHAPES[(i + i // 4) % 4], tau_m


CASES = list(_cases())


def flat(result):
    """An engine's ``(grads, aux)`` as one record with the fields of ``FIELDS``."""
    grads, aux = result
    return types.SimpleNamespace(
        grad_in=grads.w_in,
        grad_rec=grads.w_rec,
        grad_out=grads.w_out,
        grad_bias=grads.b_out,
        task_loss=aux.task_loss,
        reg_loss=aux.reg_loss,
        rate=aux.rate,
        y_mean=aux.y_mean,
        trajectory=aux.trajectory,
        learning_signal=aux.learning_signal,
    )


def make_runner(net, loss="mse", c_reg=0.5):
    """``(weights, batch, feedback_matrix) -> (factored, online)``, each an engine's
    ``(grads, aux)``."""
    kwargs = {
        "step_loss": STEP_LOSSES[loss],
        "regularization": ej.rate_regularization(c_reg, f_target=20.0),
    }

    def run(weights, batch, feedback_matrix):
        return tuple(
            fn(net, weights, *batch, feedback_matrix=feedback_matrix, **kwargs)
            for fn in (eprop_factored_gradients, ej.eprop_gradients)
        )

    return run


def both(net, weights, batch, loss="mse", c_reg=0.5, feedback="symmetric"):
    """(factored, online) results on the same arguments, run op by op (the ops' compilations are
    cached across tests, which is quicker here than compiling two whole programs per test)."""
    matrix = weights.w_out.T if feedback == "symmetric" else weights.b_fb
    return tuple(map(flat, make_runner(net, loss, c_reg)(weights, batch, matrix)))


def assert_equal_results(factored, online, tol=TOL):
    for name in FIELDS:
        reference = getattr(online, name)
        if name not in ("reg_loss", "task_loss"):
            assert float(jnp.max(jnp.abs(reference))) > 0, f"{name} is trivially zero"
        assert getattr(factored, name).shape == reference.shape, name
        assert rel_err(getattr(factored, name), reference) <= tol, name
    assert factored.trajectory is None and factored.learning_signal is None


@pytest.mark.slow
@pytest.mark.parametrize(
    ("population", "refractory", "loss", "c_reg", "feedback", "shape", "tau_m"), CASES
)
def test_factored_equals_online(
    population, refractory, loss, c_reg, feedback, shape, tau_m, getkey
):
    net = small_network(population, refractory, surrogate_shape=shape, tau_m=tau_m)
    weights, batch = active_case(getkey, net, loss)
    assert_equal_results(*both(net, weights, batch, loss, c_reg, feedback))


@pytest.mark.slow
def test_float32_agreement_dtype_and_no_recompile(getkey):
    net = small_network("mixed", 3.0)
    to_f32 = functools.partial(jax.tree.map, lambda a: a.astype(jnp.float32))
    weights = to_f32(strong_weights(net, getkey()))
    run = jax.jit(make_runner(net))
    for _ in range(2):
        batch = to_f32(random_batch(getkey(), net))
        factored, online = map(flat, run(weights, batch, weights.b_fb))
        for name in FIELDS:
            assert getattr(factored, name).dtype == jnp.float32, name
            assert rel_err(getattr(factored, name), getattr(online, name)) <= 1e-5, name
    assert run._cache_size() == 1


def test_record_and_custom_rule_raise(getkey):
    net = small_network("mixed", 3.0)
    weights = strong_weights(net, getkey())
    batch = random_batch(getkey(), net)
    kwargs = {
        "step_loss": ej.mse_step,
        "feedback_matrix": weights.w_out.T,
        "regularization": ej.rate_regularization(),
    }
    with pytest.raises(ValueError, match=re.escape("`eprop_factored_gradients`: record=True")):
        eprop_factored_gradients(net, weights, *batch, record=True, **kwargs)
    with pytest.raises(ValueError, match=re.escape("a custom rule cannot be factored")):
        eprop_factored_gradients(net, weights, *batch, eligibility=ej.eprop_eligibility, **kwargs)
    with pytest.raises(ValueError, match=re.escape("expected feedback_matrix of shape (8, 2)")):
        eprop_factored_gradients(
            net, weights, *batch, **{**kwargs, "feedback_matrix": weights.w_out}
        )


@pytest.mark.slow
@pytest.mark.parametrize(
    ("model", "chunk_elements"), [("alif", 1), ("alif", 160), ("psc_delta", 1)]
)
def test_chunked_reverse_pass_equals_online(getkey, monkeypatch, model, chunk_elements):
    """T = 30 cut into chunks of 8 steps (three, then a head of 6) or of 10 (three, no head):
    the kappa filter, the adjoint's carry and z_{t-1} cross chunk boundaries exactly."""
    # the module (``eprop_jax.eprop_factored`` as an attribute is the rule of that name)
    factored_module = importlib.import_module("eprop_jax.eprop_factored")
    monkeypatch.setattr(factored_module, "_CHUNK_ELEMENTS", chunk_elements)
    monkeypatch.setattr(factored_module, "_MIN_CHUNK", 8)
    options = {"v_reset": 0.1} if model == "psc_delta" else {}
    net = small_network("mixed", 3.0, model=model, **options)
    weights, batch = active_case(getkey, net, "cross_entropy")
    assert batch.inputs.shape[:2] == (30, 2)  # size = max(8, chunk_elements // (2 * 8)), at most 32
    assert_equal_results(*both(net, weights, batch, "cross_entropy", 0.5, "random"))
