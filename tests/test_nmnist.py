"""N-MNIST task: the reader, the blocklist, the encoding, the generator and its error messages.

The tests write their own small N-MNIST folders in the dataset's binary format (5 bytes per
event: x, y, polarity bit + time stamp bits 22-16, time stamp bits 15-8, bits 7-0).
"""

import functools
import importlib
import importlib.util
import re
from pathlib import Path

import jax
import jax.numpy as jnp
import numpy as np
import pytest

from eprop_jax.tasks import get_task_record, nmnist

nm = importlib.import_module(
    "eprop_jax.tasks.nmnist"
)  # the module (the package exports the function)

T_MAX = nm.TIME_MAX_US


def encode_file(x, y, polarity, timestamp) -> bytes:
    """The documented 40-bit event layout, written independently of the module's reader."""
    out = bytearray()
    for xi, yi, pi, ti in zip(x, y, polarity, timestamp, strict=True):
        ti = int(ti)
        out += bytes([int(xi), int(yi), (int(pi) << 7) | (ti >> 16), (ti >> 8) & 0xFF, ti & 0xFF])
    return bytes(out)


def random_events(rng, n):
    return (
        rng.integers(0, 34, n),
        rng.integers(0, 34, n),
        rng.integers(0, 2, n),
        rng.integers(0, T_MAX + 400, n),  # a few beyond t_max: step T, dropped
    )


def write_dataset(root: Path, rng, per_class=3, splits=("Train", "Test"), n_events=(20, 60)):
    """A fake N-MNIST folder; returns {path: events} of everything written."""
    written = {}
    for split in splits:
        for digit in range(10):
            folder = root / split / str(digit)
            folder.mkdir(parents=True)
            for i in range(per_class):
                events = random_events(rng, int(rng.integers(*n_events)))
                path = folder / f"{i + 2:05d}.bin"
                path.write_bytes(encode_file(*events))
                written[str(path)] = events
    return written


@pytest.fixture
def rng(getkey):
    return np.random.default_rng(np.asarray(jax.random.key_data(getkey())))


@pytest.fixture
def dataset(tmp_path, rng):
    nm.clear_cache()
    written = write_dataset(tmp_path / "nmnist", rng)
    yield tmp_path / "nmnist", written
    nm.clear_cache()


def expected_dense(events, n_steps=300, blocklist=True):
    """The tutorial's encoding, written out event by event: counts per (step, input)."""
    active = list(nm.active_channels(blocklist))
    dense = np.zeros((n_steps, len(active)), np.float32)
    for x, y, p, t in zip(*events, strict=True):
        channel = int(p) * 34 * 34 + int(y) * 34 + int(x)
        step = int(np.around(int(t) * n_steps / T_MAX))
        if step < n_steps and channel in active:
            dense[step, active.index(channel)] += 1
    return dense


# ----------------------------------------------------------------------------- reader


def test_read_events_returns_what_was_written(tmp_path, rng):
    x, y, p, t = random_events(rng, 500)
    t[:3] = [0, 2**23 - 1, 65536 + 257]  # the full 23-bit range and a stamp in all three bytes
    path = tmp_path / "00002.bin"
    path.write_bytes(encode_file(x, y, p, t))
    events = nm.read_events(path)
    for got, want in zip(events, (x, y, p, t), strict=True):
        np.testing.assert_array_equal(got, want)
    assert events.timestamp.dtype == np.int64 and events.x.dtype == np.uint8


def test_decode_known_bytes():
    # x=3, y=33, ON, t = 0x12345 + (0x7F << 16) masked to 23 bits -> polarity bit must not leak.
    events = nm.decode_events(bytes([3, 33, 0x80 | 0x7F, 0x23, 0x45]))
    assert (events.x[0], events.y[0], events.polarity[0]) == (3, 33, 1)
    assert events.timestamp[0] == (0x7F << 16) | 0x2345


# -------------------------------------------------------------------- blocklist, encoding


def test_blocklist():
    blocked = nm.pixel_blocklist()
    assert blocked.shape == (1116,) and np.all(np.diff(blocked) > 0)
    active = nm.active_channels()
    assert active.shape == (1196,) and len(nm.active_channels(False)) == 2312
    assert set(active).isdisjoint(blocked) and len(set(active) | set(blocked)) == 2312
    # Spot checks from NEST's file: 63 is the first channel kept, 1219 a lone kept one.
    assert active[0] == 63 and 1219 in active and 1218 in blocked and 2311 in blocked
    assert get_task_record("nmnist").sizes() == (1196, 10)
    assert get_task_record("nmnist").sizes(blocklist=False) == (2312, 10)


NEST_FILE = "doc/examples/pynest/eprop_plasticity/NMNIST_pixels_blocklist.txt"


@pytest.mark.skipif(importlib.util.find_spec("nest") is None, reason="nest-simulator not installed")
def test_blocklist_equals_nest_file():
    nest_dir = Path(importlib.util.find_spec("nest").submodule_search_locations[0])
    path = nest_dir / NEST_FILE
    if not path.exists():
        pytest.skip(f"{path} not shipped with this nest-simulator")
    np.testing.assert_array_equal(nm.pixel_blocklist(), np.loadtxt(path).astype(np.int64))


def test_encoding_of_known_events():
    # Channel c = p*1156 + y*34 + x: (x=29, y=1) -> c = 63 (input 0), (0, 0) -> c = 0 (blocked).
    # One step is t_max / 300 = 1120.13 us: 1121 us -> step 1, 560 us -> 0.4999 -> step 0,
    # t_max -> step 300 (dropped).
    events = nm.NmnistEvents(
        x=np.array([29, 29, 29, 0, 29, 29], np.uint8),
        y=np.array([1, 1, 1, 0, 1, 1], np.uint8),
        polarity=np.array([0, 0, 1, 0, 0, 0], np.uint8),
        timestamp=np.array([0, 0, 1121, 5000, T_MAX, 560], np.int64),
    )
    steps, inputs = nm.encode_events(events, 300)
    on_63 = int(np.searchsorted(nm.active_channels(), 63 + 1156))
    np.testing.assert_array_equal(steps, [0, 0, 1, 0])
    np.testing.assert_array_equal(inputs, [0, 0, on_63, 0])
    dense = nm.dense_inputs(steps, inputs, 300, 1196)
    assert dense[0, 0] == 3 and dense[1, on_63] == 1 and dense.sum() == 4
    # Without the blocklist the blocked event at (0, 0) is input 0, step round(5000/1120.13) = 4.
    steps, inputs = nm.encode_events(events, 300, blocklist=False)
    np.testing.assert_array_equal(steps, [0, 0, 1, 4, 0])
    np.testing.assert_array_equal(inputs, [63, 63, 63 + 1156, 0, 63])


def test_encoding_rounds_half_to_even():
    # With t_max = 600 and T = 300 a step is 2 us, so t = 1, 3, 5, 597, 599 sit at k + 1/2.
    events = nm.NmnistEvents(
        x=np.full(5, 29, np.uint8),
        y=np.ones(5, np.uint8),
        polarity=np.zeros(5, np.uint8),
        timestamp=np.array([1, 3, 5, 597, 599], np.int64),
    )
    steps, _ = nm.encode_events(events, 300, time_max_us=600)
    np.testing.assert_array_equal(steps, [0, 2, 2, 298])  # 299.5 -> 300 = T: dropped


def test_random_files_encode_like_the_written_out_rule(tmp_path, rng):
    events = random_events(rng, 400)
    path = tmp_path / "00002.bin"
    path.write_bytes(encode_file(*events))
    for blocklist in (True, False):
        steps, inputs = nm.encode_events(nm.read_events(path), 300, blocklist=blocklist)
        n_in = len(nm.active_channels(blocklist))
        np.testing.assert_array_equal(
            nm.dense_inputs(steps, inputs, 300, n_in), expected_dense(events, 300, blocklist)
        )


# ----------------------------------------------------------------------------- generator


def test_generator_batch_equals_the_files(dataset, getkey):
    root, written = dataset
    batch, info = nmnist(getkey(), 7, data_dir=root)
    assert batch.inputs.shape == (300, 7, 1196) and batch.inputs.dtype == jnp.float32
    assert batch.targets.shape == (300, 7, 10) and batch.mask.shape == (300, 7)
    indices = np.asarray(info.sample_indices)
    assert len(set(indices.tolist())) == 7  # distinct samples
    data = nm.load_nmnist(root)
    assert data.n_samples == 30 and len(data.files) == 30
    for b, s in enumerate(indices):
        path = data.files[s]
        assert int(info.labels[b]) == int(Path(path).parent.name)
        np.testing.assert_array_equal(batch.inputs[:, b], expected_dense(written[path]))
        np.testing.assert_array_equal(
            batch.targets[:, b], np.tile(np.eye(10)[info.labels[b]], (300, 1))
        )
    window = (np.arange(300) >= 290).astype(np.float32)
    np.testing.assert_array_equal(batch.mask, np.tile(window[:, None], (1, 7)))
    assert int(info.window_start) == 290


def test_generator_options_and_determinism(dataset, getkey):
    root, written = dataset
    key = getkey()
    first = nmnist(
        key,
        4,
        data_dir=root,
        split="test",
        sequence_duration=150.0,
        learning_window=20.0,
        blocklist=False,
        samples_per_class=2,
        dt=0.5,
        dtype=jnp.float64,
    )
    again = nmnist(
        key,
        4,
        data_dir=str(root),
        split="test",
        sequence_duration=150.0,
        learning_window=20.0,
        blocklist=False,
        samples_per_class=2,
        dt=0.5,
        dtype=jnp.float64,
    )
    batch, info = first
    assert batch.inputs.shape == (300, 4, 2312) and batch.inputs.dtype == jnp.float64
    np.testing.assert_array_equal(batch.inputs, again[0].inputs)
    data = nm.load_nmnist(root, "test", blocklist=False, samples_per_class=2)
    assert data.n_samples == 20 and all("/Test/" in f for f in data.files)
    for b, s in enumerate(np.asarray(info.sample_indices)):
        want = expected_dense(written[data.files[s]], 300, blocklist=False)
        np.testing.assert_array_equal(batch.inputs[:, b], want)
    assert float(batch.mask.sum()) == 40 * 4


def test_generator_jits_once(dataset, getkey):
    root, _ = dataset
    before = nm._sample._cache_size()
    gen = jax.jit(functools.partial(nmnist, n_batch=3, data_dir=root))
    first, second = gen(getkey())[0], gen(getkey())[0]
    nmnist(getkey(), 3, data_dir=root)
    assert nm._sample._cache_size() == before + 1
    assert not np.array_equal(first.inputs, second.inputs)


# -------------------------------------------------------------------------------- errors


def _raises(message, **kwargs):
    nm.clear_cache()
    return pytest.raises(ValueError, match=re.escape(message))


def test_missing_and_empty_folders(tmp_path, getkey):
    with _raises(
        "`nmnist`: data_dir is required (got None; on the command line: --data DIR); expected the N-MNIST folder holding"
    ):
        nmnist(getkey(), 2)
    missing = tmp_path / "nowhere"
    with _raises(f"`nmnist`: data_dir {str(missing)!r} does not exist; expected"):
        nmnist(getkey(), 2, data_dir=missing)
    (tmp_path / "empty").mkdir()
    with _raises(f"`nmnist`: data_dir {str(tmp_path / 'empty')!r} is empty; expected"):
        nmnist(getkey(), 2, data_dir=tmp_path / "empty")
    (tmp_path / "file.bin").write_bytes(b"")
    with _raises("is not a folder; expected"):
        nmnist(getkey(), 2, data_dir=tmp_path / "file.bin")


def test_wrong_layouts(tmp_path, rng, getkey):
    parent = tmp_path / "downloads"
    write_dataset(parent / "468j46mzdv-1", rng, per_class=1, splits=("Train",))
    with _raises("has no Train folder (it holds: 468j46mzdv-1); expected the N-MNIST folder"):
        nmnist(getkey(), 2, data_dir=parent)
    root = parent / "468j46mzdv-1"
    with _raises("has no Test folder"):
        nmnist(getkey(), 2, data_dir=root, split="test")
    for f in (root / "Train" / "7").iterdir():
        f.rename(f.with_suffix(".txt"))
    with _raises(f"{str(root / 'Train' / '7')!r} holds no .bin files; expected"):
        nmnist(getkey(), 2, data_dir=root)
    (root / "Train" / "7").rename(root / "Train" / "seven")
    with _raises(f"{str(root / 'Train')!r} lacks the digit folder(s) 7; expected"):
        nmnist(getkey(), 2, data_dir=root)


def test_bad_files(dataset, getkey):
    root, written = dataset
    path = [p for p in sorted(written) if "/Train/3/" in p][1]
    Path(path).write_bytes(Path(path).read_bytes()[:-2])
    n_bytes = Path(path).stat().st_size
    with _raises(f"{path!r} has {n_bytes} bytes, not a multiple of 5 (one N-MNIST event is 5"):
        nmnist(getkey(), 2, data_dir=root)
    Path(path).write_bytes(encode_file([3, 40], [5, 6], [0, 1], [10, 20]))
    with _raises(f"{path!r} has an event at x=40, y=6, outside the 34x34 sensor"):
        nmnist(getkey(), 2, data_dir=root)
    with _raises(f"{path!r} has an event at x=40"):
        nm.read_events(path)


def test_bad_options(dataset, getkey):
    root, _ = dataset
    with _raises("`nmnist`: n_batch=31 exceeds the 30 samples loaded from"):
        nmnist(getkey(), 31, data_dir=root)
    with _raises("`nmnist`: split must be one of ('train', 'test'); got 'val'"):
        nmnist(getkey(), 2, data_dir=root, split="val")
    with _raises("`nmnist`: learning_window=400.0 ms is longer than sequence_duration=300.0 ms"):
        nmnist(getkey(), 2, data_dir=root, learning_window=400.0)
    with _raises("`nmnist`: samples_per_class must be an integer >= 1; got 0"):
        nmnist(getkey(), 2, data_dir=root, samples_per_class=0)


# ------------------------------------------------------------------------------ training


@pytest.mark.slow
def test_two_training_iterations(dataset):
    from eprop_jax.train import TrainConfig, train

    root, _ = dataset
    config = TrainConfig(
        task="nmnist",
        task_options={"data_dir": str(root)},
        iterations=2,
        batch_size=4,
        network={"n_rec": 8},
        eval_interval=0,
    )
    with jax.numpy_dtype_promotion("standard"):  # optax's Adam mixes Python floats and int32
        result = train(config, None, progress=False)
    assert result.iterations_done == 2 and len(result.metrics) == 2
    assert result.weights.w_in.shape == (8, 1196) and result.weights.w_out.shape == (10, 8)
    for m in result.metrics:
        assert np.isfinite(m["loss"]) and 0.0 <= m["accuracy"] <= 1.0


def test_loading_in_chunks_gives_the_same_split(dataset, monkeypatch):
    root, _ = dataset
    whole = nm.load_nmnist(root)
    nm.clear_cache()
    monkeypatch.setattr(nm, "_FILES_PER_CHUNK", 2)  # 3 files per digit: two chunks each
    chunked = nm.load_nmnist(root)
    assert chunked is not whole
    for a, b in zip(whole[:3], chunked[:3], strict=True):
        np.testing.assert_array_equal(a, b)
    assert whole.files == chunked.files and whole.max_events == chunked.max_events
