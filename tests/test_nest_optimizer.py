"""NEST-exact mode, the optimiser: NEST's Adam form and gradient descent as an optax
transformation that returns updates, with the clipping as a projection."""

import functools
import math

import jax
import jax.numpy as jnp
import numpy as np
import optax
import pytest

from eprop_jax import nest


def test_nest_adam_form():
    """eps outside the square root, bias correction in the step size, clipping after the step."""
    b1, b2, eps, eta = 0.9, 0.999, 1e-3, 0.1
    cfg = nest.NestOptimizerConfig("adam", 1, eta, eta, b1, b2, eps, -1.0, 0.45)
    opt, project = nest.nest_optimizer(cfg), nest.nest_projection(cfg)
    w = jnp.array([0.5, -0.2, 0.0], jnp.float64)
    grads = [jnp.array([2.0, -1e-4, 0.0], jnp.float64), jnp.array([-1.0, 3e-4, 0.0], jnp.float64)]
    state = opt.init(w)
    m = v = np.zeros(3)
    expected = np.asarray(w)
    for t, g in enumerate(grads, start=1):
        updates, state = opt.update(g, state, w)
        w = project(optax.apply_updates(w, updates))
        g = np.asarray(g)
        m, v = b1 * m + (1 - b1) * g, b2 * v + (1 - b2) * g * g
        alpha = eta * math.sqrt(1 - b2**t) / (1 - b1**t)
        expected = np.clip(expected - alpha * m / (np.sqrt(v) + eps), -1.0, 0.45)
        np.testing.assert_allclose(np.asarray(w), expected, rtol=1e-12)
    # the textbook (optax) form, eps added to sqrt(v_hat), differs for small gradients
    m_hat, v_hat = m / (1 - b1**2), v / (1 - b2**2)
    assert (
        abs(m_hat[1] / (np.sqrt(v_hat[1]) + eps) - m[1] * alpha / eta / (np.sqrt(v[1]) + eps))
        > 1e-3
    )
    assert float(w[0]) == 0.45 or float(w[0]) < 0.45  # clipped to w_max


def test_gradient_descent_and_first_eta():
    cfg = nest.NestOptimizerConfig("gradient_descent", 1, 0.1, 0.0, 0.9, 0.999, 1e-8, -5.0, 5.0)
    opt, project = nest.nest_optimizer(cfg), nest.nest_projection(cfg)
    w = jnp.array([1.0], jnp.float64)
    state = opt.init(w)
    updates, state = opt.update(jnp.array([2.0], jnp.float64), state, w)
    w = project(optax.apply_updates(w, updates))
    assert float(w[0]) == 1.0  # first step: eta_first = 0
    updates, state = opt.update(jnp.array([2.0], jnp.float64), state, w)
    w = project(optax.apply_updates(w, updates))
    assert float(w[0]) == pytest.approx(0.8)


def _in_place_reference(cfg: nest.NestOptimizerConfig):
    """The optimiser before it became an optax transformation: ``update`` returned the new,
    clipped weights ``clip(w - step)`` (the package docstring's equations, written in place)."""

    def update(grads, state, params, eta):
        clip = functools.partial(jnp.clip, min=cfg.w_min, max=cfg.w_max)
        if cfg.kind == "gradient_descent":
            new = jax.tree.map(lambda w, g, e: clip(w - e * g), params, grads, eta)
            return new, state._replace(count=state.count + 1)
        b1_power, b2_power = state.beta_1_power * cfg.beta_1, state.beta_2_power * cfg.beta_2
        m = jax.tree.map(lambda m, g: cfg.beta_1 * m + (1.0 - cfg.beta_1) * g, state.m, grads)
        v = jax.tree.map(lambda v, g: cfg.beta_2 * v + (1.0 - cfg.beta_2) * g * g, state.v, grads)

        def step(w, m, v, e):
            alpha = e * jnp.sqrt(1.0 - b2_power) / (1.0 - b1_power)
            return clip(w - alpha * m / (jnp.sqrt(v) + cfg.epsilon))

        new = jax.tree.map(step, params, m, v, eta)
        return new, nest.NestOptimizerState(m, v, b1_power, b2_power, state.count + 1)

    return update


@pytest.mark.parametrize("kind", ["gradient_descent", "adam"])
def test_updates_plus_projection_equal_the_in_place_step_bitwise(kind):
    """optax form (updates, apply_updates, projection) == the old in-place form, bit for bit, under
    jit, with per-synapse (per-column) learning rates and a bound that is reached."""
    cfg = nest.NestOptimizerConfig(kind, 1, 0.05, 0.02, 0.9, 0.999, 1e-8, -0.3, 0.25)
    opt, project = nest.nest_optimizer(cfg), nest.nest_projection(cfg)
    reference = jax.jit(_in_place_reference(cfg))
    rng = np.random.default_rng(0)
    params = (jnp.asarray(rng.normal(0, 0.1, (4, 3))), jnp.asarray(rng.normal(0, 0.1, (2, 4))))
    eta = (jnp.asarray([0.01, 0.0, 0.3])[None, :], jnp.asarray([0.02, 0.5, 0.0, 0.1])[None, :])

    @jax.jit
    def optax_step(params, state, grads, eta):
        updates, state = opt.update(grads, state, params, eta=eta)
        return project(optax.apply_updates(params, updates)), state

    new, old = params, params
    new_state = old_state = opt.init(params)
    for _ in range(5):
        grads = jax.tree.map(lambda w: jnp.asarray(rng.normal(0, 1.0, w.shape)), params)
        new, new_state = optax_step(new, new_state, grads, eta)
        old, old_state = reference(grads, old_state, old, eta)
        for a, b in zip(
            jax.tree.leaves((new, new_state)), jax.tree.leaves((old, old_state)), strict=True
        ):
            np.testing.assert_array_equal(a, b)
    clipped = np.concatenate([np.ravel(w) for w in new])
    assert np.any(clipped == 0.25) or np.any(clipped == -0.3)  # the projection was active
    assert not np.array_equal(new[0], params[0])
    np.testing.assert_array_equal(new[0][:, 1], params[0][:, 1])  # eta 0: that column stays


def test_is_an_optax_transformation_returning_updates():
    """update returns updates (-eta G), needs no params, and chains with other optax transforms;
    the default rates follow the first-eta rule, the state keeps its dtypes under jit."""
    cfg = nest.NestOptimizerConfig("gradient_descent", 1, 0.1, 0.4, 0.9, 0.999, 1e-8, -5.0, 5.0)
    opt = nest.nest_optimizer(cfg)
    assert isinstance(opt, optax.GradientTransformationExtraArgs)
    g = {"a": jnp.array([2.0, -1.0]), "b": jnp.array([[0.5]])}
    state = opt.init(g)
    first, state = jax.jit(opt.update)(g, state)
    np.testing.assert_array_equal(first["a"], -(0.4 * g["a"]))  # eta_first
    second, state = jax.jit(opt.update)(g, state)
    np.testing.assert_array_equal(second["b"], -(0.1 * g["b"]))  # then eta
    assert state.count.dtype == jnp.int32 and int(state.count) == 2
    chained = optax.chain(opt, optax.scale(2.0))
    eta = {"a": jnp.array([1.0, 0.0]), "b": jnp.array([[3.0]])}
    updates, _ = chained.update(g, chained.init(g), eta=eta)
    np.testing.assert_array_equal(updates["a"], [-4.0, 0.0])
    np.testing.assert_array_equal(updates["b"], [[-3.0]])


def test_projection_clips_every_leaf():
    cfg = nest.NestOptimizerConfig("adam", 1, 0.1, None, 0.9, 0.999, 1e-8, -1.0, 0.5)
    tree = (jnp.array([-3.0, 0.2, 2.0]), jnp.array([[0.7, -1.0]]))
    out = nest.nest_projection(cfg)(tree)
    np.testing.assert_array_equal(out[0], [-1.0, 0.2, 0.5])
    np.testing.assert_array_equal(out[1], [[0.5, -1.0]])
