"""Many seeds in one compiled run: each seed equals its single-seed run, freezing, resume, refusals.

A multi-seed run vmaps the train step over a leading seed axis; XLA then contracts batched
matrices where the single-seed run contracts plain ones, which may sum in another order, so the
two agree to rounding (float64: relative 1e-12), not necessarily bit for bit. A resumed multi-seed
run repeats the same computation and is compared bit for bit.
"""

import dataclasses
import json
import re
import types

import jax
import jax.numpy as jnp
import numpy as np
import pytest

from eprop_jax.cli import main
from eprop_jax.compare import format_alignment, over_seeds
from eprop_jax.network import init_weights
from eprop_jax.plotting import plot_run, plot_seed_learning_curves
from eprop_jax.rules import FEEDBACKS
from eprop_jax.steps import make_train_step, reuse
from eprop_jax.train import TrainConfig, build, median_iqr, summarise_seeds, train

# A one-cue evidence accumulation of 65 steps, 12 neurons: small enough to compile in seconds.
TINY_EA = {
    "n_cues": 1,
    "cue_duration": 10.0,
    "cue_silence": 5.0,
    "delay": 5.0,
    "recall_duration": 10.0,
}


@pytest.fixture(autouse=True)
def standard_promotion():
    """optax's Adam mixes Python floats and int32 counters, which strict promotion rejects."""
    with jax.numpy_dtype_promotion("standard"):
        yield


def tiny_ea(**kw) -> TrainConfig:
    base = {
        "task": "evidence_accumulation",
        "iterations": 8,
        "batch_size": 4,
        "eval_interval": 2,
        "eval_batches": 1,
        "network": {"n_rec": 8, "n_alif": 4},
        "task_options": TINY_EA,
        "learning_rate": 5e-2,
        "target_error": 0.5,
        "dtype": "float64",
        "seed": 5,
    }
    return TrainConfig(**{**base, **kw})


def seed_records(metrics: list[dict], index: int) -> list[dict]:
    """One seed's records of a multi-seed run, in the single-seed layout (``time_s`` left out)."""
    out = []
    for m in metrics:
        if m["loss"][index] is None:
            continue
        out.append(
            {k: v[index] if isinstance(v, list) else v for k, v in m.items() if k != "time_s"}
        )
    return out


def test_four_seeds_equal_four_single_seed_runs_with_freezing_and_resume(tmp_path):
    """``seeds=4`` in float64: every seed's weights, optimiser state and metrics equal the run
    with that seed alone (rtol 1e-12), including seeds frozen by the criterion at different
    iterations (seed 6 at the last one) while the others train on. The same run stopped after 6
    iterations (seed 5 reaching the criterion exactly then) and resumed to 8 equals the straight
    run bit for bit; so does a single-seed run of seed 5 stopped at 6 and resumed to 8 (nothing
    left to train). The step compiles once although ``active`` changes."""
    config = tiny_ea(seeds=4, checkpoint_interval=2)
    multi = train(config, progress=False)
    per_seed = multi.seed_summary["per_seed"]
    stopped = [p["iterations_done"] for p in per_seed]
    assert multi.seeds == (5, 6, 7, 8)
    assert stopped == [6, 8, 2, 8]  # seeds 5 and 7 froze early, 6 at the last iteration
    assert [p["stopped_at"] for p in per_seed] == [6, 8, 2, None]
    assert [p["stopped_early"] for p in per_seed] == [True, False, True, False]
    assert not multi.stopped_early
    assert reuse(make_train_step, build(config))._cache_size() == 1
    for index, seed in enumerate(multi.seeds):
        single = train(tiny_ea(seed=seed), progress=False)
        assert single.iterations_done == stopped[index]
        if seed == 5:  # reaches the criterion at its 6th and last iteration: frozen on resume
            one = tmp_path / "single"
            first = train(tiny_ea(seed=5, iterations=6), one, progress=False)
            assert not first.stopped_early and first.iterations_done == 6
            again = train(tiny_ea(seed=5), one, resume=True, progress=False)
            assert again.stopped_early and again.iterations_done == 6
            for a, b in zip(
                jax.tree.leaves(again.weights), jax.tree.leaves(single.weights), strict=True
            ):
                np.testing.assert_array_equal(np.asarray(a), np.asarray(b))
            np.testing.assert_array_equal(np.load(one / "checkpoint.npz")["stopped_at"], [6])
        for a, b in zip(
            jax.tree.leaves((multi.weights, multi.opt_state)),
            jax.tree.leaves((single.weights, single.opt_state)),
            strict=True,
        ):
            np.testing.assert_allclose(np.asarray(a)[index], b, rtol=1e-12, atol=1e-13)
        records = seed_records(multi.metrics, index)
        expected = [{k: v for k, v in m.items() if k != "time_s"} for m in single.metrics]
        assert [r["iteration"] for r in records] == [m["iteration"] for m in expected]
        for got, want in zip(records, expected, strict=True):
            assert got.keys() == want.keys()
            np.testing.assert_allclose(
                [got[k] for k in want], [want[k] for k in want], rtol=1e-12, atol=1e-14
            )

    first = train(tiny_ea(seeds=4, checkpoint_interval=2, iterations=6), tmp_path, progress=False)
    assert first.seed_summary["per_seed"][0]["stopped_at"] == 6
    with pytest.raises(
        ValueError,
        match=re.escape("it trains seed(s) 5..8 (4 seeds), not 5..7 (3 seeds); give the run's own"),
    ):
        train(tiny_ea(seeds=3), tmp_path, resume=True, progress=False)
    resumed = train(config, tmp_path, resume=True, progress=False)
    assert resumed.seed_summary["per_seed"] == per_seed
    for a, b in zip(jax.tree.leaves(multi.weights), jax.tree.leaves(resumed.weights), strict=True):
        np.testing.assert_array_equal(np.asarray(a), np.asarray(b))
    lines = [json.loads(x) for x in (tmp_path / "metrics.jsonl").read_text().splitlines()]
    assert [m["iteration"] for m in lines] == [m["iteration"] for m in multi.metrics]
    for ma, mb in zip(multi.metrics, lines, strict=True):
        assert ma["loss"] == mb["loss"] and len(ma["loss"]) == 4
    saved = json.loads((tmp_path / "config.json").read_text())
    assert saved["seeds"] == 4 and saved["seed_list"] == [5, 6, 7, 8]
    summary = json.loads((tmp_path / "summary.json").read_text())
    assert summary["seeds"] == 4 and summary["seed_list"] == [5, 6, 7, 8]
    for index, p in enumerate(summary["per_seed"]):  # "final": each seed's last values
        last = seed_records(multi.metrics, index)[-1]
        assert summary["final"]["iteration"][index] == last["iteration"]
        assert summary["final"]["loss"][index] == p["final"]["loss"] == last["loss"]
    assert summary["iterations_to_criterion"] == multi.seed_summary["iterations_to_criterion"]
    assert set(summary["median"]) >= {"loss", "eval_recall_error"}
    assert np.load(tmp_path / "weights_final.npz")["w_rec"].shape == (4, 8, 8)
    fig = plot_seed_learning_curves(lines, "classification", [5, 6, 7, 8])
    assert len(fig.axes) == 2
    assert {"learning_curve.png", "weights.png"} <= {p.name for p in plot_run(tmp_path)}


def tiny_sine(**kw) -> TrainConfig:
    """A frozen task (one batch drawn from the seed), 20 steps: each seed has its own batch."""
    base = {
        "task": "sine_waves",
        "batch_size": 2,
        "network": {"n_rec": 8},
        "task_options": {"duration": 20.0, "n_in": 4},
        "dtype": "float64",
        "seed": 5,
    }
    return TrainConfig(**{**base, **kw})


RULE_FEEDBACKS = [
    *((rule, feedback) for rule in ("eprop", "eprop-factored") for feedback in FEEDBACKS),
    ("eprop-autodiff", "symmetric"),
    ("bptt", "symmetric"),
    ("tbptt", "symmetric"),
]


@pytest.mark.parametrize(("rule", "feedback"), RULE_FEEDBACKS)
def test_every_rule_vmaps_masks_frozen_seeds_and_equals_the_single_seed_step(rule, feedback):
    """One vmapped step of every rule and feedback on a frozen task: the frozen seed (``active``
    false) keeps its weights and optimiser state exactly, and the active second seed equals the
    single-seed step of seed 6 on its own frozen batch (rtol 1e-12): weights, optimiser state
    (adaptive feedback: the masked weight-decay state of optax under vmap) and loss."""
    options = {"truncation": 10} if rule == "tbptt" else {}
    config = tiny_sine(rule=rule, feedback=feedback, rule_options=options)
    exp2 = build(dataclasses.replace(config, seeds=2))
    assert exp2.seed_batches.inputs.shape[0] == 2
    assert not np.array_equal(exp2.seed_batches.inputs[0], exp2.seed_batches.inputs[1])
    weights = [
        init_weights(exp2.net, jax.random.key(s), dtype=jnp.float64, feedback_std=0.3)
        for s in (0, 1)
    ]
    stack = lambda *x: jnp.stack(x)  # noqa: E731
    w2 = jax.tree.map(stack, *weights)
    o2 = jax.tree.map(stack, *(exp2.optimizer.init(w) for w in weights))
    keys = jnp.stack([jax.random.key(10), jax.random.key(11)])
    new_w, new_o, metrics = make_train_step(exp2)(w2, o2, keys, jnp.array([False, True]))
    for a, b in zip(jax.tree.leaves((new_w, new_o)), jax.tree.leaves((w2, o2)), strict=True):
        np.testing.assert_array_equal(np.asarray(a)[0], np.asarray(b)[0])
    assert not np.array_equal(new_w.w_rec[1], w2.w_rec[1])
    assert metrics["loss"].shape == (2,) and bool(metrics["finite"][1])
    exp1 = build(dataclasses.replace(config, seed=6))
    one_w, one_o, one_m = make_train_step(exp1)(
        weights[1], exp1.optimizer.init(weights[1]), keys[1]
    )
    for a, b in zip(jax.tree.leaves((new_w, new_o)), jax.tree.leaves((one_w, one_o)), strict=True):
        np.testing.assert_allclose(np.asarray(a)[1], b, rtol=1e-12, atol=1e-13)
    np.testing.assert_allclose(metrics["loss"][1], one_m["loss"], rtol=1e-12)


def test_a_single_seed_run_folder_is_unchanged(tmp_path):
    """``seeds=1`` keeps the single-seed files: config.json without ``seeds``, scalar metrics
    whose recall errors are ``1 - accuracy`` in float64 (Python floats, as before ``--seeds``;
    batches of 3 make accuracies that float32 arithmetic would round differently), the same
    summary.json keys; its checkpoint stores ``stopped_at`` and ``diverged_at`` of its one seed."""
    from eprop_jax.checkpoints import _config_json

    assert "seed_list" in _config_json(build(tiny_ea(seeds=2)))
    config = tiny_ea(iterations=2, batch_size=3, eval_interval=1, dtype="float32", target_error=0)
    result = train(config, tmp_path, progress=False)
    assert result.seeds == (5,) and result.seed_summary is None
    saved = json.loads((tmp_path / "config.json").read_text())
    assert "seeds" not in saved and "seed_list" not in saved
    lines = [json.loads(x) for x in (tmp_path / "metrics.jsonl").read_text().splitlines()]
    assert lines == result.metrics and len(lines) == 2
    rounded_in_float32 = 0
    for line in lines:
        assert all(isinstance(v, int | float) for v in line.values()), line
        for acc, err in (("accuracy", "recall_error"), ("eval_accuracy", "eval_recall_error")):
            assert line[err] == 1.0 - line[acc]
            rounded_in_float32 += float(np.float32(1.0) - np.float32(line[acc])) != line[err]
    assert rounded_in_float32 > 0  # the check above could tell float32 arithmetic apart
    summary = json.loads((tmp_path / "summary.json").read_text())
    assert set(summary) == {
        "iterations_done",
        "stopped_early",
        "seconds_per_iteration",
        "final",
        "device",
        "jax_version",
    }
    assert summary["final"] == lines[-1]
    checkpoint = np.load(tmp_path / "checkpoint.npz")
    assert checkpoint["stopped_at"].tolist() == checkpoint["diverged_at"].tolist() == [-1]


def test_a_diverging_seed_is_frozen_while_the_other_trains_on(tmp_path, monkeypatch):
    """A frozen task (sine waves), two seeds, evaluated every iteration, end to end: seed 5 made
    to diverge at iteration 0 (its readout bias poisoned to 1e200, so its loss is inf) is frozen
    at its last finite state with a one-line warning and ``diverged_at`` in the checkpoint and
    summary, while seed 6 trains on and equals its single-seed run (rtol 1e-12); the step
    compiles once although ``active`` changes. Resumed, seed 5 stays frozen; when every seed
    diverges the run stops with TrainingDiverged."""
    import eprop_jax.train as train_module

    config = tiny_sine(seeds=2, iterations=3, eval_interval=1)
    real_init = train_module.init_weights

    def poisoning(seeds_to_poison: int):
        calls = []

        def init(net, key, **kw):
            weights = real_init(net, key, **kw)
            calls.append(key)
            if len(calls) <= seeds_to_poison:
                weights = weights._replace(b_out=weights.b_out + 1e200)
            return weights

        return init

    with monkeypatch.context() as patch:
        patch.setattr(train_module, "init_weights", poisoning(1))
        with pytest.warns(RuntimeWarning) as caught:
            multi = train(config, tmp_path, progress=False)
    assert [str(w.message) for w in caught] == [
        "`train`: seed 5: the loss, the gradients or the weights became NaN/inf at iteration 0; "
        f"its last finite state (after 0 iterations) is frozen and kept in "
        f"{tmp_path / 'checkpoint.npz'}; the other seeds go on."
    ]
    assert multi.iterations_done == 3 and not multi.stopped_early
    first, second = multi.seed_summary["per_seed"]
    assert (first["diverged_at"], first["iterations_done"], second["diverged_at"]) == (0, 0, None)
    assert multi.seed_summary["median"]["loss"] == second["final"]["loss"]  # seed 5 left out
    assert [m["loss"][0] for m in multi.metrics] == [None] * 3
    assert float(multi.weights.b_out[0].min()) >= 1e200 and all(
        bool(jnp.all(jnp.isfinite(w))) for w in jax.tree.leaves(multi.weights)
    )
    assert np.load(tmp_path / "checkpoint.npz")["diverged_at"].tolist() == [0, -1]
    summary = json.loads((tmp_path / "summary.json").read_text())
    assert [p["diverged_at"] for p in summary["per_seed"]] == [0, None]
    assert reuse(make_train_step, build(config))._cache_size() == 1

    single = train(tiny_sine(seed=6, iterations=3, eval_interval=1), progress=False)
    for a, b in zip(
        jax.tree.leaves((multi.weights, multi.opt_state)),
        jax.tree.leaves((single.weights, single.opt_state)),
        strict=True,
    ):
        np.testing.assert_allclose(np.asarray(a)[1], b, rtol=1e-12, atol=1e-13)
    expected = [{k: v for k, v in m.items() if k != "time_s"} for m in single.metrics]
    for got, want in zip(seed_records(multi.metrics, 1), expected, strict=True):
        assert got.keys() == want.keys() and "eval_loss" in want
        np.testing.assert_allclose([got[k] for k in want], list(want.values()), rtol=1e-12)

    resumed = train(
        dataclasses.replace(config, iterations=4), tmp_path, resume=True, progress=False
    )
    assert resumed.iterations_done == 4 and resumed.metrics[-1]["loss"][0] is None
    assert resumed.seed_summary["per_seed"][0]["diverged_at"] == 0
    assert "learning_curve.png" in {p.name for p in plot_run(tmp_path)}  # a seed with no values

    with monkeypatch.context() as patch:
        patch.setattr(train_module, "init_weights", poisoning(2))
        with pytest.raises(
            train_module.TrainingDiverged,
            match=re.escape(
                "NaN/inf (seed 5, 6; every seed has diverged) at iteration 0; the last finite "
                "checkpoint (after 0 iterations) is"
            ),
        ):
            train(config, tmp_path / "all", progress=False)
    assert np.load(tmp_path / "all" / "checkpoint.npz")["diverged_at"].tolist() == [0, 0]


def test_summarise_seeds_takes_the_criterion_from_stopped_at():
    """A frozen seed's iterations to the criterion are its ``stopped_at`` (not the first eval
    below the target: the criterion applies on the evaluation grid only); a seed never frozen
    is scanned; a diverged seed is left out of the medians."""
    metrics = [
        {"iteration": 0, "loss": [3.0, 2.0, 9.0], "eval_recall_error": [0.1, 0.9, 0.9]},
        {"iteration": 1, "loss": [2.0, 1.0, None], "eval_recall_error": [0.1, 0.3, None]},
    ]
    summary = summarise_seeds(metrics, (1, 2, 3), [2, -1, -1], 2, 0.5, [-1, -1, 1], 2)
    assert summary["iterations_to_criterion"]["per_seed"] == [2, 2, None]
    assert [p["stopped_early"] for p in summary["per_seed"]] == [False, False, False]
    assert [p["iterations_done"] for p in summary["per_seed"]] == [2, 2, 1]
    assert summary["median"]["loss"] == 1.5 and summary["final"]["loss"] == [2.0, 1.0, 9.0]
    assert summary["final"]["iteration"] == [1, 1, 0]
    assert summary["seeds"] == 3 and summary["seed_list"] == [1, 2, 3]


def test_bad_seed_options_are_refused(tmp_path, capsys):
    with pytest.raises(
        ValueError, match=re.escape("`TrainConfig`: seeds must be an integer >= 1;")
    ):
        build(tiny_ea(seeds=0))
    with pytest.raises(ValueError, match=re.escape("data_parallel does not combine with seeds=2")):
        build(tiny_ea(seeds=2, data_parallel=True))
    for argv, message in [
        (["--seeds", "0"], "argument --seeds: expected a count N >= 1 or a range A:B"),
        (["--seeds", "4:4"], "argument --seeds: expected a count N >= 1 or a range A:B"),
        (["--seeds", "2:4", "--seed", "1"], "--seeds 2:4 names its first seed; leave --seed 1"),
        (["--seeds", "2", "--data-parallel"], "--data-parallel does not combine with --seeds"),
    ]:
        out = str(tmp_path / "cli")
        assert main(["train", "sine_waves", *argv, "--out", out]) == 2
        err = capsys.readouterr().err.strip().splitlines()
        assert len(err) == 1 and message in err[0], err
    for argv, message in [  # compare takes --seeds as train does
        (["--seeds", "0"], "argument --seeds: expected a count N >= 1 or a range A:B"),
        (["--seeds", "2:4", "--seed", "1"], "--seeds 2:4 names its first seed; leave --seed 1"),
    ]:
        assert main(["compare", "sine_waves", *argv]) == 2
        err = capsys.readouterr().err.strip().splitlines()
        assert len(err) == 1 and message in err[0], err


def test_median_iqr_counts_a_missing_value_as_infinite():
    assert median_iqr([1, 2, 3, 4, 5]) == {"median": 3.0, "iqr": [2.0, 4.0]}
    assert median_iqr([10, None, 30, None]) == {"median": None, "iqr": [25.0, None]}
    np.testing.assert_allclose(
        median_iqr([3.0, 1.0, 7.0, 2.0])["iqr"], np.percentile([3, 1, 7, 2], [25, 75])
    )


def test_over_seeds_pools_batch_and_seed_spread():
    tables = [
        {"r": {"w_in": {"cosine": c, "cosine_std": s, "norm_ratio": 1.0, "norm_ratio_std": 0.0}}}
        for c, s in ((0.8, 0.1), (0.9, 0.3))
    ]
    pooled = over_seeds(tables)["r"]["w_in"]
    np.testing.assert_allclose(
        [pooled["cosine"], pooled["cosine_std"], pooled["cosine_seed_std"]],
        [0.85, 0.2, np.std([0.8, 0.9], ddof=1)],  # the sample std over seeds
    )
    assert "0.8500 ± 0.2000 ± 0.0707" in format_alignment(over_seeds(tables))
    assert over_seeds(tables[:1])["r"]["w_in"]["cosine_seed_std"] == 0.0


def test_compiled_steps_are_reused_only_where_the_code_is_the_same():
    """Seeds of a fresh-batch task and run lengths share a compilation; a frozen task's seeds
    (their frozen batches are compiled in) and a learning rate do not."""
    from eprop_jax.steps import _REUSED, _compiled_key, clear_reused

    def key(**kw):
        return _compiled_key(make_train_step, build(tiny_ea(**kw)))

    assert key(seed=1) == key(seed=2, iterations=3, target_error=0.2)
    assert key(seed=1) != key(seed=1, learning_rate=1e-3)
    assert key(seed=1) != key(seed=1, seeds=2)
    frozen = {"task": "sine_waves", "task_options": {"duration": 20.0}, "target_error": None}
    assert key(seed=1, **frozen) != key(seed=2, **frozen)
    # a task reading a data folder is never reused: its files may change between two runs
    nmnist = TrainConfig(task="nmnist", task_options={"data_dir": "somewhere"})
    assert _compiled_key(make_train_step, types.SimpleNamespace(mesh=None, config=nmnist)) is None
    made = []

    def factory(exp):
        made.append(exp)
        return len(made)

    exp = build(tiny_ea(seed=1))
    assert reuse(factory, exp) == reuse(factory, build(tiny_ea(seed=2))) == 1
    kept = dict(_REUSED)  # the other tests' compilations, put back below
    clear_reused()
    assert not _REUSED and reuse(factory, exp) == 2
    _REUSED.clear()
    _REUSED.update(kept)


def test_cli_trains_a_seed_range_and_prints_medians(tmp_path, capsys):
    """``--seeds 5:9`` trains seeds 5 to 8 (the configuration of the first test, so in one
    process its compiled step is reused); the printout gives medians [IQR] and each seed's
    iterations to the criterion."""
    options = [f"{k}={v}" for k, v in TINY_EA.items()]
    argv = ["train", "evidence_accumulation", "--seeds", "5:9", "--iterations", "2"]
    argv += ["--batch-size", "4", "--n-rec", "8", "--n-alif", "4", "--eval-interval", "1"]
    argv += ["--eval-batches", "1", "--learning-rate", "0.05", "--dtype", "float64"]
    argv += [x for o in options for x in ("--task-option", o)]
    argv += ["--target-error", "0.9", "--no-plots", "--no-progress", "--out", str(tmp_path)]
    assert main(argv) == 0
    out = capsys.readouterr().out
    assert "final over 4 seeds, median [IQR]:" in out
    assert "iterations to eval recall error < 0.9 per seed (5: " in out
    assert json.loads((tmp_path / "config.json").read_text())["seed_list"] == [5, 6, 7, 8]
