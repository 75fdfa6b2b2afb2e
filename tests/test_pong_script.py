"""scripts/pong.py: the Pong preprocessing, its option errors, and the CPU dry run (the training
itself is a GPU job, not run in tests)."""

import json
import os
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest

from helpers import load_script

ROOT = Path(__file__).resolve().parents[1]
SCRIPT = ROOT / "scripts" / "pong.py"


def test_binarise_keeps_a_two_pixel_ball_through_max_pooling():
    pong = load_script("pong")
    frame = np.broadcast_to(np.asarray(pong.BACKGROUND, np.uint8), (210, 160, 3)).copy()
    frame[100:104, 77:79] = 236  # a 2 x 4 ball in field rows 66..69, columns 77..78
    frame[10:20, :] = 236  # the score area above the field is cropped away
    pooled = pong.binarise(frame, 4)
    assert pooled.shape == (40, 40)
    expected = np.zeros((40, 40), np.float32)
    expected[66 // 4 : 69 // 4 + 1, 77 // 4 : 78 // 4 + 1] = 1.0
    np.testing.assert_array_equal(pooled, expected)


def test_pong_wrapper_gives_frame_and_difference_and_three_actions():
    pytest.importorskip("ale_py")
    pong = load_script("pong")
    env = pong.pong_env(downsample=4, inputs="both", n_actions=3)
    obs, _ = env.reset(seed=0)
    assert obs.shape == (2 * 40 * 40,) and env.action_space.n == 3
    frame, diff = obs[:1600], obs[1600:]
    assert frame.sum() > 0 and np.all(diff == 0)  # paddles visible, nothing moved yet
    moved = False
    for _ in range(40):
        obs, *_ = env.step(2)  # UP
        moved |= bool(np.any(obs[1600:] != 0))
        np.testing.assert_array_equal(np.unique(obs[1600:]).clip(-1, 1), np.unique(obs[1600:]))
    assert moved
    env.close()


def test_bad_option_is_one_line(capsys):
    pong = load_script("pong")
    with pytest.raises(SystemExit) as exit_info:
        pong.parse_args(["--segment", "0"])
    assert exit_info.value.code == 2
    assert "--segment: must be an integer >= 1; got '0'" in capsys.readouterr().err


@pytest.mark.slow
def test_dry_run_trains_two_tiny_iterations_on_cpu(tmp_path):
    pytest.importorskip("ale_py")
    env = {
        **os.environ,
        "PYTHONPATH": os.pathsep.join([str(ROOT / "src"), os.environ.get("PYTHONPATH", "")]),
    }
    out = tmp_path / "run"
    proc = subprocess.run(
        [sys.executable, str(SCRIPT), "--dry-run", "--no-progress", "--out", str(out)],
        env=env,
        capture_output=True,
        text=True,
        timeout=600,
        check=False,
    )
    assert proc.returncode == 0, proc.stderr[-3000:]
    summary = json.loads(proc.stdout.strip().splitlines()[-1])
    assert summary["platform"] == "cpu" and summary["iterations"] == 2
    assert summary["seconds_per_iteration"] > 0
    config = json.loads((out / "config.json").read_text())
    assert config["env"] == "gym:ALE/Pong-v5" and config["n_rec"] == 400
    assert config["env_maker"] == "scripts/pong.py"
    assert config["n_alif"] == 160 and config["n_out"] == 4
    assert len((out / "metrics.jsonl").read_text().splitlines()) == 2
    assert (out / "checkpoint.npz").is_file()


def test_diverged_training_ends_in_one_line(monkeypatch, tmp_path, capsys):
    pytest.importorskip("ale_py")
    from eprop_jax import reward_gym
    from eprop_jax.train import TrainingDiverged

    def diverge(config, out, **kwargs):
        assert config.env_maker == "scripts/pong.py"  # what `eprop-jax reward --resume` reads
        raise TrainingDiverged("`train_gym`: the weights became NaN/inf at iteration 3")

    monkeypatch.setattr(reward_gym, "train_gym", diverge)
    pong = load_script("pong")
    assert pong.main(["--no-progress", "--out", str(tmp_path / "run")]) == 1
    out = capsys.readouterr().out.strip()
    assert out == "pong.py: `train_gym`: the weights became NaN/inf at iteration 3"
