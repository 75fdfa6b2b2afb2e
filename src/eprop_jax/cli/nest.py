"""``eprop-jax nest TASK``: NEST 3.10's e-prop tutorials number for number (NEST mode).

Its parser and its handler, which runs :func:`eprop_jax.nest.train_nest_tutorial` with a progress
bar and draws the figures of the run folder.
"""

from __future__ import annotations

from pathlib import Path

from ..nest.current import CURRENT_MODELS
from ..nest.tutorials import TUTORIALS
from ._options import _add_run_folder_options, _integer

NEST_DEFAULT_ITERATIONS = {"evidence_accumulation": 50}  # the v3.10 scripts; others: 200


def _add_nest_parser(sub) -> None:
    p = sub.add_parser(
        "nest",
        help="run one of NEST 3.10's e-prop tutorials number for number (NEST mode)",
        description="Run NEST 3.10's e-prop tutorial for TASK number for number: its parameters, "
        "seeds, inputs and update conventions (eprop_jax.nest). Writes config.json, "
        "metrics.jsonl, weights and learning_curve.png to --out.",
    )
    p.add_argument(
        "task", choices=[*TUTORIALS, "lemniscate"], help="the tutorial (lemniscate = infinite_loop)"
    )
    p.add_argument(
        "--model",
        choices=("bsshslm_2020", *CURRENT_MODELS),
        default="bsshslm_2020",
        help="the recurrent neuron model: bsshslm_2020 (default; the *_bsshslm_2020 tutorials) or "
        "one of NEST 3.10's current models (continuous learning), sine_waves only",
    )
    p.add_argument(
        "--iterations",
        type=_integer(1),
        help="training iterations (default: the script's, 50 for evidence accumulation, else 200)",
    )
    p.add_argument(
        "--batch-size", type=_integer(1), help="sequences per iteration (default: the script's)"
    )
    p.add_argument(
        "--seed", type=_integer(1, 2**32 - 1), default=1, help="NEST's rng_seed (default: 1)"
    )
    p.add_argument(
        "--dtype",
        choices=("float32", "float64"),
        default="float64",
        help="(default: float64, NEST's precision; switches on JAX's x64 mode)",
    )
    p.add_argument("--out", type=Path, help="output directory (default: runs/TASK-nest-sSEED)")
    _add_run_folder_options(p, resume_help="refused: NEST mode keeps no checkpoint")


def _nest(args) -> int:
    from tqdm.auto import tqdm

    from .. import nest

    iterations = args.iterations or NEST_DEFAULT_ITERATIONS.get(args.task, 200)
    current = args.model != "bsshslm_2020"
    if current:
        if args.task != "sine_waves":
            raise ValueError(
                f"--model {args.model}: NEST 3.10's current models have a tutorial for sine_waves "
                f"only; got task {args.task!r} (use --model bsshslm_2020)"
            )
        if args.batch_size not in (None, 1):
            raise ValueError(
                f"--batch-size {args.batch_size}: the current models learn continuously, one "
                "sequence per iteration; accepted: 1"
            )
        if args.dtype != "float64":
            raise ValueError(f"--dtype {args.dtype}: the current models run in float64 only")
    name = f"{args.task}-{args.model}" if current else args.task
    out = args.out or Path("runs") / f"{name}-nest-s{args.seed}"
    classification = args.task == "evidence_accumulation"
    bar = None  # created at the first iteration, so that a refusal prints only its line

    def on_iteration(iteration: int, loss: float) -> None:
        nonlocal bar
        if bar is None:
            bar = tqdm(total=iterations, desc=f"{name} [NEST mode]", disable=args.no_progress)
        bar.set_postfix(loss=f"{loss:.4g}")
        bar.n = min(iteration + 1, iterations)
        bar.refresh()

    try:
        if current:
            summary = nest.train_current_tutorial(
                args.model,
                iterations,
                args.seed,
                out,
                callback=on_iteration,
                resume=args.resume,
                overwrite=args.overwrite,
            )
        else:
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
        + (
            "time per iteration unknown (one iteration includes compiling); "
            if summary["seconds_per_iteration"] is None
            else f"{summary['seconds_per_iteration']:.3f} s/iteration; "
        )
        + f"final loss {summary['final_loss']:.6g}"
    )
    if not args.no_plots:
        from ..plotting import plot_run

        print(f"figures: {', '.join(str(p) for p in plot_run(out))}")
    print(f"outputs in {out}")
    return 0
