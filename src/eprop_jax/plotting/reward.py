"""Figures of a reward-based e-prop run (``eprop-jax reward``, kind ``"reward"``).

* :func:`plot_reward_curve`: the return per episode against the iteration (batch mean and the
  band of one standard deviation, with a running mean), and the fraction of correct episodes
  where the environment defines one;
* :func:`plot_reward_episode`: one episode: input raster, spike raster (LIF black, ALIF red),
  action probabilities with the actions taken, and the value :math:`V_t` against the discounted
  return :math:`G_t` with the rewards;
* :func:`reward_figures`: both, redrawn from a run folder as ``reward_curve.png``,
  ``episode_first.png`` and ``episode_last.png`` (what ``eprop-jax plot DIR`` calls).

Snapshot contract (``snapshot_*.npz``, written by :func:`eprop_jax.reward_train.record_episode`):
``inputs`` ``(T, n_in)``, ``z`` ``(T, n_rec)``, ``pi`` ``(T, K)``, ``value``,
``discounted_return``, ``rewards``, ``mask`` (each ``(T,)``), ``actions`` ``(T,)`` int, ``dt``.
"""

from __future__ import annotations

import json
import pathlib
from collections.abc import Mapping, Sequence
from typing import Any

import numpy as np
from matplotlib.figure import Figure

from ._style import _ALIF_COLOUR, _LIF_COLOUR, DPI, _arrays, _raster, _running_mean

__all__ = ["plot_reward_curve", "plot_reward_episode", "reward_figures"]

_EPISODE_KEYS = ("inputs", "z", "pi", "value", "discounted_return", "rewards", "mask", "actions")


def plot_reward_curve(
    metrics: Sequence[Mapping[str, Any]], batch_size: int | None = None
) -> Figure:
    """Return per episode (mean and one standard deviation over the batch) against iteration.

    Args:
        metrics: one dict per iteration (``metrics.jsonl``) with ``"iteration"``, ``"return"``
            and optionally ``"return_std"`` and ``"correct"`` (episodes correct in the batch).
        batch_size: episodes per iteration (needed to draw ``"correct"`` as a fraction).
    """
    api = "plot_reward_curve"
    if len(metrics) == 0:
        raise ValueError(f"`{api}`: metrics is empty; expected at least one record.")
    for i, rec in enumerate(metrics):
        for key in ("iteration", "return"):
            if key not in rec:
                raise ValueError(f"`{api}`: metrics[{i}] has no {key!r} key; got {sorted(rec)}.")
    it = np.array([float(r["iteration"]) for r in metrics])
    ret = np.array([float(r["return"]) for r in metrics])
    std = np.array([float(r.get("return_std", 0.0)) for r in metrics])
    has_correct = batch_size is not None and all("correct" in r for r in metrics)
    n_panels = 2 if has_correct else 1
    fig = Figure(figsize=(7.5, 2.6 * n_panels + 0.6), layout="constrained")
    axes = fig.subplots(n_panels, 1, sharex=True, squeeze=False)[:, 0]
    ax = axes[0]
    ax.fill_between(it, ret - std, ret + std, color="tab:blue", alpha=0.2, lw=0, label="± 1 s.d.")
    ax.plot(it, ret, color="tab:blue", lw=0.8, label="mean return per episode")
    if len(it) > 50:
        ax.plot(it, _running_mean(ret, 25), color="k", lw=1.2, label="running mean (25)")
    ax.set_ylabel("return")
    ax.legend(loc="best", fontsize=8)
    if has_correct:
        frac = np.array([float(r["correct"]) for r in metrics]) / batch_size
        axes[1].plot(it, frac, color="tab:green", lw=0.8, label="correct choices")
        if len(it) > 50:
            axes[1].plot(it, _running_mean(frac, 25), color="k", lw=1.2, label="running mean")
        axes[1].axhline(0.9, color="0.4", ls="--", lw=0.8, label="90 %")
        axes[1].set_ylim(0, 1.02)
        axes[1].set_ylabel("fraction correct")
        axes[1].legend(loc="lower right", fontsize=8)
    axes[-1].set_xlabel("iteration")
    return fig


def plot_reward_episode(snapshot: Mapping[str, Any], title: str = "", n_alif: int = 0) -> Figure:
    """One recorded episode (module docstring): inputs, spikes, policy, value against return.

    Args:
        snapshot: the arrays of the snapshot contract.
        title: the figure's title.
        n_alif: how many of the recurrent neurons (the last ones) are ALIF.
    """
    api = "plot_reward_episode"
    a = _arrays(api, "snapshot", snapshot, _EPISODE_KEYS)
    dt = float(np.asarray(snapshot.get("dt", 1.0)))
    n_steps = a["mask"].shape[0]
    t = np.arange(n_steps) * dt
    n_rec = a["z"].shape[1]
    fig = Figure(figsize=(7.5, 8.0), layout="constrained")
    axes = fig.subplots(4, 1, sharex=True, height_ratios=(1, 1.4, 1, 1))
    _raster(axes[0], t, a["inputs"], [(0, a["inputs"].shape[1], "0.3", None)])
    axes[0].set_ylabel("input")
    lif = n_rec - n_alif
    _raster(
        axes[1],
        t,
        a["z"],
        [(0, lif, _LIF_COLOUR, "LIF"), (lif, n_rec, _ALIF_COLOUR, "ALIF")],
    )
    axes[1].set_ylabel("neuron")
    n_actions = a["pi"].shape[1]
    for k in range(n_actions):
        axes[2].plot(t, a["pi"][:, k], lw=1.0, label=rf"$\pi_{k}$")
    taken = a["actions"].astype(int)
    axes[2].plot(
        t,
        taken / max(n_actions - 1, 1),
        ls="",
        marker=".",
        ms=1.5,
        color="0.4",
        label="action taken (scaled)",
    )
    axes[2].set_ylim(-0.05, 1.05)
    axes[2].set_ylabel("policy")
    axes[2].legend(loc="upper left", fontsize=7, ncol=n_actions + 1)
    axes[3].plot(t, a["value"], color="tab:purple", lw=1.0, label=r"value $V_t$")
    axes[3].plot(t, a["discounted_return"], color="k", lw=1.0, ls="--", label=r"return $G_t$")
    paid = a["rewards"] != 0
    axes[3].plot(
        t[paid], a["rewards"][paid], ls="", marker="|", color="tab:green", ms=5, label="reward"
    )
    axes[3].set_ylabel("value / return")
    axes[3].set_xlabel("time (ms)")
    axes[3].legend(loc="upper left", fontsize=7, ncol=3)
    if title:
        fig.suptitle(title)
    return fig


def reward_figures(out_dir: str | pathlib.Path) -> list[pathlib.Path]:
    """Redraw the figures of a reward run folder; returns the PNG paths written."""
    from ..rundir import load_npz, read_metrics

    out = pathlib.Path(out_dir)
    config = json.loads((out / "config.json").read_text())
    name = f"{config.get('env', '?')}: reward-based e-prop, {config.get('feedback', '?')} feedback"
    written = []

    def save(fig: Figure, file: str) -> None:
        path = out / file
        fig.savefig(path, dpi=DPI)
        fig.clear()
        written.append(path)

    metrics = read_metrics(out / "metrics.jsonl", "plot_run", warn=False)
    if metrics:
        fig = plot_reward_curve(metrics, config.get("batch_size"))
        fig.suptitle(name)
        save(fig, "reward_curve.png")
    for which in ("first", "last"):
        path = out / f"snapshot_{which}.npz"
        if path.is_file():
            snapshot = load_npz(path, "plot_run")
            fig = plot_reward_episode(snapshot, f"{name}; {which} episode", config.get("n_alif", 0))
            save(fig, f"episode_{which}.png")
    return written
