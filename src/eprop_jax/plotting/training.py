r"""The figures of one training run: learning curve, trial snapshot, readout and weights.

* :func:`plot_learning_curve`: training loss against iteration (log scale), with the evaluation
  loss as markers. For classification a second panel shows the recall error (training and
  evaluation) with the 7 % criterion of Bellec et al. 2020 (dashed) and 10 % (dotted).
* :func:`plot_seed_learning_curves`: the same panels for a multi-seed run: the median over seeds,
  the inter-quartile band and a thin line per seed.
* :func:`plot_snapshot`: one trial, stacked panels on a shared time axis in ms, as in Fig. 3 of
  the paper and NEST's e-prop tutorials: input spikes, recurrent spikes (ALIF neurons in another
  colour), membrane potentials :math:`v_t` of up to 5 neurons, their adaptive thresholds
  :math:`A_t` (ALIF only), pseudo-derivatives :math:`\psi_t`, learning signals :math:`L_t`,
  readout against target (learning window shaded) and the readout error signal.
* :func:`plot_regression`: target and readout per output over time; with two outputs also the
  2-D pattern (target x-y curve against readout x-y curve, equal aspect).
* :func:`plot_weights`: ``w_in``, ``w_rec`` and ``w_out`` before (top row) and after (bottom row)
  training, with symmetric colour limits shared by the two rows of each matrix.

Snapshots and weights are dicts of arrays as in the run-folder contract of
:mod:`eprop_jax.plotting.run`. The ALIF neurons are the last ``n_alif`` rows of the recurrent
population.

References:
    Bellec et al., `A solution to the learning dilemma for recurrent networks of spiking neurons
    <https://doi.org/10.1038/s41467-020-17236-y>`_, Nat. Commun. 11:3625, 2020, Fig. 3 (trial
    snapshot) and Fig. S7 (pattern generation).
"""

from __future__ import annotations

import warnings
from collections.abc import Mapping, Sequence
from typing import Any

import numpy as np
from matplotlib.axes import Axes
from matplotlib.figure import Figure
from matplotlib.lines import Line2D

from ._style import (
    _ALIF_COLOUR,
    _LIF_COLOUR,
    _arrays,
    _check_task_kind,
    _check_time_major,
    _outside_legend,
    _pick_neurons,
    _raster,
    _running_mean,
    _shade_mask,
    _softmax,
)

__all__ = [
    "RECALL_CRITERION",
    "plot_learning_curve",
    "plot_regression",
    "plot_seed_learning_curves",
    "plot_snapshot",
    "plot_weights",
]

RECALL_CRITERION = 0.07
"""Recall-error criterion of Bellec et al. 2020 for the evidence-accumulation task (7 %)."""

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
    _style_loss_axis(ax, log=bool(np.any(np.isfinite(positive) & (positive > 0))))

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
        top = np.nanmax(np.concatenate([err, [0.12], [y for _, y in ev_rec]]))
        _style_recall_axis(ax, min(1.02, 1.05 * top) if np.isfinite(top) else 1.02)

    axes[-1].set_xlabel("iteration")
    return fig


def _style_loss_axis(ax, log: bool) -> None:
    """Labels, grid and legend of a learning curve's loss panel (log scale when ``log``)."""
    if log:
        ax.set_yscale("log", nonpositive="mask")
    ax.set_ylabel("loss")
    ax.set_title("loss")
    ax.grid(True, which="major", alpha=0.3)
    ax.legend(fontsize=8)


def _style_recall_axis(ax, top: float) -> None:
    """The 7 % and 10 % lines, limits, labels and legend of a recall-error panel."""
    ax.axhline(RECALL_CRITERION, color="k", ls="--", lw=1, label="7% (paper criterion)")
    ax.axhline(0.10, color="0.4", ls=":", lw=1, label="10%")
    ax.set_ylim(-0.02, top)
    ax.set_ylabel("recall error")
    ax.set_title("recall error (1 - accuracy)")
    ax.grid(True, alpha=0.3)
    ax.legend(fontsize=8, ncols=2)


def _seed_matrix(metrics: Sequence[Mapping[str, Any]], key: str, n_seeds: int) -> np.ndarray:
    """``(n_records, n_seeds)`` values of ``key``; a seed without a value (frozen by the
    criterion) keeps its last one, before its first value it is NaN."""
    out = np.full((len(metrics), n_seeds), np.nan)
    last = np.full(n_seeds, np.nan)
    for i, rec in enumerate(metrics):
        values = rec.get(key)
        if values is not None:
            fresh = np.array([np.nan if v is None else float(v) for v in values])
            last = np.where(np.isnan(fresh), last, fresh)
        out[i] = last
    return out


def plot_seed_learning_curves(
    metrics: Sequence[Mapping[str, Any]], task_kind: str, seeds: Sequence[int]
) -> Figure:
    """Plot the loss (and recall error) of a multi-seed run: median, IQR band, one line per seed.

    Each record's metrics are lists over ``seeds`` (the multi-seed layout of ``metrics.jsonl``,
    :mod:`eprop_jax.rundir`), ``None`` for a seed frozen (by the early-stopping criterion or by
    divergence), which keeps its last value here. The thick line is the median over seeds, the band the 25th to 75th
    percentile, the thin lines the seeds; evaluation medians are markers with IQR bars. For
    classification a second panel shows the recall error with the 7 % and 10 % lines.

    Args:
        metrics: the records of ``metrics.jsonl``; each needs ``"iteration"`` and ``"loss"``.
        task_kind: ``"classification"`` or ``"regression"``.
        seeds: the run's seeds (``config.json``'s ``seed_list``).

    Returns:
        A figure with one axes (regression) or two (classification).

    Raises:
        ValueError: if ``task_kind`` is unknown, ``metrics`` is empty, a record lacks a key or
            holds a list of another length than ``seeds``.
    """
    api = "plot_seed_learning_curves"
    _check_task_kind(api, task_kind)
    if len(metrics) == 0:
        raise ValueError(f"`{api}`: metrics is empty; expected at least one record.")
    n = len(seeds)
    for i, rec in enumerate(metrics):
        for key in ("iteration", "loss"):
            if key not in rec:
                raise ValueError(f"`{api}`: metrics[{i}] has no {key!r} key; got {sorted(rec)}.")
        if not isinstance(rec["loss"], list) or len(rec["loss"]) != n:
            raise ValueError(
                f"`{api}`: metrics[{i}]['loss'] must be a list of {n} values (one per seed); "
                f"got {rec['loss']!r}."
            )
    it = np.array([float(r["iteration"]) for r in metrics])
    classification = task_kind == "classification"
    n_panels = 2 if classification else 1
    fig = Figure(figsize=(7.5, 2.6 * n_panels + 0.6), layout="constrained")
    axes = fig.subplots(n_panels, 1, sharex=True, squeeze=False)[:, 0]

    def bands(ax: Axes, key: str, eval_key: str, label: str) -> np.ndarray:
        values = _seed_matrix(metrics, key, n)
        for column in values.T:
            ax.plot(it, column, color="tab:blue", lw=0.5, alpha=0.3)
        with np.errstate(all="ignore"), warnings.catch_warnings():
            warnings.simplefilter("ignore", RuntimeWarning)  # an all-NaN column before a start
            lo, med, hi = np.nanpercentile(values, [25, 50, 75], axis=1)
        ax.fill_between(it, lo, hi, color="tab:blue", alpha=0.25, lw=0, label="IQR over seeds")
        ax.plot(it, med, color="tab:blue", lw=1.6, label=f"{label} (median of {n} seeds)")
        rows = [i for i, r in enumerate(metrics) if r.get(eval_key) is not None]
        if rows:
            ev = _seed_matrix([metrics[i] for i in rows], eval_key, n)
            elo, emed, ehi = np.nanpercentile(ev, [25, 50, 75], axis=1)
            ax.errorbar(
                it[rows], emed, yerr=[emed - elo, ehi - emed], ls="", marker="o", ms=4,
                color="tab:orange", capsize=2, label="eval (median, IQR)",
            )  # fmt: skip
        return values

    ax = axes[0]
    loss = bands(ax, "loss", "eval_loss", "training loss")
    _style_loss_axis(ax, log=bool(np.any(np.isfinite(loss) & (loss > 0))))
    if classification:
        ax = axes[1]
        bands(ax, "recall_error", "eval_recall_error", "training")
        _style_recall_axis(ax, 1.02)
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
