"""How a spiking training run is stored: ``checkpoint.npz`` and ``config.json``.

Both live in a run folder of :mod:`eprop_jax.rundir` (kind ``"spiking"``), which owns atomic
writes, locking and the refusal to lose a run; this module says what goes into the files.

A checkpoint (``checkpoint.npz``) holds the leaves of ``(weights, opt_state)`` as ``leaf_0000``,
``leaf_0001``, ..., the number of completed iterations and the configuration as JSON; it is
written atomically and never with NaN/inf (:func:`save_checkpoint`), and read back into the
structure of templates, refusing a file that does not fit them (:func:`load_checkpoint`).
A multi-seed run's leaves carry a leading seed axis; the trainer's checkpoints add ``stopped_at``
and ``diverged_at`` (one integer per seed, -1 for none).
``config.json`` is the resolved :class:`~eprop_jax.experiment.TrainConfig` plus the facts the
figures need (sizes, task kind, dt; a multi-seed run also ``seed_list``, its seeds, while a
single-seed run leaves ``seeds`` out, so its file reads as before); :func:`load_config` reads it
back.

Example:
    >>> import tempfile, pathlib
    >>> import jax.numpy as jnp
    >>> from eprop_jax.checkpoints import load_checkpoint, save_checkpoint
    >>> from eprop_jax.experiment import TrainConfig
    >>> with tempfile.TemporaryDirectory() as folder:
    ...     path = pathlib.Path(folder) / "checkpoint.npz"
    ...     save_checkpoint(path, {"w": jnp.ones(2)}, {"count": jnp.zeros(())}, 3, TrainConfig())
    ...     weights, opt_state, iteration, config = load_checkpoint(
    ...         path, {"w": jnp.zeros(2)}, {"count": jnp.zeros(())}
    ...     )
    >>> weights["w"].tolist(), iteration, config["task"]
    ([1.0, 1.0], 3, 'evidence_accumulation')
"""

from __future__ import annotations

import dataclasses
import json
from pathlib import Path

import jax
import jax.numpy as jnp
import numpy as np

from . import rundir
from .experiment import Experiment, TrainConfig


def checkpoint_arrays(
    weights, opt_state, iteration: int, config: TrainConfig, stopped_at=None, diverged_at=None
) -> dict:
    """The arrays of a checkpoint: the leaves of ``(weights, opt_state)``, iteration, config.

    A multi-seed run's leaves carry the leading seed axis. The trainer also stores, one integer
    per seed (a single-seed run: one), ``stopped_at`` (the iterations after which that seed
    reached the criterion and was frozen, or -1) and ``diverged_at`` (the iteration whose step
    made that seed NaN/inf; its state is the one after that many iterations; or -1).
    """
    leaves = jax.tree.leaves((weights, opt_state))
    arrays = {f"leaf_{i:04d}": np.asarray(leaf) for i, leaf in enumerate(leaves)}
    arrays["iteration"] = np.asarray(iteration)
    if stopped_at is not None:
        arrays["stopped_at"] = np.asarray(stopped_at, dtype=np.int64)
    if diverged_at is not None:
        arrays["diverged_at"] = np.asarray(diverged_at, dtype=np.int64)
    arrays["config"] = np.asarray(json.dumps(dataclasses.asdict(config)))
    return arrays


def save_checkpoint(path: Path, weights, opt_state, iteration: int, config: TrainConfig) -> None:
    """Atomically write weights, optimiser state and the number of completed iterations.

    Raises:
        ValueError: a weight or optimiser array holds NaN or inf (nothing is written).
    """
    arrays = checkpoint_arrays(weights, opt_state, iteration, config)
    bad = rundir.non_finite(arrays)
    if bad:
        raise ValueError(f"`save_checkpoint`: refusing to write NaN/inf (in {', '.join(bad)}).")
    rundir.save_npz(path, arrays)


def _unflatten(path, arrays: dict, weights_template, opt_state_template, api: str):
    treedef = jax.tree.structure((weights_template, opt_state_template))
    templates = jax.tree.leaves((weights_template, opt_state_template))
    leaves = []
    for i, template in enumerate(templates):
        name = f"leaf_{i:04d}"
        if name not in arrays or "iteration" not in arrays:
            raise rundir.RunDirError(
                f"`{api}`: {path} is not a checkpoint of this run (no {name})."
            )
        a = arrays[name]
        if a.shape != np.shape(template) or a.dtype != np.asarray(template).dtype:
            raise rundir.RunDirError(
                f"`{api}`: {path} does not fit this run: {name} is {a.dtype}{list(a.shape)}, "
                f"expected {np.asarray(template).dtype}{list(np.shape(template))}."
            )
        leaves.append(jnp.asarray(a))
    if f"leaf_{len(templates):04d}" in arrays:
        raise rundir.RunDirError(f"`{api}`: {path} does not fit this run (more arrays).")
    return jax.tree.unflatten(treedef, leaves)


def load_checkpoint(path: Path, weights_template, opt_state_template):
    """Read a checkpoint written by :func:`save_checkpoint` into the templates' structure.

    Returns ``(weights, opt_state, iteration, config_dict)``.

    Raises:
        RunDirError (a ``ValueError``): the file is missing, damaged or does not fit the templates.
    """
    arrays = rundir.load_npz(path, "load_checkpoint")
    weights, opt_state = _unflatten(
        path, arrays, weights_template, opt_state_template, "load_checkpoint"
    )
    config = json.loads(str(arrays["config"])) if "config" in arrays else {}
    return weights, opt_state, int(arrays["iteration"]), config


def _config_json(exp: Experiment) -> dict:
    """The resolved configuration plus derived facts the figures need (sizes, kind, dt)."""
    net = exp.net
    derived = {
        "task_kind": "classification" if exp.classification else "regression",
        "loss": exp.loss,
        "dt": net.dt,
        "n_in": net.n_in,
        "n_rec": net.n_rec,
        "n_alif": int(np.count_nonzero(np.asarray(net.neuron.beta))),
        "n_out": net.n_out,
    }
    config = dataclasses.asdict(exp.config)
    if exp.config.seeds == 1:
        del config["seeds"]  # a single-seed run's config.json is the one written before --seeds
    else:
        derived["seed_list"] = list(exp.seeds)
    return {**config, **derived}


def load_config(path: str | Path) -> TrainConfig:
    """Read a ``config.json`` written by :func:`train` back into a :class:`TrainConfig`.

    Raises:
        ValueError: the file records another kind of run (NEST mode, DNMS).
        FileNotFoundError: no such file.
    """
    data = json.loads(Path(path).read_text())
    kind = rundir.run_kind(data)
    if kind != "spiking":
        raise ValueError(f"`load_config`: {path} records a {kind} run, not a spiking e-prop run.")
    fields = {f.name for f in dataclasses.fields(TrainConfig)}
    config = TrainConfig(**{k: v for k, v in data.items() if k in fields})
    if config.weight_bounds is not None:
        config = dataclasses.replace(config, weight_bounds=tuple(config.weight_bounds))
    return config
