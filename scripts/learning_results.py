"""Measure the learning results reported in the README (one JSON object per row on stdout).

Rows (each one multi-seed run, ``--seeds`` networks trained at once, into runs/results/NAME,
figures included):
- evidence accumulation: e-prop with random feedback, BPTT, truncated BPTT (windows of 100 steps)
  and an LIF-only network (e-prop);
- sine waves, infinite loop, handwriting: e-prop with random feedback.

e-prop rows use ``eprop-factored``: the online rule's gradient exactly (tested to float rounding),
computed several times faster on a CPU, so the learning curves are those of online e-prop.

Each row reports, over its seeds, the median and inter-quartile range (25th, 75th percentile) of
the final evaluation recall error or MSE reduction and of the iterations to the criterion (the
preset's target error, and 10 %); a seed that never reached it counts as infinitely many (null
where that makes the figure infinite). Every seed's own numbers are in ``per_seed``.

Timing: ``seconds_per_iteration`` is the wall time of one iteration of the row's run, that is one
vmapped step of all its seeds together; ``seconds_per_seed_iteration`` is that divided by the
number of seeds (the cost of one seed's iteration when trained alongside the others).

Usage: python scripts/learning_results.py [--only NAME ...] [--seeds 8] [--figures docs/figures]
"""

from __future__ import annotations

import argparse
import dataclasses
import json
import shutil
from pathlib import Path

import jax

from eprop_jax.plotting import plot_run
from eprop_jax.train import TrainConfig, median_iqr, resolve, summarise_seeds, train

RUNS = {
    "ea_eprop_random": TrainConfig(
        task="evidence_accumulation",
        rule="eprop-factored",
        feedback="random",
        batch_size=32,
        iterations=500,
    ),
    "ea_eprop_random_constant_lr": TrainConfig(
        task="evidence_accumulation",
        rule="eprop-factored",
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
        rule="eprop-factored",
        feedback="random",
        batch_size=32,
        iterations=500,
        network={"n_alif": 0},
        target_error=0.0,  # no early stopping: all 500 iterations (it never reaches 7 % anyway)
        lr_decay=1.0,
    ),
    "sine_waves": TrainConfig(task="sine_waves", rule="eprop-factored", feedback="random"),
    "infinite_loop": TrainConfig(task="infinite_loop", rule="eprop-factored", feedback="random"),
    "handwriting": TrainConfig(task="handwriting", rule="eprop-factored", feedback="random"),
}


def _series(metrics: list[dict], key: str, index: int) -> list[tuple[int, float]]:
    """``(iteration, value)`` of one seed's metric (lists over seeds; ``None`` skipped)."""
    out = []
    for m in metrics:
        values = m.get(key)
        if values is not None and values[index] is not None:
            out.append((m["iteration"], values[index]))
    return out


def summarise(name: str, config: TrainConfig, result) -> dict:
    metrics, summary = result.metrics, result.seed_summary
    if summary is None:  # --seeds 1: the same layout with lists of one
        metrics = [
            {k: v if k in ("iteration", "time_s") else [v] for k, v in m.items()} for m in metrics
        ]
        resolved = resolve(config)
        stopped = result.iterations_done if result.stopped_early else -1
        summary = summarise_seeds(
            metrics,
            result.seeds,
            [stopped],
            result.iterations_done,
            resolved.target_error or None,
            iterations=resolved.iterations,
        )
    per_seed = []
    for index, seed in enumerate(result.seeds):
        task_loss = _series(metrics, "task_loss", index)
        row = {
            "seed": seed,
            "iterations_done": summary["per_seed"][index]["iterations_done"],
            "first_task_loss": task_loss[0][1],
            "last_task_loss": task_loss[-1][1],
        }
        evals = _series(metrics, "eval_recall_error", index)
        if evals:
            row["final_eval_recall_error"] = evals[-1][1]
            row["best_eval_recall_error"] = min(v for _, v in evals)
            below = [it + 1 for it, v in evals if v < 0.10]
            row["iterations_to_10pct"] = below[0] if below else None
            row["iterations_to_criterion"] = summary["per_seed"][index]["iterations_to_criterion"]
        else:
            row["mse_reduction"] = 1.0 - row["last_task_loss"] / row["first_task_loss"]
        per_seed.append(row)
    out = {
        "run": name,
        "task": config.task,
        "rule": config.rule,
        "feedback": "symmetric" if config.rule in ("bptt", "tbptt") else config.feedback,
        "seeds": list(result.seeds),
        "iterations_done": result.iterations_done,
        "stopped_early": result.stopped_early,
        "seconds_per_iteration": round(result.seconds_per_iteration, 4),  # all seeds, vmapped
        "seconds_per_seed_iteration": round(result.seconds_per_iteration / len(result.seeds), 4),
        "device": str(jax.devices()[0]),
    }
    keys = ["last_task_loss"]
    if "final_eval_recall_error" in per_seed[0]:
        keys += ["final_eval_recall_error", "iterations_to_10pct", "iterations_to_criterion"]
        out["target_error"] = summary["iterations_to_criterion"]["target_error"]
    else:
        keys += ["mse_reduction"]
    for key in keys:
        out[key] = median_iqr([p[key] for p in per_seed])
    out["per_seed"] = per_seed
    return out


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--only", nargs="*", choices=sorted(RUNS), help="runs to do (default all)")
    parser.add_argument(
        "--seeds", type=int, default=8, help="networks per row, one vmapped run (default 8)"
    )
    parser.add_argument("--seed", type=int, default=0, help="first seed (default 0)")
    parser.add_argument(
        "--iterations", type=int, help="override every row's iterations (a quick check)"
    )
    parser.add_argument("--out", type=Path, default=Path("runs/results"))
    parser.add_argument("--figures", type=Path, help="copy each run's final figures here")
    parser.add_argument("--overwrite", action="store_true", help="replace runs already in --out")
    args = parser.parse_args()
    if args.seeds < 1:
        parser.error(f"--seeds must be >= 1; got {args.seeds}")
    for name in args.only or RUNS:
        config = dataclasses.replace(RUNS[name], seed=args.seed, seeds=args.seeds)
        if args.iterations is not None:
            config = dataclasses.replace(config, iterations=args.iterations)
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
