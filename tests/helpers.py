"""Small random networks and batches shared by the tests (float64 unless asked)."""

import importlib.util
from pathlib import Path

import jax
import jax.numpy as jnp

import eprop_jax as ej

POPULATIONS = {"lif": 0, "alif": 8, "mixed": 4}


def small_network(population="mixed", refractory=2.0, n_in=3, n_rec=8, n_out=2, **kw):
    """A small network whose ALIF rows adapt strongly enough to matter in 30 steps."""
    n_alif = POPULATIONS[population]
    beta = kw.pop("beta", 0.3)
    return ej.network(
        n_in,
        n_rec,
        n_out,
        n_alif=n_alif,
        tau_m=kw.pop("tau_m", 20.0),
        tau_a=kw.pop("tau_a", 50.0),
        beta=beta,
        thr=kw.pop("thr", 0.6),
        refractory=refractory,
        **kw,
    )


def random_batch(key, net, loss="mse", t=30, b=2, rate=0.3, dtype=jnp.float64, window=10):
    """Bernoulli inputs, random targets (one-hot for cross-entropy), loss on the last steps."""
    k_x, k_y = jax.random.split(key)
    inputs = (jax.random.uniform(k_x, (t, b, net.n_in)) < rate).astype(dtype)
    if loss == "mse":
        targets = jax.random.normal(k_y, (t, b, net.n_out), dtype)
    else:
        labels = jax.random.randint(k_y, (b,), 0, net.n_out)
        targets = jnp.broadcast_to(
            jax.nn.one_hot(labels, net.n_out, dtype=dtype), (t, b, net.n_out)
        )
    mask = jnp.zeros((t, b), dtype).at[t - window :].set(1)
    return ej.Batch(inputs, targets, mask)


def strong_weights(net, key, dtype=jnp.float64):
    """Weights scaled up so that neurons spike a lot in a short sequence."""
    return ej.init_weights(net, key, dtype=dtype, input_gain=1.5, recurrent_gain=1.0)


def rel_err(a, b):
    """max|a - b| / max|b| (or max|a| when b is all zero)."""
    a, b = jnp.asarray(a), jnp.asarray(b)
    den = jnp.max(jnp.abs(b))
    return float(jnp.max(jnp.abs(a - b)) / jnp.where(den > 0, den, 1.0))


def active_case(getkey, net, loss="mse", dtype=jnp.float64):
    """Weights and a batch on which the network is informative, checked rather than hoped for.

    The network must spike at a moderate rate, its pseudo-derivative must often be non-zero, and
    the stop-gradient autodiff gradient (the reference of most exactness tests) must be non-zero in
    every weight matrix, so no compared gradient is trivially zero. Draws come from ``getkey``
    (seeded by the test's name), so the case found is the same on every run.
    """
    reference = ej.eprop_autodiff(net, loss=loss)
    for _ in range(50):
        weights = strong_weights(net, getkey(), dtype)
        batch = random_batch(getkey(), net, loss, dtype=dtype)
        traj = ej.simulate(net, weights, batch.inputs, record=True)
        rate, active = float(jnp.mean(traj.z)), float(jnp.mean(traj.psi > 0))
        if not (0.02 < rate < 0.45 and active > 0.05):
            continue
        grads, _ = reference(weights, batch)
        if all(float(jnp.max(jnp.abs(g))) > 0 for g in (grads.w_in, grads.w_rec, grads.w_out)):
            return weights, batch
    raise AssertionError("no informative random network found in 50 draws")


SCRIPTS = Path(__file__).resolve().parents[1] / "scripts"


def load_script(name: str):
    """Import ``scripts/<name>.py`` as a module (the scripts are not a package)."""
    spec = importlib.util.spec_from_file_location(name, SCRIPTS / f"{name}.py")
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module
