r"""Handwriting: write a word with the pen tip driven by two readouts, from frozen Poisson input.

NEST's ``eprop_supervised_regression_handwriting`` tutorial (the word "chaos"), a 2-D variant of
the pattern-generation task of Bellec et al. 2020 (Fig. S7). The network receives the same
("frozen") Poisson input every trial and its two readouts must trace the pen position
:math:`(x^*(t), y^*(t))` of a written word.

**Glyphs.** The pen paths come from this package's own data file
``data/hershey_script_simplex.json`` (made by ``scripts/make_handwriting_data.py``) holding the
Hershey "Script Simplex" font, a public-domain single-stroke cursive face. It covers a-z, A-Z,
0-9 and space; other characters raise ``ValueError``.

**Trajectory.** The glyphs are placed side by side at their advance widths (in font units, cap
height 21). All strokes are joined, in writing order, into one continuous polyline: a pen-up move
between two strokes becomes a straight segment, drawn at the same speed as the ink (they are
flagged in ``info.pen_down``). The polyline of length :math:`L` is resampled at ``T`` points
equally spaced in arc length, :math:`s_k = L k / (T - 1)`, :math:`k = 0, \ldots, T-1`, so the pen
moves at constant speed. The result is centred on its bounding box and scaled by one factor for
both axes (aspect ratio kept) so that the longer side spans exactly :math:`[-1, 1]`:

.. math::

    (x^*_k, y^*_k) = \frac{p(s_k) - c}{\max(w, h) / 2},

with :math:`c` the centre and :math:`w, h` the width and height of the bounding box of the
resampled points. For "chaos" the x range is :math:`[-1, 1]` and the y range about
:math:`[-0.3, 0.3]`.

**Duration.** ``duration`` (ms) fixes ``T = round(duration / dt)``. By default (``None``) it follows
from the path length at ``pen_speed`` (10 cap heights per second): "chaos", 11.6 cap heights of
path, takes about 1160 ms.

**Frozen.** Inputs are ``n_in`` (100) Poisson neurons at ``input_rate`` (50 Hz); the same key gives
the same inputs, and the target does not depend on the key. The trainer reuses one key every
iteration. Every batch element is the same trial. The mask is 1 everywhere.

References:
    NEST Simulator documentation, "Tutorial on learning to generate handwritten text with e-prop"
    (``pynest/examples/eprop_plasticity``), after Bellec et al., Nat. Commun. 11:3625, 2020.
    A. V. Hershey, "Calligraphy for computers", NWL Report 2101, U.S. Naval Weapons Laboratory,
    1967 (the Hershey fonts).
"""

from __future__ import annotations

import functools
import json
from importlib import resources
from typing import NamedTuple

import jax
import jax.numpy as jnp
import numpy as np

from ..types import Batch
from ._common import (
    check_float,
    check_frozen_input_args,
    duration_steps,
    frozen_poisson_inputs,
    jit_sampler,
)
from ._registry import TaskRecord, pattern_generation_preset

_API = "handwriting"
DATA_FILE = "hershey_script_simplex.json"


class HandwritingInfo(NamedTuple):
    """The clean pen trajectory (identical for every batch element)."""

    trajectory: jax.Array  # shape=(T, 2), normalised pen position x*(t), y*(t) in [-1, 1]
    pen_down: jax.Array  # shape=(T,), dtype=bool, False on the straight pen-up moves


@functools.cache
def _font() -> tuple[dict[str, tuple[float, tuple[np.ndarray, ...]]], float]:
    """Glyph table ``{char: (advance, strokes)}`` in font units, and the cap height."""
    text = (resources.files(__package__) / "data" / DATA_FILE).read_text("utf-8")
    data = json.loads(text)
    glyphs = {
        char: (
            float(glyph["advance"]),
            tuple(
                np.asarray(stroke, dtype=np.float64).reshape(-1, 2) for stroke in glyph["strokes"]
            ),
        )
        for char, glyph in data["glyphs"].items()
    }
    return glyphs, float(data["cap_height"])


def _describe(chars: str) -> str:
    """Human-readable set of characters, consecutive runs compressed: "' ', 0-9, A-Z, a-z"."""
    codes = sorted(ord(c) for c in chars)
    runs: list[list[int]] = []
    for code in codes:
        if runs and code == runs[-1][1] + 1:
            runs[-1][1] = code
        else:
            runs.append([code, code])
    parts = [repr(chr(a)) if a == b else f"{chr(a)}-{chr(b)}" for a, b in runs]
    return ", ".join(parts)


def handwriting_characters() -> str:
    """The characters the handwriting task can write, sorted (from the data file)."""
    return "".join(sorted(_font()[0]))


def _word_polyline(word: str) -> tuple[np.ndarray, np.ndarray]:
    """Pen path of ``word`` in cap-height units.

    Returns:
        ``(points, pen_down)``: points of shape ``(N, 2)`` along the path with no repeated
        neighbours, and ``pen_down`` of shape ``(N - 1,)``, True for segments inside a stroke and
        False for the straight pen-up moves between strokes.
    """
    if not isinstance(word, str) or not word:
        raise ValueError(f"`{_API}`: word must be a non-empty string; got {word!r}.")
    glyphs, cap_height = _font()
    for char in word:
        if char not in glyphs:
            raise ValueError(
                f"`{_API}`: unsupported character {char!r} in word {word!r}; accepted characters "
                f"are {_describe(''.join(glyphs))}."
            )
    points: list[np.ndarray] = []
    pen_down: list[np.ndarray] = []
    x_offset = 0.0
    for char in word:
        advance, strokes = glyphs[char]
        for stroke in strokes:
            shifted = (stroke + np.array([x_offset, 0.0])) / cap_height
            if points:
                pen_down.append(np.array([False]))  # the pen-up move to this stroke's start
            points.append(shifted)
            pen_down.append(np.ones((len(shifted) - 1,), dtype=bool))
        x_offset += advance
    if not points:
        raise ValueError(
            f"`{_API}`: word must contain at least one visible (non-space) character; got {word!r}."
        )
    path = np.concatenate(points)
    down = np.concatenate(pen_down)
    keep = np.linalg.norm(np.diff(path, axis=0), axis=1) > 0.0  # drop zero-length segments
    path = np.concatenate([path[:1], path[1:][keep]])
    return path, down[keep]


def _resample(path: np.ndarray, pen_down: np.ndarray, n_steps: int) -> tuple[np.ndarray, ...]:
    """``n_steps`` points equally spaced in arc length along ``path``, normalised to [-1, 1]."""
    arc = np.concatenate([[0.0], np.cumsum(np.linalg.norm(np.diff(path, axis=0), axis=1))])
    s = np.linspace(0.0, arc[-1], n_steps)
    segment = np.clip(np.searchsorted(arc, s, side="right") - 1, 0, len(path) - 2)
    frac = (s - arc[segment]) / (arc[segment + 1] - arc[segment])
    points = path[segment] + frac[:, None] * (path[segment + 1] - path[segment])
    low, high = points.min(axis=0), points.max(axis=0)
    half_extent = np.max(high - low) / 2.0
    return (points - (low + high) / 2.0) / half_extent, pen_down[segment]


def handwriting(
    key: jax.Array,
    n_batch: int,
    *,
    word: str = "chaos",
    n_in: int = 100,
    input_rate: float = 50.0,
    duration: float | None = None,
    pen_speed: float = 10.0,
    dt: float = 1.0,
    dtype=jnp.float32,
) -> tuple[Batch, HandwritingInfo]:
    """Draw the frozen handwriting task for ``word`` (see the module docstring).

    Args:
        key: a PRNG key; used (as the ``spikes`` subkey) for the input raster only.
        n_batch: batch size ``B`` (>= 1); every element is the same trial.
        word: the text to write; characters from :func:`handwriting_characters`.
        n_in: number of input neurons.
        input_rate: input firing rate in Hz.
        duration: trial length in ms (``T = round(duration / dt) >= 2``); ``None`` derives it from
            the pen path length at ``pen_speed``.
        pen_speed: pen speed in cap heights per second (> 0), used when ``duration`` is None.
        dt: step length in ms.
        dtype: floating dtype of inputs, targets and mask.

    Returns:
        ``(batch, info)``: ``batch.inputs`` of shape ``(T, B, n_in)``, ``batch.targets`` of shape
        ``(T, B, 2)`` (x*, y*), ``batch.mask`` of ones of shape ``(T, B)``, and
        :class:`HandwritingInfo`.

    Example:
        >>> batch, info = handwriting(jax.random.key(0), 1, word="chaos")
        >>> batch.targets.shape
        (1161, 1, 2)
    """
    n_batch, n_in, dt, dtype, input_rate = check_frozen_input_args(
        _API, n_batch, n_in, dt, dtype, input_rate
    )
    path, _ = _word_polyline(word)
    if duration is None:
        speed = check_float(
            _API, "pen_speed (cap heights per second)", pen_speed, minimum=0.0, inclusive=False
        )
        length = float(np.sum(np.linalg.norm(np.diff(path, axis=0), axis=1)))
        duration = 1000.0 * length / speed
    n_steps = duration_steps(_API, "duration", duration, dt)
    if n_steps < 2:
        raise ValueError(
            f"`{_API}`: duration must span at least 2 steps of dt={dt:g} ms; got {duration!r} ms."
        )
    config = _Config(
        n_batch=n_batch,
        word=word,
        n_in=n_in,
        input_rate=input_rate,
        n_steps=n_steps,
        dt=dt,
        dtype=dtype,
    )
    return _sample(key, config)


class _Config(NamedTuple):
    """Checked arguments; hashable, so it is a static argument of ``_sample``."""

    n_batch: int
    word: str
    n_in: int
    input_rate: float
    n_steps: int
    dt: float
    dtype: np.dtype


@jit_sampler
def _sample(key: jax.Array, config: _Config) -> tuple[Batch, HandwritingInfo]:
    """Draw the task for checked arguments (see :func:`handwriting`).

    The pen path is NumPy work on the static ``config.word``, done once per compilation.
    """
    n_batch, n_in, n_steps, dt, dtype = (
        config.n_batch,
        config.n_in,
        config.n_steps,
        config.dt,
        config.dtype,
    )
    input_rate = config.input_rate
    trajectory, pen_down_t = _resample(*_word_polyline(config.word), n_steps)

    (key_spikes,) = jax.random.split(key, 1)
    target = jnp.asarray(trajectory, dtype=dtype)  # (T, 2)
    shape = (n_steps, n_batch)
    batch = Batch(
        inputs=frozen_poisson_inputs(key_spikes, n_steps, n_batch, n_in, input_rate, dt, dtype),
        targets=jnp.broadcast_to(target[:, None, :], (*shape, 2)),
        mask=jnp.ones(shape, dtype=dtype),
    )
    return batch, HandwritingInfo(trajectory=target, pen_down=jnp.asarray(pen_down_t))


RECORD = TaskRecord(
    name="handwriting",
    generator=handwriting,
    kind="regression",
    frozen=True,
    preset=pattern_generation_preset(n_rec=200),
    shapes=lambda options: (options["n_in"], 2),
    source='NEST handwriting tutorial ("chaos")',
)
"""The registry record of the task (see :mod:`eprop_jax.tasks`)."""
