"""Data-parallel training: 4 forced CPU devices give the single-device gradients and weights.

XLA_FLAGS must be set before JAX starts, so the checks run in a child Python process.
"""

import os
import subprocess
import sys
import textwrap
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]

CHILD = textwrap.dedent(
    """
    import jax, jax.numpy as jnp, numpy as np
    jax.config.update("jax_enable_x64", True)
    import eprop_jax as ej
    from eprop_jax.parallel import batch_mesh, replicate, shard_batch
    from eprop_jax.tasks import evidence_accumulation
    from eprop_jax.train import TrainConfig, train

    assert jax.device_count() == 4, jax.devices()
    mesh = batch_mesh()
    net = ej.network(40, 16, 2, n_alif=8)
    weights = ej.init_weights(net, jax.random.key(0), dtype=jnp.float64)
    batch, _ = evidence_accumulation(jax.random.key(1), 8, delay=100.0, dtype=jnp.float64)
    sharded = shard_batch(batch, mesh)
    assert len(sharded.inputs.sharding.device_set) == 4
    options = {"loss": "cross_entropy", "regularization": ej.rate_regularization(1.0)}
    for name in ("bptt", "eprop", "eprop-factored"):
        rule = jax.jit(ej.make_rule(name, net, **options))
        single, _ = rule(weights, batch)
        split, _ = rule(replicate(weights, mesh), sharded)
        for a, b in zip(jax.tree.leaves(split), jax.tree.leaves(single)):
            scale = float(jnp.max(jnp.abs(b)))
            err = float(jnp.max(jnp.abs(a - b))) / (scale if scale > 0 else 1.0)
            assert err <= 1e-12, (name, err)

    small = dict(task="evidence_accumulation", iterations=3, batch_size=8, eval_interval=0,
                 network={"n_rec": 16}, task_options={"delay": 100.0})
    one = train(TrainConfig(**small), progress=False)
    four = train(TrainConfig(**small, data_parallel=True), progress=False)
    assert len(four.weights.w_rec.sharding.device_set) == 4
    for a, b in zip(jax.tree.leaves(four.weights), jax.tree.leaves(one.weights)):
        np.testing.assert_allclose(np.asarray(a), np.asarray(b), rtol=1e-4, atol=1e-6)
    try:
        train(TrainConfig(**{**small, "batch_size": 6}, data_parallel=True), progress=False)
    except ValueError as error:
        assert "batch_size=6 must be a multiple of the number of devices (4)" in str(error)
    else:
        raise AssertionError("batch 6 over 4 devices must be refused")
    print("ok")
    """
)


@pytest.mark.slow
def test_data_parallel_matches_one_device(tmp_path):
    env = {
        **os.environ,
        "XLA_FLAGS": "--xla_force_host_platform_device_count=4",
        "PYTHONPATH": os.pathsep.join(
            filter(None, [str(ROOT / "src"), os.environ.get("PYTHONPATH")])
        ),
    }
    proc = subprocess.run(
        [sys.executable, "-c", CHILD],
        env=env,
        cwd=tmp_path,
        capture_output=True,
        text=True,
        timeout=600,
    )
    assert proc.returncode == 0, proc.stderr[-6000:]
    assert proc.stdout.strip().endswith("ok")
