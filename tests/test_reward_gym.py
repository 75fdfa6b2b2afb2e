"""Reward-based e-prop on Gymnasium environments (``reward_gym.py``): the run folder of a tiny
CartPole run (metrics, refusal, resume, plot) and one-line errors."""

import json
import re

import jax
import numpy as np
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
    # resuming the finished run does nothing: summary.json (its timing) stays as it was
    saved = (out / "summary.json").read_text()
    assert json.loads(saved)["seconds_per_iteration"] > 0
    again = train_gym(TINY, out, progress=False, resume=True)
    assert again["already_done"] and (out / "summary.json").read_text() == saved
    assert len((out / "metrics.jsonl").read_text().splitlines()) == 2
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


class _NoDiscrete:
    """Stands in for an environment whose action space is not Discrete."""

    action_space = "Box(-2.0, 2.0, (1,), float32)"
    observation_space = None


def test_space_errors_name_the_function_called(getkey):
    from eprop_jax.envs.gym_adapter import GymStream, gym_segment, gym_start
    from eprop_jax.network import init_weights, network

    with pytest.raises(ValueError, match=re.escape("`gym_start`: the environment's action space")):
        gym_start([_NoDiscrete()], getkey())
    net = network(3, 4, 3)
    weights = init_weights(net, getkey())
    stream = GymStream(np.zeros((1, 3)), np.zeros(1), np.zeros(1))
    with pytest.raises(ValueError, match=re.escape("`gym_segment`: the environment's action")):
        gym_segment(net, weights, [_NoDiscrete()], stream, getkey(), max_steps=2)


def test_a_script_built_run_needs_its_make_env(tmp_path):
    config = TINY.__class__(**{**TINY.__dict__, "env_maker": "scripts/pong.py"})
    with pytest.raises(ValueError, match=re.escape("env_maker='scripts/pong.py' builds its")):
        train_gym(config, tmp_path / "run", progress=False)
    assert not (tmp_path / "run").exists()


def test_non_finite_weights_stop_a_reward_run_in_one_line(tmp_path):
    """The check both reward trainers run after every update: finite weights pass, a NaN stops
    the run with one line naming the iteration and, with a run folder, its last checkpoint."""
    import types

    import jax.numpy as jnp

    from eprop_jax.reward_train import check_finite_weights
    from eprop_jax.train import TrainingDiverged

    check_finite_weights("train_gym", None, 0, [jnp.ones(3)])
    with pytest.raises(TrainingDiverged) as err:
        check_finite_weights("train_gym", None, 3, [jnp.ones(3), jnp.array([0.0, jnp.nan])])
    assert str(err.value) == (
        "`train_gym`: the weights became NaN/inf at iteration 3. Try a smaller learning_rate."
    )
    run = types.SimpleNamespace(path=tmp_path)
    with pytest.raises(TrainingDiverged) as err:
        check_finite_weights("train_reward", run, 5, [jnp.array([jnp.inf])])
    assert str(err.value) == (
        f"`train_reward`: the weights became NaN/inf at iteration 5; the last finite checkpoint "
        f"is {tmp_path / 'checkpoint.npz'}. Try a smaller learning_rate."
    )
