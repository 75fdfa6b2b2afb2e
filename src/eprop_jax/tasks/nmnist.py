r"""N-MNIST: classify the digit of a neuromorphic (event-camera) MNIST recording.

The task of NEST 3.10's ``eprop_supervised_classification_neuromorphic_mnist.py`` tutorial. The
N-MNIST dataset (Orchard et al. 2015) shows each MNIST digit to an event camera (ATIS, 34 x 34
pixels) that makes three saccades; every change of brightness at a pixel is an event with a
position, a polarity (ON/OFF) and a time stamp.

**The data must be on disk.** Nothing is downloaded: ``data_dir`` is a folder holding
``Train/<digit>/*.bin`` and ``Test/<digit>/*.bin``, digits 0 to 9, as the archive of the dataset
(Mendeley Data, doi:10.17632/468j46mzdv.1, the folder ``468j46mzdv-1`` with ``Train.zip`` and
``Test.zip`` unzipped in place) and the NEST tutorial lay it out.

**File format** (documented with the dataset). A file is a sequence of 40-bit (5-byte) events:

=======  ================================================================
byte     content
=======  ================================================================
0        x address, 8 bits (0 to 33)
1        y address, 8 bits (0 to 33)
2        bit 7: polarity (1 = ON, 0 = OFF); bits 6-0: time stamp bits 22-16
3, 4     time stamp bits 15-8 and 7-0 (23 bits in all, microseconds)
=======  ================================================================

**Reader: our own, not tonic.** The format above takes a few lines of vectorised NumPy
(:func:`decode_events`), so this module reads the files itself instead of depending on the
optional ``tonic`` package: no further dependency and no second download and cache layout to
learn; it reads the very folder the NEST tutorial downloads; and it keeps exact control of the
decoding the tutorial uses (the 23-bit time stamp and its scaling below), which is what makes the
inputs equal NEST's.

**Encoding** (the tutorial's). A sensor pixel and polarity is one channel,

.. math::

    c = p \cdot 34 \cdot 34 + y \cdot 34 + x \in [0, 2312),

and the tutorial drops the 1116 channels of its pixel blocklist (``NMNIST_pixels_blocklist.txt``:
pixels that record no or few events, mostly at the border), leaving ``n_in = 1196`` inputs, in
increasing order of :math:`c`. Each recording is stretched or squeezed onto the ``T`` steps of
one sequence (300 steps of 1 ms by default): an event at time stamp :math:`t` (µs) lands at step

.. math::

    k = \mathrm{round}(t \cdot T / t_{\max}), \qquad t_{\max} = 336040\ \mu s,

the longest recording of the training and test sets, rounding half to even (NumPy's
``around``). Input :math:`i` at step :math:`k` is the **number** of events of channel
:math:`c_i` that land at step :math:`k`, so inputs are counts, mostly 0 or 1: in NEST a spike
generator given one time several times emits that many spikes, and the parrot neurons pass all of
them on (checked with NEST 3.10: three at one time move a neuron's potential by three weights).
Events with :math:`k = T` (only recordings longer than about 335.5 ms have them) are dropped: in
NEST they fall into the first step of the next sequence, outside their own sample.

**Targets and mask.** The target is the one-hot digit at every step; the mask (learning window)
is 1 in the last ``learning_window`` (10) ms of the sequence, where NEST's readouts receive their
learning signal and where the tutorial evaluates loss and accuracy.

**Memory and jit.** The first call with a folder reads and encodes the whole split once and keeps
it in a host-side cache keyed by the folder and the encoding options (:func:`load_nmnist`;
:func:`clear_cache` empties it). The cache stores, per sample, its events as int32 codes
``k * n_in + i`` (4 bytes per event, a few thousand events per sample: of the order of 1 GB for
all 60000 training samples; ``samples_per_class`` reads fewer). A batch is drawn inside
``jax.jit``: the key picks ``n_batch`` distinct samples, a ``jax.pure_callback`` fetches their
codes (padded to the longest sample), and a scatter-add builds the dense ``(T, B, n_in)`` counts
on the device, so only the batch is ever dense. The same key gives the same batch.

**Differences from the NEST tutorial.** NEST presents the samples one after another in one
continuous simulation and draws them by cycling through one shuffled order per split; here each
batch is ``n_batch`` independent trials of one sample each, drawn without replacement within a
batch. The trainer of this project trains classification tasks with a cross-entropy loss over the
mask and Adam; NEST's tutorial uses ``eprop_readout`` (mean squared error) and gradient descent.
The preset takes the tutorial's network (150 LIF neurons, ``tau_m = 30`` ms, threshold 0.6, no
refractory period, readout ``tau_m = 100`` ms), its group size 100 as the batch size and its 200
iterations "for convergence".

References:
    Orchard, Jayawant, Cohen, Thakor, `Converting static image datasets to spiking neuromorphic
    datasets using saccades <https://doi.org/10.3389/fnins.2015.00437>`_, Front. Neurosci.
    9:437, 2015.

    NEST 3.10, ``pynest/examples/eprop_plasticity/eprop_supervised_classification_neuromorphic_
    mnist.py`` and ``NMNIST_pixels_blocklist.txt``.

    Bellec et al., `A solution to the learning dilemma for recurrent networks of spiking neurons
    <https://doi.org/10.1038/s41467-020-17236-y>`_, Nat. Commun. 11:3625, 2020.
"""

from __future__ import annotations

import os
from pathlib import Path
from typing import NamedTuple

import jax
import jax.numpy as jnp
import numpy as np

from ..types import Batch
from ._common import (
    check_dt,
    check_dtype,
    check_float,
    check_int,
    duration_steps,
    jit_sampler,
)
from ._registry import TaskRecord

_API = "nmnist"
N_X = 34  # sensor width in pixels
N_Y = 34  # sensor height in pixels
N_POLARITY = 2  # OFF (0) and ON (1)
N_CHANNELS = N_POLARITY * N_Y * N_X  # 2312 pixel-polarity channels
N_CLASSES = 10
EVENT_BYTES = 5
TIME_MAX_US = 336040  # longest recording over the training and test sets (NEST tutorial)
_FILES_PER_CHUNK = 1000
SPLITS = {"train": "Train", "test": "Test"}

# NEST 3.10's NMNIST_pixels_blocklist.txt (1116 channels) as half-open ranges [start, stop).
_BLOCKLIST_RANGES = (
    (0, 63),
    (64, 152),
    (159, 181),
    (196, 213),
    (232, 246),
    (267, 279),
    (301, 313),
    (335, 346),
    (370, 380),
    (404, 414),
    (438, 443),
    (444, 448),
    (471, 482),
    (506, 515),
    (539, 550),
    (573, 583),
    (608, 618),
    (641, 651),
    (675, 685),
    (709, 719),
    (743, 753),
    (776, 787),
    (810, 821),
    (843, 855),
    (877, 890),
    (910, 924),
    (943, 959),
    (976, 994),
    (1009, 1029),
    (1042, 1065),
    (1074, 1219),
    (1220, 1276),
    (1277, 1289),
    (1290, 1306),
    (1316, 1336),
    (1353, 1369),
    (1388, 1392),
    (1393, 1402),
    (1424, 1434),
    (1457, 1458),
    (1459, 1460),
    (1461, 1468),
    (1492, 1502),
    (1526, 1534),
    (1560, 1569),
    (1593, 1599),
    (1600, 1603),
    (1627, 1637),
    (1662, 1671),
    (1696, 1705),
    (1730, 1739),
    (1763, 1773),
    (1797, 1807),
    (1831, 1840),
    (1866, 1874),
    (1899, 1908),
    (1933, 1942),
    (1966, 1976),
    (2000, 2011),
    (2033, 2044),
    (2067, 2080),
    (2100, 2110),
    (2111, 2114),
    (2133, 2150),
    (2165, 2183),
    (2198, 2220),
    (2230, 2257),
    (2259, 2260),
    (2261, 2312),
)


def pixel_blocklist() -> np.ndarray:
    """The channels :math:`c` that NEST 3.10's tutorial drops, sorted, shape ``(1116,)``, int64."""
    return np.concatenate([np.arange(start, stop) for start, stop in _BLOCKLIST_RANGES])


def active_channels(blocklist: bool = True) -> np.ndarray:
    """The channels kept as inputs, in input order: all 2312, or the 1196 not on the blocklist."""
    channels = np.arange(N_CHANNELS)
    return np.setdiff1d(channels, pixel_blocklist()) if blocklist else channels


class NmnistEvents(NamedTuple):
    """The events of one recording, in file order (all arrays of shape ``(n_events,)``)."""

    x: np.ndarray  # dtype=uint8, column 0 to 33
    y: np.ndarray  # dtype=uint8, row 0 to 33
    polarity: np.ndarray  # dtype=uint8, 1 = ON, 0 = OFF
    timestamp: np.ndarray  # dtype=int64, microseconds, 23 bits


def decode_events(raw: bytes | np.ndarray) -> NmnistEvents:
    """Decode N-MNIST's 5-byte events (module docstring), vectorised.

    Args:
        raw: the bytes of one or more whole events; the length must be a multiple of 5.

    Returns:
        The :class:`NmnistEvents`.
    """
    data = np.frombuffer(raw, dtype=np.uint8) if isinstance(raw, bytes | bytearray) else raw
    data = np.asarray(data, dtype=np.uint8)
    if data.ndim != 1 or data.size % EVENT_BYTES:
        raise ValueError(
            f"`decode_events`: expected a 1-D byte buffer whose length is a multiple of "
            f"{EVENT_BYTES}; got shape {data.shape}."
        )
    columns = data.reshape(-1, EVENT_BYTES)
    stamp = (
        (columns[:, 2].astype(np.int64) & 0x7F) << 16
        | columns[:, 3].astype(np.int64) << 8
        | columns[:, 4].astype(np.int64)
    )
    return NmnistEvents(
        x=columns[:, 0].copy(),
        y=columns[:, 1].copy(),
        polarity=columns[:, 2] >> 7,
        timestamp=stamp,
    )


def read_events(path: str | os.PathLike) -> NmnistEvents:
    """Read and decode one N-MNIST ``.bin`` file, checking its size and its addresses.

    Raises:
        ValueError: if the size is not a multiple of 5 bytes or an address is outside 34 x 34.
    """
    raw = Path(path).read_bytes()
    _check_size(path, len(raw))
    events = decode_events(raw)
    _check_addresses(path, events)
    return events


def encode_events(
    events: NmnistEvents,
    n_steps: int = 300,
    *,
    blocklist: bool = True,
    time_max_us: float = TIME_MAX_US,
) -> tuple[np.ndarray, np.ndarray]:
    """Steps and input indices of the events that the tutorial's encoding keeps (module docstring).

    Args:
        events: decoded events of one recording.
        n_steps: steps ``T`` of one sequence.
        blocklist: drop the channels of :func:`pixel_blocklist`.
        time_max_us: the time stamp mapped to step ``T`` (336040 µs in the tutorial).

    Returns:
        ``(steps, inputs)``, int64 arrays of equal length, in file order: the step
        :math:`k = \\mathrm{round}(t T / t_{\\max})` (events with :math:`k \\geq T` dropped) and the
        index of the input neuron (the position of the event's channel in
        :func:`active_channels`; events of blocked channels dropped).
    """
    step, inputs, keep = _encode(events, n_steps, blocklist, time_max_us)
    return step[keep], inputs[keep]


def _encode(events: NmnistEvents, n_steps: int, blocklist: bool, time_max_us: float):
    """Step and input index of every event, and which events the encoding keeps."""
    channel = (
        events.polarity.astype(np.int64) * (N_X * N_Y)
        + events.y.astype(np.int64) * N_X
        + events.x.astype(np.int64)
    )
    # The tutorial's scaling, in the same order of float64 operations: round(t * T / t_max).
    step = np.around(events.timestamp * float(n_steps) / float(time_max_us)).astype(np.int64)
    keep = step < n_steps  # k = T would fall into the next sequence in NEST
    input_of_channel = np.full(N_CHANNELS, -1, dtype=np.int64)  # -1: blocked
    active = active_channels(blocklist)
    input_of_channel[active] = np.arange(len(active))
    inputs = input_of_channel[channel]
    keep &= inputs >= 0
    return step, inputs, keep


def dense_inputs(steps: np.ndarray, inputs: np.ndarray, n_steps: int, n_in: int) -> np.ndarray:
    """Event counts of shape ``(n_steps, n_in)`` (float32) from :func:`encode_events`' output."""
    counts = np.zeros((n_steps, n_in), dtype=np.float32)
    np.add.at(counts, (steps, inputs), 1.0)
    return counts


class NmnistData(NamedTuple):
    """One encoded split, as the cache holds it (see the module docstring)."""

    codes: np.ndarray  # shape=(n_events_total,), dtype=int32, k * n_in + i per event
    offsets: np.ndarray  # shape=(N + 1,), dtype=int64, sample s has codes[offsets[s]:offsets[s+1]]
    labels: np.ndarray  # shape=(N,), dtype=int32, the digit of each sample
    files: tuple[str, ...]  # path of each sample, in order (digit, then file name)
    n_steps: int  # T
    n_in: int  # 1196 with the blocklist, 2312 without
    key: tuple  # the cache key: (folder, split, n_steps, blocklist, time_max_us, samples_per_class)

    @property
    def n_samples(self) -> int:
        """Number of samples ``N``."""
        return len(self.labels)

    @property
    def max_events(self) -> int:
        """Largest number of kept events of one sample (the padded width of a batch's codes)."""
        return int(np.max(np.diff(self.offsets), initial=0))


_CACHE: dict[tuple, NmnistData] = {}


def clear_cache() -> None:
    """Forget every split loaded by :func:`load_nmnist` (e.g. after the files changed)."""
    _CACHE.clear()


_EXPECTED = (
    "expected the N-MNIST folder holding Train/0 ... Train/9 and Test/0 ... Test/9 of .bin event "
    "files (e.g. 468j46mzdv-1 from the dataset's archive)"
)


def _check_size(path, n_bytes: int) -> None:
    if n_bytes % EVENT_BYTES:
        raise ValueError(
            f"`{_API}`: {str(path)!r} has {n_bytes} bytes, not a multiple of {EVENT_BYTES} (one "
            f"N-MNIST event is 5 bytes): the file is truncated or not an N-MNIST file."
        )


def _check_addresses(path, events: NmnistEvents) -> None:
    bad = (events.x >= N_X) | (events.y >= N_Y)
    if np.any(bad):
        first = int(np.argmax(bad))
        raise ValueError(
            f"`{_API}`: {str(path)!r} has an event at x={int(events.x[first])}, "
            f"y={int(events.y[first])}, outside the {N_X}x{N_Y} sensor: not an N-MNIST file."
        )


def _split_files(data_dir, split: str, samples_per_class: int | None) -> list[list[Path]]:
    """The sorted ``.bin`` files of each digit of a split, after checking the folder layout."""
    root = Path(data_dir)
    if not root.exists():
        raise ValueError(f"`{_API}`: data_dir {str(root)!r} does not exist; {_EXPECTED}.")
    if not root.is_dir():
        raise ValueError(f"`{_API}`: data_dir {str(root)!r} is not a folder; {_EXPECTED}.")
    entries = sorted(p.name for p in root.iterdir())
    if not entries:
        raise ValueError(f"`{_API}`: data_dir {str(root)!r} is empty; {_EXPECTED}.")
    folder = root / SPLITS[split]
    if not folder.is_dir():
        shown = ", ".join(entries[:5]) + (", ..." if len(entries) > 5 else "")
        raise ValueError(
            f"`{_API}`: data_dir {str(root)!r} has no {SPLITS[split]} folder (it holds: {shown}); "
            f"{_EXPECTED}."
        )
    missing = [str(d) for d in range(N_CLASSES) if not (folder / str(d)).is_dir()]
    if missing:
        raise ValueError(
            f"`{_API}`: {str(folder)!r} lacks the digit folder(s) {', '.join(missing)}; "
            f"{_EXPECTED}."
        )
    per_class = []
    for digit in range(N_CLASSES):
        files = sorted(p for p in (folder / str(digit)).iterdir() if p.suffix == ".bin")
        if not files:
            raise ValueError(
                f"`{_API}`: {str(folder / str(digit))!r} holds no .bin files; {_EXPECTED}."
            )
        per_class.append(files if samples_per_class is None else files[:samples_per_class])
    return per_class


def load_nmnist(
    data_dir: str | os.PathLike,
    split: str = "train",
    *,
    n_steps: int = 300,
    blocklist: bool = True,
    time_max_us: float = TIME_MAX_US,
    samples_per_class: int | None = None,
) -> NmnistData:
    """Read, check and encode one split of N-MNIST, once per process (module docstring).

    Args:
        data_dir: the folder holding ``Train/<digit>/*.bin`` and ``Test/<digit>/*.bin``.
        split: ``"train"`` or ``"test"``.
        n_steps: steps ``T`` of one sequence.
        blocklist: drop the tutorial's blocked channels (``n_in = 1196``; else 2312).
        time_max_us: the time stamp mapped to step ``T``.
        samples_per_class: read only the first (by file name) this many files of each digit;
            ``None`` reads all.

    Returns:
        The :class:`NmnistData`, from the cache if this folder and these options were loaded
        before.

    Raises:
        ValueError: one line naming the folder or file and what was expected, if the folder is
            missing, empty or laid out otherwise, or a file is truncated or not N-MNIST.
    """
    if split not in SPLITS:
        raise ValueError(f"`{_API}`: split must be one of {tuple(SPLITS)}; got {split!r}.")
    if data_dir is None:
        raise ValueError(
            f"`{_API}`: data_dir is required (got None; on the command line: --data DIR); {_EXPECTED}."
        )
    if samples_per_class is not None:
        samples_per_class = check_int(_API, "samples_per_class", samples_per_class, 1)
    root = str(Path(data_dir).expanduser().absolute())
    return _load((root, split, n_steps, blocklist, float(time_max_us), samples_per_class))


def _load(key: tuple) -> NmnistData:
    """Load the split described by a cache key (see :func:`load_nmnist`), or take it cached."""
    if key in _CACHE:
        return _CACHE[key]
    data_dir, split, n_steps, blocklist, time_max_us, samples_per_class = key
    per_class = _split_files(data_dir, split, samples_per_class)
    n_in = len(active_channels(blocklist))
    codes, lengths, labels, names = [], [], [], []
    for digit, files in enumerate(per_class):
        for start in range(0, len(files), _FILES_PER_CHUNK):  # bounds the temporary arrays
            chunk = files[start : start + _FILES_PER_CHUNK]
            codes.append(_encode_files(chunk, n_steps, n_in, blocklist, time_max_us, lengths))
        labels.append(np.full(len(files), digit, dtype=np.int32))
        names.extend(str(path) for path in files)
    offsets = np.concatenate([[0], np.cumsum(np.concatenate(lengths))]).astype(np.int64)
    data = NmnistData(
        codes=np.concatenate(codes),
        offsets=offsets,
        labels=np.concatenate(labels),
        files=tuple(names),
        n_steps=n_steps,
        n_in=n_in,
        key=key,
    )
    _CACHE[key] = data
    return data


def _encode_files(files, n_steps, n_in, blocklist, time_max_us, lengths: list) -> np.ndarray:
    """Read, check and encode files; append their kept event counts to ``lengths``."""
    raws = [path.read_bytes() for path in files]
    for path, raw in zip(files, raws, strict=True):
        _check_size(path, len(raw))
    counts = np.array([len(raw) // EVENT_BYTES for raw in raws], dtype=np.int64)
    events = decode_events(b"".join(raws))  # one vectorised decode for all files
    bad = (events.x >= N_X) | (events.y >= N_Y)
    if np.any(bad):  # name the first file with an event outside the sensor
        owner = int(np.searchsorted(np.cumsum(counts), np.argmax(bad), side="right"))
        _check_addresses(files[owner], decode_events(raws[owner]))
    step, inputs, keep = _encode(events, n_steps, blocklist, time_max_us)
    sample_of_event = np.repeat(np.arange(len(files)), counts)
    lengths.append(np.bincount(sample_of_event[keep], minlength=len(files)))
    return (step[keep] * n_in + inputs[keep]).astype(np.int32)


class NmnistInfo(NamedTuple):
    """Per-trial metadata of an N-MNIST batch."""

    labels: jax.Array  # shape=(B,), dtype=int32, the digit of each trial
    sample_indices: jax.Array  # shape=(B,), dtype=int32, index into NmnistData.files
    window_start: jax.Array  # shape=(), dtype=int32, first step of the learning window


def nmnist(
    key: jax.Array,
    n_batch: int,
    *,
    data_dir: str | os.PathLike | None = None,
    split: str = "train",
    sequence_duration: float = 300.0,
    learning_window: float = 10.0,
    blocklist: bool = True,
    time_max_us: float = TIME_MAX_US,
    samples_per_class: int | None = None,
    dt: float = 1.0,
    dtype=jnp.float32,
) -> tuple[Batch, NmnistInfo]:
    """Draw a batch of N-MNIST trials from a local copy of the dataset (module docstring).

    The first call with a folder and encoding loads it (:func:`load_nmnist`); later calls only
    draw. Shapes depend only on the Python arguments and the loaded split, so
    ``jax.jit(functools.partial(nmnist, n_batch=..., data_dir=...))`` works.

    Args:
        key: a PRNG key; picks ``n_batch`` distinct samples of the split.
        n_batch: number of trials ``B``, at most the number of samples loaded.
        data_dir: the folder holding ``Train/<digit>/*.bin`` and ``Test/<digit>/*.bin``
            (required; nothing is downloaded).
        split: ``"train"`` or ``"test"``.
        sequence_duration: length of one trial in ms; the recording is mapped onto its
            ``T = round(sequence_duration / dt)`` steps.
        learning_window: the last this many ms of the trial form the mask.
        blocklist: drop the tutorial's 1116 blocked channels (``n_in = 1196``; else 2312).
        time_max_us: the time stamp (µs) mapped to the end of the trial.
        samples_per_class: load only the first this many files of each digit (None: all).
        dt: step length in ms.
        dtype: floating dtype of inputs, targets and mask.

    Returns:
        ``(batch, info)``: ``batch.inputs`` of shape ``(T, B, n_in)`` (event counts),
        ``batch.targets`` of shape ``(T, B, 10)`` (one-hot digit at every step), ``batch.mask``
        of shape ``(T, B)`` (1 in the learning window), and :class:`NmnistInfo`.

    Raises:
        ValueError: one line naming the option or the folder/file and what was expected.

    Example:
        >>> batch, info = nmnist(jax.random.key(0), 4, data_dir="468j46mzdv-1")  # doctest: +SKIP
        >>> batch.inputs.shape, batch.targets.shape, batch.mask.shape  # doctest: +SKIP
        ((300, 4, 1196), (300, 4, 10), (300, 4))
    """
    n_batch = check_int(_API, "n_batch", n_batch, 1)
    if split not in SPLITS:
        raise ValueError(f"`{_API}`: split must be one of {tuple(SPLITS)}; got {split!r}.")
    if not isinstance(blocklist, bool):
        raise ValueError(f"`{_API}`: blocklist must be True or False; got {blocklist!r}.")
    if samples_per_class is not None:
        samples_per_class = check_int(_API, "samples_per_class", samples_per_class, 1)
    dt = check_dt(_API, dt)
    dtype = check_dtype(_API, dtype)
    n_steps = duration_steps(_API, "sequence_duration", sequence_duration, dt)
    steps_window = duration_steps(_API, "learning_window", learning_window, dt)
    if steps_window > n_steps:
        raise ValueError(
            f"`{_API}`: learning_window={learning_window!r} ms is longer than "
            f"sequence_duration={sequence_duration!r} ms."
        )
    time_max_us = check_float(_API, "time_max_us", time_max_us, minimum=0.0, inclusive=False)
    data = load_nmnist(
        data_dir,
        split,
        n_steps=n_steps,
        blocklist=blocklist,
        time_max_us=time_max_us,
        samples_per_class=samples_per_class,
    )
    if n_batch > data.n_samples:
        raise ValueError(
            f"`{_API}`: n_batch={n_batch} exceeds the {data.n_samples} samples loaded from "
            f"{data_dir!r} ({split}); use a smaller batch or more samples_per_class."
        )
    if n_batch * n_steps * data.n_in >= 2**31:
        raise ValueError(
            f"`{_API}`: n_batch * T * n_in = {n_batch} * {n_steps} * {data.n_in} must be below "
            f"2**31 (int32 indices); use a smaller batch."
        )
    config = _Config(
        cache_key=data.key,
        n_batch=n_batch,
        n_samples=data.n_samples,
        max_events=max(data.max_events, 1),
        n_steps=n_steps,
        steps_window=steps_window,
        n_in=data.n_in,
        dtype=dtype,
    )
    return _sample(key, config)


class _Config(NamedTuple):
    """Checked arguments, in steps; hashable, so it is a static argument of ``_sample``."""

    cache_key: tuple  # the key of the loaded split in _CACHE
    n_batch: int
    n_samples: int
    max_events: int
    n_steps: int
    steps_window: int
    n_in: int
    dtype: np.dtype


def _gather(cache_key: tuple, max_events: int, indices: np.ndarray):
    """Host side: the padded codes (B, max_events), -1 beyond each sample's end, and labels."""
    data = _load(cache_key)  # reloads after clear_cache()
    indices = np.asarray(indices, dtype=np.int64)
    codes = np.full((len(indices), max_events), -1, dtype=np.int32)
    for row, s in enumerate(indices):
        start, stop = data.offsets[s], data.offsets[s + 1]
        codes[row, : stop - start] = data.codes[start:stop]
    return codes, data.labels[indices]


@jit_sampler
def _sample(key: jax.Array, config: _Config) -> tuple[Batch, NmnistInfo]:
    """Draw the batch for checked arguments (see :func:`nmnist`)."""
    n_batch, n_steps, n_in, dtype = config.n_batch, config.n_steps, config.n_in, config.dtype
    indices = jax.random.choice(key, config.n_samples, (n_batch,), replace=False)
    indices = indices.astype(jnp.int32)
    shapes = (
        jax.ShapeDtypeStruct((n_batch, config.max_events), jnp.int32),
        jax.ShapeDtypeStruct((n_batch,), jnp.int32),
    )
    codes, labels = jax.pure_callback(
        lambda idx: _gather(config.cache_key, config.max_events, idx),
        shapes,
        indices,
        vmap_method="sequential",
    )
    # Scatter-add one count per event into the flattened (B, T * n_in); padding (-1) is dropped.
    size = n_batch * n_steps * n_in
    flat = jnp.arange(n_batch, dtype=jnp.int32)[:, None] * (n_steps * n_in) + codes
    flat = jnp.where(codes >= 0, flat, size)
    counts = jnp.zeros((size,), dtype).at[flat.reshape(-1)].add(1, mode="drop")
    inputs = counts.reshape(n_batch, n_steps, n_in).transpose(1, 0, 2)  # (T, B, n_in)

    one_hot = jax.nn.one_hot(labels, N_CLASSES, dtype=dtype)
    targets = jnp.broadcast_to(one_hot[None], (n_steps, n_batch, N_CLASSES))
    window_start = n_steps - config.steps_window
    in_window = np.arange(n_steps) >= window_start
    mask = jnp.broadcast_to(jnp.asarray(in_window, dtype=dtype)[:, None], (n_steps, n_batch))
    info = NmnistInfo(
        labels=labels,
        sample_indices=indices,
        window_start=jnp.asarray(window_start, dtype=jnp.int32),
    )
    return Batch(inputs=inputs, targets=targets, mask=mask), info


RECORD = TaskRecord(
    name="nmnist",
    generator=nmnist,
    kind="classification",
    frozen=False,
    preset={
        "network": {
            "n_rec": 150,
            "n_alif": 0,
            "tau_m": 30.0,
            "thr": 0.6,
            "refractory": 0.0,
            "tau_out": 100.0,
        },
        "batch_size": 100,  # the tutorial's group_size
        "learning_rate": 5e-3,  # the tutorial's eta before its (1 - kappa)^2 rescaling
        "c_reg": 2.0,
        "iterations": 200,  # the tutorial's "200 for convergence"
        "target_error": None,  # the tutorial's early stopping is off by default
        "feedback_std": None,
        "lr_decay": 1.0,
    },
    shapes=lambda options: (len(active_channels(options["blocklist"])), N_CLASSES),
    source="NEST 3.10 N-MNIST tutorial (needs data_dir)",
)
"""The registry record of the task (see :mod:`eprop_jax.tasks`)."""
