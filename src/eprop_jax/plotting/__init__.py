"""Figures of eprop-jax, split by wing; every public name is importable from here.

Plotting sits outside the core: these modules use only numpy and matplotlib, never import
pyplot and never change the user's matplotlib backend. Figures are built with
:class:`matplotlib.figure.Figure` (which saves to PNG through the Agg canvas on its own) and are
not registered with pyplot, so nothing accumulates when many are made. Every public function
returns a :class:`~matplotlib.figure.Figure`; :func:`plot_run` writes them all as PNG files.

**Figures, per module.**

* :mod:`eprop_jax.plotting.training` (one spiking e-prop run): :func:`plot_learning_curve`
  (loss and recall error against iteration), :func:`plot_snapshot` (one trial: spikes,
  :math:`v_t`, :math:`A_t`, :math:`\\psi_t`, :math:`L_t`, readout, error), :func:`plot_regression`
  (readout against target, and the 2-D pattern) and :func:`plot_weights` (weights before and
  after training); :data:`RECALL_CRITERION`, the paper's 7 % criterion.
* :mod:`eprop_jax.plotting.run`: :func:`plot_run` redraws every kind of run folder (spiking
  e-prop, NEST mode, DNMS) as PNG files; its docstring holds the run-folder file contract.
* :mod:`eprop_jax.plotting.tutorial` (the notebooks): :func:`plot_evidence_trial`,
  :func:`plot_regression_trial`, :func:`plot_pattern_trial` (one task trial),
  :func:`plot_alignment`, :func:`plot_alignment_by_rule` (cosine with BPTT's gradient) and
  :func:`plot_loss_curves` (the loss of several runs).
* :mod:`eprop_jax.miconi.figures` (Miconi's wing): :func:`plot_dnms_rewards` and
  :func:`plot_dnms_traces`, re-exported here. They are loaded on first access, not at import:
  ``eprop_jax.miconi.figures`` imports this package's style, so an eager import here would be
  a cycle when ``eprop_jax.miconi`` is imported first.
* :mod:`eprop_jax.plotting._style` (private): :data:`DPI`, the colours and the helpers shared by
  all the figures.

Example:
    >>> from eprop_jax.plotting import plot_run
    >>> paths = plot_run("runs/evidence")  # doctest: +SKIP
    >>> [p.name for p in paths]  # doctest: +SKIP
    ['learning_curve.png', 'snapshot_first.png', 'snapshot_last.png', 'weights.png']
"""

from __future__ import annotations

from typing import Any

from ._style import DPI as DPI
from .run import plot_run as plot_run
from .training import RECALL_CRITERION as RECALL_CRITERION
from .training import plot_learning_curve as plot_learning_curve
from .training import plot_regression as plot_regression
from .training import plot_seed_learning_curves as plot_seed_learning_curves
from .training import plot_snapshot as plot_snapshot
from .training import plot_weights as plot_weights
from .tutorial import plot_alignment as plot_alignment
from .tutorial import plot_alignment_by_rule as plot_alignment_by_rule
from .tutorial import plot_evidence_trial as plot_evidence_trial
from .tutorial import plot_loss_curves as plot_loss_curves
from .tutorial import plot_pattern_trial as plot_pattern_trial
from .tutorial import plot_regression_trial as plot_regression_trial

__all__ = [
    "plot_alignment",
    "plot_alignment_by_rule",
    "plot_dnms_rewards",
    "plot_dnms_traces",
    "plot_evidence_trial",
    "plot_learning_curve",
    "plot_loss_curves",
    "plot_pattern_trial",
    "plot_regression",
    "plot_regression_trial",
    "plot_run",
    "plot_seed_learning_curves",
    "plot_snapshot",
    "plot_weights",
]

_MICONI_FIGURES = ("plot_dnms_rewards", "plot_dnms_traces")


def __getattr__(name: str) -> Any:
    """Load the DNMS figures of :mod:`eprop_jax.miconi.figures` on first access (PEP 562)."""
    if name in _MICONI_FIGURES:
        from ..miconi import figures

        return getattr(figures, name)
    raise AttributeError(f"module {__name__!r} has no attribute {name!r}")


def __dir__() -> list[str]:
    return sorted([*globals(), *_MICONI_FIGURES])
