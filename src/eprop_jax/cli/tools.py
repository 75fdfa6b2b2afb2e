"""``eprop-jax plot``, ``eprop-jax compare`` and ``eprop-jax bench``: the tools around training.

* ``plot DIR`` redraws every figure of a run folder (:func:`eprop_jax.plotting.plot_run`);
* ``compare`` prints each rule's gradient alignment with BPTT (:mod:`eprop_jax.compare`);
* ``bench`` only names itself here: :func:`eprop_jax.cli.main` hands its arguments to
  :func:`eprop_jax.bench.main`, which owns its options.
"""

from __future__ import annotations

import argparse
import json
from pathlib import Path

from .. import tasks as task_lib
from ..rules import FEEDBACKS, resolve_rule, takes_feedback
from ..train import TrainConfig
from ._options import SEED, _integer, _rule_name, _seeds


def _add_plot_parser(sub) -> None:
    p = sub.add_parser(
        "plot",
        help="redraw the figures of a run folder",
        description="Redraw all PNG figures of a run folder (train, nest, dnms or reward) from its "
        "files.",
    )
    p.add_argument(
        "dir", type=Path, help="a folder written by eprop-jax train, nest, dnms or reward"
    )


def _add_compare_parser(sub) -> None:
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
    p.add_argument("--seed", type=SEED, help="seed of the weights and batches (default: 0)")
    p.add_argument(
        "--seeds",
        type=_seeds,
        help="compare on N networks (seeds --seed ... --seed+N-1), or those of seeds A ... B-1, "
        "each with its own weights and batches, and report mean ± std over batches ± sample std "
        "over seeds (default: one; a multi-seed --run uses its own seeds)",
    )
    p.add_argument("--json", action="store_true", help="print JSON instead of a table")


def _add_bench_parser(sub) -> None:
    p = sub.add_parser(
        "bench",
        add_help=False,
        help="speed and memory benchmark, one JSON line per measurement (`eprop-jax bench --help`)",
    )
    p.add_argument("bench_args", nargs=argparse.REMAINDER)


def _plot(args) -> int:
    from ..plotting import plot_run

    if not args.dir.is_dir():
        raise FileNotFoundError(f"{args.dir} is not a run folder (no such directory).")
    for path in plot_run(args.dir):
        print(path)
    return 0


def _compare(args) -> int:
    import dataclasses
    import functools

    import jax

    from ..compare import format_alignment, mean_alignment, over_seeds
    from ..experiment import seed_list
    from ..losses import rate_regularization
    from ..network import init_weights
    from ..rules import make_rule
    from ..train import build, load_checkpoint, load_config

    def single_seed(config: TrainConfig, seed: int) -> TrainConfig:
        return dataclasses.replace(config, seed=seed, seeds=1)

    windows = args.truncation or [20]
    for window in windows:
        if window < 1:
            raise ValueError(f"--truncation must be >= 1 step; got {window}.")
    if args.run is not None:
        given = [flag for flag, value in (("TASK", args.task), ("--n-rec", args.n_rec)) if value]
        if given:
            raise ValueError(
                f"{' and '.join(given)} cannot be combined with --run: the run's own "
                "configuration decides them."
            )
        config = dataclasses.replace(
            load_config(args.run / "config.json"), batch_size=args.batch_size, data_parallel=False
        )
        if config.dtype == "float64":  # the run trained in float64: read and compare it so
            jax.config.update("jax_enable_x64", True)
        task = config.task
    else:
        task = args.task or "evidence_accumulation"
        config = TrainConfig(
            task=task,
            batch_size=args.batch_size,
            seed=args.seed if args.seed is not None else 0,
            network={"n_rec": args.n_rec} if args.n_rec else {},
        )
    first, n_seeds = args.seeds if args.seeds is not None else (None, 1)
    if first is not None and args.seed is not None:
        raise ValueError(
            f"--seeds {first}:{first + n_seeds} names its first seed; leave --seed {args.seed} "
            f"out (or give --seeds {n_seeds})."
        )
    if args.run is not None and args.seeds is not None:
        given = f"{first}:{first + n_seeds}" if first is not None else n_seeds
        raise ValueError(
            f"--seeds {given} cannot be combined with --run: the run's own seeds decide it."
        )
    seed = first if first is not None else (args.seed if args.seed is not None else 0)
    # a single-seed --run keeps its own seed's weights; --seed only picks the batches, as before
    batch_seed = None
    if args.run is not None and config.seeds == 1:
        seeds, batch_seed = [config.seed], seed
    elif args.run is not None:
        if args.seed is not None:
            raise ValueError(
                f"--seed {args.seed} cannot be combined with --run of a multi-seed run: each "
                "seed's batches come from its own seed."
            )
        seeds = list(seed_list(config))
    else:
        seeds = list(range(seed, seed + n_seeds))
        if seeds[-1] >= 2**32:
            raise ValueError(f"--seed {seed} --seeds {n_seeds} pass 2**32 - 1.")
    # one network, loss and set of rules for every seed (the seeds differ in weights and batches)
    exp = build(config if batch_seed is not None else single_seed(config, seeds[0]))
    reg = rate_regularization(exp.config.c_reg, exp.config.f_target)
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
    stacked = None
    if args.run is not None and len(seeds) > 1:  # the run's checkpoint stacks its seeds
        template = [
            init_weights(exp.net, jax.random.key(s), dtype=exp.dtype, feedback_std=1.0)
            for s in seeds
        ]
        stack = functools.partial(jax.tree.map, lambda *x: jax.numpy.stack(x))
        weights, _, iteration, _ = load_checkpoint(
            args.run / "checkpoint.npz",
            stack(*template),
            stack(*(exp.optimizer.init(w) for w in template)),
        )
        stacked = (weights, iteration)
    tables = []
    for index, run_seed in enumerate(seeds):
        key = jax.random.key(batch_seed if batch_seed is not None else run_seed)
        # a frozen task's batch is the seed's own: its sampler comes from that seed's experiment
        sample = (
            exp.sample
            if config.task not in task_lib.FROZEN_TASKS or index == 0
            else build(single_seed(config, run_seed)).sample
        )
        weights = init_weights(
            exp.net,
            jax.random.fold_in(key, 2),
            dtype=exp.dtype,
            feedback_std=exp.config.feedback_std,
        )
        where = "the initial weights"
        if stacked is not None:
            weights, iteration = jax.tree.map(lambda w, i=index: w[i], stacked[0]), stacked[1]
            where = f"the weights of {args.run} after {iteration} iterations"
        elif args.run is not None:
            weights, _, iteration, _ = load_checkpoint(
                args.run / "checkpoint.npz", weights, exp.optimizer.init(weights)
            )
            where = f"the weights of {args.run} after {iteration} iterations"
        batches = (sample(jax.random.fold_in(key, 100 + b)) for b in range(args.batches))
        tables.append(mean_alignment(rules, weights, batches, reference=reference, key=key))
    table = tables[0] if len(seeds) == 1 else over_seeds(tables)
    if args.json:
        print(
            json.dumps(
                {
                    "task": task,
                    "batches": args.batches,
                    "batch_size": exp.config.batch_size,
                    "seeds": seeds,
                    **({"batch_seed": batch_seed} if batch_seed is not None else {}),
                    "weights": where,
                    "alignment": table,
                },
                indent=2,
            )
        )
    else:
        print(
            f"gradient alignment with BPTT, {task}, mean ± std over {args.batches} batch(es) "
            f"of {exp.config.batch_size}"
            + (f" ± sample std over {len(seeds)} seeds" if len(seeds) > 1 else "")
            + f" at {where}"
        )
        print(format_alignment(table))
    return 0
