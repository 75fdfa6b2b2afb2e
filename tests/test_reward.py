"""Reward-based e-prop (``reward.py``): the paper's online update equals stop-gradient autodiff of
the surrogate objective, the factored form equals both, and the value readout follows TD."""

import re

import jax
import jax.numpy as jnp
import numpy as np
import pytest

import eprop_jax as ej
from eprop_jax import reward as rw

from helpers import rel_err, small_network, strong_weights

TOL = 1e-10


def random_episode(key, net, t=20, b=2, n_actions=2, dtype=jnp.float64):
    """Bernoulli observations, random actions and rewards; episode 0 ends early (step 13)."""
    k_x, k_a, k_r = jax.random.split(key, 3)
    inputs = (jax.random.uniform(k_x, (t, b, net.n_in)) < 0.3).astype(dtype)
    actions = jax.random.randint(k_a, (t, b), 0, n_actions)
    rewards = jax.random.normal(k_r, (t, b), dtype)
    mask = jnp.ones((t, b), dtype).at[14:, 0].set(0.0)
    return rw.Episode(inputs, actions, rewards, mask)


def run_all(net, weights, episode, config, feedback, reg):
    return {
        name: engine(net, weights, episode, config=config, feedback=feedback, regularization=reg)
        for name, engine in rw.ENGINES.items()
    }


@pytest.mark.parametrize(
    ("population", "model", "feedback", "c_reg"),
    [
        ("lif", "alif", "random", 0.0),
        ("alif", "alif", "adaptive", 0.5),
        ("mixed", "psc_delta", "symmetric", 0.5),
        ("mixed", "alif", "symmetric", 0.5),
    ],
)
def test_online_and_factored_equal_autodiff_of_the_surrogate(
    population, model, feedback, c_reg, getkey
):
    net = small_network(population, 2.0, n_out=3, model=model)
    weights = strong_weights(net, getkey())
    episode = random_episode(getkey(), net)
    config = rw.actor_critic(2, gamma=0.9, c_value=0.5, c_entropy=0.1)
    reg = ej.rate_regularization(c_reg, f_target=20.0)
    results = run_all(net, weights, episode, config, feedback, reg)
    reference, ref_aux = results["autodiff"]
    for name in ("online", "factored"):
        grads, aux = results[name]
        for field in ("w_in", "w_rec", "w_out", "b_out", "b_fb"):
            ref = getattr(reference, field)
            if field != "b_fb" or feedback == "adaptive":
                assert float(jnp.max(jnp.abs(ref))) > 0, f"{field} is trivially zero"
            assert rel_err(getattr(grads, field), ref) <= TOL, (name, field)
        for field in rw.RewardAux._fields:
            assert rel_err(getattr(aux, field), getattr(ref_aux, field)) <= TOL, (name, field)
    if feedback == "adaptive":
        assert rel_err(reference.b_fb, reference.w_out.T) == 0.0


def test_surrogate_advantage_is_return_minus_value(getkey):
    config = rw.actor_critic(2, gamma=0.8)
    values = jax.random.normal(getkey(), (6, 2), jnp.float64)
    rewards = jax.random.normal(getkey(), (6, 2), jnp.float64)
    mask = jnp.ones((6, 2), jnp.float64).at[4:, 1].set(0.0)
    psi = rw.advantages(config, values, rewards, mask)
    for b, length in ((0, 6), (1, 4)):
        for t in range(length):
            ret = sum(0.8 ** (s - t) * float(rewards[s, b]) for s in range(t, length))
            assert abs(float(psi[t, b]) - (ret - float(values[t, b]))) < 1e-12
        assert np.all(np.asarray(psi[length:, b]) == 0.0)


def test_value_readout_gradient_is_the_td_gradient_by_hand(getkey):
    """Three steps, one episode, no entropy: the value row of W_out and its bias descend
    -(c_V/N) sum_t delta_t F_gamma(dV/dw)_t, with dV_t/dW^V_j = zbar_{t,j} (readout filter)."""
    net = small_network("mixed", 0.0, n_in=3, n_rec=8, n_out=3)
    gamma, c_value, t_steps = 0.7, 0.5, 3
    config = rw.actor_critic(2, gamma=gamma, c_value=c_value, c_entropy=0.0)
    for _ in range(20):
        weights = strong_weights(net, getkey())
        episode = random_episode(getkey(), net, t=t_steps, b=1)._replace(
            inputs=jnp.ones((t_steps, 1, 3), jnp.float64),
            mask=jnp.ones((t_steps, 1), jnp.float64),
        )
        z = np.asarray(ej.simulate(net, weights, episode.inputs).z[:, 0])
        if z.sum() > 0:
            break
    kappa = float(net.readout.kappa)
    w_v, b_v = np.asarray(weights.w_out[2]), float(weights.b_out[2])
    r = np.asarray(episode.rewards[:, 0])
    # By hand: filtered spikes, values, TD errors, then the gamma-filtered value gradient.
    z_bar, bias_bar, values = [], [], []
    zb, bb, v = np.zeros(8), 0.0, 0.0
    for t in range(t_steps):
        zb = kappa * zb + (1 - kappa) * z[t]
        bb = kappa * bb + (1 - kappa)
        v = kappa * v + (1 - kappa) * (w_v @ z[t] + b_v)
        z_bar.append(zb)
        bias_bar.append(bb)
        values.append(v)
    delta = [
        r[t] + gamma * (values[t + 1] if t + 1 < t_steps else 0.0) - values[t] for t in range(3)
    ]
    grad_w, grad_b = np.zeros(8), 0.0
    for t in range(t_steps):
        f_w = sum(gamma ** (t - s) * z_bar[s] for s in range(t + 1))
        f_b = sum(gamma ** (t - s) * bias_bar[s] for s in range(t + 1))
        grad_w = grad_w - c_value * delta[t] * f_w / t_steps
        grad_b = grad_b - c_value * delta[t] * f_b / t_steps
    grads, aux = rw.reward_eprop_online(net, weights, episode, config=config)  # paper's form
    assert np.max(np.abs(np.asarray(grads.w_out[2]) - grad_w)) < 1e-12
    assert abs(float(grads.b_out[2]) - grad_b) < 1e-12
    assert abs(float(aux.td_error) - np.mean(np.square(delta))) < 1e-12
    assert np.max(np.abs(grad_w)) > 0


def test_online_memory_does_not_grow_with_episode_length(getkey):
    net = small_network("mixed", 2.0, n_out=3)
    weights = strong_weights(net, getkey())
    config = rw.actor_critic(2)
    sizes = []
    for t in (10, 40):
        episode = random_episode(getkey(), net, t=t)
        lowered = jax.jit(lambda w, e: rw.reward_eprop_online(net, w, e, config=config)).lower(
            weights, episode
        )
        text = lowered.as_text()
        sizes.append(len(re.findall(r"tensor<40x|tensor<10x", text)))
    # the only T-sized tensors are the episode's own arrays and their slicing: same count
    assert sizes[0] == sizes[1] > 0


def test_bad_inputs_name_the_parameter(getkey):
    net = small_network("lif", 2.0, n_out=2)
    weights = strong_weights(net, getkey())
    episode = random_episode(getkey(), net)
    config = rw.actor_critic(2)
    with pytest.raises(ValueError, match=re.escape("needs n_out = n_actions + 1 = 3 readouts")):
        rw.reward_eprop_online(net, weights, episode, config=config)
    with pytest.raises(ValueError, match=re.escape("gamma must be in [0, 1]; got 1.5")):
        rw.actor_critic(2, gamma=1.5)
    with pytest.raises(ValueError, match=re.escape("n_actions must be an integer >= 1; got 0")):
        rw.actor_critic(0)
    net3 = small_network("lif", 2.0, n_out=3)
    weights3 = strong_weights(net3, getkey())
    with pytest.raises(ValueError, match=re.escape("episode.actions")):
        rw.reward_eprop_factored(
            net3, weights3, episode._replace(actions=episode.actions[:5]), config=config
        )
