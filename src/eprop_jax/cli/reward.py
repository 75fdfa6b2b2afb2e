"""``eprop-jax reward ENV``: an actor-critic spiking agent trained with reward-based e-prop.

Its parser and its handler, which runs :func:`eprop_jax.reward_train.train_reward` for the
built-in environments and :func:`eprop_jax.reward_gym.train_gym` for a Gymnasium id written
``gym:ID`` (run folders of kind ``"reward"``, :mod:`eprop_jax.rundir`) and prints the result.
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


def _reward_env(text: str) -> str:
    """An argparse type: a built-in environment name or ``gym:ID`` (a Gymnasium id)."""
    from ..reward_gym import PREFIX

    if text in ENVS or (text.startswith(PREFIX) and len(text) > len(PREFIX)):
        return text
    raise argparse.ArgumentTypeError(
        f"expected one of {', '.join(sorted(ENVS))} or {PREFIX}ID (a Gymnasium id such as "
        f"{PREFIX}CartPole-v1); got {text!r}"
    )


RESOLVED = (
    "iterations",
    "batch_size",
    "n_rec",
    "n_alif",
    "learning_rate",
    "lr_decay",
    "gamma",
    "c_value",
    "c_entropy",
    "c_reg",
    "f_target",
    "feedback",
    "feedback_std",
    "implementation",
    "checkpoint_interval",
)
"""Options whose default depends on the environment kind (left ``None`` by the parser)."""


def _default(kinds: dict, name: str) -> str:
    """``--help`` text of an option's default per environment kind (``kinds``: kind -> config)."""
    values = {kind: getattr(config, name, None) for kind, config in kinds.items()}
    if len(set(map(repr, values.values()))) == 1:
        return f"default: {next(iter(values.values()))}"
    return "default: " + ", ".join(f"{v} for {k}" for k, v in values.items())


def _resolved(args: argparse.Namespace, defaults) -> dict:
    """The :data:`RESOLVED` options: given on the command line, else ``defaults``' (a
    :class:`RewardConfig` or :class:`GymConfig`); ``--feedback-std`` with symmetric feedback is
    refused in one line."""
    values = {}
    for name in RESOLVED:
        given = getattr(args, name)
        values[name] = getattr(defaults, name) if given is None else given
    if args.feedback_std is not None and values["feedback"] == "symmetric":
        raise ValueError(
            "--feedback-std applies to random and adaptive feedback (it draws b_fb); the run uses "
            "symmetric feedback."
        )
    return values


def _add_reward_parser(sub) -> None:
    from ..reward_gym import GymConfig
    from ..reward_train import RewardConfig, reward_defaults

    d, g = RewardConfig(), GymConfig()
    kinds = {"delayed_decision": d, "dnms": reward_defaults("dnms"), "gym:ID": g}
    p = sub.add_parser(
        "reward",
        help="train an actor-critic spiking agent with reward-based e-prop",
        description="Train a recurrent spiking network (LIF + ALIF) as an actor-critic agent "
        "with reward-based e-prop (Bellec et al. 2020, Methods 'Reward-based e-prop') on a "
        "pure-function environment. Writes config.json, metrics.jsonl, checkpoint.npz, "
        "snapshot_first/last.npz, summary.json and PNG figures to --out.",
    )
    p.add_argument(
        "env",
        type=_reward_env,
        metavar="ENV",
        help=f"the environment: {', '.join(sorted(ENVS))}, or gym:ID for a Gymnasium id "
        "(gym:CartPole-v1; needs pip install eprop-jax[rl]), played in segments of --segment "
        "steps, bootstrapped at the cut; a game stopped by its time limit (CartPole's 500 "
        "steps) counts as terminal (V = 0), not bootstrapped",
    )
    p.add_argument(
        "--env-option",
        type=_key_value,
        action="append",
        default=[],
        metavar="KEY=VALUE",
        help="an option of the environment, repeatable (default for delayed_decision: "
        f"{' '.join(f'{k}={v}' for k, v in d.env_options.items())}; for gym:ID, keyword "
        "arguments of gymnasium.make)",
    )
    p.add_argument("--iterations", type=_integer(1), help=_default(kinds, "iterations"))
    p.add_argument(
        "--batch-size",
        type=_integer(1),
        help="episodes per iteration (parallel games for gym:ID); " + _default(kinds, "batch_size"),
    )
    p.add_argument("--n-rec", type=_integer(1), help=_default(kinds, "n_rec"))
    p.add_argument("--n-alif", type=_integer(0), help=_default(kinds, "n_alif"))
    p.add_argument(
        "--tau-a",
        type=_POSITIVE,
        help="adaptation time constant of the ALIF neurons in ms, built-in environments only; "
        + _default({k: v for k, v in kinds.items() if k != "gym:ID"}, "tau_a"),
    )
    p.add_argument("--learning-rate", "--lr", type=_POSITIVE, help=_default(kinds, "learning_rate"))
    p.add_argument(
        "--lr-decay",
        type=_number(0.0, 1.0),
        help="factor on the learning rate every 100 iterations; " + _default(kinds, "lr_decay"),
    )
    p.add_argument(
        "--gamma",
        type=_number(0.0, 1.0, low_open=False),
        help="discount factor; " + _default(kinds, "gamma"),
    )
    p.add_argument(
        "--segment",
        type=_integer(1),
        help=f"gym:ID only: steps per game and iteration (default: {g.segment})",
    )
    p.add_argument("--c-value", type=_NON_NEGATIVE, help=_default(kinds, "c_value"))
    p.add_argument("--c-entropy", type=_NON_NEGATIVE, help=_default(kinds, "c_entropy"))
    p.add_argument("--c-reg", type=_NON_NEGATIVE, help=_default(kinds, "c_reg"))
    p.add_argument("--f-target", type=_NON_NEGATIVE, help="Hz; " + _default(kinds, "f_target"))
    p.add_argument("--feedback", choices=FEEDBACKS, help=_default(kinds, "feedback"))
    p.add_argument(
        "--feedback-std",
        type=_POSITIVE,
        help="std of the random feedback matrix b_fb, random and adaptive feedback only; "
        + _default(kinds, "feedback_std").replace("None", "1/sqrt(n_rec)"),
    )
    p.add_argument(
        "--implementation",
        choices=IMPLEMENTATIONS,
        help="how the (same) gradient is computed; " + _default(kinds, "implementation"),
    )
    p.add_argument(
        "--checkpoint-interval", type=_integer(1), help=_default(kinds, "checkpoint_interval")
    )
    p.add_argument("--seed", type=SEED, default=0)
    p.add_argument("--out", type=Path, help="output directory (default: runs/reward-ENV-sSEED)")
    _add_run_folder_options(
        p,
        resume_help="continue the run in --out from its last checkpoint (only --iterations and "
        "--checkpoint-interval may change): bit for bit for the built-in environments; for "
        "gym:ID the weights, optimiser state and scores are restored but the games restart",
    )


def _reward(args: argparse.Namespace) -> int:
    from ..reward_gym import PREFIX
    from ..reward_train import RewardConfig, reward_defaults, train_reward

    if args.env.startswith(PREFIX):
        return _reward_gym(args)
    if args.segment is not None:
        raise ValueError(
            f"--segment applies to gym:ID environments; {args.env} plays whole episodes."
        )
    d = reward_defaults(args.env)
    env_options = {**d.env_options, **dict(args.env_option)}
    config = RewardConfig(
        env=args.env,
        env_options=env_options,
        tau_a=d.tau_a if args.tau_a is None else args.tau_a,
        seed=args.seed,
        **_resolved(args, d),
    )
    out = args.out or Path("runs") / f"reward-{args.env}-s{args.seed}"
    summary = _train_and_report(train_reward, config, out, args)
    final = summary["final"] or {}
    print("final:", json.dumps({k: final[k] for k in ("return", "correct") if k in final}))
    print(f"iterations to criterion ({summary['criterion']}):", summary["iterations_to_criterion"])
    print(f"outputs in {out}")
    return 0


def _train_and_report(train, config, out: Path, args: argparse.Namespace) -> dict:
    """Run ``train`` (``train_reward`` or ``train_gym``) with the run-folder options of the
    command line; print whether there was nothing to do and the iterations done."""
    summary = train(
        config,
        out,
        progress=not args.no_progress,
        figures=not args.no_plots,
        resume=args.resume,
        overwrite=args.overwrite,
    )
    if summary.get("already_done"):
        print(f"nothing to do: {out} has done its {summary['iterations']} iterations already")
    seconds = summary["seconds_per_iteration"]
    print(
        f"done: {summary['iterations']} iterations"
        + (f", {seconds:.3f} s each" if seconds is not None else "")
    )
    return summary


def _check_env_maker(out: Path) -> None:
    """Refuse in one line to resume a run whose environments a script built (``env_maker``)."""
    from ..reward_gym import GYMNASIUM_MAKE

    try:
        saved = json.loads((out / "config.json").read_text())
    except (OSError, ValueError):
        return  # no readable run here: open_run says so
    maker = saved.get("env_maker", GYMNASIUM_MAKE) if isinstance(saved, dict) else GYMNASIUM_MAKE
    if maker != GYMNASIUM_MAKE:
        raise ValueError(
            f"cannot resume {out} from the command line: its environments are built by {maker} "
            f"(env_maker); resume it with: python {maker} --out {out} --resume"
        )


def _reward_gym(args: argparse.Namespace) -> int:
    from ..reward_gym import PREFIX, GymConfig, train_gym

    d = GymConfig()
    if args.tau_a is not None:
        raise ValueError(
            f"--tau-a applies to the built-in environments; a gym:ID network keeps the default "
            f"adaptation time constant (got --tau-a {args.tau_a})."
        )
    env_id = args.env[len(PREFIX) :]
    config = GymConfig(
        env=env_id,
        env_options=dict(args.env_option),
        segment=d.segment if args.segment is None else args.segment,
        seed=args.seed,
        **_resolved(args, d),
    )
    out = args.out or Path("runs") / f"reward-gym-{env_id.replace('/', '-')}-s{args.seed}"
    if args.resume:
        _check_env_maker(out)
    summary = _train_and_report(train_gym, config, out, args)
    final = summary["final"] or {}
    print(
        f"episodes finished: {summary['episodes_finished']}; mean return of the last 100:",
        final.get("score"),
    )
    print(f"outputs in {out}")
    return 0
