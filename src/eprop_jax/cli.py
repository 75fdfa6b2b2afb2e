"""Command line: ``eprop-jax train | nest | dnms | plot | compare | bench``.

Each command's parser carries only the options it honours:

* ``eprop-jax train TASK``: spiking e-prop (or another rule) on a task (:func:`eprop_jax.train`);
* ``eprop-jax nest TASK``: one of NEST 3.10's e-prop tutorials, number for number (NEST mode);
* ``eprop-jax dnms``: Miconi's reward-modulated rate network on DNMS;
* ``eprop-jax plot DIR``: redraw the figures of any run folder;
* ``eprop-jax compare``, ``eprop-jax bench``: gradient alignment, speed and memory.

Every run folder follows :mod:`eprop_jax.rundir`: a folder holding a run is refused unless
``--resume`` or ``--overwrite``. Numeric options are checked as they are parsed (zero, negative
or non-finite values are refused where meaningless). Every user mistake ends in one line
``eprop-jax COMMAND: error: ...`` and exit code 2; a traceback means a bug.

Examples::

    eprop-jax train evidence_accumulation --rule eprop --feedback random --out runs/ea
    eprop-jax train sine_waves --dt 0.5 --dtype float64 --out runs/sine64
    eprop-jax nest sine_waves --iterations 20
    eprop-jax dnms --groups 2000 --networks 8
    eprop-jax plot runs/ea
    eprop-jax compare evidence_accumulation --batches 4 --json
"""

from __future__ import annotations

import argparse
import inspect
import json
import math
import sys
import warnings
from collections.abc import Sequence
from pathlib import Path

from . import tasks as task_lib
from .rules import FEEDBACKS, RULES, resolve_rule, takes_feedback
from .rundir import RunDirWarning
from .surrogates import SURROGATES
from .train import NAMED_RULE_OPTIONS, TASK_PRESETS, TrainConfig, TrainingDiverged


class _Parser(argparse.ArgumentParser):
    """An argument parser whose errors are one line: ``PROG: error: MESSAGE`` (exit code 2)."""

    def error(self, message: str):
        self.exit(2, f"{self.prog}: error: {message}\n")


# -- argument types: each refuses what is meaningless, in one line ---------------------------


def _integer(least: int):
    def parse(text: str) -> int:
        try:
            value = int(text)
        except ValueError:
            raise argparse.ArgumentTypeError(
                f"expected an integer >= {least}; got {text!r}"
            ) from None
        if value < least:
            raise argparse.ArgumentTypeError(f"must be an integer >= {least}; got {text!r}")
        return value

    parse.__name__ = f"integer >= {least}"
    return parse


def _number(
    low: float = -math.inf,
    high: float = math.inf,
    *,
    low_open: bool = True,
    high_open: bool = False,
):
    """A finite float in the interval (low, high] (the ends as given)."""
    left = "(" if low_open else "["
    right = ")" if high_open or high == math.inf else "]"
    interval = f"{left}{low:g}, {high:g}{right}"

    def parse(text: str) -> float:
        try:
            value = float(text)
        except ValueError:
            raise argparse.ArgumentTypeError(f"expected a number; got {text!r}") from None
        inside = (value > low if low_open else value >= low) and (
            value < high if high_open else value <= high
        )
        if not math.isfinite(value) or not inside:
            if low == -math.inf and high == math.inf:
                raise argparse.ArgumentTypeError(f"must be a finite number; got {text!r}")
            raise argparse.ArgumentTypeError(f"must be a finite number in {interval}; got {text!r}")
        return value

    parse.__name__ = "number"
    return parse


_POSITIVE = _number(0.0)
_NON_NEGATIVE = _number(0.0, low_open=False)
_FINITE = _number()

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


def _key_value(text: str) -> tuple[str, object]:
    if "=" not in text or not text.split("=", 1)[0]:
        raise argparse.ArgumentTypeError(f"expected KEY=VALUE; got {text!r}")
    key, value = text.split("=", 1)
    try:
        parsed = json.loads(value)
    except json.JSONDecodeError:
        return key, value
    if isinstance(parsed, float) and not math.isfinite(parsed):
        raise argparse.ArgumentTypeError(f"{key} must be finite; got {value!r}")
    return key, parsed


def _preset(field: str) -> str:
    """A training default as the task records give it, for help texts."""
    return task_lib.describe_default(field).replace("%", "%%")


def _task_option(text: str) -> tuple[str, object]:
    key, value = _key_value(text)
    if key == "dt":
        raise argparse.ArgumentTypeError(
            "dt is set with --dt (one time step for the task and the network)"
        )
    if key == "dtype":
        raise argparse.ArgumentTypeError("dtype is set with --dtype")
    return key, value


_NAMED_RULE_FLAGS = {
    "loss": "the task",
    "feedback": "--feedback",
    "regularization": "--c-reg and --f-target",
}


def _rule_option(text: str) -> tuple[str, object]:
    key, value = _key_value(text)
    if key in NAMED_RULE_OPTIONS:
        raise argparse.ArgumentTypeError(f"{key} is set by {_NAMED_RULE_FLAGS[key]}, not here")
    return key, value


def _rule_name(text: str) -> str:
    """A registered rule name, or ``package.module:factory`` (checked when it is built)."""
    if text not in RULES and ":" not in text:
        raise argparse.ArgumentTypeError(
            f"unknown rule {text!r}; expected one of {', '.join(sorted(RULES))} "
            "or package.module:factory"
        )
    return text


def _add_run_folder_options(p, *, resume_help: str) -> None:
    p.add_argument("--resume", action="store_true", help=resume_help)
    p.add_argument(
        "--overwrite",
        action="store_true",
        help="delete the run already in --out (its files and figures) and start anew",
    )
    p.add_argument("--no-plots", action="store_true", help="do not draw the PNG figures")
    p.add_argument("--no-progress", action="store_true", help="hide the progress bar")


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
    p.add_argument("--seed", type=_integer(0), default=0, help="random seed (default: 0)")
    p.add_argument(
        "--out", type=Path, help="output directory (default: runs/TASK-RULE-FEEDBACK-sSEED)"
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
        type=_number(0.0, 1.0, high_open=True),
        help="stop once the evaluation recall error is below this (default: "
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


NEST_DEFAULT_ITERATIONS = {"evidence_accumulation": 50}  # the v3.10 scripts; others: 200


def _add_nest_parser(sub) -> None:
    p = sub.add_parser(
        "nest",
        help="run one of NEST 3.10's e-prop tutorials number for number (NEST mode)",
        description="Run NEST 3.10's e-prop tutorial for TASK number for number: its parameters, "
        "seeds, inputs and update conventions (eprop_jax.nest). Writes config.json, "
        "metrics.jsonl, weights and learning_curve.png to --out.",
    )
    p.add_argument("task", choices=sorted(task_lib.TASKS), help="the tutorial")
    p.add_argument(
        "--iterations",
        type=_integer(1),
        help="training iterations (default: the script's, 50 for evidence accumulation, else 200)",
    )
    p.add_argument(
        "--batch-size", type=_integer(1), help="sequences per iteration (default: the script's)"
    )
    p.add_argument("--seed", type=_integer(0), default=1, help="NEST's rng_seed (default: 1)")
    p.add_argument(
        "--dtype",
        choices=("float32", "float64"),
        default="float64",
        help="(default: float64, NEST's precision; switches on JAX's x64 mode)",
    )
    p.add_argument("--out", type=Path, help="output directory (default: runs/TASK-nest-sSEED)")
    _add_run_folder_options(
        p, resume_help="refused: NEST mode trains in one compiled call and keeps no checkpoint"
    )


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
    p.add_argument("--seed", type=_integer(0), default=0, help="random seed (default: 0)")
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


def _nest(args) -> int:
    from tqdm.auto import tqdm

    from . import nest

    iterations = args.iterations or NEST_DEFAULT_ITERATIONS.get(args.task, 200)
    out = args.out or Path("runs") / f"{args.task}-nest-s{args.seed}"
    classification = args.task == "evidence_accumulation"
    bar = None  # created at the first iteration, so that a refusal prints only its line

    def on_iteration(iteration: int, loss: float) -> None:
        nonlocal bar
        if bar is None:
            bar = tqdm(total=iterations, desc=f"{args.task} [NEST mode]", disable=args.no_progress)
        bar.set_postfix(loss=f"{loss:.4g}")
        bar.n = min(iteration + 1, iterations)
        bar.refresh()

    try:
        summary = nest.train_nest_tutorial(
            args.task,
            iterations,
            args.batch_size,
            args.seed,
            out,
            dtype=args.dtype,
            validate_every=10 if classification else None,
            test_iterations=4 if classification else 0,
            callback=on_iteration,
            resume=args.resume,
            overwrite=args.overwrite,
        )
    finally:
        if bar is not None:
            bar.close()
    print(
        f"done: {summary['iterations']} iterations in NEST mode, "
        f"{summary['seconds_per_iteration']:.3f} s/iteration; "
        f"final loss {summary['final_loss']:.6g}"
    )
    if not args.no_plots:
        from .plotting import plot_run

        print(f"figures: {', '.join(str(p) for p in plot_run(out))}")
    print(f"outputs in {out}")
    return 0


def _dnms(args) -> int:
    from .miconi import MiconiConfig, train_dnms

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


def _train(args) -> int:
    from .train import train

    has_feedback = takes_feedback(resolve_rule(args.rule))
    if args.feedback not in (None, "symmetric") and not has_feedback:
        raise ValueError(
            f"--feedback {args.feedback}: rule {args.rule!r} has no feedback choice "
            "(it uses the readout weights exactly); leave --feedback out."
        )
    feedback = (args.feedback or "random") if has_feedback else "symmetric"
    if args.feedback_std is not None and feedback != "random":
        raise ValueError(
            f"--feedback-std applies to random feedback only; the run uses {feedback} feedback."
        )
    if args.target_error is not None and args.task not in task_lib.CLASSIFICATION_TASKS:
        raise ValueError(
            f"--target-error applies to classification tasks "
            f"({', '.join(sorted(task_lib.CLASSIFICATION_TASKS))}) only; {args.task} "
            "is a regression task."
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
        seed=args.seed,
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
    out = args.out or Path("runs") / f"{args.task}-{rule_tag}-{feedback}-s{args.seed}"
    result = train(
        config, out, resume=args.resume, overwrite=args.overwrite, progress=not args.no_progress
    )
    final = result.metrics[-1] if result.metrics else {}
    print(
        f"done: {result.iterations_done} iterations, {result.seconds_per_iteration:.3f} s/iteration"
        + (" (stopped early: target error reached)" if result.stopped_early else "")
    )
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

    if not args.dir.is_dir():
        raise FileNotFoundError(f"{args.dir} is not a run folder (no such directory).")
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
        config = dataclasses.replace(
            load_config(args.run / "config.json"), batch_size=args.batch_size, data_parallel=False
        )
        task = config.task
    else:
        task = args.task or "evidence_accumulation"
        config = TrainConfig(
            task=task,
            batch_size=args.batch_size,
            seed=args.seed,
            network={"n_rec": args.n_rec} if args.n_rec else {},
        )
    exp = build(config)
    reg = rate_regularization(exp.config.c_reg, exp.config.f_target)
    key = jax.random.key(args.seed)
    weights = init_weights(
        exp.net, jax.random.fold_in(key, 2), dtype=exp.dtype, feedback_std=exp.config.feedback_std
    )
    where = "the initial weights"
    if args.run is not None:
        weights, _, iteration, _ = load_checkpoint(
            args.run / "checkpoint.npz", weights, exp.optimizer.init(weights)
        )
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
        print(
            json.dumps(
                {
                    "task": task,
                    "batches": args.batches,
                    "batch_size": exp.config.batch_size,
                    "weights": where,
                    "alignment": table,
                },
                indent=2,
            )
        )
    else:
        print(
            f"gradient alignment with BPTT, {task}, mean ± std over {args.batches} batch(es) "
            f"of {exp.config.batch_size} at {where}"
        )
        print(format_alignment(table))
    return 0


def build_parser() -> argparse.ArgumentParser:
    parser = _Parser(
        prog="eprop-jax",
        description="Train recurrent spiking networks with e-prop (Bellec et al. 2020) in JAX.",
    )
    sub = parser.add_subparsers(dest="command", required=True)
    _add_train_parser(sub)
    _add_nest_parser(sub)
    _add_dnms_parser(sub)
    p = sub.add_parser(
        "plot",
        help="redraw the figures of a run folder",
        description="Redraw all PNG figures of a run folder (train, nest or dnms) from its files.",
    )
    p.add_argument("dir", type=Path, help="a folder written by eprop-jax train, nest or dnms")
    p = sub.add_parser(
        "compare",
        help="gradient alignment of every rule with BPTT on a task",
        description="Cosine similarity and norm ratio of each rule's gradient to BPTT's, per "
        "weight matrix, mean and standard deviation over several batches, at the initial weights "
        "or those of a training run.",
    )
    p.add_argument(
        "task",
        nargs="?",
        choices=sorted(task_lib.TASKS),
        help="the task (default: evidence_accumulation, or --run's task)",
    )
    p.add_argument(
        "--run",
        type=Path,
        metavar="DIR",
        help="compare at the weights of a training run (DIR/checkpoint.npz) instead of "
        "the initial weights",
    )
    p.add_argument(
        "--rule",
        type=_rule_name,
        action="append",
        default=[],
        metavar="RULE",
        help="also compare this rule (a name or package.module:factory); repeatable",
    )
    p.add_argument(
        "--truncation",
        type=_integer(1),
        action="append",
        metavar="K",
        help="also compare truncated BPTT with a window of K steps; repeatable (default: 20)",
    )
    p.add_argument(
        "--batches", type=_integer(1), default=4, help="batches to average over (default: 4)"
    )
    p.add_argument(
        "--batch-size", type=_integer(1), default=8, help="trials per batch (default: 8)"
    )
    p.add_argument("--n-rec", type=_integer(1), help="recurrent neurons (default: task preset)")
    p.add_argument("--seed", type=_integer(0), default=0)
    p.add_argument("--json", action="store_true", help="print JSON instead of a table")
    p = sub.add_parser(
        "bench",
        add_help=False,
        help="speed and memory benchmark, one JSON line per measurement (`eprop-jax bench --help`)",
    )
    p.add_argument("bench_args", nargs=argparse.REMAINDER)
    return parser


EXPECTED_ERRORS = (ValueError, TrainingDiverged, OSError)
"""Errors that are the user's (bad input, a folder in use, a diverged run, a full disk): one line.
``OSError`` covers ``FileNotFoundError``, ``PermissionError``, ``IsADirectoryError``, ...;
``RunDirError`` is a ``ValueError``. Anything else is a bug and keeps its traceback."""


def _old_spelling(argv: list[str]) -> str | None:
    """The message for a command line of an earlier version, or ``None``."""
    if argv[:1] != ["train"]:
        return None
    if "dnms" in argv[1:2]:
        return (
            "DNMS has its own command now: eprop-jax dnms [--groups N] [--networks N] ... "
            "(see eprop-jax dnms --help)"
        )
    if "--nest-compatible" in argv:
        return (
            "NEST mode has its own command now: eprop-jax nest TASK [--iterations N] ... "
            "(see eprop-jax nest --help)"
        )
    return None


def _error_text(error: BaseException) -> str:
    if isinstance(error, OSError) and error.strerror and error.filename:
        text = f"{error.strerror}: {error.filename}"
    else:
        text = str(error) or type(error).__name__
    return " ".join(text.split())


def main(argv: Sequence[str] | None = None) -> int:
    """Entry point of the ``eprop-jax`` command; returns the exit code (2: a user's mistake)."""
    argv = list(sys.argv[1:] if argv is None else argv)
    if argv[:1] == ["bench"]:  # its options belong to eprop_jax.bench
        from .bench import main as bench_main

        return bench_main(argv[1:])
    old = _old_spelling(argv)
    if old is not None:
        print(f"eprop-jax {argv[0]}: error: {old}", file=sys.stderr)
        return 2
    try:
        args, extra = build_parser().parse_known_args(argv)
    except SystemExit as exit_:  # --help (0) or a parse error, already printed in one line
        return exit_.code if isinstance(exit_.code, int) else 0
    if extra:
        print(
            f"eprop-jax {args.command}: error: unrecognized arguments: {' '.join(extra)} "
            f"(see eprop-jax {args.command} --help)",
            file=sys.stderr,
        )
        return 2
    if getattr(args, "dtype", None) == "float64":
        import jax

        jax.config.update("jax_enable_x64", True)  # the command line may; library code must not
    handlers = {"train": _train, "nest": _nest, "dnms": _dnms, "plot": _plot, "compare": _compare}
    command = f"eprop-jax {args.command}"

    def one_line_warning(message, category, filename, lineno, file=None, line=None):
        print(f"{command}: warning: {' '.join(str(message).split())}", file=sys.stderr)

    with warnings.catch_warnings():
        warnings.showwarning = one_line_warning
        warnings.filterwarnings("always", category=RunDirWarning)
        warnings.filterwarnings("always", message="`train`", category=RuntimeWarning)
        try:
            return handlers[args.command](args)
        except EXPECTED_ERRORS as error:
            print(f"{command}: error: {_error_text(error)}", file=sys.stderr)
            return 2
        except KeyboardInterrupt:
            more = " (continue it with --resume)" if args.command in ("train", "dnms") else ""
            print(f"{command}: interrupted{more}", file=sys.stderr)
            return 130


if __name__ == "__main__":
    raise SystemExit(main())


__all__ = ["TASK_PRESETS", "build_parser", "main"]
