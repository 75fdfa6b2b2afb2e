"""Agreement of online e-prop with stop-gradient autodiff, and alignment with BPTT (JSON lines).

At the evidence-accumulation size (40 inputs, 50 LIF + 50 ALIF, 2250 steps, cross-entropy on the
recall window, rate regularisation), on one batch, in float32 and float64:
- ``max|g_online - g_autodiff| / max|g_autodiff|`` per weight matrix (they are equal in exact
  arithmetic, so this measures float rounding);
- cosine similarity and norm ratio of each e-prop variant's gradient to BPTT's.

Usage: python scripts/gradient_agreement.py [--batch-size 8]
"""

from __future__ import annotations

import argparse
import json

import jax
import jax.numpy as jnp

import eprop_jax as ej
from eprop_jax.tasks import evidence_accumulation

jax.config.update("jax_enable_x64", True)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--batch-size", type=int, default=8)
    parser.add_argument("--seed", type=int, default=0)
    args = parser.parse_args()
    net = ej.network(40, 100, 2, n_alif=50)
    reg = ej.rate_regularization(2.0, 10.0)
    options = {"loss": "cross_entropy", "regularization": reg}
    for dtype in (jnp.float32, jnp.float64):
        key = jax.random.key(args.seed)
        weights = ej.init_weights(net, key, dtype=dtype, feedback_std=1.0)
        batch, _ = evidence_accumulation(jax.random.fold_in(key, 1), args.batch_size, dtype=dtype)
        online, _ = jax.jit(ej.eprop(net, **options))(weights, batch)
        autodiff, _ = jax.jit(ej.eprop_autodiff(net, **options))(weights, batch)
        rel = {}
        for name in ("w_in", "w_rec", "w_out", "b_out"):
            a, b = getattr(online, name), getattr(autodiff, name)
            rel[name] = float(jnp.max(jnp.abs(a - b)) / jnp.max(jnp.abs(b)))
        print(
            json.dumps(
                {
                    "measure": "online_vs_autodiff_rel_error",
                    "dtype": jnp.dtype(dtype).name,
                    "batch": args.batch_size,
                    **rel,
                }
            ),
            flush=True,
        )
        rules = {
            f"eprop/{fb}": ej.eprop(net, feedback=fb, **options)
            for fb in ("symmetric", "random", "adaptive")
        }
        table = ej.compare_rules(rules, weights, batch, reference=ej.bptt(net, **options))
        print(
            json.dumps(
                {
                    "measure": "alignment_with_bptt",
                    "dtype": jnp.dtype(dtype).name,
                    "batch": args.batch_size,
                    "alignment": table,
                }
            ),
            flush=True,
        )


if __name__ == "__main__":
    main()
