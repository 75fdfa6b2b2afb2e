"""Figures of Miconi's network on DNMS: rewards per trial type, output traces.

* :func:`plot_dnms_rewards`: the reward of each trial type (AA, AB, BA, BB) against the group,
  smoothed, above the fraction of recent trials that meet the criterion of Miconi 2017.
* :func:`plot_dnms_traces`: the output unit's rate before and after learning, one panel per
  trial type, with the target over the response window.
* :func:`dnms_figures` (from :mod:`eprop_jax.miconi.training`) redraws a DNMS run folder.

The figures share the style of :mod:`eprop_jax.plotting` (:mod:`eprop_jax.plotting._style`);
``eprop_jax.plotting`` re-exports the two ``plot_dnms_*`` functions.
"""

from __future__ import annotations

import numpy as np
from matplotlib.figure import Figure

from ..plotting._style import _MASK_COLOUR, _running_mean
from .training import dnms_figures

__all__ = ["dnms_figures", "plot_dnms_rewards", "plot_dnms_traces"]

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
