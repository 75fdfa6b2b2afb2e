"""Shared style of the figures: resolution, colours and the small helpers every figure uses.

Private to :mod:`eprop_jax.plotting` and :mod:`eprop_jax.miconi.figures`: the PNG resolution
:data:`DPI`, the colours of LIF and ALIF neurons and of the shaded learning window, the input
checks shared by the figures (task kind, required keys, time-major shapes) and the drawing
helpers (spike raster, shaded mask, running mean, legend outside the axes). Uses only numpy and
matplotlib, never pyplot.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Any

import numpy as np
from matplotlib.axes import Axes

DPI = 110
"""Resolution of the PNG files written by :func:`~eprop_jax.plotting.plot_run`."""

_TASK_KINDS = ("classification", "regression")
_LIF_COLOUR = "0.15"
_ALIF_COLOUR = "tab:red"
_MASK_COLOUR = "0.88"


# --------------------------------------------------------------------------------------------
# Small helpers
# --------------------------------------------------------------------------------------------


def _check_task_kind(api: str, task_kind: str | None, *, allow_none: bool = False) -> None:
    if allow_none and task_kind is None:
        return
    if task_kind not in _TASK_KINDS:
        raise ValueError(
            f"`{api}`: unknown task_kind {task_kind!r}; expected 'classification' or 'regression'."
        )


def _arrays(api: str, name: str, data: Mapping[str, Any], keys: Sequence[str]) -> dict:
    """Return ``{key: np.ndarray}`` for ``keys`` after checking none is missing."""
    missing = [k for k in keys if k not in data]
    if missing:
        raise ValueError(
            f"`{api}`: {name} is missing key(s) {', '.join(map(repr, missing))}; "
            f"expected {', '.join(map(repr, keys))}."
        )
    return {k: np.asarray(data[k]) for k in keys}


def _check_time_major(api: str, arrays: dict, rank2: Sequence[str]) -> int:
    """Check that ``arrays[k]`` is ``(T, n)`` for ``k`` in ``rank2`` and ``mask`` is ``(T,)``."""
    n_steps = arrays["mask"].shape[0] if arrays["mask"].ndim == 1 else None
    if n_steps is None:
        raise ValueError(
            f"`{api}`: expected snapshot['mask'] of shape (T,), got {arrays['mask'].shape}."
        )
    for k in rank2:
        shape = arrays[k].shape
        if len(shape) != 2 or shape[0] != n_steps:
            raise ValueError(
                f"`{api}`: expected snapshot[{k!r}] of shape (T, n) with T={n_steps} "
                f"(the length of snapshot['mask']), got {shape}."
            )
    if arrays["dt"].size != 1 or not float(arrays["dt"]) > 0:
        raise ValueError(
            f"`{api}`: snapshot['dt'] must be one number > 0 (ms), got {arrays['dt']}."
        )
    return n_steps


def _softmax(y: np.ndarray) -> np.ndarray:
    e = np.exp(y - np.max(y, axis=-1, keepdims=True))
    return e / np.sum(e, axis=-1, keepdims=True)


def _running_mean(x: np.ndarray, width: int) -> np.ndarray:
    """Centred running mean of ``x`` with an odd window ``width`` (edges use shorter windows)."""
    kernel = np.ones(width)
    total = np.convolve(x, kernel, mode="same")
    count = np.convolve(np.ones_like(x), kernel, mode="same")
    return total / count


def _shade_mask(ax: Axes, t: np.ndarray, mask: np.ndarray, label: str | None = None) -> None:
    """Shade the time bins where ``mask > 0`` over the full height of ``ax``.

    Nothing is shaded when the mask is all 0 or all 1 (a window covering the whole trial).
    """
    if not np.any(mask > 0) or np.all(mask > 0):
        return
    dt = t[1] - t[0] if t.size > 1 else 1.0
    edges = np.diff(np.concatenate([[0], (mask > 0).astype(int), [0]]))
    starts, stops = np.flatnonzero(edges == 1), np.flatnonzero(edges == -1)
    for i, (a, b) in enumerate(zip(starts, stops, strict=True)):
        ax.axvspan(
            t[a] - dt / 2,
            t[b - 1] + dt / 2,
            color=_MASK_COLOUR,
            zorder=0,
            lw=0,
            label=label if i == 0 else None,
        )


def _raster(ax: Axes, t: np.ndarray, spikes: np.ndarray, colours: Sequence[tuple]) -> None:
    """Draw a spike raster; ``colours`` is ``[(first_row, stop_row, colour, label), ...]``."""
    n = spikes.shape[1]
    size = float(np.clip(90.0 / max(n, 1), 1.5, 8.0))
    steps, rows = np.nonzero(spikes > 0)
    for start, stop, colour, label in colours:
        sel = (rows >= start) & (rows < stop)
        ax.plot(
            t[steps[sel]],
            rows[sel],
            ls="",
            marker="|",
            ms=size,
            mew=0.8,
            color=colour,
            label=label,
        )
    ax.set_ylim(-0.5, n - 0.5)
    ax.margins(x=0)


def _pick_neurons(z: np.ndarray, candidates: np.ndarray, n: int) -> np.ndarray:
    """Return up to ``n`` of ``candidates``: the most active ones, in index order."""
    counts = np.sum(z[:, candidates] > 0, axis=0)
    order = np.argsort(-counts, kind="stable")[:n]
    return np.sort(candidates[order])


def _outside_legend(ax: Axes, **kwargs) -> None:
    ax.legend(loc="upper left", bbox_to_anchor=(1.01, 1.0), fontsize=8, frameon=False, **kwargs)
