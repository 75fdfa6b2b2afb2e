"""Batched, jit-able, seeded task generators.

Every generator is a pure function ``name(key, n_batch, *, ..., dt=1.0, dtype=jnp.float32)``
returning ``(Batch, <Name>Info)``: time-major inputs ``(T, B, n_in)``, targets ``(T, B, n_out)``
and mask ``(T, B)`` (see :class:`eprop_jax.types.Batch`), plus a NamedTuple of metadata. Shapes
depend only on the Python arguments, so ``jax.jit(functools.partial(gen, n_batch=..., ...))``
works. Durations are in ms (``steps = round(duration / dt)``), rates in Hz.

=========================  ==============  =========================================  ==========
name                       kind            source                                     key
=========================  ==============  =========================================  ==========
``evidence_accumulation``  classification  Bellec et al. 2020, Fig. 3                 fresh
``sine_waves``             regression      Bellec et al. 2020, Fig. S7                frozen
``infinite_loop``          regression      NEST infinite-loop (lemniscate) tutorial   frozen
``handwriting``            regression      NEST handwriting tutorial ("chaos")        frozen
=========================  ==============  =========================================  ==========

"Fresh" tasks need a new key every iteration; "frozen" tasks are trained on one fixed sample, so
the trainer passes the same key every iteration.
"""

from __future__ import annotations

from collections.abc import Callable

from .evidence_accumulation import EvidenceAccumulationInfo as EvidenceAccumulationInfo
from .evidence_accumulation import evidence_accumulation as evidence_accumulation
from .handwriting import HandwritingInfo as HandwritingInfo
from .handwriting import handwriting as handwriting
from .handwriting import handwriting_characters as handwriting_characters
from .infinite_loop import InfiniteLoopInfo as InfiniteLoopInfo
from .infinite_loop import infinite_loop as infinite_loop
from .sine_waves import SineWavesInfo as SineWavesInfo
from .sine_waves import sine_waves as sine_waves

TASKS: dict[str, Callable] = {
    "evidence_accumulation": evidence_accumulation,
    "sine_waves": sine_waves,
    "infinite_loop": infinite_loop,
    "handwriting": handwriting,
}
"""Every task generator by name."""

CLASSIFICATION_TASKS = frozenset({"evidence_accumulation"})
"""Names of the tasks whose targets are one-hot classes (cross-entropy loss); the rest regress."""

FROZEN_TASKS = frozenset({"sine_waves", "infinite_loop", "handwriting"})
"""Names of the tasks trained on one fixed sample: the trainer reuses one key every iteration."""


def get_task(name: str) -> Callable:
    """Return the task generator called ``name``.

    Args:
        name: one of the keys of :data:`TASKS`.

    Returns:
        The generator function.

    Raises:
        ValueError: for an unknown name; the message lists the accepted names.
    """
    if not isinstance(name, str) or name not in TASKS:
        raise ValueError(
            f"`get_task`: unknown task {name!r}; expected one of "
            f"{', '.join(map(repr, sorted(TASKS)))}."
        )
    return TASKS[name]
