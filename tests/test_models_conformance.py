"""Conformance suite: every registered neuron model obeys the e-prop identities (float64, 1e-10).

For each model in ``eprop_jax.models.MODELS``, on LIF-like, adaptive and mixed populations, with
and without a refractory period:

- the eligibility vector is ``jax.jvp`` of the hidden state with z_{t-1} stopped in the
  recurrence and the reset;
- online e-prop equals stop-gradient autodiff (``eprop-autodiff``);
- the factored engine equals the online one;
- BPTT's gradient is sum_t (dE/dz_t)_total e_t (Bellec et al. 2020, Eq. 1).

MSE and cross-entropy, with and without rate regularisation, are spread over the cases so that
each meets both refractory settings. Each test prints its measured relative error.
"""

import itertools

import jax
import jax.numpy as jnp
import pytest

import eprop_jax as ej
from eprop_jax.losses import get_loss, mean_rate, rate_loss, task_loss
from eprop_jax.models import MODELS
from eprop_jax.models.base import EpropStep, alif_rows

from helpers import active_case, rel_err, small_network

TOL = 1e-10
MODEL_OPTIONS = {"alif": {}, "psc_delta": {"v_reset": 0.1}}


def _cases():
    for i, (model, population, refractory) in enumerate(
        itertools.product(sorted(MODELS), ["lif", "alif", "mixed"], [0.0, 3.0])
    ):
        loss = ("mse", "cross_entropy")[(i + i // 2) % 2]
        c_reg = (0.0, 0.5)[(i // 2) % 2]
        yield model, population, refractory, loss, c_reg


CASES = list(_cases())


def model_network(model, population, refractory):
    return small_network(population, refractory, model=model, **MODEL_OPTIONS.get(model, {}))


def scan_eligibility(net, weights, inputs, learning_signal=None):
    """Run the model's eligibility rule (kappa = 0, so the filtered trace is e_t) alongside the
    network; return ``(grad_in, grad_rec, eps_v, eps_a)`` with ``grad = sum_t L_t e_t``."""
    dtype = weights.w_rec.dtype
    net_c = ej.cast(net, dtype)
    rule = net.model.eligibility(net_c.neuron, jnp.zeros((), dtype))
    t, b, n_in = inputs.shape
    if learning_signal is None:
        learning_signal = jnp.zeros((t, b, net.n_rec), dtype)

    def body(carry, xs):
        state, elig, grad = carry
        current, x, signal = xs
        pre = jnp.concatenate([x, state.neuron.z], axis=-1)
        state, (_, out) = ej.network_step(net_c, weights, state, current)
        grad_t, elig = rule.update(elig, EpropStep(pre, out.psi, out), signal)
        return (state, elig, grad + grad_t), (elig.elig_v, elig.elig_a)

    carry0 = (
        ej.init_state(net, b, dtype),
        rule.init(b, n_in + net.n_rec, dtype),
        jnp.zeros((net.n_rec, n_in + net.n_rec), dtype),
    )
    xs = (ej.input_currents(weights, inputs), inputs, learning_signal)
    (_, _, grad), (elig_v, elig_a) = jax.lax.scan(body, carry0, xs)
    return grad[:, :n_in], grad[:, n_in:], elig_v, elig_a


@pytest.mark.parametrize(("model", "population", "refractory", "loss", "c_reg"), CASES)
def test_eligibility_equals_jvp_of_hidden_state(model, population, refractory, loss, c_reg, getkey):
    """eps_v = dv_t/dW and beta*eps_a = dA_t/dW with the recurrent and reset paths stopped."""
    net = model_network(model, population, refractory)
    weights, batch = active_case(getkey, net)
    off_diagonal = 1 - jnp.eye(net.n_rec)
    tangent = ej.Weights(
        jax.random.normal(getkey(), weights.w_in.shape),
        jax.random.normal(getkey(), weights.w_rec.shape) * off_diagonal,
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
    full = (*elig_v.shape[:2], net.n_rec, elig_v.shape[-1])
    if elig_v.ndim == 3:  # a shared membrane decay stores one eps^v per presynaptic unit
        elig_v = jnp.broadcast_to(elig_v[:, :, None, :], full)
    if elig_a.shape[2] != net.n_rec:  # eps^a stored for the adaptive rows only
        elig_a = jnp.zeros(full).at[:, :, alif_rows(net.neuron.beta)].set(elig_a)
    tangent_cat = jnp.concatenate([tangent.w_in, tangent.w_rec], axis=1)
    expected_dv = jnp.einsum("tbji,ji->tbj", elig_v, tangent_cat)
    expected_dthr = jnp.asarray(net.neuron.beta) * jnp.einsum("tbji,ji->tbj", elig_a, tangent_cat)
    err_v = rel_err(expected_dv, dv)
    err_a = float(jnp.max(jnp.abs(expected_dthr - dthreshold)) / jnp.max(jnp.abs(dv)))
    print(
        f"[conformance] {model} eligibility=jvp {population} ref={refractory}: {err_v:.2e} {err_a:.2e}"
    )
    assert float(jnp.max(jnp.abs(dv))) > 0
    if population != "lif":
        assert float(jnp.max(jnp.abs(dthreshold))) > 0
    assert err_v <= TOL
    assert err_a <= TOL


@pytest.mark.parametrize(("model", "population", "refractory", "loss", "c_reg"), CASES)
def test_online_equals_stop_gradient_autodiff_and_factored(
    model, population, refractory, loss, c_reg, getkey
):
    """online e-prop = eprop-autodiff (every weight) and factored = online."""
    net = model_network(model, population, refractory)
    weights, batch = active_case(getkey, net, loss)
    reg = ej.rate_regularization(c_reg, 20.0)
    online, aux = ej.eprop(net, loss=loss, regularization=reg)(weights, batch)
    autodiff, aux_ad = ej.eprop_autodiff(net, loss=loss, regularization=reg)(weights, batch)
    factored, aux_f = ej.eprop_factored(net, loss=loss, regularization=reg)(weights, batch)
    assert float(jnp.max(jnp.abs(online.w_rec))) > 0
    errs = {}
    for name in ("w_in", "w_rec", "w_out", "b_out"):
        errs[name] = (
            rel_err(getattr(online, name), getattr(autodiff, name)),
            rel_err(getattr(factored, name), getattr(online, name)),
        )
    for name in ("loss", "task_loss", "reg_loss", "rate", "y_mean"):
        errs[name] = (
            rel_err(getattr(aux, name), getattr(aux_ad, name)),
            rel_err(getattr(aux_f, name), getattr(aux, name)),
        )
    worst_ad = max(e[0] for e in errs.values())
    worst_f = max(e[1] for e in errs.values())
    print(
        f"[conformance] {model} online=autodiff {population} ref={refractory} {loss} "
        f"c_reg={c_reg}: {worst_ad:.2e}; factored=online: {worst_f:.2e}"
    )
    assert worst_ad <= TOL, errs
    assert worst_f <= TOL, errs


@pytest.mark.parametrize(("model", "population", "refractory", "loss", "c_reg"), CASES)
@pytest.mark.parametrize("stop_reset_gradient", [False, True])
def test_eq1_bptt_equals_total_learning_signal_times_eligibility(
    model, population, refractory, loss, c_reg, stop_reset_gradient, getkey
):
    """dE/dW_ji = sum_t (dE/dz_j(t))_total e_ji(t) (Bellec et al. 2020, Eq. 1), exactly."""
    net = model_network(model, population, refractory)
    weights, batch = active_case(getkey, net, loss)
    reg = ej.rate_regularization(c_reg, 20.0)
    step_loss = get_loss(loss)

    def objective(perturbation):
        traj = ej.simulate(
            net,
            weights,
            batch.inputs,
            stop_reset_gradient=stop_reset_gradient,
            spike_perturbation=perturbation,
        )
        task = task_loss(step_loss, traj.y, batch.targets, batch.mask)
        return task + rate_loss(reg, mean_rate(traj.z), net.dt)

    total_signal = jax.grad(objective)(jnp.zeros((*batch.inputs.shape[:2], net.n_rec)))
    grad_in, grad_rec, _, _ = scan_eligibility(net, weights, batch.inputs, total_signal)
    bptt, _ = ej.bptt(net, loss=loss, regularization=reg, stop_reset_gradient=stop_reset_gradient)(
        weights, batch
    )
    off_diagonal = 1 - jnp.eye(net.n_rec)
    err = max(rel_err(grad_in, bptt.w_in), rel_err(grad_rec * off_diagonal, bptt.w_rec))
    print(f"[conformance] {model} Eq.1 {population} ref={refractory} {loss}: {err:.2e}")
    assert float(jnp.max(jnp.abs(bptt.w_rec))) > 0
    assert err <= TOL


def test_model_choice_and_its_errors():
    """``network(model=...)`` picks the model; unknown names and options raise ValueError."""
    assert ej.network(3, 8, 2).model is MODELS["alif"]
    net = ej.network(3, 8, 2, model="psc_delta", v_reset=0.2)
    assert net.model is MODELS["psc_delta"]
    assert float(net.neuron.v_reset[3]) == 0.2
    with pytest.raises(ValueError, match="model"):
        ej.network(3, 8, 2, model="hodgkin_huxley")
    with pytest.raises(ValueError, match="v_reset"):
        ej.network(3, 8, 2, v_reset=0.2)
    with pytest.raises(ValueError, match="v_reset"):
        ej.network(3, 8, 2, model="psc_delta", v_reset=float("nan"))


def test_psc_delta_resets_to_v_reset_and_holds_while_refractory():
    """The step's equations (module docstring) on one neuron, by hand."""
    net = ej.network(1, 1, 1, model="psc_delta", v_reset=0.1, refractory=3.0, thr=0.6, tau_m=20.0)
    p = ej.cast(net, jnp.float64).neuron
    state = ej.init_state(net, 1, jnp.float64).neuron
    alpha = float(p.alpha[0])
    vs, zs = [], []
    for current in (0.7, 0.5, 0.5, 0.5, 0.0):
        state, out = net.model.step(p, state, jnp.full((1, 1), current), surrogate=net.surrogate)
        vs.append(float(out.v[0, 0]))
        zs.append(float(out.z[0, 0]))
    # spike at t=0; t=1, 2 refractory (held at v_reset, input discarded); t=3 integrates from
    # v_reset; t=4 integrates on.
    assert zs == [1.0, 0.0, 0.0, 0.0, 0.0]
    expected3 = alpha * 0.1 + 0.5
    assert vs[:4] == pytest.approx([0.7, 0.1, 0.1, expected3], abs=1e-15)
    assert vs[4] == pytest.approx(alpha * expected3, abs=1e-15)


def test_register_model_makes_a_model_available_by_name():
    renamed = MODELS["alif"]._replace(name="alif-copy")
    ej.register_model(renamed)
    try:
        net = ej.network(3, 8, 2, n_alif=4, model="alif-copy")
        assert net.model is renamed
        with pytest.raises(ValueError, match="exists already"):
            ej.register_model(renamed)
        with pytest.raises(ValueError, match="expected a NeuronModel"):
            ej.register_model("alif")
    finally:
        del MODELS["alif-copy"]
