"""Figures of Miconi's network on DNMS: rewards per trial type, output traces.

The functions live in :mod:`eprop_jax.plotting` (one place for every figure's style); this module
is their home in the :mod:`eprop_jax.miconi` package. :func:`dnms_figures` redraws a run folder.
"""

from __future__ import annotations

from ..plotting import plot_dnms_rewards, plot_dnms_traces
from .training import dnms_figures

__all__ = ["dnms_figures", "plot_dnms_rewards", "plot_dnms_traces"]
