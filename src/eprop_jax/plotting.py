r"""Figures for an e-prop training run: learning curve, trial snapshots, readouts and weights.

Plotting sits outside the core: this module uses only numpy and matplotlib, never imports pyplot
and never changes the user's matplotlib backend. Figures are built with
:class:`matplotlib.figure.Figure` (which saves to PNG through the Agg canvas on its own) and are
not registered with pyplot, so nothing accumulates when many are made. Every public function
returns a :class:`~matplotlib.figure.Figure`; :func:`plot_run` writes them all as PNG files.

**Figures.**

* :func:`plot_learning_curve`: training loss against iteration (log scale), with the evaluation
  loss as markers. For classification a second panel shows the recall error (training and
  evaluation) with the 7 % criterion of Bellec et al. 2020 (dashed) and 10 % (dotted).
* :func:`plot_snapshot`: one trial, stacked panels on a shared time axis in ms, as in Fig. 3 of
  the paper and NEST's e-prop tutorials: input spikes, recurrent spikes (ALIF neurons in another
  colour), membrane potentials :math:`v_t` of up to 5 neurons, their adaptive thresholds
  :math:`A_t` (ALIF only), pseudo-derivatives :math:`\psi_t`, learning signals :math:`L_t`,
  readout against target (learning window shaded) and the readout error signal.
* :func:`plot_regression`: target and readout per output over time; with two outputs also the
  2-D pattern (target x-y curve against readout x-y curve, equal aspect).
* :func:`plot_weights`: ``w_in``, ``w_rec`` and ``w_out`` before (top row) and after (bottom row)
  training, with symmetric colour limits shared by the two rows of each matrix.
* Tutorial figures (the notebooks): :func:`plot_evidence_trial`, :func:`plot_regression_trial`
  and :func:`plot_pattern_trial` draw one task trial (input raster and target);
  :func:`plot_alignment` and :func:`plot_alignment_by_rule` draw each rule's cosine with BPTT's
  gradient; :func:`plot_loss_curves` draws the loss of several runs.

**File contract** (what a training run writes into its output directory ``DIR``):

* ``DIR/config.json``: a dict with at least ``"task"`` (str), ``"task_kind"``
  (``"classification"`` or ``"regression"``), ``"rule"``, ``"feedback"`` (str), ``"dt"`` (float,
  ms), ``"n_in"``, ``"n_rec"``, ``"n_alif"``, ``"n_out"`` (int).
* ``DIR/metrics.jsonl``: one JSON object per iteration with ``"iteration"``, ``"loss"``,
  ``"task_loss"``, ``"reg_loss"``, ``"rate_hz"`` and, for classification, ``"accuracy"`` and
  ``"recall_error"`` (``1 - accuracy``). Lines written at evaluation time also hold
  ``"eval_loss"`` and, for classification, ``"eval_accuracy"`` and ``"eval_recall_error"``.
* ``DIR/snapshot_first.npz``, ``DIR/snapshot_last.npz``: the first trial of the batch at the first
  and last iteration: ``"iteration"`` (scalar), ``"inputs"`` ``(T, n_in)``, ``"z"``, ``"v"``,
  ``"threshold"``, ``"psi"``, ``"learning_signal"`` (each ``(T, n_rec)``), ``"y"``, ``"target"``,
  ``"error"`` (each ``(T, n_out)``; the error is ``softmax(y) - target`` for classification and
  ``y - target`` for regression), ``"mask"`` ``(T,)`` (learning window, 0/1) and ``"dt"`` (ms).
* ``DIR/weights_initial.npz``, ``DIR/weights_final.npz``: ``"w_in"`` ``(n_rec, n_in)``,
  ``"w_rec"`` ``(n_rec, n_rec)``, ``"w_out"`` ``(n_out, n_rec)``, ``"b_out"`` ``(n_out,)``,
  ``"b_fb"`` ``(n_rec, n_out)``.

The ALIF neurons are the last ``n_alif`` rows of the recurrent population.

Example:
    >>> from eprop_jax.plotting import plot_run
    >>> paths = plot_run("runs/evidence")  # doctest: +SKIP
    >>> [p.name for p in paths]  # doctest: +SKIP
    ['learning_curve.png', 'snapshot_first.png', 'snapshot_last.png', 'weights.png']

References:
    Bellec et al., `A solution to the learning dilemma for recurrent networks of spiking neurons
    <https://doi.org/10.1038/s41467-020-17236-y>`_, Nat. Commun. 11:3625, 2020, Fig. 3 (trial
    snapshot) and Fig. S7 (pattern generation).
"""

from __future__ import annotations

import json
import pathlib
from collections.abc import Mapping, Sequence
from typing import Any

import numpy as np
from matplotlib.axes import Axes
from matplotlib.figure import Figure
from matplotlib.lines import Line2D

__all__ = [
    "plot_learning_curve",
    "plot_regression",
    "plot_run",
    "plot_snapshot",
    "plot_weights",
]

DPI = 110
"""Resolution of the PNG files written by :func:`plot_run`."""

RECALL_CRITERION = 0.07
"""Recall-error criterion of Bellec et al. 2020 for the evidence-accumulation task (7 %)."""

_TASK_KINDS = ("classification", "regression")
_SNAPSHOT_KEYS = (
    "inputs",
    "z",
    "v",
    "threshold",
    "psi",
    "learning_signal",
    "y",
    "target",
    "mask",
    "error",
    "dt",
)
_READOUT_KEYS = ("y", "target", "mask", "dt")
_WEIGHT_KEYS = ("w_in", "w_rec", "w_out")
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


# --------------------------------------------------------------------------------------------
# Public figures
# --------------------------------------------------------------------------------------------


def plot_learning_curve(metrics: Sequence[Mapping[str, Any]], task_kind: str) -> Figure:
    """Plot the loss (and, for classification, the recall error) against the iteration.

    The top panel shows the training loss on a log scale (linear if no value is positive), with
    the evaluation loss as markers where present. With more than 100 iterations a running mean is
    drawn over the raw values. For ``task_kind="classification"`` a second panel shows the
    training recall error (``"recall_error"``, or ``1 - "accuracy"``), the evaluation recall error
    as markers, the paper's 7 % criterion (dashed) and 10 % (dotted).

    Args:
        metrics: one dict per iteration, as read from ``metrics.jsonl``; each needs
            ``"iteration"`` and ``"loss"``, and for classification ``"recall_error"`` or
            ``"accuracy"``. Optional keys: ``"eval_loss"``, ``"eval_recall_error"``,
            ``"eval_accuracy"``.
        task_kind: ``"classification"`` or ``"regression"``.

    Returns:
        A figure with one axes (regression) or two (classification).

    Raises:
        ValueError: if ``task_kind`` is unknown, ``metrics`` is empty or a record lacks a key.
    """
    api = "plot_learning_curve"
    _check_task_kind(api, task_kind)
    if len(metrics) == 0:
        raise ValueError(f"`{api}`: metrics is empty; expected at least one record.")
    for i, rec in enumerate(metrics):
        for key in ("iteration", "loss"):
            if key not in rec:
                raise ValueError(f"`{api}`: metrics[{i}] has no {key!r} key; got {sorted(rec)}.")

    it = np.array([float(r["iteration"]) for r in metrics])
    loss = np.array([float(r["loss"]) for r in metrics])
    ev = [r for r in metrics if r.get("eval_loss") is not None]
    ev_it = np.array([float(r["iteration"]) for r in ev])
    ev_loss = np.array([float(r["eval_loss"]) for r in ev])

    classification = task_kind == "classification"
    n_panels = 2 if classification else 1
    fig = Figure(figsize=(7.5, 2.6 * n_panels + 0.6), layout="constrained")
    axes = fig.subplots(n_panels, 1, sharex=True, squeeze=False)[:, 0]

    def series(ax: Axes, x, y, colour, label):
        if len(y) > 100:
            ax.plot(x, y, color=colour, lw=0.6, alpha=0.35)
            width = 2 * (len(y) // 100) + 1
            ax.plot(x, _running_mean(y, width), color=colour, lw=1.5, label=f"{label} (mean)")
        else:
            ax.plot(x, y, color=colour, lw=1.2, marker="." if len(y) < 30 else None, label=label)

    ax = axes[0]
    series(ax, it, loss, "tab:blue", "training loss")
    if ev:
        ax.plot(ev_it, ev_loss, ls="", marker="o", ms=5, color="tab:orange", label="eval loss")
    positive = np.concatenate([loss, ev_loss])
    positive = positive[np.isfinite(positive) & (positive > 0)]
    if positive.size:
        ax.set_yscale("log", nonpositive="mask")
    ax.set_ylabel("loss")
    ax.set_title("loss")
    ax.grid(True, which="major", alpha=0.3)
    ax.legend(fontsize=8)

    if classification:

        def recall(rec: Mapping[str, Any], prefix: str, i: int) -> float:
            if rec.get(f"{prefix}recall_error") is not None:
                return float(rec[f"{prefix}recall_error"])
            if rec.get(f"{prefix}accuracy") is not None:
                return 1.0 - float(rec[f"{prefix}accuracy"])
            raise ValueError(
                f"`{api}`: metrics[{i}] has neither {prefix + 'recall_error'!r} nor "
                f"{prefix + 'accuracy'!r}; classification runs need one of them."
            )

        err = np.array([recall(r, "", i) for i, r in enumerate(metrics)])
        ev_rec = [
            (float(r["iteration"]), recall(r, "eval_", i))
            for i, r in enumerate(metrics)
            if r.get("eval_recall_error") is not None or r.get("eval_accuracy") is not None
        ]
        ax = axes[1]
        series(ax, it, err, "tab:blue", "training")
        if ev_rec:
            x, y = np.array(ev_rec).T
            ax.plot(x, y, ls="", marker="o", ms=5, color="tab:orange", label="eval")
        ax.axhline(RECALL_CRITERION, color="k", ls="--", lw=1, label="7% (paper criterion)")
        ax.axhline(0.10, color="0.4", ls=":", lw=1, label="10%")
        top = np.nanmax(np.concatenate([err, [0.12], [y for _, y in ev_rec]]))
        ax.set_ylim(-0.02, min(1.02, 1.05 * top) if np.isfinite(top) else 1.02)
        ax.set_ylabel("recall error")
        ax.set_title("recall error (1 - accuracy)")
        ax.grid(True, alpha=0.3)
        ax.legend(fontsize=8, ncols=2)

    axes[-1].set_xlabel("iteration")
    return fig


def plot_snapshot(
    snapshot: Mapping[str, Any],
    title: str | None = None,
    *,
    n_alif: int | None = None,
    task_kind: str | None = None,
    n_neurons: int = 5,
) -> Figure:
    r"""Plot one recorded trial: spikes, neuron variables, learning signals, readout and error.

    Panels, top to bottom, on a shared time axis ``step * dt`` in ms:

    1. input spike raster;
    2. recurrent spike raster (LIF in black, the last ``n_alif`` rows, ALIF, in red);
    3. membrane potential :math:`v_t` of up to ``n_neurons`` neurons;
    4. adaptive threshold :math:`A_t` of the same neurons (left out when ``n_alif == 0``);
    5. pseudo-derivative :math:`\psi_t`;
    6. learning signal :math:`L_t`;
    7. readout against target (dashed), the learning window (``mask > 0``) shaded; for
       classification the readout is shown as class probabilities ``softmax(y)``;
    8. readout error signal, learning window shaded.

    The neurons of panels 3-6 are the most active ALIF neurons (or the most active of all when
    ``n_alif`` is 0 or unknown), shown in index order with one colour each.

    Args:
        snapshot: dict (or ``np.load`` result) with the keys of ``snapshot_*.npz`` described in the
            module docstring: ``inputs`` ``(T, n_in)``; ``z``, ``v``, ``threshold``, ``psi``,
            ``learning_signal`` ``(T, n_rec)``; ``y``, ``target``, ``error`` ``(T, n_out)``;
            ``mask`` ``(T,)``; ``dt`` (ms). ``iteration`` is optional.
        title: figure title; defaults to ``"iteration <snapshot['iteration']>"``.
        n_alif: number of ALIF neurons (the last rows of ``z``); ``None`` if unknown.
        task_kind: ``"classification"`` to show ``softmax(y)`` as the readout, ``"regression"``
            or ``None`` to show ``y`` itself.
        n_neurons: how many neurons panels 3-6 show (at most).

    Returns:
        A figure with 8 axes (7 when ``n_alif == 0``).

    Raises:
        ValueError: on a missing key, inconsistent shapes, ``n_alif`` outside ``[0, n_rec]`` or an
            unknown ``task_kind``.
    """
    api = "plot_snapshot"
    _check_task_kind(api, task_kind, allow_none=True)
    s = _arrays(api, "snapshot", snapshot, _SNAPSHOT_KEYS)
    rank2 = [k for k in _SNAPSHOT_KEYS if k not in ("mask", "dt")]
    n_steps = _check_time_major(api, s, rank2)
    n_rec = s["z"].shape[1]
    for k in ("v", "threshold", "psi", "learning_signal"):
        if s[k].shape[1] != n_rec:
            raise ValueError(
                f"`{api}`: expected snapshot[{k!r}] of shape (T, n_rec)=({n_steps}, {n_rec}) "
                f"like snapshot['z'], got {s[k].shape}."
            )
    n_out = s["y"].shape[1]
    for k in ("target", "error"):
        if s[k].shape[1] != n_out:
            raise ValueError(
                f"`{api}`: expected snapshot[{k!r}] of shape (T, n_out)=({n_steps}, {n_out}) "
                f"like snapshot['y'], got {s[k].shape}."
            )
    if n_alif is not None and not (isinstance(n_alif, int | np.integer) and 0 <= n_alif <= n_rec):
        raise ValueError(
            f"`{api}`: n_alif must be an integer in [0, n_rec={n_rec}]; got {n_alif!r}."
        )
    if not isinstance(n_neurons, int | np.integer) or n_neurons < 1:
        raise ValueError(f"`{api}`: n_neurons must be a positive integer; got {n_neurons!r}.")

    dt = float(s["dt"])
    t = np.arange(n_steps) * dt
    mask = s["mask"]
    if title is None:
        title = f"iteration {int(snapshot['iteration'])}" if "iteration" in snapshot else ""

    n_lif = n_rec - (n_alif or 0)
    candidates = np.arange(n_lif, n_rec) if n_alif else np.arange(n_rec)
    shown = _pick_neurons(s["z"], candidates, int(n_neurons))
    colours = [f"C{i % 10}" for i in range(len(shown))]
    is_alif = shown >= n_lif if n_alif is not None else np.zeros(len(shown), bool)

    with_threshold = n_alif != 0
    heights = [1.3, 1.6, 1.0] + ([1.0] if with_threshold else []) + [0.8, 1.0, 1.1, 0.9]
    fig = Figure(figsize=(10.0, 1.05 * sum(heights) + 0.8), layout="constrained")
    axes = fig.subplots(len(heights), 1, sharex=True, gridspec_kw={"height_ratios": heights})
    panels = iter(axes)

    ax = next(panels)
    _raster(ax, t, s["inputs"], [(0, s["inputs"].shape[1], _LIF_COLOUR, None)])
    ax.set_ylabel("input\nneuron")
    ax.set_title("input spikes", fontsize=9, loc="left")

    ax = next(panels)
    if n_alif:
        groups = [(0, n_lif, _LIF_COLOUR, "LIF"), (n_lif, n_rec, _ALIF_COLOUR, "ALIF")]
        groups = [g for g in groups if g[1] > g[0]]
    else:
        groups = [(0, n_rec, _LIF_COLOUR, "LIF" if n_alif == 0 else None)]
    _raster(ax, t, s["z"], groups)
    if n_alif:
        ax.axhline(n_lif - 0.5, color="0.6", lw=0.5)
    if any(g[3] for g in groups):
        handles = [
            Line2D([], [], ls="", marker="|", ms=9, mew=1.5, color=colour, label=label)
            for _, _, colour, label in groups
        ]
        _outside_legend(ax, handles=handles)
    ax.set_ylabel("recurrent\nneuron")
    ax.set_title("recurrent spikes", fontsize=9, loc="left")

    def traces(ax: Axes, key: str, ylabel: str, label: str, legend: bool = False) -> None:
        values = s[key][:, shown]
        # Scale tiny or huge signals ourselves: matplotlib's offset text would sit on the title.
        peak = float(np.max(np.abs(values))) if values.size else 0.0
        exponent = int(np.floor(np.log10(peak))) if peak > 0 else 0
        if not -2 <= exponent <= 3:
            values = values / 10.0**exponent
            label = f"{label} (×1e{exponent})"
        for j, (i, c) in enumerate(zip(shown, colours, strict=True)):
            kind = " (ALIF)" if is_alif[j] else ""
            ax.plot(t, values[:, j], color=c, lw=0.9, label=f"neuron {i}{kind}")
        ax.set_ylabel(ylabel)
        ax.set_title(label, fontsize=9, loc="left")
        if legend:
            _outside_legend(ax)

    traces(next(panels), "v", "$v_t$\n(a.u.)", "membrane potential", legend=True)
    if with_threshold:
        traces(next(panels), "threshold", "$A_t$\n(a.u.)", "adaptive threshold")
    traces(next(panels), "psi", r"$\psi_t$", "pseudo-derivative")
    traces(next(panels), "learning_signal", "$L_t$\n(a.u.)", "learning signal")

    ax = next(panels)
    y = _softmax(s["y"]) if task_kind == "classification" else s["y"]
    _shade_mask(ax, t, mask, label="learning window")
    for k in range(n_out):
        c = f"C{k % 10}"
        ax.plot(t, y[:, k], color=c, lw=1.2, label=f"readout {k}")
        ax.plot(t, s["target"][:, k], color=c, lw=1.2, ls="--", label=f"target {k}")
    if task_kind == "classification":
        ax.set_ylim(-0.08, 1.08)
    ax.set_ylabel("softmax($y_t$)" if task_kind == "classification" else "$y_t$")
    ax.set_title(
        "readout (solid) and target (dashed)"
        + (": class probabilities" if task_kind == "classification" else ""),
        fontsize=9,
        loc="left",
    )
    _outside_legend(ax, ncols=1 if n_out <= 3 else 2)

    ax = next(panels)
    _shade_mask(ax, t, mask)
    ax.axhline(0.0, color="0.5", lw=0.6)
    for k in range(n_out):
        ax.plot(t, s["error"][:, k], color=f"C{k % 10}", lw=1.0, label=f"output {k}")
    ax.set_ylabel("error\n(a.u.)")
    ax.set_title(
        "readout error "
        + ("softmax($y_t$) - $y^*_t$" if task_kind == "classification" else "$y_t - y^*_t$"),
        fontsize=9,
        loc="left",
    )
    ax.set_xlabel("time (ms)")
    ax.set_xlim(t[0] - dt / 2, t[-1] + dt / 2)

    fig.align_ylabels(axes)
    if title:
        fig.suptitle(title)
    return fig


def plot_regression(snapshot: Mapping[str, Any], title: str | None = None) -> Figure:
    """Plot target against readout over time, and the 2-D pattern when there are two outputs.

    One panel per output shows the readout :math:`y_t` (solid) and the target :math:`y^*_t`
    (dashed) against time in ms, the learning window (``mask > 0``) shaded. With ``n_out == 2``
    (for example the handwriting task's pen coordinates) a panel on the right draws the target
    curve ``(y*_0, y*_1)`` and the readout curve ``(y_0, y_1)`` over the learning window, with
    equal aspect.

    Args:
        snapshot: dict (or ``np.load`` result) with ``y`` and ``target`` ``(T, n_out)``, ``mask``
            ``(T,)`` and ``dt`` (ms); ``iteration`` is optional.
        title: figure title; defaults to ``"iteration <snapshot['iteration']>"``.

    Returns:
        A figure with ``n_out`` axes, plus one when ``n_out == 2``.

    Raises:
        ValueError: on a missing key or inconsistent shapes.
    """
    api = "plot_regression"
    s = _arrays(api, "snapshot", snapshot, _READOUT_KEYS)
    n_steps = _check_time_major(api, s, ("y", "target"))
    n_out = s["y"].shape[1]
    if s["target"].shape[1] != n_out:
        raise ValueError(
            f"`{api}`: expected snapshot['target'] of shape (T, n_out)=({n_steps}, {n_out}) "
            f"like snapshot['y'], got {s['target'].shape}."
        )
    if title is None:
        title = f"iteration {int(snapshot['iteration'])}" if "iteration" in snapshot else ""
    dt = float(s["dt"])
    t = np.arange(n_steps) * dt
    mask = s["mask"]

    pattern = n_out == 2
    fig = Figure(
        figsize=(11.0 if pattern else 8.0, max(3.0, 1.6 * n_out + 1.2)), layout="constrained"
    )
    if pattern:
        grid = fig.add_gridspec(n_out, 2, width_ratios=[1.7, 1.0])
        time_axes = [fig.add_subplot(grid[0, 0])]
        time_axes.append(fig.add_subplot(grid[1, 0], sharex=time_axes[0]))
    else:
        time_axes = list(fig.subplots(n_out, 1, sharex=True, squeeze=False)[:, 0])

    for k, ax in enumerate(time_axes):
        _shade_mask(ax, t, mask, label="learning window" if k == 0 else None)
        ax.plot(t, s["target"][:, k], color="k", ls="--", lw=1.3, label="target")
        ax.plot(t, s["y"][:, k], color="tab:blue", lw=1.3, label="readout")
        ax.set_ylabel(f"output {k}")
        ax.set_xlim(t[0], t[-1] if n_steps > 1 else t[0] + dt)
        ax.grid(True, alpha=0.3)
        if k < n_out - 1:
            ax.tick_params(labelbottom=False)
    time_axes[0].legend(fontsize=8, loc="best", ncols=3)
    time_axes[-1].set_xlabel("time (ms)")

    if pattern:
        ax = fig.add_subplot(grid[:, 1])
        sel = mask > 0 if np.any(mask > 0) else np.ones(n_steps, bool)
        ax.plot(*s["target"][sel].T, color="k", ls="--", lw=1.3, label="target")
        ax.plot(*s["y"][sel].T, color="tab:blue", lw=1.3, label="readout")
        ax.set_aspect("equal", adjustable="datalim")
        ax.set_xlabel("output 0")
        ax.set_ylabel("output 1")
        ax.set_title("2-D pattern (learning window)", fontsize=10)
        ax.grid(True, alpha=0.3)
        ax.legend(fontsize=8)
    if title:
        fig.suptitle(title)
    return fig


def plot_weights(initial: Mapping[str, Any], final: Mapping[str, Any]) -> Figure:
    """Plot ``w_in``, ``w_rec`` and ``w_out`` as heatmaps before and after training.

    Top row: ``initial``; bottom row: ``final``. Each matrix uses a diverging colour map with
    symmetric limits ``[-m, m]``, ``m`` the largest absolute entry of that matrix in either row,
    so the two rows are directly comparable; each column has one colour bar.

    Args:
        initial: dict (or ``np.load`` result) with ``w_in`` ``(n_rec, n_in)``, ``w_rec``
            ``(n_rec, n_rec)`` and ``w_out`` ``(n_out, n_rec)``; other keys are ignored.
        final: the same keys and shapes after training.

    Returns:
        A figure with 9 axes: 2 x 3 heatmaps and 3 colour bars.

    Raises:
        ValueError: on a missing key, a matrix that is not 2-D or shapes that differ between
            ``initial`` and ``final``.
    """
    api = "plot_weights"
    before = _arrays(api, "initial", initial, _WEIGHT_KEYS)
    after = _arrays(api, "final", final, _WEIGHT_KEYS)
    for k in _WEIGHT_KEYS:
        if before[k].ndim != 2 or before[k].shape != after[k].shape:
            raise ValueError(
                f"`{api}`: expected 2-D {k} of the same shape before and after; got "
                f"initial {before[k].shape} and final {after[k].shape}."
            )

    labels = {
        "w_in": ("input neuron", "recurrent neuron", "input weights $W^{in}$"),
        "w_rec": ("presynaptic neuron", "postsynaptic neuron", "recurrent weights $W^{rec}$"),
        "w_out": ("recurrent neuron", "output", "readout weights $W^{out}$"),
    }
    fig = Figure(figsize=(13.0, 7.5), layout="constrained")
    axes = fig.subplots(2, 3, squeeze=False)
    for col, k in enumerate(_WEIGHT_KEYS):
        bound = float(np.nanmax(np.abs(np.concatenate([before[k].ravel(), after[k].ravel()]))))
        bound = bound if np.isfinite(bound) and bound > 0 else 1.0
        xlabel, ylabel, name = labels[k]
        for row, (when, w) in enumerate((("initial", before[k]), ("final", after[k]))):
            ax = axes[row, col]
            image = ax.imshow(
                w, cmap="RdBu_r", vmin=-bound, vmax=bound, aspect="auto", interpolation="nearest"
            )
            ax.set_title(f"{name}, {when}", fontsize=10)
            ax.set_ylabel(ylabel)
            ax.set_xlabel(xlabel)
            if w.shape[0] <= 10:
                ax.set_yticks(np.arange(w.shape[0]))
        fig.colorbar(image, ax=list(axes[:, col]), shrink=0.9, label="weight")
    return fig


# --------------------------------------------------------------------------------------------
# A whole output directory
# --------------------------------------------------------------------------------------------


def _read_metrics(path: pathlib.Path) -> list[dict]:
    """Read ``metrics.jsonl``; blank lines and a truncated last line (run in progress) are skipped."""
    lines = path.read_text().splitlines()
    records = []
    for i, line in enumerate(lines):
        if not line.strip():
            continue
        try:
            records.append(json.loads(line))
        except json.JSONDecodeError as err:
            if i == len(lines) - 1:  # the trainer may be writing this line right now
                break
            raise ValueError(f"`plot_run`: {path} line {i + 1} is not valid JSON: {err}.") from err
    return records


def _load_npz(path: pathlib.Path) -> dict:
    from .rundir import load_npz

    return load_npz(path, "plot_run")


def _plot_nest_run(out: pathlib.Path, config: dict) -> list[pathlib.Path]:
    """``learning_curve.png`` of a NEST-mode run (its metrics hold the loss per iteration)."""
    metrics = _read_metrics(out / "metrics.jsonl")
    if not metrics:
        return []
    fig = plot_learning_curve(metrics, "regression")
    fig.suptitle(f"{config.get('task', '?')}: NEST mode")
    path = out / "learning_curve.png"
    fig.savefig(path, dpi=DPI)
    fig.clear()
    return [path]


def plot_run(out_dir: str | pathlib.Path, *, n_alif: int | None = None) -> list[pathlib.Path]:
    """Write every figure of a training output directory as PNG files into that directory.

    Every kind of run folder (``config.json``'s ``kind``, :mod:`eprop_jax.rundir`) is redrawn:
    a NEST-mode run gets ``learning_curve.png``; a DNMS run ``dnms_rewards.png`` and
    ``dnms_traces.png`` (:func:`eprop_jax.miconi.dnms_figures`). For a spiking e-prop run
    it reads the files of the contract in the module docstring and writes, at ``DPI`` dots per
    inch:

    * ``learning_curve.png`` (:func:`plot_learning_curve`; skipped while ``metrics.jsonl`` is
      empty);
    * ``snapshot_first.png``, ``snapshot_last.png`` (:func:`plot_snapshot`);
    * ``readout_first.png``, ``readout_last.png`` (:func:`plot_regression`, regression only);
    * ``weights.png`` (:func:`plot_weights`, needs both weight files).

    A figure whose input file does not exist yet (for example ``snapshot_last.npz`` during
    training) is skipped. Figures are released after saving.

    Args:
        out_dir: the training output directory ``DIR``.
        n_alif: number of ALIF neurons; defaults to ``config["n_alif"]``.

    Returns:
        The paths of the PNG files written, in the order above.

    Raises:
        FileNotFoundError: if ``config.json`` or ``metrics.jsonl`` is missing.
        ValueError: if ``config["task_kind"]`` is unknown or a file does not follow the contract.
    """
    api = "plot_run"
    out = pathlib.Path(out_dir)
    for name in ("config.json", "metrics.jsonl"):
        if not (out / name).is_file():
            raise FileNotFoundError(
                f"`{api}`: no {name} in {out}; is this a training output directory?"
            )
    try:
        config = json.loads((out / "config.json").read_text())
    except (json.JSONDecodeError, UnicodeDecodeError):
        raise ValueError(f"`{api}`: {out / 'config.json'} is not valid JSON (damaged).") from None
    from .rundir import run_kind

    kind = run_kind(config)
    if kind == "dnms":
        from .miconi import dnms_figures

        return dnms_figures(out)
    if kind == "nest":
        return _plot_nest_run(out, config)
    task_kind = config.get("task_kind")
    _check_task_kind(api, task_kind)
    if n_alif is None:
        n_alif = config.get("n_alif")
    metrics = _read_metrics(out / "metrics.jsonl")
    run_name = (
        f"{config.get('task', '?')}: {config.get('rule', '?')}, "
        f"{config.get('feedback', '?')} feedback"
    )

    written: list[pathlib.Path] = []

    def save(fig: Figure, name: str) -> None:
        path = out / name
        fig.savefig(path, dpi=DPI)
        fig.clear()  # the figure is not registered with pyplot; clearing frees its artists now
        written.append(path)

    if metrics:
        fig = plot_learning_curve(metrics, task_kind)
        fig.suptitle(run_name)
        save(fig, "learning_curve.png")

    snapshots = {}
    for which in ("first", "last"):
        path = out / f"snapshot_{which}.npz"
        if path.is_file():
            snapshots[which] = _load_npz(path)
            it = snapshots[which].get("iteration")
            label = f"{run_name}; iteration {int(it)}" if it is not None else run_name
            fig = plot_snapshot(snapshots[which], label, n_alif=n_alif, task_kind=task_kind)
            save(fig, f"snapshot_{which}.png")

    if task_kind == "regression":
        for which, snapshot in snapshots.items():
            it = snapshot.get("iteration")
            label = f"{run_name}; iteration {int(it)}" if it is not None else run_name
            save(plot_regression(snapshot, label), f"readout_{which}.png")

    if (out / "weights_initial.npz").is_file() and (out / "weights_final.npz").is_file():
        fig = plot_weights(
            _load_npz(out / "weights_initial.npz"), _load_npz(out / "weights_final.npz")
        )
        fig.suptitle(run_name)
        save(fig, "weights.png")
    return written


# --------------------------------------------------------------------------------------------
# Miconi's network on DNMS (eprop_jax.miconi)
# --------------------------------------------------------------------------------------------

_DNMS_TYPES = ("AA", "AB", "BA", "BB")
_DNMS_COLOURS = ("tab:blue", "tab:orange", "tab:green", "tab:red")


def _sliding_fraction(below: np.ndarray, window: int) -> np.ndarray:
    """Fraction of ``below`` (0/1, last axis = trials) over the ``window`` trials up to each one."""
    kernel = np.ones(window)
    counts = np.apply_along_axis(lambda b: np.convolve(b, kernel, mode="valid"), -1, below)
    return counts / window


def plot_dnms_rewards(
    rewards, *, smooth: int = 51, window: int = 100, title: str | None = None
) -> Figure:
    """Plot the learning curve of Miconi's network on DNMS, per trial type.

    Top panel: the reward :math:`R = -\\text{error}` of each trial type (AA, AB, BA, BB) against
    the group, smoothed by a centred running mean over ``smooth`` groups (mean over networks
    when several are given). Bottom panel: the fraction of the last ``window`` trials with error
    below 1 (the criterion of Miconi 2017) and below 0.5, with the 95 % level dotted.

    Args:
        rewards: shape ``(groups, 4)`` or ``(n_networks, groups, 4)``, types in the order
            AA, AB, BA, BB.
        smooth: running-mean width in groups (odd, >= 1).
        window: sliding window of the bottom panel, in trials.
        title: figure title.

    Returns:
        A figure with 2 axes.

    Raises:
        ValueError: on a shape other than the above or a bad ``smooth``/``window``.
    """
    api = "plot_dnms_rewards"
    r = np.asarray(rewards, np.float64)
    if r.ndim == 2:
        r = r[None]
    if r.ndim != 3 or r.shape[-1] != 4 or r.shape[1] < 1:
        raise ValueError(
            f"`{api}`: expected rewards of shape (groups, 4) or (n_networks, groups, 4), "
            f"got {np.shape(rewards)}."
        )
    if not (isinstance(smooth, int) and smooth >= 1 and smooth % 2 == 1):
        raise ValueError(f"`{api}`: smooth must be an odd integer >= 1; got {smooth!r}.")
    if not (isinstance(window, int) and window >= 1):
        raise ValueError(f"`{api}`: window must be an integer >= 1; got {window!r}.")
    n_groups = r.shape[1]
    groups = np.arange(1, n_groups + 1)
    fig = Figure(figsize=(8.0, 6.0), layout="constrained")
    top, bottom = fig.subplots(2, 1, sharex=True)
    mean = r.mean(axis=0)
    width = min(smooth, n_groups - 1 + n_groups % 2)  # odd and no longer than the curve
    for k, (name, colour) in enumerate(zip(_DNMS_TYPES, _DNMS_COLOURS, strict=True)):
        top.plot(groups, _running_mean(mean[:, k], width), color=colour, lw=1.3, label=name)
    top.set_ylabel("reward $R$ (smoothed)")
    top.grid(True, alpha=0.3)
    top.legend(fontsize=8, ncols=4, loc="lower right")
    errors = -r.reshape(r.shape[0], -1)  # trial order
    if errors.shape[1] >= window:
        trial_group = (np.arange(window, errors.shape[1] + 1)) / 4.0
        for threshold, style in ((1.0, "-"), (0.5, "--")):
            frac = _sliding_fraction((errors < threshold).astype(float), window).mean(axis=0)
            bottom.plot(
                trial_group, frac, color="k", ls=style, lw=1.2, label=f"error < {threshold:g}"
            )
        bottom.legend(fontsize=8, loc="lower right")
    bottom.axhline(0.95, color="0.5", ls=":", lw=1.0)
    bottom.set_ylim(-0.02, 1.02)
    bottom.set_ylabel(f"fraction of last {window} trials")
    bottom.set_xlabel("group (4 trials: AA, AB, BA, BB)")
    bottom.grid(True, alpha=0.3)
    if r.shape[0] > 1:
        top.set_title(f"mean over {r.shape[0]} networks", fontsize=10)
    if title:
        fig.suptitle(title)
    return fig


def plot_dnms_traces(
    before,
    after,
    *,
    target: float = 0.98,
    stim_steps: int = 200,
    gap_steps: int = 200,
    response_steps: int = 200,
    dt: float = 1.0,
    title: str | None = None,
) -> Figure:
    """Plot the output unit's rate before and after learning for the four DNMS trial types.

    One panel per type (AA, AB, BA, BB): the output rate of a test trial before learning (grey)
    and after (blue), the target over the response window (dashed; ``-target`` for AA and BB,
    ``+target`` for AB and BA), the two stimulus periods shaded and the stimulus named.

    Args:
        before: output rates before learning, shape ``(4, T)``.
        after: output rates after learning, shape ``(4, T)``.
        target: target magnitude.
        stim_steps, gap_steps: stimulus length and gap between the stimuli, in steps.
        response_steps: length of the response window at the end of the trial, in steps.
        dt: time step (ms).
        title: figure title.

    Returns:
        A figure with 4 axes.

    Raises:
        ValueError: if ``before`` and ``after`` are not both of shape ``(4, T)``.
    """
    api = "plot_dnms_traces"
    b, a = np.asarray(before, np.float64), np.asarray(after, np.float64)
    if b.ndim != 2 or b.shape[0] != 4 or a.shape != b.shape:
        raise ValueError(
            f"`{api}`: expected before and after of the same shape (4, T); got {b.shape} and "
            f"{a.shape}."
        )
    n_steps = b.shape[1]
    t = np.arange(n_steps) * dt
    fig = Figure(figsize=(9.0, 5.5), layout="constrained")
    axes = fig.subplots(2, 2, sharex=True, sharey=True).ravel()
    periods = ((0, stim_steps), (stim_steps + gap_steps, 2 * stim_steps + gap_steps))
    for k, ax in enumerate(axes):
        name = _DNMS_TYPES[k]
        for (start, stop), letter in zip(periods, name, strict=True):
            ax.axvspan(start * dt, stop * dt, color=_MASK_COLOUR, lw=0, zorder=0)
            ax.text((start + stop) / 2 * dt, 1.08, letter, ha="center", va="center", fontsize=9)
        sign = 1.0 if name[0] != name[1] else -1.0
        window = t[n_steps - response_steps :]
        ax.plot(
            window, np.full(window.shape, sign * target), color="k", ls="--", lw=1.3, label="target"
        )
        ax.plot(t, b[k], color="0.6", lw=1.1, label="before")
        ax.plot(t, a[k], color="tab:blue", lw=1.3, label="after")
        ax.set_title(name, fontsize=10)
        ax.set_ylim(-1.2, 1.2)
        ax.grid(True, alpha=0.3)
    axes[0].legend(fontsize=8, loc="lower left")
    for ax in axes[2:]:
        ax.set_xlabel("time (ms)")
    for ax in axes[::2]:
        ax.set_ylabel("output rate $r_{out}$")
    if title:
        fig.suptitle(title)
    return fig


__all__ += ["plot_dnms_rewards", "plot_dnms_traces"]


# --------------------------------------------------------------------------------------------
# Tutorial figures: one task trial, gradient alignment, learning curves of several rules
# --------------------------------------------------------------------------------------------


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


__all__ += [
    "plot_alignment",
    "plot_alignment_by_rule",
    "plot_evidence_trial",
    "plot_loss_curves",
    "plot_pattern_trial",
    "plot_regression_trial",
]
