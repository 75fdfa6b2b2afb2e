"""Figures of the tutorials (notebooks/): one task trial, gradient alignment, loss curves.

* :func:`plot_evidence_trial`, :func:`plot_regression_trial` and :func:`plot_pattern_trial`
  draw one trial of a task batch (:class:`~eprop_jax.types.Batch`): the input raster and the
  target (evidence accumulation; sine waves; infinite loop and handwriting).
* :func:`plot_alignment` and :func:`plot_alignment_by_rule` draw each rule's cosine similarity
  with BPTT's gradient, per weight matrix (:func:`eprop_jax.compare.mean_alignment`).
* :func:`plot_loss_curves` draws the training loss of several runs against the iteration.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Any

import numpy as np
from matplotlib.figure import Figure

from ._style import _MASK_COLOUR

__all__ = [
    "plot_alignment",
    "plot_alignment_by_rule",
    "plot_evidence_trial",
    "plot_loss_curves",
    "plot_pattern_trial",
    "plot_regression_trial",
]


def _trial(api: str, batch: Any, trial: int) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """``(inputs (T, n_in), targets (T, n_out), mask (T,))`` of trial ``trial`` of ``batch``."""
    try:
        inputs, targets, mask = (
            np.asarray(getattr(batch, k)) for k in ("inputs", "targets", "mask")
        )
    except AttributeError as err:
        raise ValueError(
            f"`{api}`: batch must be an eprop_jax.types.Batch (inputs, targets, mask); "
            f"got {type(batch).__name__}."
        ) from err
    if inputs.ndim != 3 or targets.ndim != 3 or mask.ndim != 2:
        raise ValueError(
            f"`{api}`: expected time-major inputs (T, B, n_in), targets (T, B, n_out) and mask "
            f"(T, B); got shapes {inputs.shape}, {targets.shape} and {mask.shape}."
        )
    if not -inputs.shape[1] <= trial < inputs.shape[1]:
        raise ValueError(
            f"`{api}`: trial must index the batch of {inputs.shape[1]} trials; got {trial!r}."
        )
    return inputs[:, trial], targets[:, trial], mask[:, trial]


def plot_evidence_trial(batch: Any, trial: int = 0, dt: float = 1.0) -> Figure:
    """One trial of the evidence-accumulation task: input spikes by group, and the target.

    Top: the input raster, coloured by the four equal input groups (left cue, right cue,
    recall, background noise; :func:`eprop_jax.tasks.evidence_accumulation`). Bottom: the
    one-hot target of each side, with the learning window (``mask > 0``) shaded.

    Args:
        batch: a :class:`~eprop_jax.types.Batch` with inputs ``(T, B, 4 * n_per_group)``,
            targets ``(T, B, 2)`` and mask ``(T, B)``.
        trial: which batch element to draw.
        dt: step length in ms (the time axis).

    Returns:
        The figure.
    """
    inputs, target, mask = _trial("plot_evidence_trial", batch, trial)
    t = np.arange(len(mask)) * dt
    per_group = inputs.shape[1] // 4
    fig = Figure(figsize=(9, 4.5), layout="constrained")
    ax_in, ax_target = fig.subplots(2, 1, sharex=True, height_ratios=[2, 1])
    step, neuron = np.nonzero(inputs)
    for g, name in enumerate(["left cue", "right cue", "recall", "background"]):
        sel = neuron // per_group == g
        ax_in.plot(t[step[sel]], neuron[sel], "|", ms=4, color=f"C{g}", label=name)
    ax_in.set(ylabel="input neuron", title=f"trial {trial}: input spikes")
    ax_in.legend(loc="upper left", bbox_to_anchor=(1.01, 1), frameon=False)
    ax_target.fill_between(t, 0, 1, where=mask > 0, color=_MASK_COLOUR, label="learning window")
    for k, side in enumerate(["left", "right"]):
        ax_target.plot(t, target[:, k], color=f"C{k}", label=f"target: {side}")
    ax_target.set(xlabel="time (ms)", ylabel="target", ylim=(-0.1, 1.1))
    ax_target.legend(loc="upper left", bbox_to_anchor=(1.01, 1), frameon=False)
    return fig


def plot_regression_trial(batch: Any, trial: int = 0, dt: float = 1.0) -> Figure:
    """One trial of a one-output regression task (sine waves): input spikes and target.

    Args:
        batch: a :class:`~eprop_jax.types.Batch`; the first output is drawn.
        trial: which batch element to draw.
        dt: step length in ms (the time axis).

    Returns:
        The figure: the frozen input raster above the target :math:`y^*_t` (dashed).
    """
    inputs, targets, _ = _trial("plot_regression_trial", batch, trial)
    target = targets[:, 0]
    t = np.arange(len(target)) * dt
    fig = Figure(figsize=(9, 4.5), layout="constrained")
    ax_in, ax_target = fig.subplots(2, 1, sharex=True, height_ratios=[1.6, 1])
    step, neuron = np.nonzero(inputs)
    ax_in.plot(t[step], neuron, "|", ms=2, color="0.2")
    ax_in.set(ylabel="input neuron", title=f"trial {trial}: frozen input spikes")
    ax_target.plot(t, target, color="k", ls="--", label="target")
    ax_target.set(xlabel="time (ms)", ylabel="target $y^*$")
    ax_target.legend(fontsize=8)
    return fig


def plot_pattern_trial(
    batch: Any, trial: int = 0, dt: float = 1.0, *, pen_down: Any = None
) -> Figure:
    """One trial of a two-output pattern task (infinite loop, handwriting).

    Left: the input raster above the two target coordinates :math:`x^*_t, y^*_t` against time.
    Right: the target curve :math:`(x^*, y^*)` with equal aspect: dashed with its start marked,
    or, given ``pen_down``, solid where the pen is down and dotted on the pen-up moves.

    Args:
        batch: a :class:`~eprop_jax.types.Batch` with targets ``(T, B, 2)``.
        trial: which batch element to draw.
        dt: step length in ms (the time axis).
        pen_down: optional boolean array ``(T,)`` (``HandwritingInfo.pen_down``).

    Returns:
        The figure.
    """
    api = "plot_pattern_trial"
    inputs, target, _ = _trial(api, batch, trial)
    if target.shape[1] != 2:
        raise ValueError(f"`{api}`: expected 2 outputs (x, y); got {target.shape[1]}.")
    if pen_down is not None and np.shape(pen_down) != (len(target),):
        raise ValueError(
            f"`{api}`: pen_down must have shape (T,)=({len(target)},); got {np.shape(pen_down)}."
        )
    t = np.arange(len(target)) * dt
    fig = Figure(figsize=(11, 4.5), layout="constrained")
    grid = fig.add_gridspec(2, 2, width_ratios=[1.8, 1], height_ratios=[1.4, 1])
    ax_in = fig.add_subplot(grid[0, 0])
    ax_xy_t = fig.add_subplot(grid[1, 0], sharex=ax_in)
    ax_pattern = fig.add_subplot(grid[:, 1])
    step, neuron = np.nonzero(inputs)
    ax_in.plot(t[step], neuron, "|", ms=2, color="0.2")
    ax_in.set(ylabel="input neuron", title=f"trial {trial}: input spikes")
    for k, name in enumerate(["x", "y"]):
        ax_xy_t.plot(t, target[:, k], color=f"C{k}", label=f"target {name}")
    ax_xy_t.set(xlabel="time (ms)", ylabel="target")
    ax_xy_t.legend(fontsize=8)
    if pen_down is None:
        ax_pattern.plot(target[:, 0], target[:, 1], color="k", ls="--")
        ax_pattern.plot(*target[0], "o", color="C2", label="start")
        ax_pattern.legend(fontsize=8)
        title = "target curve"
    else:
        pen_down = np.asarray(pen_down, dtype=bool)
        down = np.where(pen_down, target[:, 1], np.nan)
        up = np.where(pen_down, np.nan, target[:, 1])
        ax_pattern.plot(target[:, 0], down, color="k", lw=1.5)
        ax_pattern.plot(target[:, 0], up, color="0.6", lw=1, ls=":")
        title = "target: pen down (solid), pen up (dotted)"
    ax_pattern.set(aspect="equal", xlabel="x (output 0)", ylabel="y (output 1)")
    ax_pattern.set_title(title)
    return fig


def _check_alignment(api: str, table: Mapping[str, Mapping[str, Mapping[str, float]]]) -> list:
    """The weight-matrix names of an alignment table, after checking it is non-empty."""
    if not isinstance(table, Mapping) or not table:
        raise ValueError(
            f"`{api}`: table must be a non-empty dict rule -> matrix -> {{'cosine': ...}} "
            f"(eprop_jax.compare.mean_alignment); got {table!r}."
        )
    return list(next(iter(table.values())))


def plot_alignment(table: Mapping[str, Mapping[str, Mapping[str, float]]], title: str) -> Figure:
    """Grouped bars: each rule's cosine similarity with BPTT's gradient, per weight matrix.

    Args:
        table: ``{rule: {matrix: {"cosine": c, ...}}}``, as returned by
            :func:`eprop_jax.compare.mean_alignment`; every rule has the same matrices.
        title: the axes title.

    Returns:
        The figure: one group of bars per matrix, one bar per rule, the y axis from
        ``min(-0.1, lowest bar)`` to 1.05.
    """
    matrices = _check_alignment("plot_alignment", table)
    x = np.arange(len(matrices))
    width = 0.8 / len(table)
    fig = Figure(figsize=(6.5, 2.8), layout="constrained")
    ax = fig.subplots()
    for i, (name, per_matrix) in enumerate(table.items()):
        cosines = [per_matrix[m]["cosine"] for m in matrices]
        ax.bar(x + (i - (len(table) - 1) / 2) * width, cosines, width, label=name)
    ax.axhline(0.0, color="k", lw=0.6)
    ax.set_xticks(x, matrices)
    ax.set(ylabel="cosine with BPTT", ylim=(min(-0.1, ax.get_ylim()[0]), 1.05), title=title)
    ax.legend(fontsize=8, loc="lower left")
    return fig


def plot_alignment_by_rule(
    table: Mapping[str, Mapping[str, Mapping[str, float]]],
    matrices: Sequence[str] = ("w_in", "w_rec"),
) -> Figure:
    """Horizontal bars: each rule's cosine with BPTT's gradient, one panel per weight matrix.

    Args:
        table: ``{rule: {matrix: {"cosine": c, ...}}}`` (:func:`eprop_jax.compare.mean_alignment`).
        matrices: the matrices to draw, one panel each, left to right; the rule names label the
            first panel only.

    Returns:
        The figure, x axes from -1 to 1.
    """
    _check_alignment("plot_alignment_by_rule", table)
    fig = Figure(figsize=(8, 3), layout="constrained")
    axes = np.atleast_1d(fig.subplots(1, len(matrices)))
    for k, (ax, matrix) in enumerate(zip(axes, matrices, strict=True)):
        names = list(table)
        ax.barh(names, [table[n][matrix]["cosine"] for n in names], color="tab:blue")
        ax.axvline(0, color="k", lw=0.5)
        ax.set(xlim=(-1, 1), title=f"{matrix}: cosine with BPTT")
        if k > 0:
            ax.set_yticklabels([])
    return fig


def plot_loss_curves(
    curves: Mapping[str, Sequence[float]],
    title: str | None = None,
    ylabel: str = "loss",
) -> Figure:
    """Training loss against iteration (log scale), one line per run.

    Args:
        curves: ``{label: losses}``, the loss of iterations 1, 2, ... of each run.
        title: the axes title.
        ylabel: the y-axis label.

    Returns:
        The figure.
    """
    if not isinstance(curves, Mapping) or not curves:
        raise ValueError(
            f"`plot_loss_curves`: curves must be a non-empty dict label -> losses; got {curves!r}."
        )
    fig = Figure(figsize=(6, 3.5), layout="constrained")
    ax = fig.subplots()
    for name, losses in curves.items():
        ax.semilogy(np.arange(1, len(losses) + 1), losses, label=name)
    ax.set(xlabel="iteration", ylabel=ylabel, title=title)
    ax.legend(frameon=False)
    return fig
