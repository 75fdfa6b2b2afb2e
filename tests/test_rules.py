"""Gradient equivalences between the learning rules (float64, tight tolerances)."""

import itertools
import re

import jax
import jax.numpy as jnp
import numpy as np
import pytest

import eprop_jax as ej

from helpers import active_case, random_batch, rel_err, small_network, strong_weights

TOL = 1e-10
CASES = list(
    itertools.product(["lif", "alif", "mixed"], [0.0, 3.0], ["mse", "cross_entropy"], [0.0, 0.5])
)


@pytest.mark.slow
@pytest.mark.parametrize(("population", "refractory", "loss", "c_reg"), CASES)
def test_online_eprop_equals_stop_gradient_autodiff(population, refractory, loss, c_reg, getkey):
    net = small_network(population, refractory)
    weights, batch = active_case(getkey, net, loss)
    reg = ej.rate_regularization(c_reg, f_target=20.0)
    online, aux_online = ej.eprop(net, loss=loss, regularization=reg)(weights, batch)
    autodiff, aux_auto = ej.eprop_autodiff(net, loss=loss, regularization=reg)(weights, batch)
    assert float(jnp.mean(aux_online.rate)) > 0.01, "the test network must spike"
    for name in ("w_in", "w_rec", "w_out", "b_out"):
        reference = getattr(autodiff, name)
        assert float(jnp.max(jnp.abs(reference))) > 0, name
        assert rel_err(getattr(online, name), reference) <= TOL, name
    assert abs(float(aux_online.loss - aux_auto.loss)) <= TOL * float(aux_auto.loss)
    assert abs(float(aux_online.reg_loss - aux_auto.reg_loss)) <= TOL * max(
        float(aux_auto.reg_loss), 1e-300
    )


@pytest.mark.slow
@pytest.mark.parametrize("feedback", ["random", "adaptive"])
@pytest.mark.parametrize("loss", ["mse", "cross_entropy"])
def test_online_eprop_equals_autodiff_with_feedback(feedback, loss, getkey):
    net = small_network("mixed", 3.0)
    weights, batch = active_case(getkey, net, loss)
    reg = ej.rate_regularization(0.3)
    online, _ = ej.eprop(net, loss=loss, feedback=feedback, regularization=reg)(weights, batch)
    autodiff, _ = ej.eprop_autodiff(net, loss=loss, feedback=feedback, regularization=reg)(
        weights, batch
    )
    for name in ej.Weights._fields:
        assert rel_err(getattr(online, name), getattr(autodiff, name)) <= TOL, name


@pytest.mark.parametrize("rule", ["eprop", "eprop-autodiff"])
def test_random_feedback_with_b_equal_to_w_out_transpose_is_symmetric(rule, getkey):
    net = small_network("mixed", 3.0)
    weights, batch = active_case(getkey, net, "cross_entropy")
    weights = weights._replace(b_fb=weights.w_out.T)
    sym, _ = ej.make_rule(rule, net, loss="cross_entropy", feedback="symmetric")(weights, batch)
    rnd, _ = ej.make_rule(rule, net, loss="cross_entropy", feedback="random")(weights, batch)
    for name in ("w_in", "w_rec", "w_out", "b_out"):
        np.testing.assert_array_equal(
            np.asarray(getattr(rnd, name)), np.asarray(getattr(sym, name))
        )


def test_random_feedback_differs_from_symmetric(getkey):
    """Guard against a feedback option that is silently ignored."""
    net = small_network("mixed", 3.0)
    weights, batch = active_case(getkey, net)
    sym, _ = ej.eprop(net, feedback="symmetric")(weights, batch)
    rnd, _ = ej.eprop(net, feedback="random")(weights, batch)
    assert rel_err(rnd.w_rec, sym.w_rec) > 1e-3
    assert rel_err(rnd.w_out, sym.w_out) <= TOL  # readout gradient is exact in both


@pytest.mark.parametrize("rule", ["eprop", "eprop-factored", "eprop-autodiff"])
def test_adaptive_feedback_receives_the_readout_gradient(rule, getkey):
    net = small_network("mixed", 3.0)
    weights, batch = active_case(getkey, net)
    grads, _ = ej.make_rule(rule, net, feedback="adaptive")(weights, batch)
    assert float(jnp.max(jnp.abs(grads.w_out))) > 0
    np.testing.assert_array_equal(np.asarray(grads.b_fb), np.asarray(grads.w_out.T))
    random_grads, _ = ej.make_rule(rule, net, feedback="random")(weights, batch)
    np.testing.assert_array_equal(np.asarray(random_grads.b_fb), 0.0)


@pytest.mark.parametrize(
    ("rule", "feedback"),
    [
        ("bptt", "symmetric"),
        ("eprop", "symmetric"),
        ("eprop", "random"),
        ("eprop-factored", "random"),
        ("eprop-autodiff", "symmetric"),
        ("eprop-autodiff", "random"),
    ],
)
def test_recurrent_diagonal_gets_no_gradient(rule, feedback, getkey):
    net = small_network("mixed", 3.0)
    weights, batch = active_case(getkey, net)
    weights = weights._replace(w_rec=weights.w_rec + jnp.eye(net.n_rec))  # diagonal set but unused
    grads, _ = ej.make_rule(
        rule, net, feedback=feedback, regularization=ej.rate_regularization(1.0)
    )(weights, batch)
    assert float(jnp.max(jnp.abs(grads.w_rec))) > 0
    np.testing.assert_array_equal(np.diag(np.asarray(grads.w_rec)), 0.0)


@pytest.mark.slow
def test_readout_gradients_are_exact_in_every_rule(getkey):
    net = small_network("mixed", 3.0)
    weights, batch = active_case(getkey, net, "cross_entropy")
    reference, _ = ej.bptt(net, loss="cross_entropy")(weights, batch)
    for rule in ("eprop", "eprop-factored", "eprop-autodiff"):
        for feedback in ("symmetric", "random", "adaptive"):
            grads, _ = ej.make_rule(rule, net, loss="cross_entropy", feedback=feedback)(
                weights, batch
            )
            assert rel_err(grads.w_out, reference.w_out) <= TOL
            assert rel_err(grads.b_out, reference.b_out) <= TOL


@pytest.mark.slow
def test_bptt_differs_from_eprop_in_recurrent_weights(getkey):
    """e-prop is an approximation: with recurrence its W_rec gradient is not BPTT's."""
    net = small_network("mixed", 3.0)
    weights, batch = active_case(getkey, net)
    exact, _ = ej.bptt(net)(weights, batch)
    approx, _ = ej.eprop(net)(weights, batch)
    assert rel_err(approx.w_rec, exact.w_rec) > 1e-3
    table = ej.alignment(approx, exact)
    assert table["w_out"]["cosine"] == pytest.approx(1.0, abs=1e-12)
    assert -1.0 <= table["w_rec"]["cosine"] < 1.0 - 1e-9


def test_bptt_with_zero_recurrence_and_stopped_reset_equals_eprop_for_lif(getkey):
    """With W_rec = 0, no adaptation and the reset stopped, e-prop is exact (STYLE §6)."""
    net = small_network("lif", 0.0)
    weights = strong_weights(net, getkey())
    weights = weights._replace(w_rec=jnp.zeros_like(weights.w_rec))
    batch = random_batch(getkey(), net)
    exact, _ = ej.bptt(net, stop_reset_gradient=True)(weights, batch)
    online, _ = ej.eprop(net)(weights, batch)
    assert float(jnp.max(jnp.abs(exact.w_in))) > 0
    assert rel_err(online.w_in, exact.w_in) <= TOL
    assert rel_err(online.w_out, exact.w_out) <= TOL


def test_compare_rules_reports_every_matrix(getkey):
    net = small_network("mixed", 3.0)
    weights, batch = active_case(getkey, net)
    table = ej.compare_rules(
        {"eprop": ej.eprop(net), "eprop-autodiff": ej.eprop_autodiff(net)},
        weights,
        batch,
        reference=ej.bptt(net),
    )
    for rule in ("eprop", "eprop-autodiff"):
        assert set(table[rule]) == {"w_in", "w_rec", "w_out", "b_out"}
        assert table[rule]["w_out"]["norm_ratio"] == pytest.approx(1.0, rel=1e-10)
    assert table["eprop"]["w_rec"]["cosine"] == pytest.approx(
        table["eprop-autodiff"]["w_rec"]["cosine"], abs=1e-10
    )
    text = ej.format_alignment(table)
    assert re.search(r"eprop\s+w_rec", text)


@pytest.mark.slow
def test_float32_agreement_of_online_and_autodiff(getkey):
    net = small_network("mixed", 3.0)
    weights = strong_weights(net, getkey(), dtype=jnp.float32)
    batch = random_batch(getkey(), net, dtype=jnp.float32)
    online, aux = ej.eprop(net)(weights, batch)
    autodiff, _ = ej.eprop_autodiff(net)(weights, batch)
    assert online.w_rec.dtype == jnp.float32 and aux.loss.dtype == jnp.float32
    for name in ("w_in", "w_rec", "w_out", "b_out"):
        assert rel_err(getattr(online, name), getattr(autodiff, name)) <= 1e-5, name


def test_rules_jit_and_do_not_recompile(getkey):
    net = small_network("mixed", 3.0)
    weights = strong_weights(net, getkey(), dtype=jnp.float32)
    for name in ("bptt", "eprop", "eprop-factored", "eprop-autodiff"):
        rule = jax.jit(ej.make_rule(name, net))
        b1 = random_batch(getkey(), net, dtype=jnp.float32)
        b2 = random_batch(getkey(), net, dtype=jnp.float32)
        rule(weights, b1)
        before = rule._cache_size()
        grads, aux = rule(weights, b2)
        assert rule._cache_size() == before == 1
        assert all(bool(jnp.all(jnp.isfinite(g))) for g in grads)
        assert jnp.isfinite(aux.loss)


@pytest.mark.parametrize("feedback", ["symmetric", "random", "adaptive"])
def test_factored_rule_equals_online_rule(feedback, getkey):
    net = small_network("mixed", 3.0)
    weights, batch = active_case(getkey, net, "cross_entropy")
    options = {
        "loss": "cross_entropy",
        "feedback": feedback,
        "regularization": ej.rate_regularization(0.5),
    }
    online, aux_online = ej.eprop(net, **options)(weights, batch)
    factored, aux_factored = ej.eprop_factored(net, **options)(weights, batch)
    for name in ej.Weights._fields:
        assert rel_err(getattr(factored, name), getattr(online, name)) <= TOL, name
    assert abs(float(aux_factored.loss - aux_online.loss)) <= TOL * float(aux_online.loss)
    with pytest.raises(
        ValueError, match=re.escape("`eprop`: record=True needs implementation='online'")
    ):
        ej.eprop_factored(net, record=True)


@pytest.mark.parametrize("beta", [[0.3, 0.0] * 4, [0.3] * 4 + [0.0] * 4])
def test_online_eprop_with_alif_rows_not_at_the_end(beta, getkey):
    # Interleaved or leading ALIF rows take the general (non-blocked) eligibility update.
    net = small_network("alif", 3.0, beta=jnp.asarray(beta))
    weights, batch = active_case(getkey, net, "cross_entropy")
    reg = ej.rate_regularization(0.5, f_target=20.0)
    online, _ = ej.eprop(net, loss="cross_entropy", regularization=reg)(weights, batch)
    autodiff, _ = ej.eprop_autodiff(net, loss="cross_entropy", regularization=reg)(weights, batch)
    for name in ("w_in", "w_rec"):
        assert rel_err(getattr(online, name), getattr(autodiff, name)) <= TOL, name
