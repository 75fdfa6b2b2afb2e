"""The bench's lean BPTT reference computes the library's ``bptt`` gradient (float64)."""

import jax
import jax.numpy as jnp
import numpy as np
import pytest

import eprop_jax as ej
from eprop_jax.bench_reference import bptt_lean

from helpers import active_case, small_network

C_REG, F_TARGET = 2.0, 10.0


@pytest.mark.slow
@pytest.mark.parametrize("population", ["lif", "mixed"])
def test_lean_bptt_gradient_equals_library_bptt(getkey, population):
    net = small_network(population, refractory=2.0)
    weights, batch = active_case(getkey, net, loss="cross_entropy")
    # A 2-step refractory period must actually silence neurons in this case.
    traj = ej.simulate(net, weights, batch.inputs)
    assert float(jnp.sum(traj.z[1:] * traj.z[:-1])) == 0.0 and float(jnp.mean(traj.z)) > 0.02
    reg = ej.rate_regularization(C_REG, F_TARGET)
    ref_grads, aux = ej.bptt(net, loss="cross_entropy", regularization=reg)(weights, batch)
    grads, loss = jax.jit(bptt_lean(net, C_REG, F_TARGET))(weights, batch)
    assert grads.w_rec.dtype == jnp.float64
    np.testing.assert_allclose(float(loss), float(aux.loss), rtol=1e-12)
    assert float(aux.reg_loss) > 0  # the regulariser contributes
    for name in ej.Weights._fields:
        ref, got = getattr(ref_grads, name), getattr(grads, name)
        assert got.shape == ref.shape, name
        np.testing.assert_allclose(got, ref, rtol=0, atol=1e-10, err_msg=name)
        if name != "b_fb":
            assert float(jnp.max(jnp.abs(ref))) > 0, name  # nothing compared is trivially zero
    assert float(jnp.max(jnp.abs(jnp.diag(grads.w_rec)))) == 0.0


@pytest.mark.slow
def test_lean_bptt_differs_from_eprop(getkey):
    """The comparison above can fail: e-prop's gradient is not BPTT's on the same case."""
    net = small_network("mixed", refractory=2.0)
    weights, batch = active_case(getkey, net, loss="cross_entropy")
    grads, _ = bptt_lean(net, C_REG, F_TARGET)(weights, batch)
    reg = ej.rate_regularization(C_REG, F_TARGET)
    eprop_grads, _ = ej.eprop_autodiff(net, loss="cross_entropy", regularization=reg)(
        weights, batch
    )
    assert float(jnp.max(jnp.abs(grads.w_rec - eprop_grads.w_rec))) > 1e-6


def test_other_surrogates_are_refused():
    net = ej.network(3, 8, 2, n_alif=4, surrogate_shape="exponential")
    with pytest.raises(ValueError, match="only the piecewise_linear surrogate is implemented"):
        bptt_lean(net, C_REG, F_TARGET)
