"""``eprop-jax reward``: the run folder (files, resume, refusal), figures, ``plot`` and errors."""

import dataclasses
import json
import re

import jax
import numpy as np
import pytest

from eprop_jax import envs, reward_train
from eprop_jax.cli import main

from helpers import load_script

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
    assert config["tau_a"] == reward_train.RewardConfig().tau_a  # the delayed decision's default
    lines = (out / "metrics.jsonl").read_text().splitlines()
    assert [json.loads(line)["iteration"] for line in lines] == [0, 1, 2]
    first = json.loads(lines[0])
    assert {"greedy", "p_label", "correct_unanimous", "correct_split", "outcomes"} <= set(first)
    assert 0.0 <= first["greedy"] <= 1.0 and 0.0 < first["p_label"] < 1.0
    assert "iterations to criterion" in capsys.readouterr().out
    assert json.loads((out / "summary.json").read_text())["iterations"] == 3
    # resume to 5 iterations: the metrics continue after the final checkpoint (3 iterations)
    assert main([*TINY, "--iterations", "5", "--out", str(out), "--resume", "--no-plots"]) == 0
    lines = (out / "metrics.jsonl").read_text().splitlines()
    assert [json.loads(line)["iteration"] for line in lines] == [0, 1, 2, 3, 4]
    # resuming the finished run does nothing: summary.json (its timing) stays as it was
    summary = (out / "summary.json").read_text()
    assert json.loads(summary)["seconds_per_iteration"] > 0
    capsys.readouterr()
    assert main([*TINY, "--iterations", "5", "--out", str(out), "--resume", "--no-plots"]) == 0
    assert "nothing to do" in capsys.readouterr().out
    assert (out / "summary.json").read_text() == summary
    assert len((out / "metrics.jsonl").read_text().splitlines()) == 5
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
        (["--env-option", "n_cue=3"], "`delayed_decision`: unknown option 'n_cue'; accepted: "),
        (
            ["--env-option", "reward_mode=once"],
            "unknown reward_mode 'once'; expected one of 'per_step', 'end'",
        ),
        (["--feedback-std", "0.5"], "--feedback-std applies to random and adaptive feedback"),
        (["--feedback-std", "-1", "--feedback", "random"], "argument --feedback-std"),
        (["--tau-a", "0"], "argument --tau-a: must be a finite number in (0, inf); got '0'"),
    ],
)
def test_reward_bad_input_is_one_line(argv, message, tmp_path, capsys):
    assert main([*TINY, *argv, "--out", str(tmp_path / "bad")]) == 2
    err = capsys.readouterr().err.strip()
    assert err.count("\n") == 0 and message in err, err


def test_dnms_unknown_option_names_the_accepted_ones(tmp_path, capsys):
    assert main(["reward", "dnms", "--env-option", "stim=3", "--out", str(tmp_path / "x")]) == 2
    err = capsys.readouterr().err.strip()
    assert err.count("\n") == 0 and "`dnms`: unknown option 'stim'; accepted: dt, gap_steps" in err


def test_env_dt_reaches_the_network_and_bools_are_refused():
    options = {**reward_train.RewardConfig().env_options, "dt": 2.0}
    config = reward_train.RewardConfig(env_options=options, n_rec=4, n_alif=2)
    net, env, _, _ = reward_train.build_reward_run(config)
    assert env.dt == net.dt == 2.0 and env.criterion == 0.9
    assert envs.get_env("dnms", dt=0.5).dt == 0.5 and envs.get_env("dnms").criterion == 0.95
    with pytest.raises(ValueError, match="n_alif must be an integer in \\[0, n_rec=4\\]; got True"):
        reward_train.check_reward_config("api", reward_train.RewardConfig(n_rec=4, n_alif=True))


def test_tau_a_reaches_the_alif_neurons_and_depends_on_the_env():
    config = reward_train.RewardConfig(n_rec=4, n_alif=2, tau_a=300.0)
    net, _, _, _ = reward_train.build_reward_run(config)
    rho = np.asarray(net.neuron.rho)
    np.testing.assert_allclose(rho[2:], np.exp(-1.0 / 300.0), rtol=1e-6)
    assert np.all(np.asarray(net.neuron.beta)[:2] == 0) and np.all(net.neuron.beta[2:] > 0)
    assert reward_train.env_defaults("delayed_decision")["tau_a"] == config.__class__().tau_a
    assert reward_train.env_defaults("dnms") == {
        "env_options": {},
        "tau_a": 2000.0,
        "iterations": 600,
        "batch_size": 32,
        "learning_rate": 2e-3,
        "lr_decay": 1.0,
        "c_value": 0.01,
        "c_entropy": 0.2,
        "c_reg": 0.01,
    }  # the README's DNMS row
    assert reward_train.env_defaults("other") == {
        "env_options": {},
        "tau_a": 2000.0,
        "c_entropy": reward_train.OTHER_ENV_C_ENTROPY,
    }
    with pytest.raises(ValueError, match="tau_a"):
        reward_train.check_reward_config("api", reward_train.RewardConfig(tau_a=0.0))
    # another environment with the delayed decision's options: refused, pointing to its defaults
    with pytest.raises(
        ValueError, match=re.escape("build the config from reward_defaults('dnms')")
    ):
        reward_train.check_reward_config("api", reward_train.RewardConfig(env="dnms"))
    reward_train.check_reward_config("api", reward_train.reward_defaults("dnms"))


@pytest.mark.parametrize(
    ("argv", "message"),
    [
        (["--seeds", "0"], "argument --seeds: must be an integer >= 1"),
        (["--iterations", "0"], "argument --iterations: must be an integer >= 1"),
        (["--feedback", "mirror"], "argument --feedback: invalid choice: 'mirror'"),
        (["--env-option", "n_cue=3"], "unknown option 'n_cue'"),
        (["--env-option", "n_cues=many"], "n_cues"),
        (["--env-option", "x"], "expected KEY=VALUE"),
        (["--feedback-std", "2"], "--feedback-std applies to random and adaptive feedback"),
        (["--tau-a", "-5"], "argument --tau-a: must be a finite number in (0, inf); got '-5'"),
    ],
)
def test_reward_results_script_bad_input_is_one_line(argv, message, monkeypatch, capsys):
    script = load_script("reward_results")
    monkeypatch.setattr("sys.argv", ["reward_results.py", *argv])
    monkeypatch.setattr(script, "run", lambda *a: pytest.fail("trained on bad input"))
    with pytest.raises(SystemExit) as exit_:
        script.main()
    assert exit_.value.code == 2
    err = capsys.readouterr().err.strip().splitlines()[-1]
    assert "error:" in err and message in err, err


GYM_TINY = ["reward", "gym:CartPole-v1", "--batch-size", "2", "--segment", "8", "--n-rec", "8"]
GYM_TINY += ["--n-alif", "4", "--checkpoint-interval", "1", "--no-progress"]


def test_reward_gym_environment_run_folder_and_resume(tmp_path, capsys):
    pytest.importorskip("gymnasium")
    out = tmp_path / "gym"
    assert main([*GYM_TINY, "--iterations", "2", "--out", str(out)]) == 0
    assert "episodes finished:" in capsys.readouterr().out
    config = json.loads((out / "config.json").read_text())
    assert (config["kind"], config["env"], config["gamma"]) == ("reward", "gym:CartPole-v1", 0.99)
    assert config["segment"] == 8 and (out / "reward_curve.png").is_file()
    assert main([*GYM_TINY, "--iterations", "3", "--out", str(out), "--resume"]) == 0
    assert len((out / "metrics.jsonl").read_text().splitlines()) == 3
    summary = (out / "summary.json").read_text()
    capsys.readouterr()
    assert main([*GYM_TINY, "--iterations", "3", "--out", str(out), "--resume"]) == 0
    assert "nothing to do" in capsys.readouterr().out  # and it writes nothing
    assert (out / "summary.json").read_text() == summary


@pytest.mark.parametrize(
    ("argv", "message"),
    [
        (["reward", "gym:"], "expected one of delayed_decision, dnms or gym:ID"),
        (["reward", "cartpole"], "got 'cartpole'"),
        (["reward", "delayed_decision", "--segment", "5"], "--segment applies to gym:ID"),
        (["reward", "gym:NoSuchEnv-v0"], "cannot make Gymnasium environment 'NoSuchEnv-v0'"),
        (
            ["reward", "gym:CartPole-v1", "--env-option", "colour=3"],
            "cannot make Gymnasium environment 'CartPole-v1' with options {'colour': 3}",
        ),
        (["reward", "gym:CartPole-v1", "--segment", "0"], "argument --segment"),
        (["reward", "gym:Pendulum-v1"], "`train_gym`: the environment's action space must be"),
        (["reward", "gym:CartPole-v1", "--tau-a", "300"], "--tau-a applies to the built-in"),
    ],
)
def test_reward_gym_bad_input_is_one_line(argv, message, tmp_path, capsys):
    if argv[1] not in ("gym:", "cartpole", "delayed_decision") and "--tau-a" not in argv:
        pytest.importorskip("gymnasium")
    assert main([*argv, "--no-progress", "--out", str(tmp_path / "bad")]) == 2
    err = capsys.readouterr().err.strip()
    assert err.count("\n") == 0 and message in err, err
    assert not (tmp_path / "bad").exists()


@pytest.mark.parametrize("env", ["delayed_decision", "dnms", "gym:CartPole-v1"])
def test_reward_defaults_are_those_of_the_environment_kind(env, monkeypatch, tmp_path):
    """Options left out take the environment's defaults (RewardConfig's for delayed_decision, its
    DNMS settings for dnms, GymConfig's for gym:ID); given ones win for all."""
    from eprop_jax import reward_gym

    seen = []

    def fake(config, out, **kwargs):
        seen.append(config)
        return {
            "iterations": 0,
            "final": None,
            "seconds_per_iteration": 0.0,
            "episodes_finished": 0,
            "iterations_to_criterion": None,
            "criterion": "",
        }

    monkeypatch.setattr(reward_train, "train_reward", fake)
    monkeypatch.setattr(reward_gym, "train_gym", fake)
    argv = ["reward", env, "--no-progress", "--out", str(tmp_path / "x")]
    assert main(argv) == 0
    assert main([*argv, "--lr", "0.5", "--c-value", "0", "--feedback", "random"]) == 0
    gym = env.startswith("gym:")
    expected = reward_gym.GymConfig(env=env[4:]) if gym else reward_train.reward_defaults(env)
    if env == "delayed_decision":
        assert expected == reward_train.RewardConfig()
    assert seen[0] == expected
    assert seen[1] == dataclasses.replace(
        expected, learning_rate=0.5, c_value=0.0, feedback="random"
    )


def test_reward_resume_of_a_script_built_gym_run_is_refused_in_one_line(tmp_path, capsys):
    out = tmp_path / "pong"
    out.mkdir()
    config = {"kind": "reward", "env": "gym:ALE/Pong-v5", "env_maker": "scripts/pong.py"}
    (out / "config.json").write_text(json.dumps(config))
    assert main(["reward", "gym:ALE/Pong-v5", "--out", str(out), "--resume"]) == 2
    err = capsys.readouterr().err.strip()
    assert err.count("\n") == 0, err
    assert "its environments are built by scripts/pong.py" in err
    assert f"python scripts/pong.py --out {out} --resume" in err


@pytest.mark.parametrize(
    ("argv", "tau_a"),
    [
        ([], reward_train.RewardConfig().tau_a),
        (["--env", "dnms"], reward_train.NETWORK_TAU_A),
        (["--tau-a", "700"], 700.0),
    ],
)
def test_reward_results_script_tau_a_default_per_env(argv, tau_a, monkeypatch):
    script = load_script("reward_results")
    seen = {}
    monkeypatch.setattr("sys.argv", ["reward_results.py", *argv])
    monkeypatch.setattr(script, "run", lambda args, options, env: seen.update(vars(args)))
    script.main()
    assert seen["tau_a"] == tau_a
    defaults = reward_train.reward_defaults(seen["env"])  # every env-dependent default
    for name in script.DEPENDS_ON_ENV:
        if name != "tau_a":
            assert seen[name] == getattr(defaults, name), name
    if seen["env"] == "dnms":
        assert (seen["learning_rate"], seen["batch_size"]) == (2e-3, 32)


@pytest.mark.parametrize(
    ("argv", "tau_a", "c_entropy"),
    [
        (["delayed_decision"], reward_train.RewardConfig().tau_a, 0.3),
        (["dnms"], reward_train.NETWORK_TAU_A, reward_train.DNMS_DEFAULTS["c_entropy"]),
        (["dnms", "--tau-a", "400", "--c-entropy", "0.1"], 400.0, 0.1),
    ],
)
def test_reward_cli_defaults_depend_on_the_env(argv, tau_a, c_entropy, monkeypatch, tmp_path):
    seen = []

    def fake_train(config, out, **kwargs):
        seen.append(config)
        return {
            "final": None,
            "iterations": 0,
            "seconds_per_iteration": 0.0,
            "criterion": "-",
            "iterations_to_criterion": None,
        }

    monkeypatch.setattr(reward_train, "train_reward", fake_train)
    assert main(["reward", *argv, "--out", str(tmp_path / "run"), "--no-progress"]) == 0
    assert (seen[0].tau_a, seen[0].c_entropy) == (tau_a, c_entropy)
