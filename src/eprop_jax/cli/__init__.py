"""Command line: ``eprop-jax train | nest | dnms | reward | plot | compare | bench``.

Each command's parser carries only the options it honours:

* ``eprop-jax train TASK``: spiking e-prop (or another rule) on a task (:func:`eprop_jax.train`);
* ``eprop-jax nest TASK``: one of NEST 3.10's e-prop tutorials, number for number (NEST mode);
* ``eprop-jax dnms``: Miconi's reward-modulated rate network on DNMS;
* ``eprop-jax reward ENV``: an actor-critic spiking agent, reward-based e-prop (``.reward``);
* ``eprop-jax plot DIR``: redraw the figures of any run folder;
* ``eprop-jax compare``, ``eprop-jax bench``: gradient alignment, speed and memory.

Every run folder follows :mod:`eprop_jax.rundir`: a folder holding a run is refused unless
``--resume`` or ``--overwrite``. Numeric options are checked as they are parsed (zero, negative
or non-finite values are refused where meaningless). Every user mistake ends in one line
``eprop-jax COMMAND: error: ...`` and exit code 2; a traceback means a bug.

Examples::

    eprop-jax train evidence_accumulation --rule eprop --feedback random --out runs/ea
    eprop-jax train sine_waves --dt 0.5 --dtype float64 --out runs/sine64
    eprop-jax nest sine_waves --iterations 20
    eprop-jax dnms --groups 2000 --networks 8
    eprop-jax plot runs/ea
    eprop-jax compare evidence_accumulation --batches 4 --json

The package holds one module per job: :mod:`._options` (the validated argument types, the
``KEY=VALUE`` parsers, the run-folder options), :mod:`.train`, :mod:`.nest`, :mod:`.dnms` (each
command's parser and handler) and :mod:`.tools` (``plot``, ``compare``, ``bench``); this module
builds the parser, answers the spellings of earlier versions, formats errors and runs :func:`main`.
"""

from __future__ import annotations

import argparse
import sys
import warnings
from collections.abc import Sequence

# Every name the single module eprop_jax/cli.py held stays importable from here (tests replace
# the handlers on this module: main looks them up here at call time).
from ..allocator import keep_freed_memory
from ..rules import FEEDBACKS as FEEDBACKS
from ..rules import RULES as RULES
from ..rules import resolve_rule as resolve_rule
from ..rules import takes_feedback as takes_feedback
from ..rundir import RunDirWarning as RunDirWarning
from ..surrogates import SURROGATES as SURROGATES
from ..train import NAMED_RULE_OPTIONS as NAMED_RULE_OPTIONS
from ..train import TASK_PRESETS as TASK_PRESETS
from ..train import TrainConfig as TrainConfig
from ..train import TrainingDiverged as TrainingDiverged
from ._options import _FINITE as _FINITE
from ._options import _NAMED_RULE_FLAGS as _NAMED_RULE_FLAGS
from ._options import _NON_NEGATIVE as _NON_NEGATIVE
from ._options import _POSITIVE as _POSITIVE
from ._options import _add_run_folder_options as _add_run_folder_options
from ._options import _integer as _integer
from ._options import _key_value as _key_value
from ._options import _number as _number
from ._options import _Parser as _Parser
from ._options import _rule_name as _rule_name
from ._options import _rule_option as _rule_option
from ._options import _task_option as _task_option
from .dnms import _add_dnms_parser as _add_dnms_parser
from .dnms import _dnms as _dnms
from .nest import NEST_DEFAULT_ITERATIONS as NEST_DEFAULT_ITERATIONS
from .nest import _add_nest_parser as _add_nest_parser
from .nest import _nest as _nest
from .reward import _add_reward_parser as _add_reward_parser
from .reward import _reward as _reward
from .tools import _add_bench_parser as _add_bench_parser
from .tools import _add_compare_parser as _add_compare_parser
from .tools import _add_plot_parser as _add_plot_parser
from .tools import _compare as _compare
from .tools import _plot as _plot
from .train import NETWORK_OPTIONS as NETWORK_OPTIONS
from .train import _add_train_parser as _add_train_parser
from .train import _preset as _preset
from .train import _train as _train


def build_parser() -> argparse.ArgumentParser:
    parser = _Parser(
        prog="eprop-jax",
        description="Train recurrent spiking networks with e-prop (Bellec et al. 2020) in JAX.",
    )
    sub = parser.add_subparsers(dest="command", required=True)
    _add_train_parser(sub)
    _add_nest_parser(sub)
    _add_dnms_parser(sub)
    _add_reward_parser(sub)
    _add_plot_parser(sub)
    _add_compare_parser(sub)
    _add_bench_parser(sub)
    return parser


EXPECTED_ERRORS = (ValueError, TrainingDiverged, OSError)
"""Errors that are the user's (bad input, a folder in use, a diverged run, a full disk): one line.
``OSError`` covers ``FileNotFoundError``, ``PermissionError``, ``IsADirectoryError``, ...;
``RunDirError`` is a ``ValueError``. Anything else is a bug and keeps its traceback."""


def _old_spelling(argv: list[str]) -> str | None:
    """The message for a command line of an earlier version, or ``None``."""
    if argv[:1] != ["train"]:
        return None
    if "dnms" in argv[1:2]:
        return (
            "DNMS has its own command now: eprop-jax dnms [--groups N] [--networks N] ... "
            "(see eprop-jax dnms --help)"
        )
    if "--nest-compatible" in argv:
        return (
            "NEST mode has its own command now: eprop-jax nest TASK [--iterations N] ... "
            "(see eprop-jax nest --help)"
        )
    return None


def _error_text(error: BaseException) -> str:
    if isinstance(error, OSError) and error.strerror and error.filename:
        text = f"{error.strerror}: {error.filename}"
    else:
        text = str(error) or type(error).__name__
    return " ".join(text.split())


def main(argv: Sequence[str] | None = None) -> int:
    """Entry point of the ``eprop-jax`` command; returns the exit code (2: a user's mistake)."""
    if argv is None:  # a real command line (not a caller's process): keep freed memory, so that
        keep_freed_memory()  # XLA:CPU's per-call buffers are reused instead of page-faulted anew
    argv = list(sys.argv[1:] if argv is None else argv)
    if argv[:1] == ["bench"]:  # its options belong to eprop_jax.bench
        from ..bench import main as bench_main

        return bench_main(argv[1:])
    old = _old_spelling(argv)
    if old is not None:
        print(f"eprop-jax {argv[0]}: error: {old}", file=sys.stderr)
        return 2
    try:
        args, extra = build_parser().parse_known_args(argv)
    except SystemExit as exit_:  # --help (0) or a parse error, already printed in one line
        return exit_.code if isinstance(exit_.code, int) else 0
    if extra:
        print(
            f"eprop-jax {args.command}: error: unrecognized arguments: {' '.join(extra)} "
            f"(see eprop-jax {args.command} --help)",
            file=sys.stderr,
        )
        return 2
    if getattr(args, "dtype", None) == "float64":
        import jax

        jax.config.update("jax_enable_x64", True)  # the command line may; library code must not
    handlers = {
        "train": _train,
        "nest": _nest,
        "dnms": _dnms,
        "reward": _reward,
        "plot": _plot,
        "compare": _compare,
    }
    command = f"eprop-jax {args.command}"

    def one_line_warning(message, category, filename, lineno, file=None, line=None):
        print(f"{command}: warning: {' '.join(str(message).split())}", file=sys.stderr)

    with warnings.catch_warnings():
        warnings.showwarning = one_line_warning
        warnings.filterwarnings("always", category=RunDirWarning)
        warnings.filterwarnings("always", message="`train`", category=RuntimeWarning)
        try:
            return handlers[args.command](args)
        except EXPECTED_ERRORS as error:
            print(f"{command}: error: {_error_text(error)}", file=sys.stderr)
            return 2
        except KeyboardInterrupt:
            resumable = ("train", "dnms", "reward")
            more = " (continue it with --resume)" if args.command in resumable else ""
            print(f"{command}: interrupted{more}", file=sys.stderr)
            return 130


__all__ = ["TASK_PRESETS", "build_parser", "main"]
