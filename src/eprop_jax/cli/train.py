"""``eprop-jax train TASK``: its parser (with the network options) and its handler.

The handler checks the combinations argparse cannot (``--feedback`` for a rule without a feedback
choice, ``--feedback-std`` with symmetric feedback, ``--target-error`` on a regression task,
``--data`` on a generated task), builds a :class:`eprop_jax.train.TrainConfig` and runs
:func:`eprop_jax.train`, then draws the figures of the run folder.
"""

from __future__ import annotations

import inspect
import json
from pathlib import Path

from .. import tasks as task_lib
from ..rules import FEEDBACKS, RULES, resolve_rule, takes_feedback
from ..surrogates import SURROGATES
from ..train import TrainConfig
from ._options import (
    _FINITE,
    _NON_NEGATIVE,
    _POSITIVE,
    SEED,
    _add_run_folder_options,
    _integer,
    _number,
    _rule_name,
    _rule_option,
    _seeds,
    _task_option,
)

NETWORK_OPTIONS = {
    "n_rec": (_integer(1), "number of recurrent neurons"),
    "n_alif": (_integer(0), "how many of them (the last ones) are adaptive (ALIF)"),
    "tau_m": (_POSITIVE, "membrane time constant (ms)"),
    "tau_a": (_POSITIVE, "adaptation time constant (ms)"),
    "thr": (_POSITIVE, "baseline firing threshold"),
    "beta": (
        _NON_NEGATIVE,
        "adaptation strength of the ALIF neurons (default: 1.7(1-rho)/(1-alpha))",
    ),
    "refractory": (_NON_NEGATIVE, "refractory period (ms)"),
    "tau_out": (_POSITIVE, "readout time constant (ms)"),
    "gamma": (_POSITIVE, "pseudo-derivative dampening (height gamma/thr)"),
}


def _preset(field: str) -> str:
    """A training default as the task records give it, for help texts."""
    return task_lib.describe_default(field).replace("%", "%%")


def _add_train_parser(sub) -> None:
    p = sub.add_parser(
        "train",
        help="train a spiking network on a task and write metrics, checkpoint and figures",
        description="Train a recurrent spiking network on TASK with e-prop (or another rule). "
        "Writes config.json, metrics.jsonl, checkpoint.npz, snapshots, weights and PNG figures "
        "to --out. NEST's tutorials: `eprop-jax nest`; Miconi's DNMS: `eprop-jax dnms`.",
    )
    p.add_argument("task", choices=sorted(task_lib.TASKS), help="the task to learn")
    p.add_argument(
        "--rule",
        type=_rule_name,
        default="eprop",
        metavar="RULE",
        help=f"learning rule: {', '.join(sorted(RULES))}, or package.module:factory "
        "(default: eprop)",
    )
    p.add_argument(
        "--rule-option",
        type=_rule_option,
        action="append",
        default=[],
        metavar="KEY=VALUE",
        help="rule factory argument, e.g. --rule-option truncation=50 for tbptt",
    )
    p.add_argument(
        "--feedback",
        choices=FEEDBACKS,
        help="e-prop learning-signal feedback (default: random; rules without a "
        "feedback choice, bptt and tbptt, refuse it)",
    )
    p.add_argument(
        "--iterations",
        type=_integer(1),
        help=f"training iterations (default: {_preset('iterations')})",
    )
    p.add_argument(
        "--batch-size",
        type=_integer(1),
        help=f"trials per batch (default: {_preset('batch_size')})",
    )
    p.add_argument(
        "--learning-rate",
        type=_POSITIVE,
        help=f"Adam step size (default: {_preset('learning_rate')})",
    )
    p.add_argument(
        "--lr-decay",
        type=_number(0.0, 1.0),
        help="multiply the learning rate by this (in (0, 1]) every --lr-decay-every "
        f"iterations (default: {_preset('lr_decay')}; 1 = constant)",
    )
    p.add_argument("--lr-decay-every", type=_integer(1), default=100, help="(default: 100)")
    p.add_argument("--seed", type=SEED, help="random seed (default: 0)")
    p.add_argument(
        "--seeds",
        type=_seeds,
        metavar="N|A:B",
        help="train N independent networks at once (seeds --seed ... --seed+N-1), or those of "
        "seeds A ... B-1, in one compiled step; metrics per seed, figures and summary.json "
        "give the median and inter-quartile range (default: 1)",
    )
    p.add_argument(
        "--out",
        type=Path,
        help="output directory (default: runs/TASK-RULE-FEEDBACK-sSEED, with several seeds "
        "...-sFIRST-LAST)",
    )
    p.add_argument(
        "--dt", type=_POSITIVE, help="time step in ms of both the task and the network (default: 1)"
    )
    p.add_argument(
        "--c-reg",
        type=_NON_NEGATIVE,
        help=f"firing-rate regularisation strength (default: {_preset('c_reg')})",
    )
    p.add_argument(
        "--f-target", type=_POSITIVE, default=10.0, help="target firing rate in Hz (default: 10)"
    )
    p.add_argument(
        "--weight-bounds",
        type=_FINITE,
        nargs=2,
        metavar=("W_MIN", "W_MAX"),
        help="clip w_in, w_rec and w_out to [W_MIN, W_MAX] after every step",
    )
    p.add_argument(
        "--feedback-std",
        type=_POSITIVE,
        help="std of the random feedback matrix (default: "
        f"{_preset('feedback_std')}; none = 1/sqrt(n_rec))",
    )
    p.add_argument(
        "--eval-interval",
        type=_integer(0),
        default=25,
        help="evaluate on fresh batches every N iterations, 0 = never (default: 25)",
    )
    p.add_argument(
        "--eval-batches", type=_integer(1), default=4, help="batches per evaluation (default: 4)"
    )
    p.add_argument(
        "--target-error",
        type=_number(0.0, 1.0, low_open=False, high_open=True),
        help="stop once the evaluation recall error is below this, 0 = never (default: "
        f"{_preset('target_error')})",
    )
    p.add_argument(
        "--checkpoint-interval",
        type=_integer(1),
        default=50,
        help="write checkpoint.npz every N iterations (default: 50)",
    )
    p.add_argument(
        "--dtype",
        choices=("float32", "float64"),
        default="float32",
        help="(default: float32; float64 switches on JAX's x64 mode)",
    )
    p.add_argument(
        "--check-finite",
        action="store_true",
        help="check inputs, weights and gradients for NaN/inf inside the compiled step "
        "and stop naming the first one (slower)",
    )
    p.add_argument(
        "--data-parallel",
        action="store_true",
        help="split every batch over all visible devices (GPUs, or hosts after "
        "jax.distributed.initialize)",
    )
    for name, (kind, text) in NETWORK_OPTIONS.items():
        p.add_argument(f"--{name.replace('_', '-')}", type=kind, dest=f"net_{name}", help=text)
    p.add_argument(
        "--surrogate",
        choices=sorted(SURROGATES),
        dest="net_surrogate_shape",
        help="pseudo-derivative shape (default: piecewise_linear)",
    )
    p.add_argument(
        "--data",
        type=Path,
        metavar="DIR",
        help="local folder of a dataset task (nmnist: the unpacked N-MNIST folder with Train/ "
        "and Test/); the same as --task-option data_dir=DIR",
    )
    p.add_argument(
        "--task-option",
        type=_task_option,
        action="append",
        default=[],
        metavar="KEY=VALUE",
        help="task generator argument, e.g. --task-option word=hello or n_cues=5 "
        "(the time step is --dt)",
    )
    _add_run_folder_options(
        p,
        resume_help="continue the run in --out from its checkpoint, bit "
        "for bit (only --iterations, --eval-interval, --checkpoint-interval "
        "and --check-finite may change)",
    )


def _train(args) -> int:
    from ..train import train

    has_feedback = takes_feedback(resolve_rule(args.rule))
    if args.feedback not in (None, "symmetric") and not has_feedback:
        raise ValueError(
            f"--feedback {args.feedback}: rule {args.rule!r} has no feedback choice "
            "(it uses the readout weights exactly); leave --feedback out."
        )
    feedback = (args.feedback or "random") if has_feedback else "symmetric"
    if args.feedback_std is not None and feedback not in ("random", "adaptive"):
        raise ValueError(
            "--feedback-std applies to random and adaptive feedback (it draws b_fb); the run uses "
            f"{feedback} feedback."
        )
    if args.target_error is not None and args.task not in task_lib.CLASSIFICATION_TASKS:
        raise ValueError(
            f"--target-error applies to classification tasks "
            f"({', '.join(sorted(task_lib.CLASSIFICATION_TASKS))}) only; {args.task} "
            "is a regression task."
        )
    seed, n_seeds = args.seed if args.seed is not None else 0, 1
    if args.seeds is not None:
        first, n_seeds = args.seeds
        if first is not None:
            if args.seed is not None:
                raise ValueError(
                    f"--seeds {first}:{first + n_seeds} names its first seed; leave --seed "
                    f"{args.seed} out (or give --seeds {n_seeds})."
                )
            seed = first
    if n_seeds > 1 and args.data_parallel:
        raise ValueError(
            f"--data-parallel does not combine with --seeds ({n_seeds} seeds run vmapped on "
            "one device); train one seed per data-parallel run."
        )
    network = {k[4:]: v for k, v in vars(args).items() if k.startswith("net_") and v is not None}
    task_options = dict(args.task_option)
    if args.data is not None:
        if "data_dir" not in inspect.signature(task_lib.get_task(args.task)).parameters:
            raise ValueError(
                f"--data applies to dataset tasks only; {args.task} generates its trials."
            )
        task_options["data_dir"] = str(args.data)
    if args.dt is not None:
        network["dt"] = task_options["dt"] = args.dt
    config = TrainConfig(
        task=args.task,
        rule=args.rule,
        feedback=feedback,
        rule_options=dict(args.rule_option),
        iterations=args.iterations,
        batch_size=args.batch_size,
        learning_rate=args.learning_rate,
        lr_decay=args.lr_decay,
        lr_decay_every=args.lr_decay_every,
        seed=seed,
        seeds=n_seeds,
        c_reg=args.c_reg,
        f_target=args.f_target,
        feedback_std=args.feedback_std,
        weight_bounds=tuple(args.weight_bounds) if args.weight_bounds else None,
        eval_interval=args.eval_interval,
        eval_batches=args.eval_batches,
        target_error=args.target_error,
        checkpoint_interval=args.checkpoint_interval,
        network=network,
        task_options=task_options,
        dtype=args.dtype,
        data_parallel=args.data_parallel,
        check_finite=args.check_finite,
    )
    rule_tag = args.rule.replace(":", "_")
    tag = f"s{seed}" if n_seeds == 1 else f"s{seed}-{seed + n_seeds - 1}"
    out = args.out or Path("runs") / f"{args.task}-{rule_tag}-{feedback}-{tag}"
    result = train(
        config, out, resume=args.resume, overwrite=args.overwrite, progress=not args.no_progress
    )
    print(
        f"done: {result.iterations_done} iterations, {result.seconds_per_iteration:.3f} s/iteration"
        + (
            (
                " (stopped early: target error reached)"
                if result.seed_summary is None
                else " (stopped early: every seed reached the target error or diverged)"
            )
            if result.stopped_early
            else ""
        )
    )
    keys = ("loss", "accuracy", "eval_recall_error", "rate_hz")
    if result.seed_summary is None:
        final = result.metrics[-1] if result.metrics else {}
        print("final:", json.dumps({k: final[k] for k in keys if k in final}))
    else:
        _print_seed_summary(result.seed_summary, keys)
    if not args.no_plots:
        from ..plotting import plot_run

        paths = plot_run(out)
        print(f"figures: {', '.join(str(p) for p in paths)}")
    print(f"outputs in {out}")
    return 0


def _print_seed_summary(summary: dict, keys: tuple[str, ...]) -> None:
    """The final metrics of a multi-seed run as median [IQR], and each seed's iterations to the
    criterion (also in summary.json)."""
    seeds = summary["seed_list"]
    shown = {
        k: f"{summary['median'][k]:.4g} [{summary['iqr'][k][0]:.4g}, {summary['iqr'][k][1]:.4g}]"
        for k in keys
        if k in summary["median"]
    }
    diverged = [
        (p["seed"], p["diverged_at"]) for p in summary["per_seed"] if p["diverged_at"] is not None
    ]
    counted = len(seeds) - len(diverged) if len(diverged) < len(seeds) else len(seeds)
    print(f"final over {counted} seeds, median [IQR]:", json.dumps(shown))
    if diverged:
        print(
            "diverged (NaN/inf; frozen at the last finite state, left out of the medians): "
            + ", ".join(f"seed {s} at iteration {i}" for s, i in diverged)
        )
    criterion = summary["iterations_to_criterion"]
    if criterion["target_error"] is not None:
        per_seed = ", ".join(
            f"{s}: {n if n is not None else '-'}"
            for s, n in zip(seeds, criterion["per_seed"], strict=True)
        )
        print(
            f"iterations to eval recall error < {criterion['target_error']:g} per seed "
            f"({per_seed}); median {criterion['median']}, IQR {criterion['iqr']}"
        )
