"""Reward-based e-prop on the delayed-reward decision task or DNMS: iterations to criterion.

Trains one actor-critic spiking agent per seed (all seeds vmapped in one compiled step,
``eprop_jax.reward_train.train_reward_seeds``) and prints JSON: the settings, the criterion, the
iterations (and episodes) to criterion per seed, their median and range and, per seed over the
last 100 episodes: the fraction of sampled choices correct, the greedy (argmax) accuracy, the mean
pi(label) over the recall window, the accuracy on unanimous-cue and split-majority trials
(delayed decision); the mean return of the last iteration; and the time per iteration (one batch
of episodes for every seed, compilation excluded).

* ``--env delayed_decision`` (default; ``eprop_jax.envs.delayed_decision`` with the options of
  ``reward_defaults("delayed_decision")``):
  criterion >= 90 % correct choices over 100 successive episodes (a choice is correct when the
  agent picked the majority side of the cues on more than half of the recall steps).
* ``--env dnms`` (``eprop_jax.envs.dnms``, Miconi's trial structure): Miconi's criterion, 95 % of
  100 successive trials correct (more than half of the response steps right).

Usage::

    python scripts/reward_results.py                 # 5 seeds, the delayed decision's defaults
    python scripts/reward_results.py --env dnms      # DNMS with its defaults (DNMS_DEFAULTS)
    python scripts/reward_results.py --seeds 2 --iterations 50 --feedback random
    python scripts/reward_results.py --env-option reward_mode=end --gamma 0.99  # one reward
"""

from __future__ import annotations

import argparse
import json
import sys
import time

import jax
import numpy as np

import eprop_jax as ej
from eprop_jax import envs
from eprop_jax.cli._options import _NON_NEGATIVE, _POSITIVE, _integer, _key_value, _number
from eprop_jax.reward import actor_critic
from eprop_jax.reward_train import (
    iterations_to_criterion,
    reward_defaults,
    train_reward_seeds,
)
from eprop_jax.rules import FEEDBACKS


def progress(iteration: int, metrics: dict) -> None:
    """Every 50 iterations, the fraction correct per seed on stderr."""
    if iteration % 50 == 0:
        print(iteration, np.round(metrics["correct"], 2).tolist(), file=sys.stderr, flush=True)


DEPENDS_ON_ENV = (
    "iterations",
    "batch_size",
    "tau_a",
    "learning_rate",
    "lr_decay",
    "c_value",
    "c_entropy",
    "c_reg",
)
"""Options whose default is the environment's (``reward_train.reward_defaults``)."""


def _per_env(name: str) -> str:
    """``--help`` text: the option's default for each environment."""
    values = {env: getattr(reward_defaults(env), name) for env in ("delayed_decision", "dnms")}
    return "default: " + ", ".join(f"{v} for {env}" for env, v in values.items())


def main() -> None:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--env", choices=("delayed_decision", "dnms"), default="delayed_decision")
    p.add_argument(
        "--env-option",
        type=_key_value,
        action="append",
        default=[],
        metavar="KEY=VALUE",
        help="override one option of the environment, repeatable",
    )
    p.add_argument("--seeds", type=_integer(1), default=5)
    p.add_argument("--iterations", type=_integer(1), help=_per_env("iterations"))
    p.add_argument("--batch-size", type=_integer(1), help=_per_env("batch_size"))
    p.add_argument("--n-rec", type=_integer(1), default=100)
    p.add_argument("--n-alif", type=_integer(0), default=50)
    p.add_argument(
        "--tau-a",
        type=_POSITIVE,
        help="ALIF adaptation time constant in ms; " + _per_env("tau_a"),
    )
    p.add_argument("--learning-rate", type=_POSITIVE, help=_per_env("learning_rate"))
    p.add_argument(
        "--lr-decay",
        type=_number(0.0, 1.0),
        help="factor every 100 iterations; " + _per_env("lr_decay"),
    )
    p.add_argument("--gamma", type=_number(0.0, 1.0, low_open=False), default=0.0)
    p.add_argument("--c-value", type=_NON_NEGATIVE, help=_per_env("c_value"))
    p.add_argument(
        "--c-entropy",
        type=_NON_NEGATIVE,
        help="entropy coefficient; " + _per_env("c_entropy"),
    )
    p.add_argument("--c-reg", type=_NON_NEGATIVE, help=_per_env("c_reg"))
    p.add_argument("--feedback", choices=FEEDBACKS, default="symmetric")
    p.add_argument(
        "--feedback-std",
        type=_POSITIVE,
        help="std of b_fb, random and adaptive feedback only (default: 1.0)",
    )
    args = p.parse_args()
    if args.feedback_std is not None and args.feedback == "symmetric":
        p.error("--feedback-std applies to random and adaptive feedback; the run uses symmetric.")
    if args.feedback_std is None and args.feedback != "symmetric":
        args.feedback_std = 1.0  # recorded in the JSON's settings as used
    if args.n_alif > args.n_rec:
        p.error(f"--n-alif must be in [0, n_rec={args.n_rec}]; got {args.n_alif}.")
    defaults = reward_defaults(args.env)  # RewardConfig with the environment's defaults
    options = {**defaults.env_options, **dict(args.env_option)}
    for name in DEPENDS_ON_ENV:
        if getattr(args, name) is None:
            setattr(args, name, getattr(defaults, name))
    try:
        env = envs.get_env(args.env, **options)
    except ValueError as error:
        p.error(str(error))
    run(args, options, env)


def run(args: argparse.Namespace, options: dict, env: envs.Env) -> None:
    """Train the seeds and print the JSON of the module docstring."""
    fraction = env.criterion
    net = ej.network(
        env.n_obs, args.n_rec, env.n_actions + 1, n_alif=args.n_alif, tau_a=args.tau_a, dt=env.dt
    )
    config = actor_critic(2, gamma=args.gamma, c_value=args.c_value, c_entropy=args.c_entropy)
    seeds = list(range(args.seeds))
    t0 = time.perf_counter()
    result = train_reward_seeds(
        net,
        env,
        config,
        seeds=seeds,
        iterations=args.iterations,
        n_batch=args.batch_size,
        learning_rate=args.learning_rate,
        lr_decay=args.lr_decay,
        feedback=args.feedback,
        feedback_std=1.0 if args.feedback_std is None else args.feedback_std,  # unused if symmetric
        regularization=ej.rate_regularization(args.c_reg, 10.0),
        callback=progress,
    )
    wall = time.perf_counter() - t0
    correct = result["correct"]  # (seeds, iterations, B)
    reached = [
        iterations_to_criterion(c.reshape(-1), args.batch_size, fraction=fraction) for c in correct
    ]
    done = [r for r in reached if r is not None]
    last = [float(c.reshape(-1)[-100:].mean()) for c in correct]
    scores = {k: v.reshape(len(seeds), -1)[:, -100:] for k, v in result["scores"].items()}
    last_scores = {}
    if scores:
        last_scores["greedy_accuracy_last_100"] = scores["greedy"].mean(1).tolist()
        last_scores["mean_pi_label_recall_last_100"] = scores["p_label"].mean(1).tolist()
    if "unanimous" in scores:
        flat = correct.reshape(len(seeds), -1)[:, -100:]
        easy = scores["unanimous"] > 0.5
        for name, sel in (("unanimous", easy), ("split", ~easy)):
            last_scores[f"correct_{name}_cues_last_100"] = [
                float(c[s].mean()) if s.any() else None for c, s in zip(flat, sel, strict=True)
            ]
            last_scores[f"n_{name}_last_100"] = sel.sum(1).tolist()
    print(
        json.dumps(
            {
                "task": {"env": args.env, **options, "n_steps": env.n_steps},
                "network": {"n_in": net.n_in, "n_rec": args.n_rec, "n_alif": args.n_alif},
                "settings": {
                    k: v for k, v in vars(args).items() if k not in ("seeds", "env", "env_option")
                },
                "seeds": seeds,
                "criterion": f">= {fraction:.0%} correct (sampled) choices over 100 successive "
                "episodes",
                "iterations_to_criterion": reached,
                "episodes_to_criterion": [
                    None if r is None else r * args.batch_size for r in reached
                ],
                "median_iterations": float(np.median(done)) if len(done) == len(reached) else None,
                "range_iterations": [min(done), max(done)] if done else None,
                "seeds_reaching_criterion": f"{len(done)}/{len(reached)}",
                "correct_last_100_episodes": last,
                **last_scores,
                "return_last_iteration": result["return"][:, -1].tolist(),
                "seconds_per_iteration_all_seeds": result["seconds_per_iteration"],
                "wall_seconds": wall,
                "device": str(jax.devices()[0]),
            },
            indent=1,
        )
    )


if __name__ == "__main__":
    main()
