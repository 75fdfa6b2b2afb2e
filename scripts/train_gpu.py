"""Train on GPUs: detect the devices, pick a batch size that fills them, split it over all of them.

    python scripts/train_gpu.py evidence_accumulation                  # all visible GPUs
    python scripts/train_gpu.py evidence_accumulation --dry-run        # print the plan only
    python scripts/train_gpu.py evidence_accumulation --batch-size 256 --rule eprop
    python scripts/train_gpu.py ... --distributed   # one process per host, after setting up
                                                    # jax.distributed's coordinator variables

What it decides (printed as JSON before training):

- devices: ``jax.devices()``; with more than one, the batch is split over a one-axis device mesh
  (``TrainConfig(data_parallel=True)``, ``eprop_jax/parallel.py``), weights replicated; with
  ``--distributed``, ``jax.distributed.initialize()`` runs first, so the mesh spans every host.
- batch size (``--batch-size auto``, the default): the largest power of two whose estimated
  working set fits in half of the smallest device's memory, at most ``--max-batch``, and a
  multiple of the device count. On CPU it keeps the task preset. The estimate is per trial:
  ``T * (n_in + 8 n_rec) * 4`` bytes for the rules that store the trajectory (``bptt``,
  ``eprop-factored``, ``eprop-autodiff``), ``3 n_rec (n_in + n_rec) * 4`` bytes for online
  ``eprop`` (its eligibility state; it does not grow with T).
- precision: float32. Mixed or half precision is not offered: the gradient-agreement tests
  (``scripts/gradient_agreement.py``) establish float32 against float64 (relative error about
  2e-6 at the evidence-accumulation size), and no test yet shows that bfloat16 keeps e-prop's
  eligibility traces right over 2250 steps.

Everything else (metrics, checkpoints, resume, figures) is ``eprop-jax train``'s.
"""

from __future__ import annotations

import argparse
import json
import sys
from pathlib import Path

import jax

from eprop_jax.train import TASK_PRESETS, TrainConfig, build, train

TRAJECTORY_RULES = ("bptt", "eprop-factored", "eprop-autodiff", "tbptt")


def bytes_per_trial(rule: str, t_steps: int, n_in: int, n_rec: int) -> int:
    """The estimated working set of one trial (see the module docstring)."""
    if rule in TRAJECTORY_RULES:
        return t_steps * (n_in + 8 * n_rec) * 4
    return 3 * n_rec * (n_in + n_rec) * 4


def device_memory(device) -> int | None:
    """Bytes the device can hold, or ``None`` where JAX does not report it (CPU)."""
    stats = device.memory_stats() if device.platform != "cpu" else None
    return None if not stats else stats.get("bytes_limit")


def auto_batch_size(
    per_trial: int, memory: int | None, n_devices: int, preset: int, max_batch: int
) -> int:
    """Largest power of two (times the device count) whose working set fits half the memory."""
    if memory is None:
        return max(preset // n_devices, 1) * n_devices
    per_device = 1
    while per_device * 2 * per_trial <= memory // 2 and per_device * 2 * n_devices <= max_batch:
        per_device *= 2
    return per_device * n_devices


def plan(args) -> dict:
    devices = jax.devices()
    n_devices = len(devices)
    preset = TASK_PRESETS[args.task]
    probe = build(TrainConfig(task=args.task, rule=args.rule, batch_size=1))
    batch = probe.sample(jax.random.key(0))
    t_steps, _, n_in = batch.inputs.shape
    per_trial = bytes_per_trial(args.rule, t_steps, n_in, probe.net.n_rec)
    memories = [device_memory(d) for d in devices]
    memory = None if None in memories else min(memories)
    if args.batch_size == "auto":
        batch_size = auto_batch_size(
            per_trial, memory, n_devices, preset["batch_size"], args.max_batch
        )
    else:
        batch_size = int(args.batch_size)
        if batch_size % n_devices:
            raise SystemExit(
                f"--batch-size {batch_size} is not a multiple of the {n_devices} "
                "devices; use a multiple, or --batch-size auto"
            )
    return {
        "task": args.task,
        "rule": args.rule,
        "feedback": args.feedback,
        "platform": devices[0].platform,
        "device_kind": devices[0].device_kind,
        "devices": n_devices,
        "processes": jax.process_count(),
        "device_memory_bytes": memory,
        "bytes_per_trial_estimate": per_trial,
        "batch_size": batch_size,
        "data_parallel": n_devices > 1,
        "dtype": "float32",
        "T": t_steps,
        "n_rec": probe.net.n_rec,
    }


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("task", choices=sorted(TASK_PRESETS))
    parser.add_argument(
        "--rule",
        default="eprop-factored",
        help="learning rule (default: eprop-factored, the fastest exact e-prop)",
    )
    parser.add_argument("--feedback", default="random")
    parser.add_argument("--batch-size", default="auto", help="trials per batch or 'auto'")
    parser.add_argument("--max-batch", type=int, default=1024)
    parser.add_argument("--iterations", type=int)
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--out", type=Path)
    parser.add_argument("--resume", action="store_true", help="continue the run in --out")
    parser.add_argument("--overwrite", action="store_true", help="replace the run in --out")
    parser.add_argument(
        "--distributed",
        action="store_true",
        help="call jax.distributed.initialize() first (multi-host)",
    )
    parser.add_argument("--dry-run", action="store_true", help="print the plan and stop")
    args = parser.parse_args(argv)
    if args.distributed:
        jax.distributed.initialize()
    decided = plan(args)
    print(json.dumps(decided), flush=True)
    if args.dry_run:
        return 0
    config = TrainConfig(
        task=args.task,
        rule=args.rule,
        feedback=args.feedback,
        batch_size=decided["batch_size"],
        iterations=args.iterations,
        seed=args.seed,
        data_parallel=decided["data_parallel"],
    )
    out = args.out or Path("runs") / f"gpu-{args.task}-{args.rule}-b{decided['batch_size']}"
    result = train(
        config, out, resume=args.resume, overwrite=args.overwrite, progress=jax.process_index() == 0
    )
    if jax.process_index() == 0:
        from eprop_jax.plotting import plot_run

        plot_run(out)
        print(
            json.dumps(
                {
                    "iterations": result.iterations_done,
                    "seconds_per_iteration": result.seconds_per_iteration,
                    "final": result.metrics[-1] if result.metrics else {},
                    "out": str(out),
                }
            )
        )
    return 0


if __name__ == "__main__":
    sys.exit(main())
