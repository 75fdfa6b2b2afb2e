"""Small shared validators: every public function checks its inputs with these helpers.

Errors are raised at trace time (in Python, on shapes and concrete numbers) and always name the
function, the parameter, what was expected and what was given.
"""

from __future__ import annotations

from collections.abc import Sequence

import jax
import numpy as np


def is_concrete(x) -> bool:
    """True when ``x`` holds numbers we can look at now (not a tracer inside jit/grad/vmap)."""
    return not isinstance(x, jax.core.Tracer)


def check_choice(api: str, name: str, value: str, choices: Sequence[str]) -> str:
    """Raise ``ValueError`` unless ``value`` is one of ``choices``."""
    if value not in choices:
        raise ValueError(
            f"`{api}`: unknown {name} {value!r}; expected one of {', '.join(map(repr, choices))}."
        )
    return value


def check_shape(api: str, name: str, x, expected: tuple, hint: str = "") -> None:
    """Raise ``ValueError`` unless ``x.shape == expected`` (``None`` entries match any size)."""
    shape = tuple(np.shape(x))
    ok = len(shape) == len(expected) and all(
        e is None or e == s for e, s in zip(expected, shape, strict=True)
    )
    if not ok:
        shown = "(" + ", ".join("*" if e is None else str(e) for e in expected) + ")"
        raise ValueError(f"`{api}`: expected {name} of shape {shown}, got {shape}.{hint}")


def check_positive(api: str, name: str, value, *, allow_zero: bool = False) -> np.ndarray:
    """Return ``value`` as a float64 array after checking it is finite and > 0 (or >= 0)."""
    arr = np.asarray(value, dtype=np.float64)
    bad = ~np.isfinite(arr) | ((arr < 0) if allow_zero else (arr <= 0))
    if np.any(bad):
        relation = ">= 0" if allow_zero else "> 0"
        raise ValueError(
            f"`{api}`: {name} must be finite and {relation}; got {arr.ravel()[bad.ravel()][:5]}."
        )
    return arr


def check_finite(api: str, name: str, x) -> None:
    """Raise ``ValueError`` if a concrete array holds NaN or inf (tracers are skipped)."""
    if is_concrete(x) and not bool(np.all(np.isfinite(np.asarray(x)))):
        raise ValueError(f"`{api}`: {name} contains NaN or inf; all entries must be finite.")


def broadcast_per_neuron(api: str, name: str, value, n: int) -> np.ndarray:
    """Broadcast a scalar or a length-``n`` vector to a float64 array of shape ``(n,)``."""
    arr = np.asarray(value, dtype=np.float64)
    if arr.ndim == 0:
        return np.full((n,), float(arr))
    if arr.shape != (n,):
        raise ValueError(
            f"`{api}`: {name} must be a scalar or have shape ({n},) (one per neuron); "
            f"got shape {arr.shape}."
        )
    return arr


def check_integer(api: str, name: str, value, *, minimum: int = 1) -> int:
    """Return ``value`` as an ``int`` after checking it is an integer (not a bool) >= ``minimum``."""
    if isinstance(value, bool) or not isinstance(value, int | np.integer) or value < minimum:
        raise ValueError(f"`{api}`: {name} must be an integer >= {minimum}; got {value!r}.")
    return int(value)
