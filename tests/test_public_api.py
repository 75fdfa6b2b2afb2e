"""The public API for your own loops: a static, jit-able Network and the pieces of network_step."""

import jax
import jax.numpy as jnp
import numpy as np

import eprop_jax as ej

from helpers import random_batch, small_network, strong_weights


def test_simulate_jits_with_the_network_as_an_argument(getkey):
    """``jax.jit(ej.simulate)(net, weights, x)`` works, equals the eager call, and an equal
    network (built again) reuses the compilation."""
    net = small_network("mixed", 2.0)
    weights = strong_weights(net, getkey())
    inputs = random_batch(getkey(), net).inputs
    simulate = jax.jit(ej.simulate)
    traj = simulate(net, weights, inputs)
    eager = ej.simulate(net, weights, inputs)
    assert float(jnp.sum(traj.z)) > 0
    np.testing.assert_array_equal(traj.z, eager.z)
    np.testing.assert_allclose(traj.y, eager.y, rtol=1e-12, atol=1e-14)
    simulate(small_network("mixed", 2.0), weights, inputs)
    assert simulate._cache_size() == 1
    leaves = jax.tree.leaves(net)
    assert len(leaves) == len(net.neuron) + len(net.readout)


def test_own_loop_with_exported_pieces_equals_simulate(getkey):
    """A user's Python loop over ``network_step`` built from exported names only."""
    net = small_network("alif", 3.0)
    weights = strong_weights(net, getkey())
    inputs = random_batch(getkey(), net).inputs
    net_c = ej.cast(net, jnp.float64)
    assert net_c.neuron.alpha.dtype == jnp.float64
    assert ej.cast_params(net.neuron, jnp.float32).n_refractory.dtype == jnp.int32
    state = ej.init_state(net, inputs.shape[1], jnp.float64)
    assert isinstance(state, ej.NetworkState)
    ys = []
    for current in ej.input_currents(weights, inputs):
        state, (y, _) = ej.network_step(net_c, weights, state, current)
        ys.append(y)
    np.testing.assert_allclose(
        jnp.stack(ys), ej.simulate(net, weights, inputs).y, rtol=1e-12, atol=1e-14
    )


def test_reward_based_eprop_is_exported():
    """The reward-based rule's public names are re-exported at the top level, and they are the
    objects of eprop_jax.reward (not copies)."""
    from eprop_jax import reward

    for name in (
        "ActorCritic",
        "Episode",
        "RewardAux",
        "actor_critic",
        "reward_eprop_autodiff",
        "reward_eprop_factored",
        "reward_eprop_online",
    ):
        assert getattr(ej, name) is getattr(reward, name)
    assert ej.actor_critic(2, gamma=0.5).gamma == 0.5
