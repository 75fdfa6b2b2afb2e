"""Redraw a run folder: :func:`plot_run` writes every figure of any kind of run as PNG files.

:func:`plot_run` reads ``config.json`` and dispatches on the run's kind
(:func:`eprop_jax.rundir.run_kind`): a NEST-mode run gets its learning curve, a DNMS run the
figures of :mod:`eprop_jax.miconi.figures`, and a spiking e-prop run the figures of
:mod:`eprop_jax.plotting.training` drawn from the files below.

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

A **multi-seed run** (``config.json`` holds ``"seed_list"``) keeps these files with a seed axis:
each metric in ``metrics.jsonl`` is a list over the seeds (``None`` for a seed frozen by the
criterion or by divergence), the weight files stack the seeds on a leading axis, and the snapshots are of the
first seed. ``learning_curve.png`` then shows the median, the inter-quartile band and one thin
line per seed (:func:`plot_seed_learning_curves`); ``weights.png`` the first seed.

Example:
    >>> from eprop_jax.plotting import plot_run
    >>> paths = plot_run("runs/evidence")  # doctest: +SKIP
    >>> [p.name for p in paths]  # doctest: +SKIP
    ['learning_curve.png', 'snapshot_first.png', 'snapshot_last.png', 'weights.png']
"""

from __future__ import annotations

import json
import pathlib

from matplotlib.figure import Figure

from ._style import DPI, _check_task_kind
from .training import (
    plot_learning_curve,
    plot_regression,
    plot_seed_learning_curves,
    plot_snapshot,
    plot_weights,
)

__all__ = ["plot_run"]


def _read_metrics(path: pathlib.Path) -> list[dict]:
    """Read ``metrics.jsonl``; a truncated last line (a run in progress) is skipped silently."""
    from ..rundir import read_metrics

    return read_metrics(path, "plot_run", warn=False)


def _load_npz(path: pathlib.Path) -> dict:
    from ..rundir import load_npz

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
    from ..rundir import run_kind

    kind = run_kind(config)
    if kind == "dnms":
        from ..miconi import dnms_figures

        return dnms_figures(out)
    if kind == "nest":
        return _plot_nest_run(out, config)
    if kind == "reward":
        from .reward import reward_figures

        return reward_figures(out)
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

    seeds = config.get("seed_list")
    if seeds is not None:
        run_name += f"; seeds {seeds[0]}..{seeds[-1]}"
    if metrics:
        if seeds is not None:
            fig = plot_seed_learning_curves(metrics, task_kind, seeds)
        else:
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
        initial, final = (_load_npz(out / f"weights_{w}.npz") for w in ("initial", "final"))
        if seeds is not None:  # stacked over seeds: the first seed's network
            initial, final = ({k: v[0] for k, v in w.items()} for w in (initial, final))
        fig = plot_weights(initial, final)
        fig.suptitle(run_name + (f"; weights of seed {seeds[0]}" if seeds is not None else ""))
        save(fig, "weights.png")
    return written
