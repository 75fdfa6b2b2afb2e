"""The conventions around the core's step and e-prop that turn the paper's into NEST's.

Per update interval (package docstring, :mod:`eprop_jax.nest`): the targets as NEST's readout
sees them (:func:`nest_targets`), the input synapses that miss the last learning signal
(:func:`nest_truncation`), the NEST eligibility rule (the synapses' own kappa, that missing
signal), NEST's weights in the project's units, the presynaptic spikes that trigger NEST's lazy
updates, and the batch gradient (:func:`nest_batch_gradients`) run by the core's online
(:func:`~eprop_jax.eprop.eprop_gradients`) or offline
(:func:`~eprop_jax.eprop_factored.eprop_factored_gradients`) e-prop.
"""

from __future__ import annotations

from typing import Any, NamedTuple

import jax
import jax.numpy as jnp
import numpy as np

from .._checks import check_choice
from ..eprop import LearningRule, eprop_eligibility, eprop_gradients
from ..eprop_factored import eprop_factored_gradients
from ..losses import get_loss, rate_regularization
from ..models.alif import AlifParams
from ..network import Network, Weights, simulate
from .params import NestConfig, _err


def nest_targets(targets: np.ndarray, amplitude_offset: int = 4) -> np.ndarray:
    """The target each readout step ``k`` of NEST's model compares against.

    The readout of sequence step ``k`` of sequence ``n`` computes its error at NEST step
    ``4 + nT + k`` (``total_offset`` = generator offset 1 + three one-step delays) against the
    value the target ``step_rate_generator`` holds at that time. The v3.10 tutorials set their
    ``amplitude_times`` to ``total_offset + nT + k`` (4 + ...), so the value given for step ``k``
    is the one used at ``k``; older scripts that start at ``3 + nT`` see the target one step early
    (at ``k = T - 1`` already the next sequence's first value). ``step_rate_generator`` holds its
    last value at the end.

    Args:
        targets: the generator's values per step in simulation order, shape ``(N, T, K)`` for
            ``N`` consecutive sequences; value ``[n, k]`` is set at time
            ``amplitude_offset + nT + k`` ms (dt = 1 ms).
        amplitude_offset: that offset in steps (4 in the v3.10 tutorials).

    Returns:
        The targets per readout step, shape ``(N, T, K)``.

    Example:
        >>> nest_targets(np.arange(6.0).reshape(2, 3, 1), amplitude_offset=3)[..., 0]
        array([[1., 2., 3.],
               [4., 5., 5.]])
    """
    targets = np.asarray(targets)
    n, t, k = targets.shape
    flat = targets.reshape(n * t, k)
    shift = 4 - int(amplitude_offset)
    index = np.arange(n * t) + shift
    shifted = flat[np.clip(index, 0, n * t - 1)] * (index >= 0)[:, None]  # 0 before the first
    return shifted.reshape(n, t, k)


def nest_truncation(inputs: np.ndarray) -> np.ndarray:
    """Which input synapses miss the last learning signal (package docstring), per sequence.

    An input neuron that spikes at step 1 of sequence ``n + 1`` triggers the update of sequence
    ``n`` before ``L_{T-1}`` of sequence ``n`` has arrived. The last sequence is complete (the
    tutorials' final update comes later).

    Args:
        inputs: input spikes, shape ``(N, T, n_in)``.

    Returns:
        Boolean array of shape ``(N, n_in)``.
    """
    inputs = np.asarray(inputs)
    out = np.zeros((inputs.shape[0], inputs.shape[2]), bool)
    out[:-1] = inputs[1:, 1, :] != 0
    return out


class _NestEligibilityState(NamedTuple):
    inner: Any  # EpropState
    step: jax.Array  # shape=(), dtype=int32, step within the sequence

    @property
    def e_sum(self) -> jax.Array:
        return self.inner.e_sum


def _nest_eligibility(kappa_synapse: float, truncate: jax.Array, t_steps: int):
    """:func:`~eprop_jax.eprop.eprop_eligibility` with the synapse's kappa and NEST's missing
    last learning signal for the presynaptic columns in ``truncate`` (shape ``(P,)``)."""

    def factory(params: AlifParams, kappa: jax.Array):
        inner = eprop_eligibility(params, jnp.asarray(kappa_synapse, kappa.dtype))

        def init(n_batch: int, n_pre: int, dtype):
            return _NestEligibilityState(
                inner.init(n_batch, n_pre, dtype), jnp.zeros((), jnp.int32)
            )

        def update(state: _NestEligibilityState, step, learning_signal):
            grad, new = inner.update(state.inner, step, learning_signal)
            last = (state.step == t_steps - 1).astype(grad.dtype)
            grad = grad * (1 - last * truncate)  # L_{T-1} arrives after NEST computed the update
            return grad, _NestEligibilityState(new, state.step + 1)

        return LearningRule(init, update)

    return factory


def _effective_weights(net: Network, config: NestConfig, weights: Weights):
    """NEST's weights in the project's units: ``v_t = alpha v + I_t`` and
    ``y_t = kappa y + (1 - kappa) W z`` take ``zeta W_in``, ``zeta W_rec`` and
    ``zeta_out / (1 - kappa) W_out``."""
    dtype = weights.w_rec.dtype
    zeta = jnp.asarray(config.zeta, dtype)[:, None]
    out_scale = config.zeta_out / (1.0 - float(np.asarray(net.readout.kappa)))
    eff = Weights(
        w_in=zeta * weights.w_in,
        w_rec=zeta * weights.w_rec,
        w_out=weights.w_out * out_scale,
        b_out=jnp.zeros_like(weights.b_out),
        b_fb=weights.b_fb,
    )
    return zeta, out_scale, eff


def _triggers(net: Network, config: NestConfig, weights: Weights, inputs, counts):
    """Which presynaptic neurons send NEST's lazy update in this batch, per weight column.

    A synapse updates at its presynaptic neuron's first transmitted spike in an interval after the
    first one: input spikes at steps >= 1, recurrent spikes before the last step (the last one
    reaches its recurrent targets at the next interval's step 0 and is dropped) or at any step
    (readouts). ``counts`` (B,) marks the intervals that can trigger.
    """
    _, _, eff = _effective_weights(net, config, weights)
    x = jnp.asarray(inputs, weights.w_rec.dtype).at[:, 0].set(0)  # (B, T, n_in)
    z = simulate(net, eff, jnp.swapaxes(x, 0, 1)).z > 0  # (T, B, n_rec)
    c = counts[:, None]
    return (
        jnp.any(jnp.any(x[:, 1:] > 0, axis=1) & c, axis=0),
        jnp.any(jnp.any(z[:-1], axis=0) & c, axis=0),
        jnp.any(jnp.any(z, axis=0) & c, axis=0),
    )


class NestBatchResult(NamedTuple):
    """What :func:`nest_batch_gradients` returns (gradients in NEST's units and layout)."""

    grad_in: jax.Array  # shape=(n_rec, n_in), batch mean G
    grad_rec: jax.Array  # shape=(n_rec, n_rec)
    grad_out: jax.Array  # shape=(n_out, n_rec)
    loss: jax.Array  # shape=(), the tutorial's loss of this batch
    readout_signal: jax.Array | None  # shape=(B, T, n_out): pi_k (softmax or y), 0 outside window
    spikes: jax.Array | None  # shape=(B, T, n_rec)


def nest_batch_gradients(
    net: Network,
    config: NestConfig,
    weights: Weights,
    inputs: jax.Array,
    targets: jax.Array,
    truncate: jax.Array,
    *,
    record: bool = False,
    implementation: str = "auto",
    any_truncated: bool = True,
) -> NestBatchResult:
    """NEST's batch gradient: per-sequence e-prop (reset, dropped spikes, scaling), batch mean.

    ``implementation="online"`` runs :func:`~eprop_jax.eprop.eprop_gradients` with a wrapped
    eligibility rule; ``"factored"`` runs the same gradient offline
    (:func:`~eprop_jax.eprop_factored.eprop_factored_gradients`, about ten times faster on a CPU)
    and removes the missing last learning signal with a second pass that only has step ``T - 1``
    in its window. ``"auto"`` takes the factored form unless ``record`` is set or the synapses'
    ``tau_m_readout`` differs from the readout's ``tau_m`` (the factored form filters the trace
    with the readout's kappa).

    Args:
        net, config: from :func:`~eprop_jax.nest.params.from_nest`.
        weights: NEST's weights (``w_in``, ``w_rec``, ``w_out``; ``b_fb`` = the learning-signal
            connection weights, ``(n_rec, n_out)``; ``b_out`` must be 0).
        inputs: input spikes of the batch's sequences, shape ``(B, T, n_in)`` (step 0 is dropped).
        targets: NEST-aligned targets (:func:`nest_targets`), shape ``(B, T, n_out)``.
        truncate: :func:`nest_truncation` rows of these sequences, shape ``(B, n_in)``.
        record: also return the readout signal and the spikes.
        implementation: ``"auto"``, ``"online"`` or ``"factored"``.
        any_truncated: ``False`` promises that ``truncate`` is all False (skips the factored
            form's second pass).
    """
    check_choice(
        "nest_batch_gradients", "implementation", implementation, ("auto", "online", "factored")
    )
    same_kappa = abs(config.kappa_synapse - float(np.asarray(net.readout.kappa))) < 1e-15
    if implementation == "factored" and (record or not same_kappa):
        raise _err(
            "nest_batch_gradients",
            "implementation='factored' needs record=False and the synapses' tau_m_readout equal "
            "to the readout's tau_m.",
        )
    factored = implementation == "factored" or (
        implementation == "auto" and not record and same_kappa
    )
    dtype = weights.w_rec.dtype
    t_steps, lw = config.update_interval, config.learning_window
    n_rec = net.n_rec
    zeta, out_scale, eff = _effective_weights(net, config, weights)
    # NEST adds c_reg (f - f*) / T * sum(e) to the task term and divides both by LW (average_gradient);
    # the project divides the task term by the window's N = LW and the reg term not: so c_reg / LW.
    reg = rate_regularization(config.c_reg / lw, config.f_target)
    scale = 1.0 if config.average_gradient else float(lw)
    step_loss = get_loss(config.loss)
    mask = (jnp.arange(t_steps) >= t_steps - lw).astype(dtype)[:, None]

    def one(x, target, trunc):
        x = x.at[0].set(0)  # input spikes at interval step 0 are dropped
        sequence = (net, eff, x[:, None], target[:, None])  # one sequence: batch axis of 1
        common = {"step_loss": step_loss, "feedback_matrix": weights.b_fb}
        if factored:
            grads, aux = eprop_factored_gradients(*sequence, mask, regularization=reg, **common)
            if not any_truncated:
                return grads, aux
            # The update of an input synapse that fires at step 1 of the next sequence runs before
            # L_{T-1} arrives: subtract L_{T-1} e-bar_{T-1} (a pass whose window is step T-1 only;
            # its loss is normalised by 1 instead of LW).
            last = jnp.zeros_like(mask).at[-1].set(1)
            no_reg = rate_regularization(0.0)
            cut, _ = eprop_factored_gradients(*sequence, last, regularization=no_reg, **common)
            return grads._replace(w_in=grads.w_in - cut.w_in * trunc.astype(dtype) / lw), aux
        row = jnp.concatenate([trunc.astype(dtype), jnp.zeros((n_rec,), dtype)])
        eligibility = _nest_eligibility(config.kappa_synapse, row, t_steps)
        return eprop_gradients(
            *sequence, mask, regularization=reg, eligibility=eligibility, record=record, **common
        )

    res, aux = jax.vmap(one)(jnp.asarray(inputs, dtype), jnp.asarray(targets, dtype), truncate)
    grad_in = scale * zeta * jnp.mean(res.w_in, axis=0)
    grad_rec = scale * zeta * jnp.mean(res.w_rec, axis=0)
    grad_out = scale * out_scale * jnp.mean(res.w_out, axis=0)
    # The tutorials' loss: CE averaged over window and batch; MSE 0.5 sum_t (y - y*)^2 averaged
    # over readouts and batch.
    n_out = weights.w_out.shape[0]
    loss = jnp.mean(aux.task_loss) * (1.0 if config.loss == "cross_entropy" else lw / n_out)
    readout = spikes = None
    if record:
        y = aux.trajectory.y[:, :, 0]  # (B, T, K)
        signal = jax.nn.softmax(y, axis=-1) if config.loss == "cross_entropy" else y
        readout = signal * mask[None]
        spikes = aux.trajectory.z[:, :, 0]
    return NestBatchResult(grad_in, grad_rec, grad_out, loss, readout, spikes)
