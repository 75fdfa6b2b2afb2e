"""The training loop: loss falls, resume is bit for bit, NaN stops cleanly, files are atomic."""

import functools
import json
import re

import jax
import numpy as np
import pytest

from eprop_jax import train as train_module
from eprop_jax.train import (
    TrainConfig,
    TrainingDiverged,
    build,
    load_checkpoint,
    load_config,
    resolve,
    train,
)

# Small, fast versions of the tasks (short trials, few neurons).
SMALL_EA = {
    "n_cues": 1,
    "cue_duration": 50.0,
    "cue_silence": 10.0,
    "delay": 20.0,
    "recall_duration": 50.0,
}
SMALL_NET = {"n_rec": 24, "n_alif": 12}


@pytest.fixture(autouse=True)
def standard_promotion():
    """optax's Adam mixes Python floats and int32 counters, which strict promotion rejects."""
    with jax.numpy_dtype_promotion("standard"):
        yield


def small_config(**kw):
    base = {
        "task": "sine_waves",
        "iterations": 40,
        "batch_size": 1,
        "eval_interval": 0,
        "network": {"n_rec": 30},
        "task_options": {"duration": 200.0, "n_in": 20},
        "learning_rate": 1e-2,
    }
    return TrainConfig(**{**base, **kw})


@pytest.mark.slow
@pytest.mark.parametrize("rule", ["eprop", "bptt"])
def test_regression_loss_falls(rule):
    result = train(small_config(rule=rule), progress=False)
    losses = [m["task_loss"] for m in result.metrics]
    assert len(losses) == 40
    assert np.mean(losses[-5:]) < 0.5 * losses[0]


@pytest.mark.slow
def test_classification_learns_a_one_cue_task():
    config = TrainConfig(
        task="evidence_accumulation",
        iterations=40,
        batch_size=16,
        eval_interval=10,
        eval_batches=2,
        network=SMALL_NET,
        task_options=SMALL_EA,
        learning_rate=2e-2,
    )
    result = train(config, progress=False)
    first, last = result.metrics[0], result.metrics[-1]
    assert {"accuracy", "recall_error", "eval_accuracy", "eval_recall_error"} <= set(last)
    assert np.mean([m["task_loss"] for m in result.metrics[-5:]]) < first["task_loss"]
    assert last["eval_accuracy"] >= 0.8


@pytest.mark.slow
def test_early_stopping_on_target_error():
    config = TrainConfig(
        task="evidence_accumulation",
        iterations=200,
        batch_size=16,
        eval_interval=5,
        eval_batches=2,
        network=SMALL_NET,
        task_options=SMALL_EA,
        learning_rate=2e-2,
        target_error=0.3,
    )
    result = train(config, progress=False)
    assert result.stopped_early
    assert result.iterations_done < 200
    assert result.metrics[-1]["eval_recall_error"] < 0.3


@pytest.mark.slow
def test_resume_continues_bit_for_bit(tmp_path):
    config = small_config(iterations=6, checkpoint_interval=3, eval_interval=2)
    straight = train(config, tmp_path / "a", progress=False)
    train(
        small_config(iterations=3, checkpoint_interval=3, eval_interval=2),
        tmp_path / "b",
        progress=False,
    )
    resumed = train(config, tmp_path / "b", resume=True, progress=False)
    for a, b in zip(
        jax.tree.leaves(straight.weights), jax.tree.leaves(resumed.weights), strict=True
    ):
        np.testing.assert_array_equal(np.asarray(a), np.asarray(b))
    lines_a = [json.loads(x) for x in (tmp_path / "a" / "metrics.jsonl").read_text().splitlines()]
    lines_b = [json.loads(x) for x in (tmp_path / "b" / "metrics.jsonl").read_text().splitlines()]
    assert [m["iteration"] for m in lines_b] == list(range(6))
    for ma, mb in zip(lines_a, lines_b, strict=True):
        assert ma["loss"] == mb["loss"]


@pytest.mark.slow
def test_resume_refuses_a_different_configuration(tmp_path):
    train(small_config(iterations=2), tmp_path, progress=False)
    with pytest.raises(
        ValueError,
        match=re.escape("the configuration differs in learning_rate: saved 0.01, now 0.5. Only"),
    ):
        train(small_config(iterations=4, learning_rate=0.5), tmp_path, resume=True, progress=False)
    with pytest.raises(ValueError, match=re.escape("it has done 2 iterations already")):
        train(small_config(iterations=1), tmp_path, resume=True, progress=False)
    with pytest.raises(ValueError, match=re.escape("nothing to resume in")):
        train(small_config(), tmp_path / "empty", resume=True, progress=False)


def test_nan_stops_and_keeps_the_last_good_checkpoint(tmp_path):
    config = small_config(iterations=20, learning_rate=1e38, checkpoint_interval=1)
    with pytest.raises(TrainingDiverged, match="became NaN/inf at iteration"):
        train(config, tmp_path, progress=False)
    exp_weights = train(small_config(iterations=1), progress=False)
    weights, _, iteration, _ = load_checkpoint(
        tmp_path / "checkpoint.npz", exp_weights.weights, exp_weights.opt_state
    )
    assert all(np.all(np.isfinite(np.asarray(w))) for w in weights)
    assert not list(tmp_path.glob(".tmp-*"))
    lines = (tmp_path / "metrics.jsonl").read_text().splitlines()
    assert len(lines) == iteration


def test_output_files(tmp_path):
    train(small_config(iterations=3, eval_interval=2), tmp_path, progress=False)
    names = {p.name for p in tmp_path.iterdir()}
    assert {
        "config.json",
        "metrics.jsonl",
        "checkpoint.npz",
        "snapshot_first.npz",
        "snapshot_last.npz",
        "weights_initial.npz",
        "weights_final.npz",
        "summary.json",
    } <= names
    config = json.loads((tmp_path / "config.json").read_text())
    assert config["task"] == "sine_waves" and config["network"]["n_rec"] == 30
    assert config["task_kind"] == "regression" and config["n_in"] == 20 and config["dt"] == 1.0
    assert resolve(load_config(tmp_path / "config.json")) == resolve(
        small_config(iterations=3, eval_interval=2)
    )
    snap = np.load(tmp_path / "snapshot_last.npz")
    t = 200
    assert snap["z"].shape == (t, 30) and snap["learning_signal"].shape == (t, 30)
    assert int(snap["iteration"]) == 3
    metrics = [json.loads(x) for x in (tmp_path / "metrics.jsonl").read_text().splitlines()]
    assert [m["iteration"] for m in metrics] == [0, 1, 2]
    assert "eval_loss" in metrics[1] and "eval_loss" not in metrics[0]


def test_weight_bounds_are_respected():
    result = train(small_config(iterations=5, weight_bounds=(-0.05, 0.05)), progress=False)
    for name in ("w_in", "w_rec", "w_out"):
        w = np.asarray(getattr(result.weights, name))
        assert w.min() >= -0.05 and w.max() <= 0.05


def test_adaptive_feedback_tracks_the_readout():
    config = small_config(
        iterations=30, feedback="adaptive", adaptive_decay=0.5, learning_rate=1e-2
    )
    result = train(config, progress=False)
    initial = train(small_config(iterations=1, feedback="adaptive"), progress=False).weights
    w = result.weights
    before = np.linalg.norm(np.asarray(initial.b_fb - initial.w_out.T))
    after = np.linalg.norm(np.asarray(w.b_fb - w.w_out.T))
    assert after < before


BAD_CONFIGS = [
    ({"task": "xor"}, "`TrainConfig`: unknown task 'xor'; expected one of"),
    ({"rule": "rtrl"}, "`TrainConfig`: unknown rule 'rtrl'"),
    ({"feedback": "none"}, "`TrainConfig`: unknown feedback 'none'"),
    ({"iterations": 0}, "`TrainConfig`: iterations must be an integer >= 1; got 0."),
    ({"batch_size": -2}, "`TrainConfig`: batch_size must be an integer >= 1; got -2."),
    ({"learning_rate": 0.0}, "`TrainConfig`: learning_rate must be > 0"),
    ({"weight_bounds": (1.0, -1.0)}, "`TrainConfig`: weight_bounds must be (w_min, w_max)"),
    ({"c_reg": -1.0}, "`rate_regularization`: c_reg must be finite and >= 0"),
    ({"dtype": "float16"}, "`TrainConfig`: unknown dtype 'float16'"),
    ({"lr_decay": 0.0}, "`TrainConfig`: lr_decay must be in (0, 1]; got 0.0."),
    ({"lr_decay_every": 0}, "`TrainConfig`: lr_decay_every must be an integer >= 1; got 0."),
    ({"learning_rate": float("nan")}, "`TrainConfig`: learning_rate must be > 0; got nan."),
    ({"feedback_std": float("inf")}, "`TrainConfig`: feedback_std must be a finite number >= 0"),
    ({"feedback_std": 0.0}, "`TrainConfig`: feedback_std must be > 0; got 0."),
    ({"weight_bounds": (-1.0, float("inf"))}, "`TrainConfig`: weight_bounds must be finite"),
    (
        {"target_error": float("nan")},
        "`TrainConfig`: target_error must be in [0, 1) (0: no early stopping); got nan.",
    ),
    (
        {"task": "sine_waves", "task_options": {"colour": 1}},
        "`TrainConfig`: task 'sine_waves' has no option(s) 'colour'; it accepts n_in, input_rate, "
        "duration, periods, amplitude_range, same_pattern, dt.",
    ),
    (
        {"rule_options": {"feedback": "random"}},
        "`TrainConfig`: rule_options may not set 'feedback' (feedback is set by feedback).",
    ),
    (
        {"network": {"dt": 1.0}, "task_options": {"dt": 10.0}},
        "`TrainConfig`: one time step for task and network: network dt=1.0 but task_options dt=10.0.",
    ),
    ({"network": {"dt": -1.0}}, "`TrainConfig`: dt must be a finite number > 0 (ms); got -1.0."),
]


@pytest.mark.parametrize(("kwargs", "message"), BAD_CONFIGS)
def test_bad_configuration_raises(kwargs, message):
    with pytest.raises(ValueError, match=re.escape(message)):
        resolve(TrainConfig(**kwargs))


def test_one_time_step_for_task_and_network():
    for where in ("network", "task_options"):
        config = resolve(small_config(**{where: {**small_config().__dict__[where], "dt": 0.5}}))
        assert config.network["dt"] == config.task_options["dt"] == 0.5
    exp = build(small_config(task_options={"duration": 200.0, "n_in": 20, "dt": 2.0}))
    assert exp.net.dt == 2.0
    assert exp.sample(jax.random.key(0)).inputs.shape[0] == 100  # 200 ms at 2 ms


def test_float64_without_x64_is_refused_not_silently_float32():
    jax.config.update("jax_enable_x64", False)
    try:
        with pytest.raises(
            ValueError,
            match=re.escape(
                "`TrainConfig`: dtype='float64' needs JAX's x64 mode, which is off; call "
                "jax.config.update('jax_enable_x64', True) first"
            ),
        ):
            train(small_config(dtype="float64", iterations=1), progress=False)
    finally:
        jax.config.update("jax_enable_x64", True)
    result = train(small_config(dtype="float64", iterations=1), progress=False)
    assert all(w.dtype == np.float64 for w in result.weights)


def _poisoned_weights(monkeypatch, name):
    real = train_module.init_weights

    def init(*args, **kwargs):
        weights = real(*args, **kwargs)
        return weights._replace(**{name: getattr(weights, name).at[0, 0].set(np.nan)})

    monkeypatch.setattr(train_module, "init_weights", init)


@pytest.mark.slow
def test_non_finite_gradients_stop_the_run(monkeypatch):
    _poisoned_weights(monkeypatch, "w_in")
    with pytest.raises(
        TrainingDiverged,
        match=re.escape(
            "`train`: the loss, the gradients or the weights became NaN/inf at iteration 0. Try"
        ),
    ):
        train(small_config(iterations=2), progress=False)


@pytest.mark.parametrize("name", ["w_rec", "w_out"])
def test_check_finite_names_the_non_finite_weight(monkeypatch, name):
    _poisoned_weights(monkeypatch, name)
    with pytest.raises(
        TrainingDiverged,
        match=re.escape(
            f"`train`: non-finite value (NaN/inf) in the weights {name} at iteration 0"
        ),
    ):
        train(small_config(iterations=2, check_finite=True), progress=False)


def test_check_finite_names_the_seed(monkeypatch):
    """With several seeds, the message also names the seed whose step was not finite."""
    real, calls = train_module.init_weights, []

    def init(*args, **kwargs):  # called once per seed, in seed order
        weights = real(*args, **kwargs)
        calls.append(1)
        return weights._replace(w_rec=weights.w_rec.at[0, 0].set(np.nan if len(calls) == 2 else 0))

    monkeypatch.setattr(train_module, "init_weights", init)
    with pytest.raises(
        TrainingDiverged,
        match=re.escape(
            "`train`: non-finite value (NaN/inf) in the weights w_rec (seed 4) at iteration 0."
        ),
    ):
        train(small_config(iterations=2, check_finite=True, seed=3, seeds=3), progress=False)


@pytest.mark.slow
def test_check_finite_names_non_finite_inputs(monkeypatch):
    from eprop_jax import tasks

    real = tasks.get_task("evidence_accumulation")

    @functools.wraps(real)
    def poisoned(key, n_batch, **kwargs):
        batch, info = real(key, n_batch, **kwargs)
        return batch._replace(inputs=batch.inputs * np.nan), info

    real_get = tasks.get_task
    monkeypatch.setattr(
        tasks,
        "get_task",
        lambda name: poisoned if name == "evidence_accumulation" else real_get(name),
    )
    config = TrainConfig(
        task="evidence_accumulation",
        iterations=1,
        batch_size=2,
        eval_interval=0,
        network=SMALL_NET,
        task_options=SMALL_EA,
        check_finite=True,
    )
    with pytest.raises(
        TrainingDiverged,
        match=re.escape("`train`: non-finite value (NaN/inf) in the inputs at iteration 0."),
    ):
        train(config, progress=False)


def test_a_loss_blowing_up_without_nan_warns():
    with pytest.warns(
        RuntimeWarning, match=r"`train`: the loss grew from .* the run may be diverging"
    ):
        try:
            train(small_config(iterations=30, learning_rate=30.0, c_reg=0.0), progress=False)
        except TrainingDiverged:
            pass
