r"""Pseudo-derivatives and the spike function that uses them.

A spiking neuron emits :math:`z = H(v - A)` (Heaviside step of the distance to threshold). Its true
derivative is zero almost everywhere, so e-prop and BPTT replace :math:`\partial z / \partial v` by a
*pseudo-derivative* :math:`\psi` (Bellec et al. 2020, Eq. 24 and Methods "pseudo-derivative").

With :math:`u = v - A` (membrane potential minus the current, possibly adaptive, threshold), a height
:math:`h > 0` and a width :math:`w > 0`, the four shapes are

.. math::

    \text{piecewise\_linear:}\quad & \psi = h \max(0, 1 - |u|/w) \\
    \text{exponential:}\quad       & \psi = h \exp(-|u|/w) \\
    \text{fast\_sigmoid:}\quad     & \psi = h (1 + |u|/w)^{-2} \\
    \text{arctan:}\quad            & \psi = h / (1 + (u/w)^2)

All peak at :math:`\psi(0) = h`. The paper's choice is piecewise-linear with
:math:`h = \gamma / v_{th}` and :math:`w = v_{th}` (:math:`\gamma = 0.3`), which is what
:func:`eprop_jax.network` uses by default; the same (h, w) convention as NEST 3.10's
``surrogate_gradient_height`` / ``surrogate_gradient_width``.

The shape is a discrete choice and so lives in a closure (:func:`surrogate`); height and width
are per-neuron arrays passed at call time.

References:
    Bellec et al. 2020, "A solution to the learning dilemma for recurrent networks of spiking
    neurons", Nat. Commun. 11:3625 (Methods, Eq. 24 and the pseudo-derivative definition).
"""

from __future__ import annotations

import functools
from collections.abc import Callable
from typing import NamedTuple

import jax
import jax.numpy as jnp

from ._checks import check_choice

SurrogateShape = Callable[[jax.Array], jax.Array]


def _piecewise_linear(x: jax.Array) -> jax.Array:
    return jnp.maximum(0.0, 1.0 - jnp.abs(x))


def _exponential(x: jax.Array) -> jax.Array:
    return jnp.exp(-jnp.abs(x))


def _fast_sigmoid(x: jax.Array) -> jax.Array:
    return 1.0 / jnp.square(1.0 + jnp.abs(x))


def _arctan(x: jax.Array) -> jax.Array:
    return 1.0 / (1.0 + jnp.square(x))


SURROGATES: dict[str, SurrogateShape] = {
    "piecewise_linear": _piecewise_linear,
    "exponential": _exponential,
    "fast_sigmoid": _fast_sigmoid,
    "arctan": _arctan,
}
"""Unit-height, unit-width shapes :math:`f(x)`, so that :math:`\\psi = h f(u / w)`."""


def pseudo_derivative(name: str = "piecewise_linear") -> Callable[..., jax.Array]:
    """Return ``psi(u, height, width) = height * f(u / width)`` for the named shape.

    Args:
        name: one of ``"piecewise_linear"``, ``"exponential"``, ``"fast_sigmoid"``, ``"arctan"``.

    Returns:
        A pure function of ``u`` (any shape) and broadcastable ``height`` and ``width``.

    Example:
        >>> psi = pseudo_derivative("piecewise_linear")
        >>> float(psi(jnp.array(0.3), 0.5, 0.6))
        0.25
    """
    check_choice("pseudo_derivative", "surrogate", name, tuple(SURROGATES))
    shape = SURROGATES[name]

    def psi(u: jax.Array, height: jax.Array, width: jax.Array) -> jax.Array:
        return height * shape(u / width)

    return psi


def spike_function(name: str = "piecewise_linear") -> Callable[..., jax.Array]:
    """Return ``spike(u, height, width) = H(u)`` whose derivative in ``u`` is ``psi(u)``.

    ``H(u) = 1`` for ``u > 0`` and 0 otherwise. The custom JVP returns
    ``psi(u, height, width) * du`` and no derivative with respect to height or width (the paper's
    "dampening factor" is not learned).

    Args:
        name: the surrogate shape, as in :func:`pseudo_derivative`.

    Example:
        >>> spike = spike_function()
        >>> float(jax.grad(spike)(jnp.array(0.3), 0.5, 0.6))
        0.25
    """
    psi = pseudo_derivative(name)

    @jax.custom_jvp
    def spike(u: jax.Array, height: jax.Array, width: jax.Array) -> jax.Array:
        return (u > 0).astype(u.dtype)

    @spike.defjvp
    def _spike_jvp(primals, tangents):
        u, height, width = primals
        du = tangents[0]
        # A refractory neuron is gated with u = -inf (models/alif.py); psi(-inf) = 0 for every
        # shape, but the 1/y shapes would give NaN second derivatives there, so -inf is kept out.
        blocked = jnp.isneginf(u)
        slope = jnp.where(blocked, 0.0, psi(jnp.where(blocked, 0.0, u), height, width))
        return spike(u, height, width), slope * du

    return spike


class Surrogate(NamedTuple):
    """A spike function and its pseudo-derivative, built from one shape by :func:`surrogate`."""

    spike: Callable[..., jax.Array]  # spike(u, height, width) = H(u), d/du = psi
    psi: Callable[..., jax.Array]  # psi(u, height, width) = height * f(u / width)


def surrogate(name: str = "piecewise_linear") -> Surrogate:
    """Return the ``Surrogate(spike, psi)`` pair for the named shape (see the module docstring).

    Raises:
        ValueError: for an unknown name; the message lists the accepted ones.
    """
    check_choice("surrogate", "surrogate_shape", name, tuple(SURROGATES))
    return _surrogate(name)


@functools.cache
def _surrogate(name: str) -> Surrogate:
    # One object per shape: a Network holds it as static (hashable) data, so equal networks hash
    # equal and a jitted function that takes the network compiles once.
    return Surrogate(spike=spike_function(name), psi=pseudo_derivative(name))
