r"""The leanest BPTT of the benchmark's model: one ``lax.scan`` and ``jax.grad``, nothing else.

A speed yardstick for ``eprop-jax bench`` (method ``bptt-lean``): the same network, loss and
regulariser as the library's :func:`~eprop_jax.rules.bptt` rule with cross-entropy and rate
regularisation, written without options, checks, recording or bookkeeping, so that the library's
``bptt`` can be timed against what plain JAX does. ``tests/test_bench_reference.py`` proves, in
float64, that its gradient equals the library's to 1e-10.

The step (``models/alif.py``'s ALIF with the reset gradient kept, ``network.py``'s recurrence and
readout), laid out as :func:`~eprop_jax.network.run_network` lays it out, because on XLA:CPU every
``(T, B, n)`` array that ``jax.grad`` stores costs about its page faults: the input current
:math:`W^{in} x_t` is computed inside the step (no hoisted ``(T, B, n)`` current, no cotangent
of it), the recurrent input :math:`q_t = \hat W^{rec} z_t` is computed at the end of step
:math:`t` and carried (the recurrent and readout products share one stored residual, :math:`z_t`),
refractory neurons get :math:`u_t = -\infty` (one stored pseudo-derivative instead of
pseudo-derivative and gate), and spikes are counted in the carry:

.. math::

    v_t &= \alpha v_{t-1} + W^{in} x_t + q_{t-1} - v_{th} z_{t-1},
    \qquad q_t = \hat W^{rec} z_t, \qquad \hat W^{rec} = W^{rec} \odot (1 - I) \\
    u_t &= v_t - v_{th} - \beta a_t + (-\infty)\,[r_{t-1} > 0], \qquad
    z_t = H(u_t), \qquad \partial z_t / \partial u_t := \psi_t = h \max(0, 1 - |u_t| / w) \\
    r_t &= \max(z_t\,(n_{ref} - 1) + (1 - z_t)(r_{t-1} - 1), 0), \qquad a_{t+1} = \rho a_t + z_t \\
    y_t &= \kappa y_{t-1} + (1 - \kappa)(W^{out} z_t + b)

and the objective

.. math::

    E = -\frac{1}{N}\sum_{t,b} m_{t,b} \sum_k \pi^*_{t,b,k} \log\operatorname{softmax}(y_{t,b})_k
        + \frac{c_{reg}}{2} \sum_j \Big(\frac{1}{BT}\sum_{t,b} z_{t,b,j} - f^*\Big)^2

with :math:`N = \max(\sum m, 1)` and :math:`f^* = f_{target}\,dt / 1000`.

The carry is ``(v, a, z, r, q, y, spike_count)``: five ``(B, n)`` arrays, ``(B, K)`` and
``(n,)``; the scan stacks only the readout ``(T, B, K)``. Only the piecewise-linear
pseudo-derivative (the benchmark's) is implemented.

References:
    Bellec et al. 2020, Nat. Commun. 11:3625, Eqs. 8 and 21-24.
"""

from __future__ import annotations

from collections.abc import Callable

import jax
import jax.numpy as jnp

from .network import Network, Weights
from .types import Batch


@jax.custom_jvp
def _spike(u: jax.Array, height: jax.Array, width: jax.Array) -> jax.Array:
    return (u > 0).astype(u.dtype)


@_spike.defjvp
def _spike_jvp(primals, tangents):
    u, height, width = primals
    psi = height * jnp.maximum(0.0, 1.0 - jnp.abs(u / width))
    return _spike(u, height, width), psi * tangents[0]


def bptt_lean(net: Network, c_reg: float, f_target: float) -> Callable[[Weights, Batch], tuple]:
    """Return ``grad_fn(weights, batch) -> (grads, loss)``: plain BPTT of the module's objective.

    Args:
        net: the network; its surrogate must be ``"piecewise_linear"`` (its parameters are cast
            to the weights' dtype).
        c_reg: rate-regularisation strength :math:`c_{reg}`.
        f_target: target rate :math:`f_{target}` in Hz.

    Returns:
        A function of :class:`~eprop_jax.network.Weights` and a :class:`~eprop_jax.types.Batch`
        (inputs ``(T, B, n_in)``, one-hot targets ``(T, B, K)``, mask ``(T, B)``) returning the
        gradient as ``Weights`` (``b_fb`` gets zeros, as in ``bptt``) and the loss :math:`E`.
    """
    psi = net.surrogate.psi
    if float(psi(jnp.asarray(0.5), 1.0, 1.0)) != 0.5 or float(psi(jnp.asarray(1.5), 1.0, 1.0)) != 0:
        raise ValueError(
            "`bptt_lean`: only the piecewise_linear surrogate is implemented; got a network with "
            "another surrogate_shape."
        )
    p = net.neuron
    f_star = f_target * net.dt / 1000.0

    def loss_fn(w: Weights, batch: Batch) -> jax.Array:
        dtype = w.w_rec.dtype
        alpha, rho, beta, thr, height, width = (
            jnp.asarray(x, dtype)
            for x in (p.alpha, p.rho, p.beta, p.thr, p.psi_height, p.psi_width)
        )
        n_ref = jnp.asarray(p.n_refractory, jnp.int32)
        kappa = jnp.asarray(net.readout.kappa, dtype)
        b = batch.inputs.shape[1]
        n = w.w_rec.shape[0]
        w_in_t = w.w_in.T
        w_rec_t = (w.w_rec * (1 - jnp.eye(n, dtype=dtype))).T
        w_out_t = w.w_out.T
        inputs, targets, mask = (jnp.asarray(x, dtype) for x in batch)

        def step(carry, x):
            v, a, z, r, q, y, count = carry
            v = alpha * v + (x @ w_in_t + q) - thr * z
            blocked = jnp.where(r == 0, 0.0, -jnp.inf).astype(dtype)
            z = _spike(v - (thr + beta * a) + blocked, height, width)
            r = jnp.maximum(jnp.where(z > 0, n_ref - 1, r - 1), 0)
            a = rho * a + z
            y = kappa * y + (1 - kappa) * (z @ w_out_t + w.b_out)
            return (v, a, z, r, z @ w_rec_t, y, count + z.sum(0)), y

        zeros = jnp.zeros((b, n), dtype)
        carry0 = (
            zeros,
            zeros,
            zeros,
            jnp.zeros((b, n), jnp.int32),
            zeros,
            jnp.zeros((b, w.w_out.shape[0]), dtype),
            jnp.zeros((n,), dtype),
        )
        (*_, count), y = jax.lax.scan(step, carry0, inputs)
        t = inputs.shape[0]
        ce = -jnp.sum(targets * jax.nn.log_softmax(y, axis=-1), axis=-1)
        task = jnp.sum(mask * ce) / jnp.maximum(jnp.sum(mask), 1)
        rate = count / (t * b)
        return task + 0.5 * c_reg * jnp.sum(jnp.square(rate - f_star))

    value_and_grad = jax.value_and_grad(loss_fn)

    def grad_fn(weights: Weights, batch: Batch) -> tuple[Weights, jax.Array]:
        loss, grads = value_and_grad(weights, batch)
        return grads, loss

    return grad_fn
