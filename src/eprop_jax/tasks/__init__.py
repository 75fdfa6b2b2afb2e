"""Batched, jit-able, seeded task generators.

Every generator is a pure function ``name(key, n_batch, *, ..., dt=1.0, dtype=jnp.float32)``
returning ``(Batch, <Name>Info)``: time-major inputs ``(T, B, n_in)``, targets ``(T, B, n_out)``
and mask ``(T, B)`` (see :class:`eprop_jax.types.Batch`), plus a NamedTuple of metadata. Shapes
depend only on the Python arguments, so ``jax.jit(functools.partial(gen, n_batch=..., ...))``
works. Durations are in ms (``steps = round(duration / dt)``), rates in Hz.

**One jit convention.** Each generator checks its arguments in Python, gathers them in a hashable
``NamedTuple`` and draws the batch with a private ``_sample(key, config)`` jitted with ``config``
static (:func:`~eprop_jax.tasks._common.jit_sampler`).

**Records.** Each task module also defines ``RECORD``, a :class:`TaskRecord` with the generator,
the kind, fresh or frozen, the training preset and the input/output sizes; this file registers
them. ``TASKS``, ``CLASSIFICATION_TASKS``, ``FROZEN_TASKS`` and ``PRESETS`` are live views of the
registry, and :func:`describe_preset` formats a preset for help text. Adding a task is one file
(generator + ``RECORD``) and one line (``register_task(my_task.RECORD)``).

=========================  ==============  =========================================  ==========
name                       kind            source                                     key
=========================  ==============  =========================================  ==========
``evidence_accumulation``  classification  Bellec et al. 2020, Fig. 3                 fresh
``sine_waves``             regression      Bellec et al. 2020, Fig. S7                frozen
``infinite_loop``          regression      NEST infinite-loop (lemniscate) tutorial   frozen
``handwriting``            regression      NEST handwriting tutorial ("chaos")        frozen
``nmnist``                 classification  NEST 3.10 N-MNIST tutorial (local data)    fresh
=========================  ==============  =========================================  ==========

"Fresh" tasks need a new key every iteration; "frozen" tasks are trained on one fixed sample, so
the trainer passes the same key every iteration.
"""

from __future__ import annotations

from . import evidence_accumulation as _evidence_accumulation
from . import handwriting as _handwriting
from . import infinite_loop as _infinite_loop
from . import nmnist as _nmnist
from . import sine_waves as _sine_waves
from ._registry import CLASSIFICATION_TASKS as CLASSIFICATION_TASKS
from ._registry import FROZEN_TASKS as FROZEN_TASKS
from ._registry import PRESETS as PRESETS
from ._registry import TASKS as TASKS
from ._registry import TaskRecord as TaskRecord
from ._registry import describe_default as describe_default
from ._registry import describe_preset as describe_preset
from ._registry import get_task as get_task
from ._registry import get_task_record as get_task_record
from ._registry import register_task as register_task
from ._registry import unregister_task as unregister_task
from .evidence_accumulation import EvidenceAccumulationInfo as EvidenceAccumulationInfo
from .evidence_accumulation import evidence_accumulation as evidence_accumulation
from .handwriting import HandwritingInfo as HandwritingInfo
from .handwriting import handwriting as handwriting
from .handwriting import handwriting_characters as handwriting_characters
from .infinite_loop import InfiniteLoopInfo as InfiniteLoopInfo
from .infinite_loop import infinite_loop as infinite_loop
from .nmnist import NmnistInfo as NmnistInfo
from .nmnist import nmnist as nmnist
from .sine_waves import SineWavesInfo as SineWavesInfo
from .sine_waves import sine_waves as sine_waves

# The built-in tasks, one line each.
register_task(_evidence_accumulation.RECORD)
register_task(_sine_waves.RECORD)
register_task(_infinite_loop.RECORD)
register_task(_handwriting.RECORD)
register_task(_nmnist.RECORD)
