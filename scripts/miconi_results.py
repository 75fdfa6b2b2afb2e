"""Measure Miconi's network on DNMS: trials to criterion, speed, figures (JSON lines on stdout).

(a) ``--networks`` independent networks (own initial weights and perturbations, all derived
    from ``--seed``; vmapped in one run) train for ``--groups`` groups with the default configuration (the ANNarchy notebook, AB baseline fixed); prints the
    trials to criterion (95 % of 100 successive trials with error < 1, then < 0.5) per network
    and the final test errors (no perturbation) per trial type. With ``--bug-groups > 0`` the
    same initial networks also train with ``ab_baseline_bug=True`` for comparison.
(b) Groups of 4 trials per second for a batch of 1 network and of ``--batches`` networks, after
    compilation: wall time and CPU time (``time.process_time``, all threads), best of 3.
(c) Copies the figures of run (a) to ``--figures``/dnms_rewards.png and dnms_traces.png.

Usage: python scripts/miconi_results.py [--networks 5] [--groups 4000] [--figures docs/figures]
(about 9 minutes on 2 CPU cores with the defaults; --groups 2000 --bug-groups 0 takes 4)
"""

from __future__ import annotations

import argparse
import dataclasses
import json
import os
import shutil
import time
from pathlib import Path

import jax
import numpy as np

from eprop_jax import miconi
from eprop_jax.miconi import MiconiConfig, train_dnms

ANNARCHY_CPU_SECONDS_PER_GROUP = 0.16  # /work/shared/reference/miconi_anchor.md, section 4


def criterion_runs(args) -> None:
    config = MiconiConfig()
    summary = train_dnms(
        config,
        args.groups,
        args.out / "fixed",
        seed=args.seed,
        n_networks=args.networks,
        progress=False,
        chunk_groups=100,
        overwrite=args.overwrite,
    )
    row = _short(summary, args.out / "fixed")
    print(json.dumps({"run": "criterion", "ab_baseline_bug": False, **row}), flush=True)
    if args.figures is not None:
        args.figures.mkdir(parents=True, exist_ok=True)
        for name in ("dnms_rewards.png", "dnms_traces.png"):
            shutil.copy(args.out / "fixed" / name, args.figures / name)
    if args.bug_groups > 0:
        buggy = dataclasses.replace(config, ab_baseline_bug=True)
        summary = train_dnms(
            buggy,
            args.bug_groups,
            args.out / "ab_bug",
            seed=args.seed,
            n_networks=args.networks,
            progress=False,
            chunk_groups=100,
            overwrite=args.overwrite,
        )
        print(
            json.dumps(
                {
                    "run": "criterion",
                    "ab_baseline_bug": True,
                    **_short(summary, args.out / "ab_bug"),
                }
            ),
            flush=True,
        )


def _short(summary: dict, out: Path) -> dict:
    """The summary plus the mean reward per type over blocks of 500 groups (from metrics.jsonl)."""
    keep = (
        "groups",
        "n_networks",
        "seed",
        "trials_to_criterion",
        "test_error",
        "test_error_mean",
        "final_error",
        "train_seconds",
        "train_cpu_seconds",
        "groups_per_second",
    )
    lines = (out / "metrics.jsonl").read_text().splitlines()
    rewards = np.array([json.loads(line)["reward"] for line in lines])  # (groups, 4)
    blocks = {
        f"{start + 1}-{min(start + 500, len(rewards))}": np.round(
            rewards[start : start + 500].mean(axis=0), 3
        ).tolist()
        for start in range(0, len(rewards), 500)
    }
    return {**{k: summary[k] for k in keep}, "mean_reward_AA_AB_BA_BB_by_groups": blocks}


def speed(args) -> None:
    config = MiconiConfig(n_warmup=0)  # every group learns
    for batch in [1, *args.batches]:
        n_groups = max(2, args.bench_network_groups // batch)
        keys = jax.random.split(jax.random.key(0), batch)
        states = jax.vmap(lambda k: miconi.init(config, key=k))(keys)

        def one(state, key, n_groups=n_groups):
            return miconi.train_groups(config, state, n_groups=n_groups, key=key)

        run = jax.jit(jax.vmap(one))
        t0 = time.perf_counter()
        states, _ = jax.block_until_ready(run(states, keys))
        compile_and_first = time.perf_counter() - t0
        walls, cpus = [], []
        for _ in range(3):
            t, c = time.perf_counter(), time.process_time()
            states, _ = jax.block_until_ready(run(states, keys))
            walls.append(time.perf_counter() - t)
            cpus.append(time.process_time() - c)
        wall, cpu = min(walls), min(cpus)
        network_groups = batch * n_groups
        print(
            json.dumps(
                {
                    "run": "speed",
                    "networks": batch,
                    "groups_per_call": n_groups,
                    "first_call_seconds": round(compile_and_first, 3),
                    "groups_per_second_wall": round(network_groups / wall, 2),
                    "cpu_seconds_per_group": round(cpu / network_groups, 5),
                    "speedup_vs_annarchy_cpu": round(
                        ANNARCHY_CPU_SECONDS_PER_GROUP * network_groups / cpu, 1
                    ),
                    "load_average": [round(x, 2) for x in os.getloadavg()],
                    "device": str(jax.devices()[0]),
                    "cpu_count": os.cpu_count(),
                }
            ),
            flush=True,
        )


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--networks", type=int, default=5, help="networks (seeds) in run (a)")
    parser.add_argument("--groups", type=int, default=4000, help="groups of 4 trials in run (a)")
    parser.add_argument(
        "--bug-groups", type=int, default=1000, help="groups with ab_baseline_bug=True (0: skip)"
    )
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--batches", type=int, nargs="*", default=[8, 32])
    parser.add_argument(
        "--bench-network-groups", type=int, default=64, help="network-groups per timed call in (b)"
    )
    parser.add_argument("--out", type=Path, default=Path("runs/dnms"))
    parser.add_argument("--overwrite", action="store_true", help="replace runs already in --out")
    parser.add_argument("--figures", type=Path, default=Path("docs/figures"))
    parser.add_argument("--only", choices=("criterion", "speed"))
    args = parser.parse_args()
    if args.only in (None, "speed"):
        speed(args)
    if args.only in (None, "criterion"):
        criterion_runs(args)


if __name__ == "__main__":
    main()
