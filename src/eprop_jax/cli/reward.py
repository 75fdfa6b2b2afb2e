"""``eprop-jax reward ENV``: an actor-critic spiking agent trained with reward-based e-prop.

Its parser and its handler, which runs :func:`eprop_jax.reward_train.train_reward` (run folder of
kind ``"reward"``, :mod:`eprop_jax.rundir`) and prints the iterations to criterion.
"""

from __future__ import annotations

import argparse
import json
from pathlib import Path

from ..envs import ENVS
from ..reward import IMPLEMENTATIONS
from ..rules import FEEDBACKS
from ._options import (
    _NON_NEGATIVE,
    _POSITIVE,
    SEED,
    _add_run_folder_options,
    _integer,
    _key_value,
    _number,
)


def _add_reward_parser(sub) -> None:
    from ..reward_train import NETWORK_TAU_A, OTHER_ENV_C_ENTROPY, RewardConfig

    d = RewardConfig()
    p = sub.add_parser(
        "reward",
        help="train an actor-critic spiking agent with reward-based e-prop",
        description="Train a recurrent spiking network (LIF + ALIF) as an actor-critic agent "
        "with reward-based e-prop (Bellec et al. 2020, Methods 'Reward-based e-prop') on a "
        "pure-function environment. Writes config.json, metrics.jsonl, checkpoint.npz, "
        "snapshot_first/last.npz, summary.json and PNG figures to --out.",
    )
    p.add_argument("env", choices=sorted(ENVS), help="the environment")
    p.add_argument(
        "--env-option",
        type=_key_value,
        action="append",
        default=[],
        metavar="KEY=VALUE",
        help="an option of the environment, repeatable (default for delayed_decision: "
        f"{' '.join(f'{k}={v}' for k, v in d.env_options.items())})",
    )
    p.add_argument("--iterations", type=_integer(1), default=d.iterations)
    p.add_argument(
        "--batch-size",
        type=_integer(1),
        default=d.batch_size,
        help=f"episodes per iteration (default: {d.batch_size})",
    )
    p.add_argument("--n-rec", type=_integer(1), default=d.n_rec)
    p.add_argument("--n-alif", type=_integer(0), default=d.n_alif)
    p.add_argument(
        "--tau-a",
        type=_POSITIVE,
        help=f"adaptation time constant of the ALIF neurons in ms (default: {d.tau_a} for "
        f"delayed_decision, {NETWORK_TAU_A} for the others)",
    )
    p.add_argument("--learning-rate", "--lr", type=_POSITIVE, default=d.learning_rate)
    p.add_argument(
        "--lr-decay",
        type=_number(0.0, 1.0),
        default=d.lr_decay,
        help=f"factor on the learning rate every 100 iterations (default: {d.lr_decay})",
    )
    p.add_argument(
        "--gamma",
        type=_number(0.0, 1.0, low_open=False),
        default=d.gamma,
        help=f"discount factor (default: {d.gamma})",
    )
    p.add_argument("--c-value", type=_NON_NEGATIVE, default=d.c_value)
    p.add_argument(
        "--c-entropy",
        type=_NON_NEGATIVE,
        help=f"entropy coefficient (default: {d.c_entropy} for delayed_decision, "
        f"{OTHER_ENV_C_ENTROPY} for the others)",
    )
    p.add_argument("--c-reg", type=_NON_NEGATIVE, default=d.c_reg)
    p.add_argument("--f-target", type=_NON_NEGATIVE, default=d.f_target, help="Hz")
    p.add_argument("--feedback", choices=FEEDBACKS, default=d.feedback)
    p.add_argument(
        "--feedback-std",
        type=_POSITIVE,
        help=f"std of the random feedback matrix b_fb, random and adaptive feedback only "
        f"(default: {d.feedback_std})",
    )
    p.add_argument(
        "--implementation",
        choices=IMPLEMENTATIONS,
        default=d.implementation,
        help="how the (same) gradient is computed (default: factored)",
    )
    p.add_argument("--checkpoint-interval", type=_integer(1), default=d.checkpoint_interval)
    p.add_argument("--seed", type=SEED, default=0)
    p.add_argument("--out", type=Path, help="output directory (default: runs/reward-ENV-sSEED)")
    _add_run_folder_options(
        p,
        resume_help="continue the run in --out from its last checkpoint, bit for bit (only "
        "--iterations and --checkpoint-interval may change)",
    )


def _reward(args: argparse.Namespace) -> int:
    from ..reward_train import RewardConfig, env_defaults, train_reward

    defaults = env_defaults(args.env)
    env_options = defaults["env_options"]
    env_options.update(dict(args.env_option))
    if args.feedback_std is not None and args.feedback == "symmetric":
        raise ValueError(
            "--feedback-std applies to random and adaptive feedback (it draws b_fb); the run uses "
            "symmetric feedback."
        )
    feedback_std = RewardConfig().feedback_std if args.feedback_std is None else args.feedback_std
    config = RewardConfig(
        env=args.env,
        env_options=env_options,
        n_rec=args.n_rec,
        n_alif=args.n_alif,
        tau_a=defaults["tau_a"] if args.tau_a is None else args.tau_a,
        iterations=args.iterations,
        batch_size=args.batch_size,
        learning_rate=args.learning_rate,
        lr_decay=args.lr_decay,
        gamma=args.gamma,
        c_value=args.c_value,
        c_entropy=defaults["c_entropy"] if args.c_entropy is None else args.c_entropy,
        c_reg=args.c_reg,
        f_target=args.f_target,
        feedback=args.feedback,
        feedback_std=feedback_std,
        implementation=args.implementation,
        seed=args.seed,
        checkpoint_interval=args.checkpoint_interval,
    )
    out = args.out or Path("runs") / f"reward-{args.env}-s{args.seed}"
    summary = train_reward(
        config,
        out,
        progress=not args.no_progress,
        figures=not args.no_plots,
        resume=args.resume,
        overwrite=args.overwrite,
    )
    final = summary["final"] or {}
    if summary.get("already_done"):
        print(f"nothing to do: {out} has done its {summary['iterations']} iterations already")
    print(
        f"done: {summary['iterations']} iterations, {summary['seconds_per_iteration']:.3f} s each"
    )
    print("final:", json.dumps({k: final[k] for k in ("return", "correct") if k in final}))
    print(f"iterations to criterion ({summary['criterion']}):", summary["iterations_to_criterion"])
    print(f"outputs in {out}")
    return 0
