"""Tests of the task generators: shapes, determinism, jit, statistics and closed forms."""

from __future__ import annotations

import functools
import math
import re
import sys

import jax
import jax.numpy as jnp
import numpy as np
import pytest

from eprop_jax.tasks import (
    CLASSIFICATION_TASKS,
    FROZEN_TASKS,
    PRESETS,
    TASKS,
    EvidenceAccumulationInfo,
    HandwritingInfo,
    InfiniteLoopInfo,
    SineWavesInfo,
    TaskRecord,
    describe_default,
    describe_preset,
    evidence_accumulation,
    get_task,
    get_task_record,
    handwriting,
    handwriting_characters,
    infinite_loop,
    register_task,
    sine_waves,
    unregister_task,
)
from eprop_jax.types import Batch


@pytest.fixture(autouse=True)
def _strict_numpy():
    """The generators must run under the project's strict dtype and rank promotion."""
    with jax.numpy_dtype_promotion("strict"), jax.numpy_rank_promotion("raise"):
        yield


# Tiny configurations: (generator, keyword arguments, T, n_in, n_out, Info class).
EA_TINY = dict(
    n_cues=3, cue_duration=4.0, cue_silence=2.0, delay=3.0, recall_duration=5.0, n_per_group=2
)
SMALL = {
    "evidence_accumulation": (evidence_accumulation, EA_TINY, 3 * 6 + 3 + 5, 8, 2),
    "sine_waves": (sine_waves, dict(n_in=3, duration=20.0), 20, 3, 1),
    "infinite_loop": (infinite_loop, dict(n_in=3, duration=20.0), 20, 3, 2),
    "handwriting": (handwriting, dict(n_in=3, word="ab", duration=30.0), 30, 3, 2),
}
INFO = {
    "evidence_accumulation": EvidenceAccumulationInfo,
    "sine_waves": SineWavesInfo,
    "infinite_loop": InfiniteLoopInfo,
    "handwriting": HandwritingInfo,
}


def _leaves_equal(a, b) -> bool:
    """Same structure, shapes and dtypes; equal values (to float32 rounding of smooth targets)."""
    return all(
        x.shape == y.shape
        and x.dtype == y.dtype
        and np.allclose(np.asarray(x), np.asarray(y), rtol=1e-6, atol=1e-6)
        for x, y in zip(jax.tree.leaves(a), jax.tree.leaves(b), strict=True)
    )


# ---------------------------------------------------------------- common behaviour of all tasks


@pytest.mark.parametrize("name", sorted(SMALL))
def test_shapes_and_dtypes(name):
    gen, kwargs, n_steps, n_in, n_out = SMALL[name]
    batch, info = gen(jax.random.key(0), 3, **kwargs)
    dtype = jnp.float32
    assert isinstance(batch, Batch) and isinstance(info, INFO[name])
    assert batch.inputs.shape == (n_steps, 3, n_in)
    assert batch.targets.shape == (n_steps, 3, n_out)
    assert batch.mask.shape == (n_steps, 3)
    for x in batch:
        assert x.dtype == dtype
        assert bool(jnp.all(jnp.isfinite(x.astype(jnp.float32))))
    spikes = np.asarray(batch.inputs, dtype=np.float32)
    assert set(np.unique(spikes)) <= {0.0, 1.0}


@pytest.mark.parametrize("name", sorted(SMALL))
@pytest.mark.parametrize("dtype", [jnp.bfloat16, jnp.float16])
def test_half_precision_dtype_is_kept(name, dtype):
    gen, kwargs, n_steps, _, n_out = SMALL[name]
    # Tracing (no compilation) runs every operation's dtype rules, in strict promotion mode.
    batch, _ = jax.eval_shape(
        functools.partial(gen, n_batch=2, **kwargs, dtype=dtype), jax.random.key(0)
    )
    assert [x.dtype for x in batch] == [dtype] * 3
    assert batch.targets.shape == (n_steps, 2, n_out)


@pytest.mark.parametrize("name", sorted(SMALL))
def test_determinism_and_jit(name):
    gen, kwargs, *_ = SMALL[name]
    key = jax.random.key(3)
    eager = gen(key, 3, **kwargs)
    assert _leaves_equal(eager, gen(key, 3, **kwargs))
    jitted = jax.jit(functools.partial(gen, n_batch=3, **kwargs))(key)
    assert _leaves_equal(eager, jitted)
    other = gen(jax.random.key(4), 3, **kwargs)
    assert not np.array_equal(np.asarray(eager[0].inputs), np.asarray(other[0].inputs))


@pytest.mark.parametrize("name", ["infinite_loop", "handwriting"])
def test_frozen_tasks_repeat_one_trial_over_the_batch(name):
    gen, kwargs, *_ = SMALL[name]
    batch, info = gen(jax.random.key(0), 3, **kwargs)
    for x in (batch.inputs, batch.targets):
        assert np.array_equal(np.asarray(x[:, 0]), np.asarray(x[:, 2]))
    np.testing.assert_array_equal(batch.targets[:, 1], info.trajectory)
    np.testing.assert_array_equal(batch.mask, 1.0)


def test_registry():
    assert set(TASKS) == {
        "evidence_accumulation",
        "sine_waves",
        "infinite_loop",
        "handwriting",
        "nmnist",
    }
    assert CLASSIFICATION_TASKS == {"evidence_accumulation", "nmnist"}
    for name, gen in TASKS.items():
        assert get_task(name) is gen
    with pytest.raises(ValueError, match=re.escape("unknown task 'mnist'; expected one of")):
        get_task("mnist")


# --------------------------------------------------------------------- evidence accumulation


def test_evidence_accumulation_targets_mask_and_timeline():
    batch, info = evidence_accumulation(jax.random.key(1), 3, **EA_TINY)
    n_steps = 3 * 6 + 3 + 5
    recall_start = n_steps - 5
    assert int(info.recall_start) == recall_start
    expected_mask = (np.arange(n_steps) >= recall_start).astype(np.float32)
    np.testing.assert_array_equal(batch.mask, np.tile(expected_mask[:, None], (1, 3)))
    np.testing.assert_array_equal(batch.targets, np.tile(np.eye(2)[info.labels], (n_steps, 1, 1)))
    n_left = np.sum(np.asarray(info.cue_sides) == 0, axis=1)
    np.testing.assert_array_equal(info.n_left, n_left)
    np.testing.assert_array_equal(info.labels, (n_left < 3 - n_left).astype(np.int32))
    assert info.labels.dtype == info.cue_sides.dtype == jnp.int32


def test_evidence_accumulation_default_length():
    # 7 * (50 + 100) + 1050 + 150 = 2250 ms, as in the TF code; shapes only (no compute).
    out = jax.eval_shape(functools.partial(evidence_accumulation, n_batch=2), jax.random.key(0))
    assert out[0].inputs.shape == (2250, 2, 40)
    assert out[0].targets.shape == (2250, 2, 2)


def _cue_windows(n_cues, silence, cue):
    return [(i * (silence + cue) + silence, (i + 1) * (silence + cue)) for i in range(n_cues)]


def test_evidence_accumulation_rates_and_labels_from_rasters():
    n_batch, n = 64, 10
    batch, info = evidence_accumulation(jax.random.key(7), n_batch, n_per_group=n)
    z = np.asarray(batch.inputs)  # (2250, B, 40)
    groups = [z[:, :, g * n : (g + 1) * n] for g in range(4)]  # left, right, recall, noise
    windows = _cue_windows(7, 50, 100)
    sides = np.asarray(info.cue_sides)

    def check_rate(spikes_in_window, n_samples, rate_hz):
        p = rate_hz / 1000.0
        std = math.sqrt(p * (1 - p) / n_samples)
        assert abs(spikes_in_window / n_samples - p) < 4 * std

    active = {0: np.zeros(z.shape[:2], bool), 1: np.zeros(z.shape[:2], bool)}
    majority = np.zeros(n_batch, np.int32)
    for b in range(n_batch):
        counts = np.zeros(2)
        for i, (start, stop) in enumerate(windows):
            left, right = groups[0][start:stop, b].sum(), groups[1][start:stop, b].sum()
            seen = int(right > left)  # the silent side has no spikes at all
            assert seen == sides[b, i]
            counts[seen] += 1
            active[seen][start:stop, b] = True
        majority[b] = int(counts[1] > counts[0])
    np.testing.assert_array_equal(info.labels, majority)
    for g in (0, 1):  # cue groups: 40 Hz while their side is cued, silent otherwise
        on = active[g]
        check_rate(groups[g][on].sum(), on.sum() * n, 40.0)
        assert groups[g][~on].sum() == 0
    recall = groups[2]
    check_rate(recall[-150:].sum(), recall[-150:].size, 40.0)
    assert recall[:-150].sum() == 0
    check_rate(groups[3].sum(), groups[3].size, 10.0)


def test_evidence_accumulation_cue_statistics():
    n_batch, p = 4000, 0.7
    tiny = dict(cue_duration=1.0, cue_silence=0.0, delay=0.0, recall_duration=1.0, n_per_group=1)
    _, info = evidence_accumulation(jax.random.key(11), n_batch, cue_prob=p, **tiny)
    probable = np.asarray(info.probable_sides)
    on_probable = np.asarray(info.cue_sides) == probable[:, None]
    # P(label == probable side) = P(Binomial(7, p) >= 4).
    expected = sum(math.comb(7, k) * p**k * (1 - p) ** (7 - k) for k in range(4, 8))
    for observed, target, n_samples in [
        (np.mean(np.asarray(info.labels) == probable), expected, n_batch),
        (np.mean(on_probable), p, on_probable.size),
        (np.mean(probable), 0.5, n_batch),
    ]:
        std = math.sqrt(target * (1 - target) / n_samples)
        assert abs(observed - target) < 5 * std


# -------------------------------------------------------------------------------- regressions


def test_sine_waves_target_closed_form_and_spectrum():
    batch, info = sine_waves(jax.random.key(5), 3, n_in=2, same_pattern=False)
    y = np.asarray(batch.targets[:, :, 0], dtype=np.float64)  # (1000, 3)
    np.testing.assert_allclose(np.max(np.abs(y), axis=0), 1.0, rtol=1e-6)
    assert not np.allclose(y[:, 0], y[:, 1])  # independent patterns
    t = np.arange(1000.0)[:, None, None]
    periods = np.asarray(info.periods, np.float64)
    amps, phases = np.asarray(info.amplitudes, np.float64), np.asarray(info.phases, np.float64)
    assert np.all((amps >= 0.5) & (amps <= 2.0)) and np.all((phases >= 0) & (phases < 2 * np.pi))
    raw = np.sum(amps * np.sin(2 * np.pi * t / periods + phases), axis=-1)
    np.testing.assert_allclose(y, raw / np.max(np.abs(raw), axis=0), atol=1e-5)
    # Periods 1000, 500, 333, 200 ms over 1000 ms sit at Fourier bins 1, 2, ~3, 5, with power
    # proportional to the squared amplitudes.
    power = np.abs(np.fft.rfft(y, axis=0)) ** 2
    share = power[[1, 2, 3, 5]] / power.sum(axis=0)
    assert np.all(share.sum(axis=0) > 0.999)
    np.testing.assert_allclose(
        share, (amps**2 / np.sum(amps**2, axis=1, keepdims=True)).T, atol=0.02
    )


def test_sine_waves_same_pattern_is_shared():
    batch, info = sine_waves(jax.random.key(5), 2, n_in=2, duration=50.0)
    assert np.array_equal(np.asarray(batch.targets[:, 0]), np.asarray(batch.targets[:, 1]))
    assert np.array_equal(np.asarray(batch.inputs[:, 0]), np.asarray(batch.inputs[:, 1]))
    assert info.amplitudes.shape == (2, 4)


def test_infinite_loop_closed_form():
    _, info = infinite_loop(jax.random.key(0), 1, n_in=2, duration=100.0, dt=0.5, amplitude=0.8)
    t = np.arange(200) * 0.5
    expected = 0.8 * np.stack([np.sin(2 * np.pi * t / 100), np.sin(4 * np.pi * t / 100)], -1)
    np.testing.assert_allclose(info.trajectory, expected, atol=1e-6)
    batch, info = infinite_loop(jax.random.key(0), 1, n_in=2)
    assert batch.targets.shape == (1258, 1, 2)
    np.testing.assert_allclose(np.max(np.abs(info.trajectory), axis=0), 0.5, rtol=1e-4)


def test_handwriting_default_word():
    before = set(sys.modules)
    _, info = handwriting(jax.random.key(0), 1, n_in=2)
    assert not any(m.startswith("HersheyFonts") for m in set(sys.modules) - before)
    xy = np.asarray(info.trajectory, dtype=np.float64)
    assert 1000 <= xy.shape[0] <= 1500  # "chaos" at the default pen speed
    assert np.all(np.isfinite(xy)) and np.max(np.abs(xy)) == pytest.approx(1.0)
    np.testing.assert_allclose(xy.min(axis=0), -xy.max(axis=0), atol=1e-6)  # centred
    steps = np.linalg.norm(np.diff(xy, axis=0), axis=1)
    # Constant pen speed: chords equal the arc-length spacing, shorter only across corners.
    assert np.max(steps) < 0.01
    assert np.max(steps) <= 1.001 * np.median(steps)
    pen_down = np.asarray(info.pen_down)
    assert pen_down.dtype == bool and 0.5 < pen_down.mean() < 1.0


def test_handwriting_words_differ_and_data_covers_letters():
    a = handwriting(jax.random.key(0), 1, n_in=2, word="chaos", duration=200.0)[1]
    b = handwriting(jax.random.key(0), 1, n_in=2, word="order", duration=200.0)[1]
    assert not np.allclose(a.trajectory, b.trajectory)
    assert set("abcdefghijklmnopqrstuvwxyz ") <= set(handwriting_characters())
    long_word = handwriting(jax.random.key(0), 1, n_in=2, word="chaos chaos")[0]
    assert long_word.targets.shape[0] > 2 * 1000


# ------------------------------------------------------------------------------ bad arguments

BAD_ARGUMENTS = [
    (
        evidence_accumulation,
        dict(n_batch=0),
        "`evidence_accumulation`: n_batch must be an integer >= 1; got 0.",
    ),
    (
        evidence_accumulation,
        dict(n_cues=0),
        "`evidence_accumulation`: n_cues must be an integer >= 1; got 0.",
    ),
    (evidence_accumulation, dict(n_cues=4), "n_cues must be odd"),
    (evidence_accumulation, dict(n_cues=2.0), "n_cues must be an integer >= 1; got 2.0."),
    (evidence_accumulation, dict(cue_duration=-1.0), "cue_duration must be a finite number > 0"),
    (evidence_accumulation, dict(cue_duration=0.2), "cue_duration=0.2 ms is shorter than one step"),
    (evidence_accumulation, dict(delay=-5.0), "delay must be a finite number >= 0"),
    (
        evidence_accumulation,
        dict(cue_prob=1.5),
        "cue_prob must be a probability in [0, 1]; got 1.5.",
    ),
    (evidence_accumulation, dict(cue_rate=2000.0), "cue_rate=2000 Hz with dt=1 ms gives"),
    (evidence_accumulation, dict(noise_rate=-1.0), "noise_rate (Hz) must be a finite number >= 0"),
    (evidence_accumulation, dict(dt=0.0), "dt must be a finite number > 0; got 0.0."),
    (evidence_accumulation, dict(dtype=jnp.int32), "dtype must be a floating dtype"),
    (sine_waves, dict(periods=()), "`sine_waves`: periods must be a non-empty sequence"),
    (sine_waves, dict(periods=(100.0, -1.0)), "periods[1] must be a finite number > 0"),
    (sine_waves, dict(amplitude_range=(2.0, 1.0)), "amplitude_range must satisfy low <= high"),
    (sine_waves, dict(same_pattern="yes"), "same_pattern must be True or False"),
    (sine_waves, dict(n_in=0), "`sine_waves`: n_in must be an integer >= 1; got 0."),
    (infinite_loop, dict(duration=float("nan")), "`infinite_loop`: duration must be a finite"),
    (infinite_loop, dict(amplitude=0.0), "amplitude must be a finite number > 0"),
    (infinite_loop, dict(period=-3.0), "period (ms) must be a finite number > 0"),
    (handwriting, dict(word="hi!"), "unsupported character '!' in word 'hi!'; accepted characters"),
    (handwriting, dict(word="   "), "word must contain at least one visible"),
    (handwriting, dict(word=""), "word must be a non-empty string"),
    (handwriting, dict(duration=1.0), "duration must span at least 2 steps"),
    (handwriting, dict(pen_speed=0.0), "pen_speed (cap heights per second) must be"),
    (handwriting, dict(input_rate=1e4, dt=0.5), "input_rate=10000 Hz with dt=0.5 ms gives"),
]


@pytest.mark.parametrize(("gen", "kwargs", "message"), BAD_ARGUMENTS)
def test_bad_arguments(gen, kwargs, message):
    kwargs = {"n_batch": 1, **kwargs}
    with pytest.raises(ValueError, match=re.escape(message)):
        gen(jax.random.key(0), **kwargs)


def test_unsupported_character_message_lists_accepted():
    with pytest.raises(ValueError, match=re.escape("are ' ', 0-9, A-Z, a-z.")):
        handwriting(jax.random.key(0), 1, word="é")


# ------------------------------------------------------------------------- the task registry


def _toy(key, n_batch, *, n_in=3, duration=12.0, dt=1.0, dtype=jnp.float32):
    """A toy regression task: random spikes in, a slow sine out (the registry test's task)."""
    n_steps = round(duration / dt)
    inputs = jax.random.bernoulli(key, 0.2, (n_steps, n_batch, n_in)).astype(dtype)
    wave = jnp.sin(jnp.arange(n_steps, dtype=dtype) / 4.0)
    targets = jnp.broadcast_to(wave[:, None, None], (n_steps, n_batch, 1))
    return Batch(inputs, targets, jnp.ones((n_steps, n_batch), dtype)), None


TOY_PRESET = {
    "network": {"n_rec": 6, "n_alif": 0},
    "batch_size": 2,
    "learning_rate": 1e-2,
    "c_reg": 0.0,
    "iterations": 2,
    "target_error": None,
    "feedback_std": None,
    "lr_decay": 1.0,
}


@pytest.fixture
def toy_task():
    """Register the toy task for one test, and remove it afterwards."""
    record = TaskRecord(
        name="toy",
        generator=_toy,
        kind="regression",
        frozen=False,
        preset=TOY_PRESET,
        shapes=lambda options: (options["n_in"], 1),
    )
    register_task(record)
    try:
        yield record
    finally:
        unregister_task("toy")


def test_a_task_added_through_the_registry_alone_is_listed_and_trains(toy_task):
    from eprop_jax.train import TASK_PRESETS, TrainConfig, train

    assert "toy" in TASKS and TASKS["toy"] is _toy and get_task("toy") is _toy
    assert "toy" not in CLASSIFICATION_TASKS and "toy" not in FROZEN_TASKS
    assert TASK_PRESETS["toy"] == TOY_PRESET
    assert describe_preset("toy", "n_rec") == "6"
    # the trainer runs under JAX's default promotion rules, not this file's strict ones
    with jax.numpy_dtype_promotion("standard"), jax.numpy_rank_promotion("allow"):
        result = train(TrainConfig(task="toy", eval_interval=0), None, progress=False)
    assert result.iterations_done == 2
    assert [m["iteration"] for m in result.metrics if "loss" in m][-1] == 1
    assert result.weights.w_in.shape == (6, 3) and result.weights.w_out.shape == (1, 6)
    assert all(np.isfinite(m["loss"]) for m in result.metrics if "loss" in m)


def test_an_unregistered_task_is_gone(toy_task):
    unregister_task("toy")
    assert "toy" not in TASKS
    register_task(toy_task)  # for the fixture's clean-up
    with pytest.raises(ValueError, match=re.escape("a task named 'toy' is already registered")):
        register_task(toy_task)


def test_builtin_records_and_views():
    assert FROZEN_TASKS == {"sine_waves", "infinite_loop", "handwriting"}
    for name in TASKS:
        record = get_task_record(name)
        assert record.name == name and record.generator is TASKS[name]
        assert (record.kind == "classification") == (name in CLASSIFICATION_TASKS)
        assert record.frozen == (name in FROZEN_TASKS)
        assert PRESETS[name] == dict(record.preset)
    PRESETS["sine_waves"]["network"]["n_rec"] = 1  # a copy: the record is untouched
    assert PRESETS["sine_waves"]["network"]["n_rec"] == 100


@pytest.mark.parametrize("name", sorted(SMALL))
def test_records_agree_with_the_generated_shapes(name):
    gen, kwargs, _, n_in, n_out = SMALL[name]
    record = get_task_record(name)
    assert record.sizes(**kwargs) == (n_in, n_out)
    batch, _ = gen(jax.random.key(0), 1)  # the generator's defaults
    assert record.sizes() == (batch.inputs.shape[-1], batch.targets.shape[-1])
    if record.kind == "classification":  # one-hot targets
        np.testing.assert_array_equal(np.asarray(batch.targets).sum(-1), 1.0)


@pytest.mark.parametrize("name", sorted(SMALL))
def test_one_jit_convention(name):
    """Every generator draws through ``_sample(key, config)``: jitted, config static, key traced."""
    gen, kwargs, *_ = SMALL[name]
    sample = sys.modules[gen.__module__]._sample
    before = sample._cache_size()
    first = gen(jax.random.key(0), 5, **kwargs)
    assert sample._cache_size() == before + 1  # one compilation for the new configuration
    second = gen(jax.random.key(1), 5, **kwargs)
    assert sample._cache_size() == before + 1  # a new key does not recompile
    assert not _leaves_equal(first[0].inputs, second[0].inputs)


def test_describe_preset():
    assert describe_preset("sine_waves", "iterations") == "300"
    assert describe_preset("evidence_accumulation", "network.tau_a") == "2000"
    assert describe_preset("sine_waves", "target_error") == "none"
    text = describe_preset("evidence_accumulation")
    assert text.startswith("n_rec=100, n_alif=50,") and "lr_decay=0.7" in text
    assert describe_default("lr_decay") == (
        "0.7 for evidence_accumulation; 1 for sine_waves, infinite_loop, handwriting, nmnist"
    )
    assert describe_default("learning_rate") == "0.005"
    with pytest.raises(ValueError, match=re.escape("`describe_preset`: unknown field 'lr'")):
        describe_preset("sine_waves", "lr")


@pytest.mark.parametrize(
    ("change", "message"),
    [
        (dict(kind="ranking"), "kind must be one of ('classification', 'regression')"),
        (dict(name="my task"), "name must be a Python identifier"),
        (dict(frozen=1), "frozen must be True or False"),
        (dict(preset={"network": {"n_rec": 4}}), "must have exactly the keys"),
        (dict(shapes=(3, 0)), "shapes must be (n_in, n_out)"),
    ],
)
def test_bad_records(change, message):
    fields = dict(name="toy", generator=_toy, kind="regression", frozen=False)
    fields.update(preset=TOY_PRESET, shapes=(3, 1))
    with pytest.raises(ValueError, match=re.escape(message)):
        TaskRecord(**{**fields, **change})
