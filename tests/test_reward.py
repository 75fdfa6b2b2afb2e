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


def test_truncation_bootstrap_equals_autodiff_and_the_folded_last_reward(getkey):
    """An episode cut at T with the value b after the window: the online, factored and autodiff
    forms equal autodiff of the uncut surrogate with gamma b added to the last alive reward
    (delta_T = r_T + gamma b - V_T); episode 0 ended at step 13, so its b must not count."""
    net = small_network("mixed", 2.0, n_out=3)
    weights = strong_weights(net, getkey())
    episode = random_episode(getkey(), net)
    bootstrap = jax.random.normal(getkey(), (2,), jnp.float64)
    cut = episode._replace(bootstrap=bootstrap)
    config = rw.actor_critic(2, gamma=0.9, c_value=0.5, c_entropy=0.1)
    reg = ej.rate_regularization(0.5, f_target=20.0)
    folded = episode._replace(
        rewards=episode.rewards.at[-1].add(config.gamma * bootstrap * episode.mask[-1])
    )
    values = jax.random.normal(getkey(), (20, 2), jnp.float64)
    psi_cut = rw.advantages(config, values, cut.rewards, cut.mask, bootstrap)
    psi_folded = rw.advantages(config, values, folded.rewards, folded.mask)
    assert rel_err(psi_cut, psi_folded) <= TOL
    assert rel_err(psi_cut, rw.advantages(config, values, cut.rewards, cut.mask)) > 1e-3
    reference, ref_aux = rw.reward_eprop_autodiff(
        net, weights, folded, config=config, feedback="random", regularization=reg
    )
    for name in ("online", "factored", "autodiff"):
        grads, aux = rw.ENGINES[name](
            net, weights, cut, config=config, feedback="random", regularization=reg
        )
        for field in ("w_in", "w_rec", "w_out", "b_out"):
            assert rel_err(getattr(grads, field), getattr(reference, field)) <= TOL, (name, field)
        assert rel_err(aux.td_error, ref_aux.td_error) <= TOL, name
    with pytest.raises(ValueError, match=re.escape("episode.bootstrap")):
        rw.reward_eprop_factored(
            net, weights, episode._replace(bootstrap=bootstrap[:1]), config=config
        )


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
    """XLA's own count of scratch memory: the online form's is the same at T = 10 and T = 400
    (the episode itself is an argument), while the factored form's grows with T (so the
    measurement can tell)."""
    net = small_network("mixed", 2.0, n_out=3)
    weights = strong_weights(net, getkey())
    config = rw.actor_critic(2)
    temp = {}
    for name in ("online", "factored"):
        for t in (10, 400):
            episode = random_episode(getkey(), net, t=t)
            episode = episode._replace(actions=episode.actions.astype(jnp.int32))
            engine = rw.ENGINES[name]
            step = jax.jit(lambda w, e, engine=engine: engine(net, w, e, config=config))
            memory = step.lower(weights, episode).compile().memory_analysis()
            temp[name, t] = memory.temp_size_in_bytes
    assert temp["online", 400] <= temp["online", 10] * 1.01 + 256, temp
    assert temp["factored", 400] > 10 * temp["factored", 10], temp


def test_one_descent_step_raises_the_taken_actions_probability_and_the_value(getkey):
    """One step, action 1 taken, reward far above V (advantage > 0): after one small descent step
    on the gradient, pi(1) and V rise (on the same spikes)."""
    net = small_network("mixed", 2.0, n_out=3)
    config = rw.actor_critic(2, gamma=0.9, c_value=0.5, c_entropy=0.0)
    weights = strong_weights(net, getkey())
    inputs = (jax.random.uniform(getkey(), (1, 1, net.n_in)) < 0.5).astype(jnp.float64)
    y0 = ej.simulate(net, weights, inputs).y[0, 0]
    episode = rw.Episode(
        inputs, jnp.ones((1, 1), jnp.int32), y0[2:][None] + 5.0, jnp.ones((1, 1), jnp.float64)
    )
    for name in ("online",):  # the paper's form; the engines agree (tests above)
        grads, _ = rw.ENGINES[name](net, weights, episode, config=config, feedback="symmetric")
        stepped = jax.tree.map(lambda w, g: w - 1e-2 * g, weights, grads)
        y1 = ej.simulate(net, stepped, inputs).y[0, 0]
        pi0, v0 = rw.policy_and_value(y0, 2)
        pi1, v1 = rw.policy_and_value(y1, 2)
        assert float(pi1[1]) > float(pi0[1]) + 1e-6, name
        assert float(v1) > float(v0) + 1e-6, name


def test_hand_worked_case_gamma_filtered_td_error_equals_the_monte_carlo_form():
    """One LIF neuron, one input, three steps, every number by hand (kappa = 1/2, gamma = 1/2).

    Spikes z = (1, 0, 1), value row w^V = 2, policy rows and biases 0 (pi = (1/2, 1/2)),
    rewards (0, 0, 1), actions (0, 1, 0), c_V = 1, c_H = 0:
    zbar = (1/2, 1/4, 5/8), V = w^V zbar = (1, 1/2, 5/4),
    delta = (0 + 1/2 * 1/2 - 1, 0 + 1/2 * 5/4 - 1/2, 1 - 5/4) = (-3/4, 1/8, -1/4),
    G = (1/4, 1/2, 1), Psi = G - V = (-3/4, 0, -1/4).
    The gamma-filtered TD error form sum_t delta_t F_gamma(zbar)_t (F_gamma(zbar) = (1/2, 1/2,
    7/8)) and the Monte-Carlo return form sum_t Psi_t zbar_t (TD(lambda = 1), forward view) both
    give -17/32, so dJ/dw^V = -(c_V/N) (-17/32) = 17/96 with N = 3; the value bias (bbar =
    (1/2, 3/4, 7/8)): 19/96; the policy row of action 0: (1/N) sum_t Psi_t (pi_t - 1[a_t = 0])
    zbar_t = (1/3)(3/16 + 0 + 5/64) = 17/192 (action 1: -17/192); policy biases +-19/192; the
    mean squared TD error 41/192.
    """
    net = ej.network(1, 1, 3, tau_out=1.0 / np.log(2.0), refractory=0.0)
    f64 = jnp.float64
    weights = ej.init_weights(net, jax.random.key(0), dtype=f64)._replace(
        w_in=jnp.ones((1, 1), f64),
        w_rec=jnp.zeros((1, 1), f64),
        w_out=jnp.array([[0.0], [0.0], [2.0]], f64),
        b_out=jnp.zeros((3,), f64),
    )
    inputs = jnp.array([1.0, 0.0, 1.0], f64).reshape(3, 1, 1)
    trajectory = ej.simulate(net, weights, inputs)
    np.testing.assert_allclose(trajectory.z[:, 0, 0], [1.0, 0.0, 1.0])  # the given spikes
    np.testing.assert_allclose(trajectory.y[:, 0, 2], [1.0, 0.5, 1.25], atol=1e-12)
    episode = rw.Episode(
        inputs,
        jnp.array([[0], [1], [0]], jnp.int32),
        jnp.array([[0.0], [0.0], [1.0]], f64),
        jnp.ones((3, 1), f64),
    )
    config = rw.actor_critic(2, gamma=0.5, c_value=1.0, c_entropy=0.0)
    psi = rw.advantages(config, trajectory.y[:, :, 2], episode.rewards, episode.mask)
    np.testing.assert_allclose(psi[:, 0], [-0.75, 0.0, -0.25], atol=1e-12)
    for name, engine in rw.ENGINES.items():
        grads, aux = engine(net, weights, episode, config=config, feedback="symmetric")
        np.testing.assert_allclose(
            grads.w_out[:, 0], [17 / 192, -17 / 192, 17 / 96], atol=1e-12, err_msg=name
        )
        np.testing.assert_allclose(
            grads.b_out, [19 / 192, -19 / 192, 19 / 96], atol=1e-12, err_msg=name
        )
        assert abs(float(aux.td_error) - 41 / 192) < 1e-12, name


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
