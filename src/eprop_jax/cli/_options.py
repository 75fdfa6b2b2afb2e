"""Shared pieces of the command line's parsers.

* :class:`_Parser`, an ``argparse.ArgumentParser`` whose errors are one line;
* the validated argument types: ``_integer(least)``, ``_number(low, high)`` and its instances
  ``_POSITIVE``, ``_NON_NEGATIVE``, ``_FINITE``, each refusing what is meaningless in one line;
* the ``KEY=VALUE`` parsers ``_key_value``, ``_task_option``, ``_rule_option`` (values are read
  as JSON, else kept as text) and ``_rule_name`` (a registered rule or ``package.module:factory``);
* ``_add_run_folder_options``, the ``--resume``/``--overwrite``/``--no-plots``/``--no-progress``
  group every training command shares (:mod:`eprop_jax.rundir`).
"""

from __future__ import annotations

import argparse
import json
import math

from ..rules import RULES
from ..train import NAMED_RULE_OPTIONS


class _Parser(argparse.ArgumentParser):
    """An argument parser whose errors are one line: ``PROG: error: MESSAGE`` (exit code 2)."""

    def error(self, message: str):
        self.exit(2, f"{self.prog}: error: {message}\n")


# -- argument types: each refuses what is meaningless, in one line ---------------------------


def _integer(least: int, most: int | None = None):
    """An integer >= least (and <= most, if given)."""
    wanted = f">= {least}" if most is None else f"in [{least}, {most}]"

    def parse(text: str) -> int:
        try:
            value = int(text)
        except ValueError:
            raise argparse.ArgumentTypeError(
                f"expected an integer {wanted}; got {text!r}"
            ) from None
        if value < least or (most is not None and value > most):
            raise argparse.ArgumentTypeError(f"must be an integer {wanted}; got {text!r}")
        return value

    parse.__name__ = f"integer {wanted}"
    return parse


SEED = _integer(0, 2**32 - 1)
"""A random seed (``jax.random.key`` takes 32-bit seeds)."""


def _seeds(text: str) -> tuple[int | None, int]:
    """``--seeds``: a count ``N`` (seeds ``--seed`` ... ``--seed + N - 1``) or a range ``A:B``
    (seeds ``A`` ... ``B - 1``, as Python's ``range``). Returns ``(first seed or None, count)``."""
    wanted = "a count N >= 1 or a range A:B of seeds with 0 <= A < B <= 2**32"
    if ":" in text:
        first, _, stop = text.partition(":")
        try:
            a, b = int(first), int(stop)
        except ValueError:
            raise argparse.ArgumentTypeError(f"expected {wanted}; got {text!r}") from None
        if not 0 <= a < b <= 2**32:
            raise argparse.ArgumentTypeError(f"expected {wanted}; got {text!r}")
        return a, b - a
    try:
        count = int(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"expected {wanted}; got {text!r}") from None
    if count < 1:
        raise argparse.ArgumentTypeError(f"expected {wanted}; got {text!r}")
    return None, count


def _number(
    low: float = -math.inf,
    high: float = math.inf,
    *,
    low_open: bool = True,
    high_open: bool = False,
):
    """A finite float in the interval (low, high] (the ends as given)."""
    left = "(" if low_open else "["
    right = ")" if high_open or high == math.inf else "]"
    interval = f"{left}{low:g}, {high:g}{right}"

    def parse(text: str) -> float:
        try:
            value = float(text)
        except ValueError:
            raise argparse.ArgumentTypeError(f"expected a number; got {text!r}") from None
        inside = (value > low if low_open else value >= low) and (
            value < high if high_open else value <= high
        )
        if not math.isfinite(value) or not inside:
            if low == -math.inf and high == math.inf:
                raise argparse.ArgumentTypeError(f"must be a finite number; got {text!r}")
            raise argparse.ArgumentTypeError(f"must be a finite number in {interval}; got {text!r}")
        return value

    parse.__name__ = "number"
    return parse


_POSITIVE = _number(0.0)
_NON_NEGATIVE = _number(0.0, low_open=False)
_FINITE = _number()


def _key_value(text: str) -> tuple[str, object]:
    if "=" not in text or not text.split("=", 1)[0]:
        raise argparse.ArgumentTypeError(f"expected KEY=VALUE; got {text!r}")
    key, value = text.split("=", 1)
    try:
        parsed = json.loads(value)
    except json.JSONDecodeError:
        return key, value
    if isinstance(parsed, float) and not math.isfinite(parsed):
        raise argparse.ArgumentTypeError(f"{key} must be finite; got {value!r}")
    return key, parsed


def _task_option(text: str) -> tuple[str, object]:
    key, value = _key_value(text)
    if key == "dt":
        raise argparse.ArgumentTypeError(
            "dt is set with --dt (one time step for the task and the network)"
        )
    if key == "dtype":
        raise argparse.ArgumentTypeError("dtype is set with --dtype")
    return key, value


_NAMED_RULE_FLAGS = {
    "loss": "the task",
    "feedback": "--feedback",
    "regularization": "--c-reg and --f-target",
}


def _rule_option(text: str) -> tuple[str, object]:
    key, value = _key_value(text)
    if key in NAMED_RULE_OPTIONS:
        raise argparse.ArgumentTypeError(f"{key} is set by {_NAMED_RULE_FLAGS[key]}, not here")
    return key, value


def _rule_name(text: str) -> str:
    """A registered rule name, or ``package.module:factory`` (checked when it is built)."""
    if text not in RULES and ":" not in text:
        raise argparse.ArgumentTypeError(
            f"unknown rule {text!r}; expected one of {', '.join(sorted(RULES))} "
            "or package.module:factory"
        )
    return text


def _add_run_folder_options(p, *, resume_help: str) -> None:
    p.add_argument("--resume", action="store_true", help=resume_help)
    p.add_argument(
        "--overwrite",
        action="store_true",
        help="delete the run already in --out (its files and figures) and start anew",
    )
    p.add_argument("--no-plots", action="store_true", help="do not draw the PNG figures")
    p.add_argument("--no-progress", action="store_true", help="hide the progress bar")
