"""Neuron models behind one protocol (:class:`~eprop_jax.models.base.NeuronModel`).

=============== ====================================================================
``"alif"``      adaptive / plain LIF with reset by subtraction (``alif.py``, default)
``"psc_delta"`` NEST ``iaf_psc_delta``-style: reset to ``v_reset``, no integration while
                refractory, with or without threshold adaptation (``psc_delta.py``)
=============== ====================================================================

A new model is one module that builds a ``NeuronModel`` and one :func:`register_model` call; the
network, simulate, the online and factored e-prop engines, truncated BPTT and BPTT are generic
over it, and ``tests/test_models_conformance.py`` runs on every registered model.

Example:
    >>> sorted(MODELS)
    ['alif', 'psc_delta']
"""

from __future__ import annotations

from .._checks import check_choice
from .alif import ALIF
from .base import NeuronModel
from .psc_delta import PSC_DELTA

MODELS: dict[str, NeuronModel] = {"alif": ALIF, "psc_delta": PSC_DELTA}


def get_model(model: str | NeuronModel) -> NeuronModel:
    """The registered model called ``model`` (a :class:`NeuronModel` is returned as is)."""
    if isinstance(model, NeuronModel):
        return model
    return MODELS[check_choice("network", "model", model, tuple(MODELS))]


def register_model(model: NeuronModel, *, overwrite: bool = False) -> None:
    """Make ``model`` available by ``model.name`` to ``network(..., model=name)``."""
    if not isinstance(model, NeuronModel):
        raise ValueError(f"`register_model`: expected a NeuronModel; got {type(model).__name__}.")
    if model.name in MODELS and not overwrite:
        raise ValueError(
            f"`register_model`: a model named {model.name!r} exists already; pass "
            "overwrite=True to replace it."
        )
    MODELS[model.name] = model
