"""Command line: ``eprop-jax train | plot | compare``.

Examples::

    eprop-jax train evidence_accumulation --rule eprop --feedback random --out runs/ea
    eprop-jax plot runs/ea
    eprop-jax compare evidence_accumulation --batches 4 --json
"""

from __future__ import annotations

import argparse
import json
import sys
from collections.abc import Sequence
from pathlib import Path

from . import tasks as task_lib
from .rules import FEEDBACKS, RULES, resolve_rule, takes_feedback
from .surrogates import SURROGATES
from .train import TASK_PRESETS, TrainConfig

NETWORK_OPTIONS = {
    "n_rec": (int, "number of recurrent neurons"),
    "n_alif": (int, "how many of them (the last ones) are adaptive (ALIF)"),
    "tau_m": (float, "membrane time constant (ms)"),
    "tau_a": (float, "adaptation time constant (ms)"),
    "thr": (float, "baseline firing threshold"),
    "beta": (float, "adaptation strength of the ALIF neurons (default: 1.7(1-rho)/(1-alpha))"),
    "refractory": (float, "refractory period (ms)"),
    "tau_out": (float, "readout time constant (ms)"),
    "gamma": (float, "pseudo-derivative dampening (height gamma/thr)"),
}


def _task_option(text: str) -> tuple[str, object]:
    if "=" not in text:
        raise argparse.ArgumentTypeError(f"expected KEY=VALUE, got {text!r}")
    key, value = text.split("=", 1)
    try:
        return key, json.loads(value)
    except json.JSONDecodeError:
        return key, value


def _rule_name(text: str) -> str:
    """A registered rule name, or ``package.module:factory`` (checked when it is built)."""
    if text not in RULES and ":" not in text:
        raise argparse.ArgumentTypeError(
            f"unknown rule {text!r}; expected one of {', '.join(sorted(RULES))} "
            "or package.module:factory"
        )
    return text


def _add_train_parser(sub) -> None:
    p = sub.add_parser(
        "train",
        help="train a network on a task and write metrics, checkpoint and figures",
        description="Train a recurrent spiking network on TASK. Writes config.json, "
        "metrics.jsonl, checkpoint.npz, snapshots, weights and PNG figures to --out.",
    )
    p.add_argument("task", choices=sorted([*task_lib.TASKS, "dnms"]),
                   help="the task to learn (dnms: Miconi's reward-modulated rate network on the "
                   "delayed non-match-to-sample task, eprop_jax.miconi)")  # fmt: skip
    p.add_argument("--rule", type=_rule_name, default="eprop", metavar="RULE",
                   help=f"learning rule: {', '.join(sorted(RULES))}, or package.module:factory "
                   "(default: eprop)")  # fmt: skip
    p.add_argument("--rule-option", type=_task_option, action="append", default=[],
                   metavar="KEY=VALUE",
                   help="rule factory argument, e.g. --rule-option truncation=50 for tbptt")  # fmt: skip
    p.add_argument("--feedback", choices=FEEDBACKS, default="random",
                   help="e-prop learning-signal feedback (default: random)")  # fmt: skip
    p.add_argument("--iterations", type=int, help="training iterations (default: task preset)")
    p.add_argument("--batch-size", type=int, help="trials per batch (default: task preset)")
    p.add_argument("--learning-rate", type=float, help="Adam step size (default: 5e-3)")
    p.add_argument("--lr-decay", type=float,
                   help="multiply the learning rate by this every --lr-decay-every iterations "
                   "(default: 0.7 for evidence accumulation, else 1 = constant)")  # fmt: skip
    p.add_argument("--lr-decay-every", type=int, default=100, help="(default: 100)")
    p.add_argument("--seed", type=int, help="random seed (default: 0; 1 with --nest-compatible)")
    p.add_argument(
        "--out", type=Path, help="output directory (default: runs/TASK-RULE-FEEDBACK-sSEED)"
    )
    p.add_argument("--c-reg", type=float, help="firing-rate regularisation strength (default: 2)")
    p.add_argument(
        "--f-target", type=float, default=10.0, help="target firing rate in Hz (default: 10)"
    )
    p.add_argument("--weight-bounds", type=float, nargs=2, metavar=("W_MIN", "W_MAX"),
                   help="clip w_in, w_rec and w_out to [W_MIN, W_MAX] after every step")  # fmt: skip
    p.add_argument("--feedback-std", type=float,
                   help="std of the random feedback matrix (default: 1 for evidence accumulation, "
                   "else 1/sqrt(n_rec))")  # fmt: skip
    p.add_argument("--eval-interval", type=int, default=25,
                   help="evaluate on fresh batches every N iterations, 0 = never (default: 25)")  # fmt: skip
    p.add_argument(
        "--eval-batches", type=int, default=4, help="batches per evaluation (default: 4)"
    )
    p.add_argument("--target-error", type=float,
                   help="stop once the evaluation recall error is below this (default: 0.07 for "
                   "evidence accumulation)")  # fmt: skip
    p.add_argument("--checkpoint-interval", type=int, default=50,
                   help="write checkpoint.npz every N iterations (default: 50)")  # fmt: skip
    p.add_argument(
        "--resume", action="store_true", help="continue from --out/checkpoint.npz, bit for bit"
    )
    p.add_argument("--dtype", choices=("float32", "float64"),
                   help="(default: float32; float64 with --nest-compatible)")  # fmt: skip
    p.add_argument("--nest-compatible", action="store_true",
                   help="run NEST 3.10's e-prop tutorial for TASK number for number (its "
                   "parameters, seeds, inputs and update conventions; eprop_jax.nest); "
                   "--iterations, --batch-size, --seed, --dtype and --out apply")  # fmt: skip
    p.add_argument("--data-parallel", action="store_true",
                   help="split every batch over all visible devices (GPUs, or hosts after "
                   "jax.distributed.initialize)")  # fmt: skip
    for name, (kind, text) in NETWORK_OPTIONS.items():
        p.add_argument(f"--{name.replace('_', '-')}", type=kind, dest=f"net_{name}", help=text)
    p.add_argument("--surrogate", choices=sorted(SURROGATES), dest="net_surrogate_shape",
                   help="pseudo-derivative shape (default: piecewise_linear)")  # fmt: skip
    p.add_argument("--task-option", type=_task_option, action="append", default=[],
                   metavar="KEY=VALUE",
                   help="task generator argument, e.g. --task-option word=hello or n_cues=5")  # fmt: skip
    g = p.add_argument_group("dnms (Miconi 2017); --iterations counts groups of 4 trials")
    g.add_argument("--networks", type=int, default=1,
                   help="independent networks trained at once, vmapped (default: 1)")  # fmt: skip
    g.add_argument("--dense", action="store_true", help="dense recurrent weights (default: p=0.1)")
    g.add_argument("--ab-baseline-bug", action="store_true",
                   help="reproduce the ANNarchy notebook's bug: AB's reward baseline tracks BA's")  # fmt: skip
    p.add_argument("--no-plots", action="store_true", help="do not draw the PNG figures")
    p.add_argument("--no-progress", action="store_true", help="hide the progress bar")


NEST_DEFAULT_ITERATIONS = {"evidence_accumulation": 50}  # the v3.10 scripts; others: 200


def _train_nest(args) -> int:
    from tqdm.auto import tqdm

    from . import nest
    from .plotting import plot_learning_curve

    ignored = [name for name in ("rule_option", "task_option", "weight_bounds", "learning_rate")
               if getattr(args, name)]  # fmt: skip
    ignored += [k[4:] for k, v in vars(args).items() if k.startswith("net_") and v is not None]
    if args.rule != "eprop" or ignored or args.resume or args.data_parallel:
        raise ValueError(
            "--nest-compatible runs NEST's tutorial with its own parameters; only --iterations, "
            "--batch-size, --seed, --dtype, --out, --no-plots and --no-progress apply (got "
            f"{', '.join(['--rule'] * (args.rule != 'eprop') + ignored) or '--resume'})."
        )
    iterations = args.iterations or NEST_DEFAULT_ITERATIONS.get(args.task, 200)
    seed = 1 if args.seed is None else args.seed
    out = args.out or Path("runs") / f"{args.task}-nest-s{seed}"
    classification = args.task == "evidence_accumulation"
    bar = tqdm(total=iterations, desc=f"{args.task} [NEST mode]", disable=args.no_progress)

    def on_iteration(iteration: int, loss: float) -> None:
        bar.set_postfix(loss=f"{loss:.4g}")
        bar.n = min(iteration + 1, iterations)
        bar.refresh()

    summary = nest.train_nest_tutorial(
        args.task, iterations, args.batch_size, seed, out, dtype=args.dtype or "float64",
        validate_every=10 if classification else None,
        test_iterations=4 if classification else 0, callback=on_iteration,
    )  # fmt: skip
    bar.close()
    print(f"done: {summary['iterations']} iterations in NEST mode, "
          f"{summary['seconds_per_iteration']:.3f} s/iteration; "
          f"final loss {summary['final_loss']:.6g}")  # fmt: skip
    if not args.no_plots:
        metrics = [json.loads(line) for line in (out / "metrics.jsonl").read_text().splitlines()
                   if line.strip()]  # fmt: skip
        fig = plot_learning_curve(metrics, "regression")
        fig.savefig(out / "learning_curve.png", dpi=120)
        print(f"figures: {out / 'learning_curve.png'}")
    print(f"outputs in {out}")
    return 0


def _train_dnms(args) -> int:
    from .miconi import MiconiConfig
    from .miconi_train import train_dnms

    spiking_only = [k[4:] for k, v in vars(args).items() if k.startswith("net_") and v is not None]
    spiking_only += [name for name in ("rule_option", "task_option", "weight_bounds")
                     if getattr(args, name)]  # fmt: skip
    if args.rule != "eprop" or spiking_only or args.resume or args.nest_compatible:
        raise ValueError(
            "dnms trains Miconi's rate network with its own reward-modulated rule; --rule, the "
            "spiking-network options, --resume and --nest-compatible do not apply (got "
            f"{', '.join(['--rule'] * (args.rule != 'eprop') + spiking_only) or 'one of them'})."
        )
    seed = 0 if args.seed is None else args.seed
    config = MiconiConfig(dense=args.dense, ab_baseline_bug=args.ab_baseline_bug,
                          dtype=args.dtype or "float32")  # fmt: skip
    out = args.out or Path("runs") / f"dnms-miconi-s{seed}"
    summary = train_dnms(config, args.iterations or 2000, out, seed=seed,
                         n_networks=args.networks, progress=not args.no_progress,
                         figures=not args.no_plots)  # fmt: skip
    reached = summary["trials_to_criterion"]
    print(f"done: {summary['groups']} groups x {summary['n_networks']} network(s), "
          f"{summary['groups_per_second']:.1f} network-groups/s")  # fmt: skip
    print("trials to criterion (95% of 100 trials with error < 1 / < 0.5):",
          json.dumps({"1": reached["1"], "0.5": reached["0.5"]}))  # fmt: skip
    print("test error without perturbation:", json.dumps(summary["test_error_mean"]))
    print(f"outputs in {out}")
    return 0


def _train(args) -> int:
    from .train import train

    if args.task == "dnms":
        return _train_dnms(args)
    if args.nest_compatible:
        return _train_nest(args)
    args.seed = 0 if args.seed is None else args.seed
    args.dtype = args.dtype or "float32"
    network = {k[4:]: v for k, v in vars(args).items() if k.startswith("net_") and v is not None}
    config = TrainConfig(
        task=args.task, rule=args.rule, feedback=args.feedback,
        rule_options=dict(args.rule_option), iterations=args.iterations,
        batch_size=args.batch_size, learning_rate=args.learning_rate, lr_decay=args.lr_decay,
        lr_decay_every=args.lr_decay_every, seed=args.seed,
        c_reg=args.c_reg, f_target=args.f_target, feedback_std=args.feedback_std,
        weight_bounds=tuple(args.weight_bounds) if args.weight_bounds else None,
        eval_interval=args.eval_interval, eval_batches=args.eval_batches,
        target_error=args.target_error, checkpoint_interval=args.checkpoint_interval,
        network=network, task_options=dict(args.task_option), dtype=args.dtype,
        data_parallel=args.data_parallel,
    )  # fmt: skip
    feedback = args.feedback if takes_feedback(resolve_rule(args.rule)) else "symmetric"
    rule_tag = args.rule.replace(":", "_")
    out = args.out or Path("runs") / f"{args.task}-{rule_tag}-{feedback}-s{args.seed}"
    result = train(config, out, resume=args.resume, progress=not args.no_progress)
    final = result.metrics[-1] if result.metrics else {}
    print(f"done: {result.iterations_done} iterations, {result.seconds_per_iteration:.3f} s/iteration"
          + (" (stopped early: target error reached)" if result.stopped_early else ""))  # fmt: skip
    shown = {
        k: final[k] for k in ("loss", "accuracy", "eval_recall_error", "rate_hz") if k in final
    }
    print("final:", json.dumps(shown))
    if not args.no_plots:
        from .plotting import plot_run

        paths = plot_run(out)
        print(f"figures: {', '.join(str(p) for p in paths)}")
    print(f"outputs in {out}")
    return 0


def _plot(args) -> int:
    from .plotting import plot_run

    for path in plot_run(args.dir):
        print(path)
    return 0


def _compare(args) -> int:
    import dataclasses

    import jax

    from .compare import format_alignment, mean_alignment
    from .losses import rate_regularization
    from .network import init_weights
    from .rules import make_rule
    from .train import build, load_checkpoint, load_config

    windows = args.truncation or [20]
    for window in windows:
        if window < 1:
            raise ValueError(f"--truncation must be >= 1 step; got {window}.")
    if args.run is not None:
        config = dataclasses.replace(load_config(args.run / "config.json"),
                                     batch_size=args.batch_size, data_parallel=False)  # fmt: skip
        task = config.task
    else:
        task = args.task or "evidence_accumulation"
        config = TrainConfig(task=task, batch_size=args.batch_size, seed=args.seed,
                             network={"n_rec": args.n_rec} if args.n_rec else {})  # fmt: skip
    exp = build(config)
    reg = rate_regularization(exp.config.c_reg, exp.config.f_target)
    key = jax.random.key(args.seed)
    weights = init_weights(exp.net, jax.random.fold_in(key, 2), dtype=exp.dtype,
                           feedback_std=exp.config.feedback_std)  # fmt: skip
    where = "the initial weights"
    if args.run is not None:
        weights, _, iteration, _ = load_checkpoint(args.run / "checkpoint.npz", weights,
                                                exp.optimizer.init(weights))  # fmt: skip
        where = f"the weights of {args.run} after {iteration} iterations"
    common = {"loss": exp.loss, "regularization": reg}
    reference = make_rule("bptt", exp.net, **common)
    rules = {}
    for name in ["eprop", *args.rule]:
        if takes_feedback(resolve_rule(name)):
            for feedback in FEEDBACKS:
                rules[f"{name}/{feedback}"] = make_rule(name, exp.net, feedback=feedback, **common)
        else:
            rules[name] = make_rule(name, exp.net, **common)
    rules["eprop-autodiff/symmetric"] = make_rule("eprop-autodiff", exp.net, **common)
    for window in windows:
        rules[f"tbptt/K={window}"] = make_rule("tbptt", exp.net, truncation=window, **common)
    batches = (exp.sample(jax.random.fold_in(key, 100 + b)) for b in range(args.batches))
    table = mean_alignment(rules, weights, batches, reference=reference, key=key)
    if args.json:
        print(json.dumps({"task": task, "batches": args.batches,
                          "batch_size": exp.config.batch_size, "weights": where,
                          "alignment": table}, indent=2))  # fmt: skip
    else:
        print(f"gradient alignment with BPTT, {task}, mean ± std over {args.batches} batch(es) "
              f"of {exp.config.batch_size} at {where}")  # fmt: skip
        print(format_alignment(table))
    return 0


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="eprop-jax",
        description="Train recurrent spiking networks with e-prop (Bellec et al. 2020) in JAX.",
    )
    sub = parser.add_subparsers(dest="command", required=True)
    _add_train_parser(sub)
    p = sub.add_parser("plot", help="redraw the figures of a training output directory",
                       description="Redraw all PNG figures of a run directory from its files.")  # fmt: skip
    p.add_argument("dir", type=Path, help="a directory written by `eprop-jax train`")
    p = sub.add_parser(
        "compare",
        help="gradient alignment of every rule with BPTT on a task",
        description="Cosine similarity and norm ratio of each rule's gradient to BPTT's, per "
        "weight matrix, mean and standard deviation over several batches, at the initial weights "
        "or those of a training run.",
    )
    p.add_argument("task", nargs="?", choices=sorted(task_lib.TASKS),
                   help="the task (default: evidence_accumulation, or --run's task)")  # fmt: skip
    p.add_argument("--run", type=Path, metavar="DIR",
                   help="compare at the weights of a training run (DIR/checkpoint.npz) instead of "
                   "the initial weights")  # fmt: skip
    p.add_argument("--rule", type=_rule_name, action="append", default=[], metavar="RULE",
                   help="also compare this rule (a name or package.module:factory); repeatable")  # fmt: skip
    p.add_argument("--truncation", type=int, action="append", metavar="K",
                   help="also compare truncated BPTT with a window of K steps; repeatable "
                   "(default: 20)")  # fmt: skip
    p.add_argument("--batches", type=int, default=4, help="batches to average over (default: 4)")
    p.add_argument("--batch-size", type=int, default=8, help="trials per batch (default: 8)")
    p.add_argument("--n-rec", type=int, help="recurrent neurons (default: task preset)")
    p.add_argument("--seed", type=int, default=0)
    p.add_argument("--json", action="store_true", help="print JSON instead of a table")
    p = sub.add_parser("bench", add_help=False,
                       help="speed and memory benchmark, one JSON line per measurement "
                       "(`eprop-jax bench --help`)")  # fmt: skip
    p.add_argument("bench_args", nargs=argparse.REMAINDER)
    return parser


def main(argv: Sequence[str] | None = None) -> int:
    """Entry point of the ``eprop-jax`` command."""
    argv = list(sys.argv[1:] if argv is None else argv)
    if argv[:1] == ["bench"]:  # its options belong to eprop_jax.bench
        from .bench import main as bench_main

        return bench_main(argv[1:])
    args = build_parser().parse_args(argv)
    handlers = {"train": _train, "plot": _plot, "compare": _compare}
    try:
        return handlers[args.command](args)
    except (ValueError, FileNotFoundError) as error:
        print(f"eprop-jax {args.command}: error: {error}", file=sys.stderr)
        return 2


if __name__ == "__main__":
    raise SystemExit(main())


__all__ = ["TASK_PRESETS", "build_parser", "main"]
