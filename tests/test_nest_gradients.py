"""NEST-exact mode, the interval transforms: target alignment, truncation of the last learning
signal, and the offline (factored) gradient equal to the online one."""

import jax.numpy as jnp
import numpy as np
import pytest

from eprop_jax import nest


def test_target_alignment_and_truncation():
    targets = np.arange(8.0).reshape(2, 4, 1)
    np.testing.assert_array_equal(nest.nest_targets(targets), targets)  # v3.10 timing
    early = nest.nest_targets(targets, amplitude_offset=3)[..., 0]
    np.testing.assert_array_equal(early, [[1, 2, 3, 4], [5, 6, 7, 7]])
    inputs = np.zeros((3, 4, 2), bool)
    inputs[1, 1, 0] = inputs[2, 2, 1] = inputs[0, 1, 1] = True
    np.testing.assert_array_equal(nest.nest_truncation(inputs), [[1, 0], [0, 0], [0, 0]])


@pytest.mark.slow
def test_truncation_drops_only_the_last_learning_signal_of_input_synapses():
    """An input spike at step 1 of the next sequence leaves L_{T-1} e-bar_{T-1} out of W_in."""
    tut = nest.nest_tutorial("sine_waves", iterations=1)
    tut = tut._replace(
        kernel={**tut.kernel, "eprop_update_interval": 60.0, "eprop_learning_window": 60.0}
    )
    net, cfg = nest.tutorial_network(tut)
    w = nest.nest_weights(tut.w_in * 20, tut.w_rec, tut.w_out, tut.feedback)
    x = jnp.asarray(tut.inputs[0, :, :60], jnp.float64)
    y = jnp.asarray(tut.targets[0, :, :60], jnp.float64)
    full = nest.nest_batch_gradients(net, cfg, w, x, y, jnp.zeros((1, 100), bool))
    cut = nest.nest_batch_gradients(net, cfg, w, x, y, jnp.ones((1, 100), bool))
    np.testing.assert_array_equal(cut.grad_rec, full.grad_rec)
    np.testing.assert_array_equal(cut.grad_out, full.grad_out)
    assert float(jnp.max(jnp.abs(cut.grad_in - full.grad_in))) > 0


@pytest.mark.slow
@pytest.mark.parametrize("task", ["sine_waves", "evidence_accumulation"])
def test_factored_equals_online(task):
    """The fast offline form gives the online rule's NEST gradient, truncation included."""
    tut = nest.nest_tutorial(task, iterations=1, batch_size=2)
    t_steps = 200
    kernel = {
        **tut.kernel,
        "eprop_update_interval": float(t_steps),
        "eprop_learning_window": float(min(t_steps, tut.kernel["eprop_learning_window"])),
    }
    net, cfg = nest.from_nest(
        kernel, tut.populations, tut.readout, tut.synapse, n_in=tut.n_in, n_out=tut.n_out
    )
    w = nest.nest_weights(tut.w_in * 10, tut.w_rec, tut.w_out, tut.feedback)
    x = jnp.asarray(tut.inputs[0, :, :t_steps], jnp.float64)
    y = jnp.asarray(tut.targets[0, :, :t_steps], jnp.float64)
    trunc = jnp.asarray(np.arange(tut.n_in) % 3 == 0)[None].repeat(2, axis=0)
    online = nest.nest_batch_gradients(net, cfg, w, x, y, trunc, implementation="online")
    fact = nest.nest_batch_gradients(net, cfg, w, x, y, trunc, implementation="factored")
    for name in ("grad_in", "grad_rec", "grad_out"):
        a, b = np.asarray(getattr(online, name)), np.asarray(getattr(fact, name))
        assert np.max(np.abs(a)) > 0
        np.testing.assert_allclose(b, a, rtol=1e-9, atol=1e-12 * np.max(np.abs(a)))
    assert float(fact.loss) == pytest.approx(float(online.loss), rel=1e-12)
