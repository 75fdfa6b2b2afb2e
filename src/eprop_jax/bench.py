r"""Speed and memory benchmark: one JSON object per measurement, each in a fresh process.

For each method and size it reports the median and minimum milliseconds per call after
compilation, the compile time (first call), and the peak memory: the process's peak RSS on CPU
(which includes the JAX runtime, about 250 MB), or the device's peak bytes in use on GPU.

Methods (all on one batch of random input spikes, cross-entropy on the last 150 steps, rate
regularisation on):

=================== ============================================================
``forward``         :func:`~eprop_jax.network.simulate` and the loss only
``bptt``            :func:`~eprop_jax.rules.bptt` (``jax.grad`` through the scan)
``bptt-lean``       the same gradient written as the leanest ``lax.scan`` + ``jax.grad``
                    (``bench_reference.py``): the yardstick for the library's speed
``eprop``           online e-prop (:func:`~eprop_jax.rules.eprop`), memory flat in T
``eprop-factored``  the same gradient offline and factored (fast, memory O(T B n))
``eprop-autodiff``  stop-gradient autodiff (same gradients as ``eprop``)
``tbptt``           truncated BPTT with windows of 100 steps (memory O(window))
``train-step``      one full training iteration (task sampling excluded) with online e-prop
=================== ============================================================

After the methods of a size it prints the time ratios of every method to ``bptt``
(``time_ratio_to_bptt``) and to ``bptt-lean`` (``time_ratio_to_bptt_lean``, with the targets
``bptt`` <= 1.05 and ``eprop-factored`` <= 0.5). ``--repeats N`` runs the whole interleaved
sequence of measurements N times and then prints, per size, the median, min, max and quartiles of
each ratio over the repeats (``--reps`` is the number of timed calls inside one measurement).

**Roofline of online e-prop.** Online e-prop is bound by memory traffic: every step reads and
writes its eligibility state (:class:`~eprop_jax.eprop.EpropState`; with a membrane decay shared
by all neurons and the rate regularisation on) of

.. math::

    \text{bytes per step} = 2 \cdot s \cdot B \cdot P\,(1 + n_{alif} + 2 n), \qquad P = n_{in} + n

(``s`` bytes per number: ``elig_v`` ``(B, P)``, ``elig_a`` ``(B, n_alif, P)``, ``elig_trace`` and
``e_sum`` ``(B, n, P)`` each; the ``(B, n_alif)`` ``psi_prev`` and the weights are left out). The
achieved bandwidth is ``bytes per step * T / time``. In the same run a streaming kernel (``x <-
c x + y`` on float32 arrays in a compiled loop, 12 bytes moved per element and pass) measures the
machine's bandwidth twice: with the working set of the eligibility state (same cache level) and
with a large array (main memory). The row ``eprop_roofline`` gives the bytes, the achieved
bandwidth, both stream bandwidths and the fractions achieved / stream.

Every measurement runs with glibc told to keep freed memory (:mod:`eprop_jax.allocator`, as the
``eprop-jax`` command does; each row says ``keep_freed_memory``); with
``EPROP_JAX_KEEP_FREED_MEMORY=0`` it measures glibc's defaults instead.

Sizes: ``evidence_accumulation`` and ``large`` (defaults), ``quick`` (tests), and ``gpu_large``
(n_rec 2048, for a GPU only: online e-prop's state is about 2.7 GB there).

Usage::

    eprop-jax bench [--quick] [--methods ...] [--sizes ...] [--repeats N] [--memory-series]
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

from .allocator import keep_freed_memory

SIZES = {
    "evidence_accumulation": {"n_in": 40, "n_rec": 100, "n_alif": 50, "n_out": 2, "T": 2250,
                              "batch": 64},
    "large": {"n_in": 40, "n_rec": 512, "n_alif": 256, "n_out": 2, "T": 1000, "batch": 64},
    "quick": {"n_in": 40, "n_rec": 100, "n_alif": 50, "n_out": 2, "T": 500, "batch": 16},
    "gpu_large": {"n_in": 40, "n_rec": 2048, "n_alif": 1024, "n_out": 2, "T": 1000, "batch": 64},
}  # fmt: skip
METHODS = (
    "forward",
    "bptt",
    "bptt-lean",
    "eprop",
    "eprop-factored",
    "eprop-autodiff",
    "tbptt",
    "train-step",
)
TBPTT_WINDOW = 100
C_REG, F_TARGET = 2.0, 10.0  # the rate regularisation of every method
TARGETS_TO_LEAN = {"bptt": 1.05, "eprop-factored": 0.5}  # issue 14: time / bptt-lean at most
STREAM_LARGE_MB = 256  # the main-memory stream kernel's array (64 MiB with --quick)


def eligibility_bytes_per_step(
    n_in: int, n_rec: int, n_alif: int, batch: int, *, itemsize: int = 4
) -> int:
    """Bytes online e-prop's eligibility state moves per step: ``2 s B P (1 + n_alif + 2 n)``.

    Read and write of ``elig_v`` ``(B, P)``, ``elig_a`` ``(B, n_alif, P)``, ``elig_trace`` and
    ``e_sum`` ``(B, n, P)``, with ``P = n_in + n_rec`` (module docstring).
    """
    n_pre = n_in + n_rec
    return 2 * itemsize * batch * n_pre * (1 + n_alif + 2 * n_rec)


def _stream_gbps(n_bytes: int, reps: int) -> float:
    """Best bandwidth (GB/s) of ``x <- 0.999 x + y`` over float32 arrays of ``n_bytes`` each."""
    import jax
    import jax.numpy as jnp

    n = max(n_bytes // 4, 1024)
    target = 2**34 if jax.devices()[0].platform != "cpu" else 2**31  # bytes moved per call
    passes = max(4, -(-target // (12 * n)))
    x, y = jnp.ones((n,), jnp.float32), jnp.full((n,), 0.5, jnp.float32)
    run = jax.jit(lambda x, y: jax.lax.fori_loop(0, passes, lambda i, x: 0.999 * x + y, x))
    jax.block_until_ready(run(x, y))
    best = float("inf")
    for _ in range(max(reps, 2)):
        start = time.perf_counter()
        jax.block_until_ready(run(x, y))
        best = min(best, time.perf_counter() - start)
    return 12 * n * passes / best / 1e9


def _measure_stream(size: dict, reps: int, large_mb: int) -> dict:
    """The machine's streaming bandwidth at the eligibility state's working set and at large_mb."""
    import jax

    state = eligibility_bytes_per_step(*(size[k] for k in ("n_in", "n_rec", "n_alif", "batch")))
    state //= 2  # the state's size (each step reads and writes it once)
    device = jax.devices()[0]
    return {
        "method": "stream",
        **{k: size[k] for k in ("n_in", "n_rec", "n_alif", "n_out", "T", "batch")},
        "device": f"{device.platform}:{device.device_kind}",
        "state_mb": state / 1e6,
        "stream_gbps_state_size": _stream_gbps(state // 2, reps),  # x and y: half each
        "large_mb": large_mb,
        "stream_gbps_large": _stream_gbps(large_mb * 2**20, reps),
    }


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
    options = {"loss": "cross_entropy", "regularization": ej.rate_regularization(C_REG, F_TARGET)}

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
    elif method == "bptt-lean":
        from eprop_jax.bench_reference import bptt_lean

        fn = bptt_lean(net, C_REG, F_TARGET)
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
    jax.block_until_ready(fn(weights, batch))  # untimed: the heap grows to its working size
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


def run_one(method: str, size: dict, reps: int, **extra) -> dict:
    """Measure in a fresh Python process so that peak memory belongs to this measurement."""
    spec = json.dumps({"method": method, "size": size, "reps": reps, **extra})
    proc = subprocess.run(
        [sys.executable, "-m", "eprop_jax.bench", "--one", spec],
        capture_output=True,
        text=True,
        check=False,
    )
    if proc.returncode != 0:
        return {"method": method, **size, "error": proc.stderr.strip().splitlines()[-1:]}
    return json.loads(proc.stdout.strip().splitlines()[-1])


def time_ratios(medians: dict[str, float], baseline: str) -> dict[str, float]:
    """``ms(method) / ms(baseline)`` for every measured method (empty without the baseline)."""
    if baseline not in medians:
        return {}
    return {m: round(ms / medians[baseline], 3) for m, ms in medians.items()}


def eprop_roofline(eprop_row: dict, stream_row: dict) -> dict:
    """Bytes per step, achieved bandwidth and its fraction of the measured stream bandwidths."""
    size = [eprop_row[k] for k in ("n_in", "n_rec", "n_alif", "batch")]
    per_step = eligibility_bytes_per_step(*size)
    moved = per_step * eprop_row["T"]
    achieved = moved / (eprop_row["ms_median"] / 1000) / 1e9
    best = moved / (eprop_row["ms_min"] / 1000) / 1e9
    out = {
        "elig_bytes_per_step": per_step,
        "steps": eprop_row["T"],
        "ms_median": eprop_row["ms_median"],
        "achieved_gbps": round(achieved, 3),
        "achieved_gbps_best": round(best, 3),
    }
    for key in ("stream_gbps_state_size", "stream_gbps_large"):
        if key in stream_row:
            out[key] = round(stream_row[key], 3)
            out["fraction_of_" + key.removeprefix("stream_gbps_")] = round(
                achieved / stream_row[key], 3
            )
    return out


def spread(values: Sequence[float]) -> dict[str, float]:
    """Median, min, max and quartiles (inclusive method) of repeated measurements."""
    values = sorted(values)
    q1 = q3 = values[0]
    if len(values) > 1:
        q1, _, q3 = statistics.quantiles(values, n=4, method="inclusive")
    return {
        "median": round(statistics.median(values), 3),
        "min": round(values[0], 3),
        "max": round(values[-1], 3),
        "q1": round(q1, 3),
        "q3": round(q3, 3),
        "n": len(values),
    }


def _summary(name: str, repeats: list[dict]) -> dict:
    """Spread over repeats of every ratio and of the roofline fractions of one size."""
    out: dict = {"size": name, "repeats": len(repeats)}
    for key in ("time_ratio_to_bptt", "time_ratio_to_bptt_lean", "eprop_roofline"):
        series: dict[str, list[float]] = {}
        for rep in repeats:
            for m, value in rep.get(key, {}).items():
                if isinstance(value, float) and m not in ("elig_bytes_per_step", "steps"):
                    series.setdefault(m, []).append(float(value))
        if series:
            out[key] = {m: spread(v) for m, v in series.items()}
    return out


def _measure_size(
    name: str, methods: Sequence[str], reps: int, networks: int, repeat: int | None, large_mb: int
) -> dict:
    """One interleaved pass over the methods of one size; prints every row, returns the ratios."""
    tag = {"size": name} if repeat is None else {"size": name, "repeat": repeat}
    rows = {}
    for method in methods:
        row = run_one(method, SIZES[name], reps)
        print(json.dumps({**tag, **row}), flush=True)
        rows[method] = row
        if networks > 1 and method != "train-step":
            size = {**SIZES[name], "networks": networks}
            print(json.dumps({**tag, **run_one(method, size, reps)}), flush=True)
    medians = {m: r["ms_median"] for m, r in rows.items() if "ms_median" in r}
    result: dict = {}
    if "bptt" in medians or "bptt-lean" in medians:  # same run, same machine: the numbers to quote
        result["time_ratio_to_bptt"] = time_ratios(medians, "bptt")
        lean = time_ratios(medians, "bptt-lean")
        result["time_ratio_to_bptt_lean"] = lean
        if lean:
            result["targets_to_bptt_lean"] = TARGETS_TO_LEAN
            result["meets_targets"] = {
                m: lean[m] <= t for m, t in TARGETS_TO_LEAN.items() if m in lean
            }
        print(json.dumps({**tag, **result}), flush=True)
    if "eprop" in medians:
        stream = run_one("stream", SIZES[name], reps, large_mb=large_mb)
        print(json.dumps({**tag, **stream}), flush=True)
        result["eprop_roofline"] = eprop_roofline(rows["eprop"], stream)
        print(json.dumps({**tag, "eprop_roofline": result["eprop_roofline"]}), flush=True)
    return result


def main(argv: Sequence[str] | None = None) -> int:
    parser = argparse.ArgumentParser(
        prog="eprop-jax bench",
        description=__doc__,
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    parser.add_argument("--quick", action="store_true", help="one small size, few repetitions")
    parser.add_argument("--methods", nargs="+", choices=METHODS, default=list(METHODS))
    parser.add_argument(
        "--sizes", nargs="+", choices=sorted(SIZES), default=["evidence_accumulation", "large"]
    )
    parser.add_argument("--reps", type=int, default=5, help="timed calls after compilation")
    parser.add_argument(
        "--repeats",
        type=int,
        default=1,
        help="repeat the interleaved measurement of all methods this many times "
        "and report the spread of every ratio (default: 1)",
    )
    parser.add_argument(
        "--memory-series",
        action="store_true",
        help="peak memory of eprop, bptt and tbptt for T = 1000 ... 16000 (batch 16)",
    )
    parser.add_argument(
        "--networks",
        type=int,
        default=1,
        help="also time this many independent networks at once (vmap over "
        "weights) for every method, next to one network",
    )
    parser.add_argument("--one", help=argparse.SUPPRESS)
    args = parser.parse_args(argv)
    if args.one:
        spec = json.loads(args.one)
        kept = keep_freed_memory()  # before JAX allocates; as the eprop-jax command does
        if spec["method"] == "stream":
            row = _measure_stream(spec["size"], spec["reps"], spec["large_mb"])
        else:
            row = _measure(spec["method"], spec["size"], spec["reps"])
        print(json.dumps({**row, "keep_freed_memory": kept}), flush=True)
        return 0
    for option in ("reps", "repeats", "networks"):
        value = getattr(args, option)
        if value < 1:
            parser.error(f"--{option} must be an integer >= 1; got {value}.")
    sizes = ["quick"] if args.quick else args.sizes
    reps = 2 if args.quick else args.reps
    large_mb = 64 if args.quick else STREAM_LARGE_MB
    for name in sizes:
        results = []
        for repeat in range(args.repeats):
            results.append(
                _measure_size(
                    name,
                    args.methods,
                    reps,
                    args.networks,
                    repeat if args.repeats > 1 else None,
                    large_mb,
                )
            )
        if args.repeats > 1:
            print(json.dumps(_summary(name, results)), flush=True)
    if args.memory_series and not args.quick:
        for t_steps in (1000, 2000, 4000, 8000, 16000):
            for method in ("eprop", "bptt", "tbptt"):
                size = {**SIZES["evidence_accumulation"], "T": t_steps, "batch": 16}
                row = run_one(method, size, 1)
                print(json.dumps({"size": f"memory_T{t_steps}", **row}), flush=True)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
