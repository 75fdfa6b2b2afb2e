"""``eprop-jax reward``: the run folder (files, resume, refusal), figures, ``plot`` and errors."""

import json

import jax
import numpy as np
import pytest

from eprop_jax import reward_train
from eprop_jax.cli import main

TINY = [
    "reward",
    "delayed_decision",
    "--env-option",
    "n_cues=1",
    "--env-option",
    "cue_duration=5",
    "--env-option",
    "cue_silence=2",
    "--env-option",
    "delay=3",
    "--env-option",
    "recall_duration=4",
    "--env-option",
    "n_per_group=2",
    "--batch-size",
    "4",
    "--n-rec",
    "6",
    "--n-alif",
    "3",
    "--checkpoint-interval",
    "2",
    "--no-progress",
]


@pytest.fixture(autouse=True)
def standard_promotion():
    with jax.numpy_dtype_promotion("standard"):  # optax's Adam mixes Python floats and int32
        yield


def test_reward_run_folder_resume_refusal_and_plot(tmp_path, capsys):
    out = tmp_path / "run"
    reward_train._BUILT.clear()
    assert main([*TINY, "--iterations", "3", "--out", str(out), "--no-plots"]) == 0
    assert main(["plot", str(out)]) == 0
    names = {p.name for p in out.iterdir()}
    assert {
        "config.json",
        "metrics.jsonl",
        "checkpoint.npz",
        "snapshot_first.npz",
        "snapshot_last.npz",
        "summary.json",
        "reward_curve.png",
        "episode_first.png",
        "episode_last.png",
    } <= names
    config = json.loads((out / "config.json").read_text())
    assert config["kind"] == "reward" and config["env_options"]["n_cues"] == 1
    lines = (out / "metrics.jsonl").read_text().splitlines()
    assert [json.loads(line)["iteration"] for line in lines] == [0, 1, 2]
    assert "iterations to criterion" in capsys.readouterr().out
    assert json.loads((out / "summary.json").read_text())["iterations"] == 3
    # resume to 5 iterations: the metrics continue after the final checkpoint (3 iterations)
    assert main([*TINY, "--iterations", "5", "--out", str(out), "--resume", "--no-plots"]) == 0
    lines = (out / "metrics.jsonl").read_text().splitlines()
    assert [json.loads(line)["iteration"] for line in lines] == [0, 1, 2, 3, 4]
    # the compiled step (rollout, rule, Adam) was compiled once, the resumed run included
    assert [b.step._cache_size() for b in reward_train._BUILT.values()] == [1]
    # the recorded episode: 14 steps, rewards only in the recall window, G = r with gamma = 0
    snap = np.load(out / "snapshot_last.npz")
    assert snap["z"].shape == (14, 6) and snap["pi"].shape == (14, 2)
    np.testing.assert_allclose(snap["pi"].sum(1), 1.0, rtol=1e-6)
    np.testing.assert_array_equal(snap["mask"], 1.0)
    assert np.all(snap["rewards"][:10] == 0.0) and set(np.unique(snap["rewards"])) <= {0.0, 1.0}
    np.testing.assert_allclose(snap["discounted_return"], snap["rewards"], atol=1e-6)
    # a second run into the same folder is refused in one line
    capsys.readouterr()
    assert main([*TINY, "--iterations", "2", "--out", str(out)]) == 2
    err = capsys.readouterr().err.strip()
    assert err.count("\n") == 0 and "already holds a run" in err
    # resuming with another setting names it
    assert main([*TINY, "--iterations", "6", "--gamma", "0.5", "--out", str(out), "--resume"]) == 2
    assert "gamma: saved 0.0, now 0.5" in capsys.readouterr().err


@pytest.mark.parametrize(
    ("argv", "message"),
    [
        (["--gamma", "1.5"], "argument --gamma: must be a finite number in [0, 1]; got '1.5'"),
        (["--env-option", "n_cues=2"], "n_cues must be odd"),
        (["--n-alif", "9"], "n_alif must be an integer in [0, n_rec=6]; got 9"),
        (["--env-option", "dtype=float64"], "dtype is set by the environment"),
    ],
)
def test_reward_bad_input_is_one_line(argv, message, tmp_path, capsys):
    assert main([*TINY, *argv, "--out", str(tmp_path / "bad")]) == 2
    err = capsys.readouterr().err.strip()
    assert err.count("\n") == 0 and message in err, err
