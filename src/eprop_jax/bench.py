"""Speed and memory benchmark: one JSON object per measurement, each in a fresh process.

For each method and size it reports the median and minimum milliseconds per call after
compilation, the compile time (first call), and the peak memory: the process's peak RSS on CPU
(which includes the JAX runtime, about 250 MB), or the device's peak bytes in use on GPU.

Methods (all on one batch of random input spikes, cross-entropy on the last 150 steps, rate
regularisation on):

============== =================================================================
``forward``     :func:`~eprop_jax.network.simulate` and the loss only
``bptt``        :func:`~eprop_jax.rules.bptt` (``jax.grad`` through the scan)
``eprop``       online e-prop (:func:`~eprop_jax.rules.eprop`), memory flat in T
``eprop-factored``  the same gradient offline and factored (fast, memory O(T B n))
``eprop-autodiff``  stop-gradient autodiff (same gradients as ``eprop``)
``tbptt``       truncated BPTT with windows of 100 steps (memory O(window))
``train-step``  one full training iteration (task sampling excluded) with online e-prop
============== =================================================================

Usage::

    eprop-jax bench [--quick] [--methods ...] [--memory-series]
    python -m eprop_jax.bench ...
"""

from __future__ import annotations

import argparse
import json
import platform
import resource
import statistics
import subprocess
import sys
import time
from collections.abc import Sequence

SIZES = {
    "evidence_accumulation": {"n_in": 40, "n_rec": 100, "n_alif": 50, "n_out": 2, "T": 2250,
                              "batch": 64},
    "large": {"n_in": 40, "n_rec": 512, "n_alif": 256, "n_out": 2, "T": 1000, "batch": 64},
    "quick": {"n_in": 40, "n_rec": 100, "n_alif": 50, "n_out": 2, "T": 500, "batch": 16},
}  # fmt: skip
METHODS = ("forward", "bptt", "eprop", "eprop-factored", "eprop-autodiff", "tbptt", "train-step")
TBPTT_WINDOW = 100


def _measure(method: str, size: dict, reps: int, seed: int = 0) -> dict:
    """Run in the current process; returns the measurement."""
    import jax
    import jax.numpy as jnp
    import optax

    import eprop_jax as ej
    from eprop_jax.losses import cross_entropy_step, task_loss

    t_steps, n_batch = size["T"], size["batch"]
    n_networks = size.get("networks", 1)
    net = ej.network(size["n_in"], size["n_rec"], size["n_out"], n_alif=size["n_alif"])
    key = jax.random.key(seed)
    weights = ej.init_weights(net, key)
    if n_networks > 1:  # independent networks (e.g. a seed sweep) on the same batch, vmapped
        keys = jax.random.split(key, n_networks)
        weights = jax.vmap(lambda k: ej.init_weights(net, k))(keys)
    k_x, k_y = jax.random.split(jax.random.fold_in(key, 1))
    inputs = (jax.random.uniform(k_x, (t_steps, n_batch, size["n_in"])) < 0.04).astype(jnp.float32)
    labels = jax.random.randint(k_y, (n_batch,), 0, size["n_out"])
    targets = jnp.broadcast_to(
        jax.nn.one_hot(labels, size["n_out"]), (t_steps, n_batch, size["n_out"])
    )
    mask = jnp.zeros((t_steps, n_batch)).at[-150:].set(1.0)
    batch = ej.Batch(inputs, targets, mask)
    options = {"loss": "cross_entropy", "regularization": ej.rate_regularization(2.0)}

    if method == "forward":

        def fn(w, b):
            traj = ej.simulate(net, w, b.inputs)
            return task_loss(cross_entropy_step, traj.y, b.targets, b.mask)
    elif method == "train-step":
        rule = ej.eprop(net, feedback="random", **options)
        opt = optax.adam(5e-3)
        state = opt.init(weights)

        def fn(w, b):
            grads, aux = rule(w, b)
            updates, _ = opt.update(grads, state, w)
            return optax.apply_updates(w, updates), aux.loss
    elif method == "tbptt":
        fn = ej.make_rule(method, net, truncation=TBPTT_WINDOW, **options)
    else:
        fn = ej.make_rule(method, net, **options)
    if n_networks > 1:
        fn = jax.vmap(fn, in_axes=(0, None))
    fn = jax.jit(fn)

    start = time.perf_counter()
    jax.block_until_ready(fn(weights, batch))
    compile_s = time.perf_counter() - start
    times = []
    for _ in range(reps):
        start = time.perf_counter()
        jax.block_until_ready(fn(weights, batch))
        times.append(time.perf_counter() - start)
    device = jax.devices()[0]
    peak = {"peak_rss_mb": resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024}
    stats = device.memory_stats() if device.platform != "cpu" else None
    if stats and "peak_bytes_in_use" in stats:
        peak["peak_device_mb"] = stats["peak_bytes_in_use"] / 2**20
    return {
        "method": method,
        **{k: size[k] for k in ("n_in", "n_rec", "n_alif", "n_out", "T", "batch")},
        "networks": n_networks,
        "device": f"{device.platform}:{device.device_kind}",
        "ms_median": 1000 * statistics.median(times),
        "ms_min": 1000 * min(times),
        "reps": reps,
        "compile_s": compile_s,
        **peak,
        "jax": jax.__version__,
        "machine": platform.machine(),
    }


def run_one(method: str, size: dict, reps: int) -> dict:
    """Measure in a fresh Python process so that peak memory belongs to this measurement."""
    spec = json.dumps({"method": method, "size": size, "reps": reps})
    proc = subprocess.run([sys.executable, "-m", "eprop_jax.bench", "--one", spec],
                          capture_output=True, text=True, check=False)  # fmt: skip
    if proc.returncode != 0:
        return {"method": method, **size, "error": proc.stderr.strip().splitlines()[-1:]}
    return json.loads(proc.stdout.strip().splitlines()[-1])


def main(argv: Sequence[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="eprop-jax bench", description=__doc__,
                                     formatter_class=argparse.RawDescriptionHelpFormatter)  # fmt: skip
    parser.add_argument("--quick", action="store_true", help="one small size, few repetitions")
    parser.add_argument("--methods", nargs="+", choices=METHODS, default=list(METHODS))
    parser.add_argument("--sizes", nargs="+", choices=sorted(SIZES),
                        default=["evidence_accumulation", "large"])  # fmt: skip
    parser.add_argument("--reps", type=int, default=5, help="timed calls after compilation")
    parser.add_argument("--memory-series", action="store_true",
                        help="peak memory of eprop, bptt and tbptt for T = 1000 ... 16000 (batch 16)")  # fmt: skip
    parser.add_argument("--networks", type=int, default=1,
                        help="also time this many independent networks at once (vmap over "
                        "weights) for every method, next to one network")  # fmt: skip
    parser.add_argument("--one", help=argparse.SUPPRESS)
    args = parser.parse_args(argv)
    if args.one:
        spec = json.loads(args.one)
        print(json.dumps(_measure(spec["method"], spec["size"], spec["reps"])), flush=True)
        return 0
    sizes = ["quick"] if args.quick else args.sizes
    reps = 2 if args.quick else args.reps
    for name in sizes:
        medians = {}
        for method in args.methods:
            row = run_one(method, SIZES[name], reps)
            print(json.dumps({"size": name, **row}), flush=True)
            if "ms_median" in row:
                medians[method] = row["ms_median"]
            if args.networks > 1 and method != "train-step":
                size = {**SIZES[name], "networks": args.networks}
                print(json.dumps({"size": name, **run_one(method, size, reps)}), flush=True)
        if "bptt" in medians:  # same run, same machine: the numbers to quote
            ratios = {m: round(ms / medians["bptt"], 3) for m, ms in medians.items()}
            print(json.dumps({"size": name, "time_ratio_to_bptt": ratios}), flush=True)
    if args.memory_series and not args.quick:
        for t_steps in (1000, 2000, 4000, 8000, 16000):
            for method in ("eprop", "bptt", "tbptt"):
                size = {**SIZES["evidence_accumulation"], "T": t_steps, "batch": 16}
                row = run_one(method, size, 1)
                print(json.dumps({"size": f"memory_T{t_steps}", **row}), flush=True)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
