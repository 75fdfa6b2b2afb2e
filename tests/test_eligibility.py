"""Eligibility traces against autodiff: the paper's Eq. 1 identity and eps = d(hidden)/dW."""

import jax
import jax.numpy as jnp
import pytest

import eprop_jax as ej
from eprop_jax.eprop import alif_rows
from eprop_jax.losses import get_loss, mean_rate, rate_loss, task_loss
from eprop_jax.network import cast, init_state, input_currents, network_step

from helpers import active_case, rel_err, small_network

TOL = 1e-10


def scan_eligibility(net, weights, inputs, learning_signal=None, kappa=0.0):
    """Run the network with the library's eligibility rule; return per-step state and grad sum.

    With ``kappa = 0`` the filtered trace equals e_t, so the returned gradient is
    ``sum_t sum_b L_t e_t``.
    """
    dtype = weights.w_rec.dtype
    net_c = cast(net, dtype)
    rule = ej.eprop_eligibility(net_c.neuron, kappa)
    t, b, n_in = inputs.shape
    if learning_signal is None:
        learning_signal = jnp.zeros((t, b, net.n_rec), dtype)

    def body(carry, xs):
        state, elig, grad = carry
        current, x, signal = xs
        pre = jnp.concatenate([x, state.neuron.z], axis=-1)
        state, (_, out) = network_step(net_c, weights, state, current)
        grad_t, elig = rule.update(elig, ej.EpropStep(pre, out.psi), signal)
        return (state, elig, grad + grad_t), (elig.elig_v, elig.elig_a)

    carry0 = (
        init_state(net, b, dtype),
        rule.init(b, n_in + net.n_rec, dtype),
        jnp.zeros((net.n_rec, n_in + net.n_rec), dtype),
    )
    (_, _, grad), (elig_v, elig_a) = jax.lax.scan(
        body, carry0, (input_currents(weights, inputs), inputs, learning_signal)
    )
    return grad[:, :n_in], grad[:, n_in:], elig_v, elig_a


@pytest.mark.slow
@pytest.mark.parametrize("population", ["lif", "alif", "mixed"])
@pytest.mark.parametrize("refractory", [0.0, 3.0])
@pytest.mark.parametrize("stop_reset_gradient", [False, True])
@pytest.mark.parametrize("loss", ["mse", "cross_entropy"])
def test_eq1_bptt_equals_total_learning_signal_times_eligibility(
    population, refractory, stop_reset_gradient, loss, getkey
):
    """dE/dW_ji = sum_t (dE/dz_j(t))_total e_ji(t) (Bellec et al. 2020, Eq. 1), exactly."""
    net = small_network(population, refractory)
    weights, batch = active_case(getkey, net, loss)
    reg = ej.rate_regularization(0.5, 20.0)
    step_loss = get_loss(loss)

    def objective(perturbation):
        traj = ej.simulate(
            net,
            weights,
            batch.inputs,
            stop_reset_gradient=stop_reset_gradient,
            spike_perturbation=perturbation,
        )
        return task_loss(step_loss, traj.y, batch.targets, batch.mask) + rate_loss(
            reg, mean_rate(traj.z), net.dt
        )

    total_signal = jax.grad(objective)(jnp.zeros((*batch.inputs.shape[:2], net.n_rec)))
    grad_in, grad_rec, _, _ = scan_eligibility(net, weights, batch.inputs, total_signal)
    bptt, _ = ej.bptt(net, loss=loss, regularization=reg, stop_reset_gradient=stop_reset_gradient)(
        weights, batch
    )
    off_diagonal = 1 - jnp.eye(net.n_rec)
    assert float(jnp.max(jnp.abs(bptt.w_rec))) > 0
    assert rel_err(grad_in, bptt.w_in) <= TOL
    assert rel_err(grad_rec * off_diagonal, bptt.w_rec) <= TOL


@pytest.mark.slow
@pytest.mark.parametrize("population", ["lif", "mixed"])
@pytest.mark.parametrize("tau_m", [20.0, (10.0, 20.0, 30.0, 40.0) * 2])
def test_eligibility_vectors_equal_jvp_of_hidden_state(population, tau_m, getkey):
    """eps_v = dv_t/dW and beta*eps_a = dA_t/dW with the recurrent and reset paths stopped."""
    net = small_network(population, 3.0, tau_m=tau_m)
    weights, batch = active_case(getkey, net)
    tangent_in = jax.random.normal(getkey(), weights.w_in.shape)
    tangent_rec = jax.random.normal(getkey(), weights.w_rec.shape) * (1 - jnp.eye(net.n_rec))
    tangent = ej.Weights(
        tangent_in,
        tangent_rec,
        jnp.zeros_like(weights.w_out),
        jnp.zeros_like(weights.b_out),
        jnp.zeros_like(weights.b_fb),
    )

    def hidden(w):
        traj = ej.simulate(
            net,
            w,
            batch.inputs,
            record=True,
            stop_recurrent_gradient=True,
            stop_reset_gradient=True,
        )
        return traj.v, traj.threshold

    _, (dv, dthreshold) = jax.jvp(hidden, (weights,), (tangent,))
    _, _, elig_v, elig_a = scan_eligibility(net, weights, batch.inputs)
    if elig_v.ndim == 3:  # a shared membrane decay stores one eps^v per presynaptic unit
        elig_v = jnp.broadcast_to(
            elig_v[:, :, None, :], (*elig_v.shape[:2], net.n_rec, elig_v.shape[-1])
        )
    rows = alif_rows(net.neuron.beta)  # eps^a is stored for the ALIF rows only
    elig_a = jnp.zeros(elig_v.shape).at[:, :, rows].set(elig_a)
    tangent_cat = jnp.concatenate([tangent_in, tangent_rec], axis=1)
    expected_dv = jnp.einsum("tbji,ji->tbj", elig_v, tangent_cat)
    beta = jnp.asarray(net.neuron.beta)
    expected_dthreshold = beta * jnp.einsum("tbji,ji->tbj", elig_a, tangent_cat)
    assert float(jnp.max(jnp.abs(dv))) > 0
    assert rel_err(expected_dv, dv) <= TOL
    if population != "lif":
        assert float(jnp.max(jnp.abs(dthreshold))) > 0
    assert float(jnp.max(jnp.abs(expected_dthreshold - dthreshold))) <= TOL * float(
        jnp.max(jnp.abs(dv))
    )


def test_compact_storage_is_kept_inside_jit():
    """``cast`` of a closed-over network stays concrete under jit, so the rule sees which rows
    adapt and that tau_m is shared: eps^v per presynaptic unit, eps^a for the ALIF rows only."""
    net = ej.network(3, 8, 2, n_alif=4)
    shapes = {}

    @jax.jit
    def init(x):
        net_c = cast(net, jnp.float32)
        rule = ej.eprop_eligibility(net_c.neuron, net_c.readout.kappa)
        shapes["state"] = jax.tree.map(jnp.shape, rule.init(2, 11, jnp.float32))
        return x

    init(jnp.zeros(()))
    assert shapes["state"].elig_v == (2, 11)
    assert shapes["state"].elig_a == (2, 4, 11)
