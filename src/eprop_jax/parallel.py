"""Data-parallel training over the batch with ``jax.sharding``.

A one-axis device mesh (``"batch"``) splits every batch along its batch axis (axis 1 of the
time-major arrays); weights and optimiser state are replicated. Inside ``jax.jit`` the compiler
partitions the scan so that each device simulates its own trials, and the sums over trials in
the gradients become all-reduces: the gradients equal the single-device ones up to the order of
floating-point additions. The same code runs on 1..N local GPUs, on CPU with forced host
devices (``XLA_FLAGS=--xla_force_host_platform_device_count=4``, used by the tests), and across
hosts after ``jax.distributed.initialize()``, since the mesh spans ``jax.devices()``.
"""

from __future__ import annotations

from collections.abc import Sequence

import jax
from jax.sharding import AxisType, Mesh, NamedSharding
from jax.sharding import PartitionSpec as P

from .types import Batch

AXIS = "batch"


def batch_mesh(devices: Sequence[jax.Device] | None = None) -> Mesh:
    """A one-axis mesh named ``"batch"`` over ``devices`` (default: all of ``jax.devices()``)."""
    devices = list(jax.devices() if devices is None else devices)
    return jax.make_mesh((len(devices),), (AXIS,), axis_types=(AxisType.Auto,), devices=devices)


def batch_shardings(mesh: Mesh) -> Batch:
    """Shardings of a time-major :class:`~eprop_jax.types.Batch`: split along the batch axis."""
    return Batch(
        inputs=NamedSharding(mesh, P(None, AXIS, None)),
        targets=NamedSharding(mesh, P(None, AXIS, None)),
        mask=NamedSharding(mesh, P(None, AXIS)),
    )


def check_divisible(api: str, n_batch: int, mesh: Mesh) -> None:
    """Raise ``ValueError`` unless the batch splits evenly over the mesh."""
    n_devices = mesh.shape[AXIS]
    if n_batch % n_devices:
        raise ValueError(
            f"`{api}`: batch_size={n_batch} must be a multiple of the number of devices "
            f"({n_devices}) for data-parallel training."
        )


def shard_batch(batch: Batch, mesh: Mesh) -> Batch:
    """Place a batch on the mesh, split along its batch axis."""
    check_divisible("shard_batch", batch.inputs.shape[1], mesh)
    return jax.device_put(batch, batch_shardings(mesh))


def replicate(tree, mesh: Mesh):
    """Place a pytree (weights, optimiser state) on every device of the mesh."""
    return jax.device_put(tree, NamedSharding(mesh, P()))
