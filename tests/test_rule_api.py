"""The extension points a researcher uses to write a new rule: a feedback function, a custom
eligibility rule, register_rule and "package.module:factory" names (float64)."""

import jax
import jax.numpy as jnp
import numpy as np
import pytest

import eprop_jax as ej
from eprop_jax.eprop import EpropState
from eprop_jax.rules import RULES, resolve_rule, takes_feedback
from eprop_jax.train import TrainConfig, train

from helpers import active_case, rel_err, small_network

TOL = 1e-10


def unfiltered_eligibility(params, kappa):
    """e-prop without the readout filter on the eligibility trace: ``e-bar = e``."""
    return ej.eprop_eligibility(params, jnp.zeros_like(kappa))


@pytest.mark.slow
def test_feedback_function_returning_w_out_transpose_is_symmetric_eprop(getkey):
    net = small_network("mixed", 3.0)
    weights, batch = active_case(getkey, net, "cross_entropy")
    sym, _ = ej.eprop(net, loss="cross_entropy")(weights, batch)
    fn, _ = ej.eprop(net, loss="cross_entropy", feedback=lambda w: w.w_out.T)(weights, batch)
    for name in ej.Weights._fields:
        np.testing.assert_array_equal(getattr(fn, name), getattr(sym, name), err_msg=name)


@pytest.mark.slow
def test_sign_concordant_feedback_is_used(getkey):
    net = small_network("mixed", 3.0)
    weights, batch = active_case(getkey, net)

    def sign_concordant(w):
        return jnp.sign(w.w_out.T) * jnp.abs(w.b_fb)

    grads, _ = ej.eprop(net, feedback=sign_concordant)(weights, batch)
    # Same as random feedback with B replaced by the sign-concordant matrix.
    expected, _ = ej.eprop(net, feedback="random")(
        weights._replace(b_fb=sign_concordant(weights)), batch
    )
    for name in ("w_in", "w_rec", "w_out", "b_out"):
        assert rel_err(getattr(grads, name), getattr(expected, name)) <= TOL, name
    factored, _ = ej.eprop(net, feedback=sign_concordant, implementation="factored")(weights, batch)
    assert rel_err(factored.w_rec, grads.w_rec) <= TOL


@pytest.mark.slow
def test_feedback_function_of_the_wrong_shape_is_refused(getkey):
    net = small_network()
    weights, batch = active_case(getkey, net)
    with pytest.raises(ValueError, match=r"must return B of shape \(n_rec, n_out\) = \(8, 2\)"):
        ej.eprop(net, feedback=lambda w: w.w_out)(weights, batch)


def test_custom_eligibility_wrapping_the_default_is_the_default(getkey):
    net = small_network("mixed", 3.0)
    weights, batch = active_case(getkey, net)
    reg = ej.rate_regularization(0.5, f_target=20.0)
    default, _ = ej.eprop(net, regularization=reg)(weights, batch)
    wrapped, _ = ej.eprop(net, regularization=reg, eligibility=ej.eprop_eligibility)(weights, batch)
    for name in ej.Weights._fields:
        np.testing.assert_array_equal(getattr(wrapped, name), getattr(default, name), name)


def test_unfiltered_eligibility_equals_sum_of_learning_signal_times_trace(getkey):
    # LIF network: e_{t,ji} = psi_{t,j} eps_{t,i}, eps_t = alpha eps_{t-1} + pre_t (Eqs. 13-14).
    net = small_network("lif", 0.0)
    weights, batch = active_case(getkey, net)
    grads, aux = ej.eprop(net, eligibility=unfiltered_eligibility, record=True)(weights, batch)
    z = np.asarray(aux.trajectory.z)
    psi = np.asarray(aux.trajectory.psi)
    signal = np.asarray(aux.learning_signal)
    x = np.asarray(batch.inputs)
    alpha = float(np.asarray(net.neuron.alpha)[0])
    z_prev = np.concatenate([np.zeros_like(z[:1]), z[:-1]])
    pre = np.concatenate([x, z_prev], axis=-1)  # (T, B, n_in + n)
    eps = np.zeros(pre.shape[1:])
    expected = np.zeros((net.n_rec, pre.shape[-1]))
    for t in range(pre.shape[0]):
        eps = alpha * eps + pre[t]
        expected += np.einsum("bj,bj,bi->ji", signal[t], psi[t], eps)
    expected[:, net.n_in :] *= 1 - np.eye(net.n_rec)
    assert np.max(np.abs(expected)) > 0
    assert rel_err(grads.w_in, expected[:, : net.n_in]) <= TOL
    assert rel_err(grads.w_rec, expected[:, net.n_in :]) <= TOL
    filtered, _ = ej.eprop(net)(weights, batch)
    assert rel_err(grads.w_rec, filtered.w_rec) > 1e-3  # the filter matters


def test_custom_eligibility_needs_e_sum_for_the_rate_regularization(getkey):
    net = small_network("lif", 0.0)
    weights, batch = active_case(getkey, net)
    base = ej.eprop_eligibility

    def no_e_sum(params, kappa):
        rule = base(params, kappa)

        def init(n_batch, n_pre, dtype):
            return tuple(rule.init(n_batch, n_pre, dtype))

        def update(state, step, signal):
            grad, new = rule.update(EpropState(*state), step, signal)
            return grad, tuple(new)

        return ej.LearningRule(init, update)

    grads, _ = ej.eprop(net, eligibility=no_e_sum)(weights, batch)  # fine without regularisation
    assert np.all(np.isfinite(grads.w_rec))
    with pytest.raises(ValueError, match="needs the eligibility state to carry `e_sum`"):
        ej.eprop(net, eligibility=no_e_sum, regularization=ej.rate_regularization(1.0))(
            weights, batch
        )
    with pytest.raises(ValueError, match="custom `eligibility` needs implementation='online'"):
        ej.eprop(net, eligibility=no_e_sum, implementation="factored")


def test_register_rule_makes_it_trainable_by_name():
    def unfiltered(net, **options):
        return ej.eprop(net, eligibility=unfiltered_eligibility, **options)

    ej.register_rule("test-eprop-unfiltered", unfiltered, overwrite=True)
    try:
        assert takes_feedback(resolve_rule("test-eprop-unfiltered"))
        config = TrainConfig(
            task="sine_waves",
            rule="test-eprop-unfiltered",
            iterations=2,
            eval_interval=0,
            network={"n_rec": 12},
            task_options={"duration": 50, "n_in": 5},
        )
        with jax.numpy_dtype_promotion("standard"):
            result = train(config, progress=False)
        assert result.iterations_done == 2 and np.isfinite(result.metrics[-1]["loss"])
        with pytest.raises(ValueError, match="exists already"):
            ej.register_rule("test-eprop-unfiltered", unfiltered)
    finally:
        RULES.pop("test-eprop-unfiltered", None)


def test_rules_by_import_path_and_clear_errors():
    net = small_network()
    rule = ej.make_rule("eprop_jax.rules:truncated_bptt", net, truncation=5)
    assert callable(rule)
    with pytest.raises(ValueError, match="cannot import rule factory 'no_such_module:rule'"):
        ej.make_rule("no_such_module:rule", net)
    with pytest.raises(ValueError, match=r"rule 'tbptt' has no option\(s\) 'window'; it accepts"):
        ej.make_rule("tbptt", net, window=5)
    with pytest.raises(ValueError, match="unknown rule 'nope'"):
        ej.make_rule("nope", net)
    with pytest.raises(ValueError, match="without ':'"):
        ej.register_rule("a:b", ej.eprop)
