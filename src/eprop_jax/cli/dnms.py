"""``eprop-jax dnms``: Miconi's reward-modulated rate network on delayed non-match-to-sample.

Its parser and its handler, which runs :func:`eprop_jax.miconi.train_dnms` and prints the trials
to criterion and the test error.
"""

from __future__ import annotations

import json
from pathlib import Path

from ._options import SEED, _add_run_folder_options, _integer


def _add_dnms_parser(sub) -> None:
    p = sub.add_parser(
        "dnms",
        help="train Miconi's reward-modulated rate network on delayed non-match-to-sample",
        description="Train Miconi's (2017) rate network with its reward-modulated Hebbian rule "
        "on the delayed non-match-to-sample task (eprop_jax.miconi). Writes config.json, "
        "metrics.jsonl, checkpoint.npz, traces, summary.json and PNG figures to --out.",
    )
    p.add_argument(
        "--groups",
        "--iterations",
        type=_integer(1),
        default=2000,
        dest="groups",
        help="groups of 4 trials (AA, AB, BA, BB) to train (default: 2000)",
    )
    p.add_argument(
        "--networks",
        type=_integer(1),
        default=1,
        help="independent networks trained at once, vmapped (default: 1)",
    )
    p.add_argument(
        "--chunk-groups",
        type=_integer(1),
        default=50,
        help="groups per compiled call; metrics and checkpoint after each (default: 50)",
    )
    p.add_argument("--dense", action="store_true", help="dense recurrent weights (default: p=0.1)")
    p.add_argument(
        "--ab-baseline-bug",
        action="store_true",
        help="reproduce the ANNarchy notebook's bug: AB's reward baseline tracks BA's",
    )
    p.add_argument("--seed", type=SEED, default=0, help="random seed (default: 0)")
    p.add_argument(
        "--dtype",
        choices=("float32", "float64"),
        default="float32",
        help="(default: float32; float64 switches on JAX's x64 mode)",
    )
    p.add_argument("--out", type=Path, help="output directory (default: runs/dnms-miconi-sSEED)")
    _add_run_folder_options(
        p,
        resume_help="continue the run in --out from its last chunk, bit "
        "for bit (only --groups and --chunk-groups may change)",
    )


def _dnms(args) -> int:
    from ..miconi import MiconiConfig, train_dnms

    config = MiconiConfig(dense=args.dense, ab_baseline_bug=args.ab_baseline_bug, dtype=args.dtype)
    out = args.out or Path("runs") / f"dnms-miconi-s{args.seed}"
    summary = train_dnms(
        config,
        args.groups,
        out,
        seed=args.seed,
        n_networks=args.networks,
        chunk_groups=args.chunk_groups,
        progress=not args.no_progress,
        figures=not args.no_plots,
        resume=args.resume,
        overwrite=args.overwrite,
    )
    reached = summary["trials_to_criterion"]
    print(
        f"done: {summary['groups']} groups x {summary['n_networks']} network(s), "
        f"{summary['groups_per_second']:.1f} network-groups/s"
    )
    print(
        "trials to criterion (95% of 100 trials with error < 1 / < 0.5):",
        json.dumps({"1": reached["1"], "0.5": reached["0.5"]}),
    )
    print("test error without perturbation:", json.dumps(summary["test_error_mean"]))
    print(f"outputs in {out}")
    return 0
