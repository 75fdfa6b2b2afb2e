r"""Keep freed memory in the process on glibc: XLA:CPU's per-call buffers stop page-faulting.

On the CPU backend, XLA allocates the temporaries of a compiled function (for the factored
e-prop engine the ``(T, B, n)`` buffer of distances to threshold; for BPTT the stored residuals)
with ``malloc`` on every call and frees them when the call ends. glibc serves blocks above its
mmap threshold (at most 32 MB) with a fresh ``mmap`` and gives them back with ``munmap``, and it
returns the top of the heap to the system once more than ``M_TRIM_THRESHOLD`` is free. The next
call then touches new pages: one minor page fault per 4 KiB, about 14,000 faults for the 57.6 MB
buffer of one evidence-accumulation batch (T 2250, B 64, n 100), at ~1.3 us each.

:func:`keep_freed_memory` asks glibc (``mallopt``) to use one arena for all threads, to serve
large blocks from that heap instead of ``mmap`` (a thread's own arena would still ``mmap`` blocks
above 64 MB), never to trim it, and to grow it with a 256 MiB pad, so that the memory of one call
is reused by the next. Measured on a 2-core machine at the evidence-accumulation size (T 2250,
B 64, n 100, float32, in-process probe of 10 calls): page faults per call of the factored e-prop
gradient fall from ~15,900 to 0 and its time from ~85-125 ms to ~70-75 ms; those of the plain
BPTT reference (``bench_reference.bptt_lean``) from ~28,900 to ~0 and its time by ~7 %. The
price: the process keeps its peak heap (resident memory does not shrink after a large call).

The ``eprop-jax`` command and the benchmark call it at start; a script that uses the library can
call it once at the top, before its first JAX computation (a thread that already has a malloc
arena of its own keeps it, so a late call helps less). ``EPROP_JAX_KEEP_FREED_MEMORY=0`` in the
environment turns it off (the benchmark then measures glibc's defaults). It does nothing on
other C libraries and platforms.
"""

from __future__ import annotations

import ctypes
import ctypes.util
import os
import sys

# mallopt parameter numbers from glibc's <malloc.h>
M_TRIM_THRESHOLD = -1
M_TOP_PAD = -2
M_MMAP_MAX = -4
M_ARENA_MAX = -8

ENV_VAR = "EPROP_JAX_KEEP_FREED_MEMORY"
TOP_PAD_BYTES = 256 * 2**20
SETTINGS = (
    (M_ARENA_MAX, 1),
    (M_MMAP_MAX, 0),
    (M_TRIM_THRESHOLD, 2**31 - 1),
    (M_TOP_PAD, TOP_PAD_BYTES),
)


def _glibc():
    """glibc as a ``ctypes.CDLL``, or ``None`` on another platform or C library."""
    if not sys.platform.startswith("linux"):
        return None
    try:
        libc = ctypes.CDLL(ctypes.util.find_library("c") or "libc.so.6")
    except OSError:
        return None
    if not hasattr(libc, "gnu_get_libc_version") or not hasattr(libc, "mallopt"):
        return None  # e.g. musl
    return libc


def keep_freed_memory() -> bool:
    """Make glibc keep freed memory for reuse (module docstring); returns whether it did.

    ``False`` when ``EPROP_JAX_KEEP_FREED_MEMORY`` is ``0`` (or ``false``/``no``/``off``), on a
    platform without glibc, or if ``mallopt`` refused a setting. Calling it again is harmless.

    Example:
        >>> import eprop_jax as ej
        >>> ej.keep_freed_memory() in (True, False)
        True
    """
    if os.environ.get(ENV_VAR, "1").strip().lower() in ("0", "false", "no", "off"):
        return False
    libc = _glibc()
    if libc is None:
        return False
    mallopt = libc.mallopt
    mallopt.argtypes, mallopt.restype = (ctypes.c_int, ctypes.c_int), ctypes.c_int
    return all(mallopt(param, value) == 1 for param, value in SETTINGS)
