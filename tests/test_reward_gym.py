"""Reward-based e-prop on Gymnasium environments (``reward_gym.py``): the run folder of a tiny
CartPole run (metrics, refusal, resume, plot) and one-line errors."""

import json
import re

import jax
import pytest

from eprop_jax.reward_gym import GymConfig, train_gym
from eprop_jax.rundir import RunDirError

pytest.importorskip("gymnasium")


@pytest.fixture(autouse=True)
def standard_promotion():
    with jax.numpy_dtype_promotion("standard"):  # optax's Adam mixes Python floats and int32
        yield


TINY = GymConfig(
    n_rec=8, n_alif=4, iterations=2, batch_size=2, segment=8, checkpoint_interval=1, seed=3
)


def test_cartpole_run_folder_refusal_resume_and_plot(tmp_path):
    out = tmp_path / "run"
    summary = train_gym(TINY, out, progress=False)
    assert summary["iterations"] == 2 and summary["resumed_at_iteration"] == 0
    config = json.loads((out / "config.json").read_text())
    assert config["kind"] == "reward" and config["env"] == "gym:CartPole-v1"
    metrics = [json.loads(line) for line in (out / "metrics.jsonl").read_text().splitlines()]
    assert [m["iteration"] for m in metrics] == [0, 1]
    assert all(m["return"] > 0 for m in metrics)  # CartPole pays 1 per step
    with pytest.raises(RunDirError, match=re.escape("already holds a run")):
        train_gym(TINY, out, progress=False)
    resumed = train_gym(
        TINY.__class__(**{**TINY.__dict__, "iterations": 3}), out, progress=False, resume=True
    )
    assert resumed["resumed_at_iteration"] == 2
    lines = (out / "metrics.jsonl").read_text().splitlines()
    assert [json.loads(line)["iteration"] for line in lines] == [0, 1, 2]
    with pytest.raises(RunDirError, match=re.escape("the configuration differs in segment")):
        train_gym(
            TINY.__class__(**{**TINY.__dict__, "segment": 9}), out, progress=False, resume=True
        )
    from eprop_jax.plotting.run import plot_run

    assert [p.name for p in plot_run(out)] == ["reward_curve.png"]


@pytest.mark.parametrize(
    ("change", "message"),
    [
        ({"env": "NoSuchEnv-v0"}, "cannot make Gymnasium environment 'NoSuchEnv-v0'"),
        ({"segment": 0}, "segment must be an integer >= 1; got 0"),
        ({"n_alif": 9}, "n_alif must be an integer in [0, n_rec=8]; got 9"),
        ({"gamma": 1.5}, "gamma must be in [0, 1]; got 1.5"),
    ],
)
def test_bad_gym_configuration_is_one_line(change, message, tmp_path):
    with pytest.raises(ValueError, match=re.escape(message)) as err:
        train_gym(TINY.__class__(**{**TINY.__dict__, **change}), tmp_path / "bad", progress=False)
    assert "\n" not in str(err.value)
    assert not (tmp_path / "bad").exists()
