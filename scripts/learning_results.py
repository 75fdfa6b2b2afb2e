"""Measure the learning results reported in the README (one JSON object per run on stdout).

Runs (each into runs/results/NAME, figures included):
- evidence accumulation: e-prop with random feedback, BPTT, truncated BPTT (windows of 100 steps)
  and an LIF-only network (e-prop);
- sine waves, infinite loop, handwriting: e-prop with random feedback.

Usage: python scripts/learning_results.py [--only NAME ...] [--figures docs/figures]
"""

from __future__ import annotations

import argparse
import json
import shutil
from pathlib import Path

import jax

from eprop_jax.plotting import plot_run
from eprop_jax.train import TrainConfig, train

RUNS = {
    "ea_eprop_random": TrainConfig(
        task="evidence_accumulation", rule="eprop", feedback="random", batch_size=32, iterations=500
    ),
    "ea_eprop_random_constant_lr": TrainConfig(
        task="evidence_accumulation",
        rule="eprop",
        feedback="random",
        batch_size=32,
        iterations=500,
        lr_decay=1.0,
    ),
    "ea_bptt": TrainConfig(
        task="evidence_accumulation", rule="bptt", batch_size=32, iterations=500, lr_decay=1.0
    ),
    "ea_tbptt_k100": TrainConfig(
        task="evidence_accumulation",
        rule="tbptt",
        rule_options={"truncation": 100},
        batch_size=32,
        iterations=500,
        lr_decay=1.0,
    ),
    "ea_lif_only_eprop": TrainConfig(
        task="evidence_accumulation",
        rule="eprop",
        feedback="random",
        batch_size=32,
        iterations=500,
        network={"n_alif": 0},
        target_error=None,
        lr_decay=1.0,
    ),
    "sine_waves": TrainConfig(task="sine_waves", rule="eprop", feedback="random"),
    "infinite_loop": TrainConfig(task="infinite_loop", rule="eprop", feedback="random"),
    "handwriting": TrainConfig(task="handwriting", rule="eprop", feedback="random"),
}


def summarise(name: str, config: TrainConfig, result) -> dict:
    metrics = result.metrics
    first, last = metrics[0], metrics[-1]
    row = {
        "run": name,
        "task": config.task,
        "rule": config.rule,
        "feedback": "symmetric" if config.rule in ("bptt", "tbptt") else config.feedback,
        "iterations_done": result.iterations_done,
        "stopped_early": result.stopped_early,
        "seconds_per_iteration": round(result.seconds_per_iteration, 4),
        "device": str(jax.devices()[0]),
        "first_task_loss": first["task_loss"],
        "last_task_loss": last["task_loss"],
    }
    if "eval_recall_error" in last:
        evals = [m["eval_recall_error"] for m in metrics if "eval_recall_error" in m]
        row["final_eval_recall_error"] = last["eval_recall_error"]
        row["best_eval_recall_error"] = min(evals)
        below = [m["iteration"] + 1 for m in metrics if m.get("eval_recall_error", 1.0) < 0.10]
        row["iterations_to_10pct"] = below[0] if below else None
    else:
        row["mse_reduction"] = 1.0 - last["task_loss"] / first["task_loss"]
    return row


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--only", nargs="*", choices=sorted(RUNS), help="runs to do (default all)")
    parser.add_argument("--out", type=Path, default=Path("runs/results"))
    parser.add_argument("--figures", type=Path, help="copy each run's final figures here")
    parser.add_argument("--overwrite", action="store_true", help="replace runs already in --out")
    args = parser.parse_args()
    for name in args.only or RUNS:
        config = RUNS[name]
        out = args.out / name
        result = train(config, out, overwrite=args.overwrite, progress=False)
        paths = plot_run(out)
        print(json.dumps(summarise(name, config, result)), flush=True)
        if args.figures is not None:
            args.figures.mkdir(parents=True, exist_ok=True)
            for path in paths:
                if path.name in {"learning_curve.png", "readout_last.png", "snapshot_last.png"}:
                    shutil.copy(path, args.figures / f"{name}_{path.name}")


if __name__ == "__main__":
    main()
