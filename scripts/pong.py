"""Reward-based e-prop on Atari Pong (Bellec et al. 2020, Fig. 4): a GPU script, not run in tests.

    pip install "eprop-jax[rl]"                       # gymnasium and ale-py (with the ROMs)
    python scripts/pong.py --out runs/pong            # GPU, many hours
    python scripts/pong.py --out runs/pong --resume   # continue from the last checkpoint
                                                      # (this script only: it builds the games)
    python scripts/pong.py --dry-run                  # 2 tiny iterations on CPU, timed

The agent is the paper's LSNN, 240 LIF + 160 ALIF neurons (``--n-lif``, ``--n-alif``), with
policy readouts over the actions and one value readout, trained by reward-based e-prop
(``eprop_jax.reward``, factored form) with Adam, gamma = 0.99, on ``--n-envs`` games played in
parallel through the Gymnasium adapter (``eprop_jax.envs.gym_adapter``): each iteration plays
``--segment`` more steps of every game, and a game still running at the cut is bootstrapped with
the value readout (``eprop_jax.reward_gym``). One network step (dt = 1 ms) per agent step; ALE's
default frame skip of 4 makes that one step per 4 frames.

Preprocessing, instead of the paper's spiking convolutional front end (a CNN is a project of its
own; this keeps the agent one recurrent network whose gradient the tests check): the playing
field (rows 34-193 of the 210 x 160 frame) is binarised (1 where a pixel is not background:
paddles and ball), max-pooled by ``--downsample`` (2: 80 x 80; max pooling keeps the 2-pixel ball,
which striding could drop), and flattened into input currents. ``--input diff`` (default) feeds
the difference of this frame and the previous one (-1, 0, 1: what moved, and which way);
``frame`` the binarised frame itself (positions; the recurrent network must infer motion);
``both`` the two side by side (twice the inputs). Actions: ``--actions 3`` (default) uses the
three that matter, NOOP, UP (ALE's RIGHT) and DOWN (LEFT); ``6`` the full set.

What the paper and the original code report: Pong learned by an LSNN with a spiking CNN front end,
curves averaged over 5 runs; the original code's README gives "score ~10 after ~3 days" on 12+
CPU cores and a GPU. This script has not been run to a score (no GPU here): the README gives the
CPU time per iteration of the dry run and of a realistic-size iteration.

Outputs (``--out``, refused if it already holds a run unless ``--resume`` or ``--overwrite``):
``config.json``, ``metrics.jsonl`` (per iteration: ``score``, the mean return of the last 100
finished games, ``return`` per segment, entropy, TD error, firing rate, seconds),
``checkpoint.npz`` every ``--checkpoint-interval`` iterations, ``summary.json`` and
``reward_curve.png`` (``eprop-jax plot DIR`` redraws it).
"""

from __future__ import annotations

import argparse
import json
import os
import sys
import tempfile
from pathlib import Path

import numpy as np

from eprop_jax.cli._options import _NON_NEGATIVE, _POSITIVE, SEED, _integer, _number

PONG = "ALE/Pong-v5"
MAKER = "scripts/pong.py"  # GymConfig.env_maker: `eprop-jax reward --resume` sends users here
BACKGROUND = (144, 72, 17)  # the playing field's colour in ALE Pong
FIELD_ROWS = (34, 194)  # rows of the playing field (between the score and the bottom border)
PONG_ACTIONS = {3: (0, 2, 3), 6: (0, 1, 2, 3, 4, 5)}  # NOOP, UP, DOWN / all six


def binarise(frame: np.ndarray, downsample: int) -> np.ndarray:
    """The playing field of an RGB frame ``(210, 160, 3)`` as 0/1 (not background), max-pooled
    by ``downsample``: shape ``(160 // downsample, 160 // downsample)``."""
    field = frame[FIELD_ROWS[0] : FIELD_ROWS[1]]
    on = np.any(field != np.asarray(BACKGROUND, field.dtype), axis=-1)
    side = on.shape[0] // downsample
    pooled = on[: side * downsample, : side * downsample].reshape(
        side, downsample, side, downsample
    )
    return pooled.max(axis=(1, 3)).astype(np.float32)


def pong_env(downsample: int = 2, inputs: str = "diff", n_actions: int = 3, **make_options):
    """ALE Pong behind a wrapper that gives the flattened input vector of the module docstring
    and ``n_actions`` discrete actions."""
    import ale_py
    import gymnasium

    gymnasium.register_envs(ale_py)

    class PongInputs(gymnasium.Wrapper):
        def __init__(self, env):
            super().__init__(env)
            side = (FIELD_ROWS[1] - FIELD_ROWS[0]) // downsample
            size = side * side * (2 if inputs == "both" else 1)
            self.observation_space = gymnasium.spaces.Box(-1.0, 1.0, (size,), np.float32)
            self.action_space = gymnasium.spaces.Discrete(n_actions)
            self._previous = None

        def _encode(self, frame):
            now = binarise(frame, downsample)
            diff = now - self._previous
            self._previous = now
            parts = {"diff": (diff,), "frame": (now,), "both": (now, diff)}[inputs]
            return np.concatenate([p.reshape(-1) for p in parts])

        def reset(self, **kwargs):
            frame, info = self.env.reset(**kwargs)
            self._previous = binarise(frame, downsample)
            return self._encode(frame), info

        def step(self, action):
            frame, reward, terminated, truncated, info = self.env.step(
                PONG_ACTIONS[n_actions][int(action)]
            )
            return self._encode(frame), reward, terminated, truncated, info

    return PongInputs(gymnasium.make(PONG, **make_options))


POSITIVE_INT = _integer(1)


def parse_args(argv=None) -> argparse.Namespace:
    p = argparse.ArgumentParser(
        description="Reward-based e-prop on Atari Pong (LSNN, Gymnasium + ale-py).",
        formatter_class=argparse.ArgumentDefaultsHelpFormatter,
    )
    p.add_argument("--out", type=Path, help="run folder (default: runs/pong-sSEED)")
    p.add_argument("--iterations", type=POSITIVE_INT, default=20000)
    p.add_argument("--n-envs", type=POSITIVE_INT, default=32, help="games played in parallel")
    p.add_argument(
        "--segment", type=POSITIVE_INT, default=100, help="agent steps per game and iteration"
    )
    p.add_argument("--n-lif", type=_integer(0), default=240)
    p.add_argument("--n-alif", type=_integer(0), default=160)
    p.add_argument("--downsample", type=int, choices=(1, 2, 4, 8), default=2)
    p.add_argument("--input", choices=("diff", "frame", "both"), default="diff")
    p.add_argument("--actions", type=int, choices=(3, 6), default=3)
    p.add_argument("--input-gain", type=_POSITIVE, default=10.0, help="scale of the initial w_in")
    p.add_argument("--lr", type=_POSITIVE, default=5e-4)
    p.add_argument("--gamma", type=_number(0.0, 1.0, low_open=False), default=0.99)
    p.add_argument("--c-value", type=_NON_NEGATIVE, default=0.5)
    p.add_argument("--c-entropy", type=_NON_NEGATIVE, default=0.01)
    p.add_argument("--c-reg", type=_NON_NEGATIVE, default=0.1)
    p.add_argument("--f-target", type=_NON_NEGATIVE, default=10.0, help="Hz")
    p.add_argument("--feedback", choices=("symmetric", "random", "adaptive"), default="symmetric")
    p.add_argument("--implementation", choices=("factored", "online"), default="factored")
    p.add_argument("--checkpoint-interval", type=POSITIVE_INT, default=100)
    p.add_argument("--seed", type=SEED, default=0)
    p.add_argument("--resume", action="store_true", help="continue the run in --out")
    p.add_argument("--overwrite", action="store_true", help="replace the run in --out")
    p.add_argument("--no-progress", action="store_true")
    p.add_argument(
        "--dry-run",
        action="store_true",
        help="2 iterations of 2 games x 10 steps on CPU (full-size network), timed; exits 0",
    )
    return p.parse_args(argv)


def main(argv=None) -> int:
    args = parse_args(argv)
    import jax

    if args.dry_run:
        os.environ["JAX_PLATFORMS"] = "cpu"
        jax.config.update("jax_platforms", "cpu")  # imported above, but before JAX starts
        args.iterations, args.n_envs, args.segment = 2, 2, 10
    try:
        import ale_py  # noqa: F401
        import gymnasium  # noqa: F401
    except ImportError as err:
        print(f"pong.py: needs gymnasium and ale-py (pip install 'eprop-jax[rl]'): {err}")
        return 2
    from eprop_jax.reward_gym import GymConfig, train_gym
    from eprop_jax.train import TrainingDiverged

    env_options = {"downsample": args.downsample, "inputs": args.input, "n_actions": args.actions}
    if args.n_lif + args.n_alif < 1:
        print("pong.py: --n-lif + --n-alif must be >= 1; got 0.")
        return 2
    config = GymConfig(
        env=PONG,
        env_options=env_options,
        env_maker=MAKER,
        n_rec=args.n_lif + args.n_alif,
        n_alif=args.n_alif,
        iterations=args.iterations,
        batch_size=args.n_envs,
        segment=args.segment,
        learning_rate=args.lr,
        gamma=args.gamma,
        c_value=args.c_value,
        c_entropy=args.c_entropy,
        c_reg=args.c_reg,
        f_target=args.f_target,
        feedback=args.feedback,
        input_gain=args.input_gain,
        implementation=args.implementation,
        seed=args.seed,
        checkpoint_interval=args.checkpoint_interval,
    )
    with tempfile.TemporaryDirectory(prefix="pong-dry-run-") as scratch:
        out = args.out or (
            Path(scratch) / "run" if args.dry_run else Path(f"runs/pong-s{args.seed}")
        )
        try:
            summary = train_gym(
                config,
                out,
                make_env=lambda: pong_env(**env_options),
                progress=not args.no_progress,
                figures=not args.dry_run,
                resume=args.resume,
                overwrite=args.overwrite,
            )
        except ValueError as err:
            print(f"pong.py: {err}")
            return 2
        except TrainingDiverged as err:
            print(f"pong.py: {err}")
            return 1
    summary["platform"] = jax.devices()[0].platform
    summary["out"] = str(out)
    print(json.dumps(summary))
    return 0


if __name__ == "__main__":
    sys.exit(main())
