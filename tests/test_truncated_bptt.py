"""Truncated BPTT: BPTT when the window covers the sequence, and exactly the gradient of the loss
with the state held fixed at window boundaries otherwise (float64)."""

import itertools

import jax
import jax.numpy as jnp
import pytest

import eprop_jax as ej
from eprop_jax.losses import get_loss, mean_rate, rate_loss, task_loss
from eprop_jax.network import cast, init_state, network_step

from helpers import active_case, rel_err, small_network

TOL = 1e-10
MATRICES = ("w_in", "w_rec", "w_out", "b_out")


def reference_truncated(net, weights, batch, window, loss, reg, stop_reset_gradient=False):
    """``jax.grad`` of the whole-sequence loss through a Python loop over steps, with
    ``stop_gradient`` on the state entering every window: the definition of truncated BPTT."""

    def objective(w):
        net_c = cast(net, w.w_rec.dtype)
        state = init_state(net, batch.inputs.shape[1], w.w_rec.dtype)
        ys, zs = [], []
        for t in range(batch.inputs.shape[0]):
            if t % window == 0:
                state = jax.lax.stop_gradient(state)
            state, (y, out) = network_step(
                net_c, w, state, batch.inputs[t] @ w.w_in.T, stop_reset_gradient=stop_reset_gradient
            )
            ys.append(y)
            zs.append(out.z)
        y, z = jnp.stack(ys), jnp.stack(zs)
        return task_loss(get_loss(loss), y, batch.targets, batch.mask) + rate_loss(
            reg, mean_rate(z), net.dt
        )

    return jax.grad(objective)(weights)


@pytest.mark.slow
@pytest.mark.parametrize(
    ("population", "loss", "c_reg"),
    list(itertools.product(["lif", "mixed"], ["mse", "cross_entropy"], [0.0, 0.5])),
)
def test_window_covering_the_sequence_is_bptt(population, loss, c_reg, getkey):
    net = small_network(population, 3.0)
    weights, batch = active_case(getkey, net, loss)
    reg = ej.rate_regularization(c_reg, f_target=20.0)
    full, aux_full = ej.bptt(net, loss=loss, regularization=reg)(weights, batch)
    t = batch.inputs.shape[0]
    for window in (t, t + 7):
        grads, aux = ej.truncated_bptt(net, truncation=window, loss=loss, regularization=reg)(
            weights, batch
        )
        for name in MATRICES:
            assert float(jnp.max(jnp.abs(getattr(full, name)))) > 0, name
            assert rel_err(getattr(grads, name), getattr(full, name)) <= TOL, (window, name)
        assert abs(float(aux.loss - aux_full.loss)) <= TOL * float(aux_full.loss)
        assert rel_err(aux.y_mean, aux_full.y_mean) <= TOL
        assert rel_err(aux.rate, aux_full.rate) <= TOL


@pytest.mark.parametrize(
    ("window", "loss", "c_reg", "stop_reset"),
    [
        (1, "mse", 0.0, False),
        (5, "cross_entropy", 0.5, False),
        (7, "mse", 0.5, True),
        (10, "cross_entropy", 0.0, False),
    ],
)
def test_equals_gradient_with_state_held_at_window_boundaries(
    window, loss, c_reg, stop_reset, getkey
):
    # T = 30: windows of 7 leave a short last window (30 = 4 * 7 + 2).
    net = small_network("mixed", 3.0)
    weights, batch = active_case(getkey, net, loss)
    reg = ej.rate_regularization(c_reg, f_target=20.0)
    rule = ej.truncated_bptt(
        net, truncation=window, loss=loss, regularization=reg, stop_reset_gradient=stop_reset
    )
    grads, _ = jax.jit(rule)(weights, batch)
    expected = reference_truncated(net, weights, batch, window, loss, reg, stop_reset)
    full, _ = ej.bptt(net, loss=loss, regularization=reg, stop_reset_gradient=stop_reset)(
        weights, batch
    )
    for name in MATRICES:
        assert rel_err(getattr(grads, name), getattr(expected, name)) <= TOL, name
    # The truncation really cuts credit paths: W_rec's gradient differs from BPTT's.
    assert rel_err(grads.w_rec, full.w_rec) > 1e-3
    assert float(jnp.max(jnp.abs(grads.w_rec * jnp.eye(net.n_rec)))) == 0.0
    assert float(jnp.max(jnp.abs(grads.b_fb))) == 0.0


@pytest.mark.slow
def test_longer_windows_align_better_with_bptt(getkey):
    net = small_network("mixed", 0.0)
    weights, batch = active_case(getkey, net, "mse")
    full, _ = ej.bptt(net)(weights, batch)
    cosines = []
    for window in (2, 30):
        grads, _ = ej.truncated_bptt(net, truncation=window)(weights, batch)
        cosines.append(ej.alignment(grads, full)["w_rec"]["cosine"])
    assert cosines[1] == pytest.approx(1.0, abs=1e-12)
    assert cosines[0] < 1.0 - 1e-6


@pytest.mark.parametrize("bad", [0, -3, 2.5, True, "10"])
def test_truncation_must_be_a_positive_integer(bad):
    with pytest.raises(ValueError, match="`truncation` must be a positive integer"):
        ej.truncated_bptt(small_network(), truncation=bad)


def test_make_rule_tbptt_has_no_feedback_choice():
    net = small_network()
    assert callable(ej.make_rule("tbptt", net, feedback="symmetric", truncation=4))
    with pytest.raises(ValueError, match="has no feedback option"):
        ej.make_rule("tbptt", net, feedback="random")
