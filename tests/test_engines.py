"""One engine contract: every engine returns (Weights, RuleAux) with the same trial statistics,
and the feedback mode is one resolved record."""

import ast
import pathlib
import re

import jax.numpy as jnp
import pytest

import eprop_jax as ej
from eprop_jax.engines import ENGINES

from helpers import active_case, rel_err, small_network

TOL = 1e-10


@pytest.mark.slow
def test_every_engine_returns_weights_and_the_same_trial_statistics(getkey):
    net = small_network("mixed", 3.0)
    weights, batch = active_case(getkey, net, "cross_entropy")
    common = {
        "step_loss": ej.cross_entropy_step,
        "regularization": ej.rate_regularization(0.5, 20.0),
    }
    b_matrix = {"feedback_matrix": weights.b_fb}
    t_steps = batch.inputs.shape[0]
    options = {
        "autodiff": {},
        "eprop": b_matrix,
        "eprop_factored": b_matrix,
        "truncated_bptt": {"truncation": t_steps},
    }
    results = {
        name: engine(net, weights, *batch, **common, **options[name])
        for name, engine in ENGINES.items()
    }
    _, reference = results["autodiff"]
    assert float(reference.reg_loss) > 0
    for name, (grads, aux) in results.items():
        assert isinstance(grads, ej.Weights), name
        assert isinstance(aux, ej.RuleAux), name
        assert float(jnp.max(jnp.abs(grads.b_fb))) == 0, name
        for field in ("loss", "task_loss", "reg_loss", "rate", "y_mean"):
            assert rel_err(getattr(aux, field), getattr(reference, field)) <= TOL, (name, field)
    # a window covering the sequence is BPTT
    assert rel_err(results["truncated_bptt"][0].w_rec, results["autodiff"][0].w_rec) <= TOL


def test_trial_stats_implements_its_equations():
    reg = ej.rate_regularization(2.0, 100.0)  # f* = 0.1 spikes per step at dt = 1 ms
    mask = jnp.array([[0.0, 1.0], [1.0, 1.0], [1.0, 0.0]])  # T = 3, B = 2
    stats = ej.trial_stats(
        reg,
        1.0,
        task_loss=jnp.asarray(0.25),
        spike_sum=jnp.array([3.0, 0.0]),
        y_window_sum=jnp.array([[4.0], [6.0]]),
        mask=mask,
        n_steps=3,
        n_batch=2,
    )
    rate = jnp.array([0.5, 0.0])
    assert rel_err(stats.rate, rate) == 0
    assert float(stats.reg_loss) == pytest.approx(0.5 * 2.0 * (0.4**2 + 0.1**2), rel=1e-12)
    assert rel_err(stats.reg_coef, 2.0 * (rate - 0.1) / 6) <= 1e-15
    assert rel_err(stats.y_mean, jnp.array([[2.0], [3.0]])) == 0
    aux = stats.aux()
    assert float(aux.loss) == pytest.approx(0.25 + float(stats.reg_loss), rel=1e-15)


def test_feedback_is_resolved_once_into_a_record():
    sym, rnd, ada = (ej.resolve_feedback(m) for m in ("symmetric", "random", "adaptive"))
    assert (sym.mode, sym.trains_b_fb, sym.decay_mask) == ("symmetric", False, None)
    assert (rnd.mode, rnd.trains_b_fb, rnd.decay_mask) == ("random", False, None)
    assert ada.trains_b_fb and ada.decay_mask == ej.Weights(False, False, True, False, True)
    custom = ej.resolve_feedback(lambda w: w.b_fb)
    assert custom.mode == "custom" and ej.resolve_feedback(custom) is custom
    with pytest.raises(
        ValueError, match=re.escape("`eprop`: unknown feedback 'mirror'; expected one of")
    ):
        ej.eprop(small_network(), feedback="mirror")


def test_autodiff_takes_a_custom_feedback_function_like_online_eprop(getkey):
    net = small_network("mixed", 3.0)
    weights, batch = active_case(getkey, net)

    def sign_concordant(w):
        return jnp.sign(w.w_out.T) * jnp.abs(w.b_fb)

    online, _ = ej.eprop(net, feedback=sign_concordant)(weights, batch)
    autodiff, _ = ej.eprop_autodiff(net, feedback=sign_concordant)(weights, batch)
    for name in ("w_in", "w_rec", "w_out", "b_out"):
        assert rel_err(getattr(autodiff, name), getattr(online, name)) <= TOL, name


def test_factored_engine_does_not_import_its_sibling():
    source = pathlib.Path(ej.eprop_factored_gradients.__code__.co_filename).read_text()
    modules = {
        node.module for node in ast.walk(ast.parse(source)) if isinstance(node, ast.ImportFrom)
    }
    assert "eprop" not in modules and modules


def test_make_rule_takes_a_feedback_record():
    net = small_network()
    adaptive = ej.resolve_feedback("adaptive")
    assert callable(ej.make_rule("eprop", net, feedback=adaptive))
    assert callable(ej.make_rule("bptt", net, feedback=ej.resolve_feedback("symmetric")))
    with pytest.raises(ValueError, match="rule 'bptt' has no feedback option"):
        ej.make_rule("bptt", net, feedback=adaptive)
