r"""A recurrent spiking network (RSNN / LSNN) with a leaky readout, simulated by one ``lax.scan``.

Weights, with :math:`n` recurrent neurons, :math:`n_{in}` inputs and :math:`K` readouts:

- ``w_in`` :math:`W^{in}` ``(n, n_in)``, ``w_rec`` :math:`W^{rec}` ``(n, n)`` (diagonal masked: no
  autapses, and the diagonal never gets a gradient), ``w_out`` :math:`W^{out}` ``(K, n)``,
  readout bias ``b_out`` ``(K,)``, and the learning-signal feedback matrix ``b_fb`` :math:`B`
  ``(n, K)`` used by random and adaptive e-prop.

One time step (``network_step``), on top of the equations of the network's neuron model
(``net.model``, :mod:`eprop_jax.models`: ``"alif"`` by default, or ``"psc_delta"``):

.. math::

    I_t = W^{in} x_t + W^{rec} z_{t-1}, \qquad
    y_t = \kappa y_{t-1} + (1-\kappa)(W^{out} z_t + b)

Options that turn this forward pass into the different gradient computations:

- ``stop_recurrent_gradient`` / ``stop_reset_gradient``: ``lax.stop_gradient`` on
  :math:`z_{t-1}` in the recurrent input / in the reset. Both on gives e-prop via autodiff
  (Bellec et al. 2020, Supplementary Note 1); the adaptation keeps the un-stopped spike.
  The model's ``step`` applies ``stop_reset_gradient``.
- ``feedback``: the readout's backward pass sends :math:`B\,\partial E/\partial y` to the spikes
  instead of :math:`W^{out\top} \partial E / \partial y` (random/adaptive feedback), while
  :math:`W^{out}` still gets its exact gradient.
- ``spike_perturbation`` :math:`d_t`: added to :math:`z_t` wherever it leaves the neuron (readout,
  next step's recurrent input and reset, the returned spikes that the rate regularisation reads)
  but not in the adaptation. Its gradient is the *total*
  learning signal :math:`dE/dz_t` of Eq. 1 (see ``tests/test_eq1_identity.py``).

References:
    Bellec et al. 2020, Nat. Commun. 11:3625, Eqs. 1, 8 and Methods.
"""

from __future__ import annotations

import dataclasses
import functools
from typing import NamedTuple

import jax
import jax.numpy as jnp
import numpy as np

from ._checks import (
    broadcast_per_neuron,
    check_choice,
    check_finite,
    check_positive,
    check_shape,
)
from .models import get_model
from .models.alif import ALIF, AlifParams, AlifState
from .models.base import NeuronModel, cast_params, decay
from .models.readout import ReadoutParams, readout_step
from .surrogates import SURROGATES, Surrogate, surrogate


@functools.partial(
    jax.tree_util.register_dataclass,
    data_fields=["neuron", "readout"],
    meta_fields=["surrogate", "n_in", "n_out", "dt", "model"],
)
@dataclasses.dataclass(frozen=True, eq=False)
class Network:
    """Everything about a network except its weights (built by :func:`network`).

    A static, jit-able value: a pytree whose leaves are the parameter arrays (``neuron``,
    ``readout``) and whose sizes, time step and surrogate are static data, so
    ``jax.jit(simulate)(net, weights, x)`` works and equal networks share one compilation.

    Passed through ``jit`` as an argument, the parameter arrays are traced, so online e-prop
    cannot look at their values: it then keeps the eligibility vector per synapse and the
    adaptation trace for every row (the same gradient, more memory). Rules built by
    :func:`~eprop_jax.rules.make_rule` close over a concrete network and keep the compact storage
    (one membrane trace per presynaptic unit when all neurons share ``tau_m``, adaptation traces
    for the ALIF rows only): close over ``net`` in your own jitted functions too.
    """

    neuron: AlifParams  # the model's per-neuron parameters, shape (n_rec,) each
    readout: ReadoutParams  # kappa
    surrogate: Surrogate  # spike function and pseudo-derivative (static)
    n_in: int
    n_out: int
    dt: float
    model: NeuronModel = ALIF  # the neuron model (static; ``eprop_jax.models``)

    @property
    def n_rec(self) -> int:
        return int(np.shape(self.neuron.alpha)[0])

    def _replace(self, **changes) -> Network:
        """A copy with ``changes`` applied (the NamedTuple spelling, kept for callers)."""
        return dataclasses.replace(self, **changes)


class Weights(NamedTuple):
    """The trainable parameters (a pytree optax can update)."""

    w_in: jax.Array  # shape=(n_rec, n_in)
    w_rec: jax.Array  # shape=(n_rec, n_rec), diagonal unused
    w_out: jax.Array  # shape=(n_out, n_rec)
    b_out: jax.Array  # shape=(n_out,)
    b_fb: jax.Array  # shape=(n_rec, n_out), feedback matrix B (random / adaptive e-prop)


class NetworkState(NamedTuple):
    neuron: AlifState  # shape=(B, n_rec) each
    y: jax.Array  # shape=(B, n_out), readout


class Trajectory(NamedTuple):
    """What :func:`simulate` returns, time-major. Fields after ``z`` are ``None`` unless recorded."""

    y: jax.Array  # shape=(T, B, n_out), readout
    z: jax.Array  # shape=(T, B, n_rec), spikes
    v: jax.Array | None = None  # shape=(T, B, n_rec), membrane potential
    threshold: jax.Array | None = None  # shape=(T, B, n_rec), adaptive threshold A_t
    psi: jax.Array | None = None  # shape=(T, B, n_rec), pseudo-derivative


def network(
    n_in: int,
    n_rec: int,
    n_out: int,
    *,
    n_alif: int = 0,
    tau_m=20.0,
    tau_a=2000.0,
    beta=None,
    thr=0.6,
    refractory=5.0,
    gamma: float = 0.3,
    surrogate_shape: str = "piecewise_linear",
    surrogate_height=None,
    surrogate_width=None,
    tau_out: float = 20.0,
    dt: float = 1.0,
    model: str | NeuronModel = "alif",
    **model_options,
) -> Network:
    """Describe a network of ``n_rec - n_alif`` LIF neurons followed by ``n_alif`` ALIF neurons.

    Per-neuron parameters (``tau_m``, ``tau_a``, ``beta``, ``thr``, ``refractory``) take a scalar
    or a vector of shape ``(n_rec,)``, so populations may be mixed freely.

    Args:
        n_in, n_rec, n_out: numbers of inputs, recurrent neurons and readouts (>= 1).
        n_alif: how many of the recurrent neurons (the last ones) adapt their threshold.
        tau_m: membrane time constant (ms).
        tau_a: adaptation time constant (ms).
        beta: adaptation strength. ``None`` gives the original code's heuristic
            ``1.7 (1 - rho) / (1 - alpha)`` for ALIF rows and 0 for LIF rows; a scalar applies to
            the ALIF rows; a vector of shape ``(n_rec,)`` is taken as is.
        thr: baseline threshold.
        refractory: refractory period (ms), the minimum inter-spike interval.
        gamma: pseudo-derivative dampening (height ``gamma / thr`` unless ``surrogate_height``).
        surrogate_shape: ``"piecewise_linear"``, ``"exponential"``, ``"fast_sigmoid"`` or
            ``"arctan"``.
        surrogate_height, surrogate_width: override the pseudo-derivative's height and width.
        tau_out: readout time constant (ms), one for all readouts.
        dt: time step (ms).
        model: the neuron model, a name in :data:`eprop_jax.models.MODELS` (``"alif"``, the
            default, or ``"psc_delta"``) or a :class:`~eprop_jax.models.base.NeuronModel`.
        **model_options: extra parameters of the model (``v_reset`` for ``"psc_delta"``).

    Example:
        >>> net = network(40, 100, 2, n_alif=50)
        >>> net.n_rec, round(float(net.neuron.beta[-1]), 4)
        (100, 0.0174)
    """
    api = "network"
    for name, value in (("n_in", n_in), ("n_rec", n_rec), ("n_out", n_out)):
        if not isinstance(value, int | np.integer) or value < 1:
            raise ValueError(f"`{api}`: {name} must be an integer >= 1; got {value!r}.")
    if not isinstance(n_alif, int | np.integer) or not 0 <= n_alif <= n_rec:
        raise ValueError(
            f"`{api}`: n_alif must be an integer in [0, n_rec={n_rec}]; got {n_alif!r}."
        )
    check_choice(api, "surrogate_shape", surrogate_shape, tuple(SURROGATES))
    dt = float(check_positive(api, "dt", dt))
    tau_out = float(check_positive(api, "tau_out", tau_out))
    is_alif = np.arange(n_rec) >= n_rec - n_alif
    if beta is None:
        tau_m_vec = check_positive(api, "tau_m", broadcast_per_neuron(api, "tau_m", tau_m, n_rec))
        tau_a_vec = check_positive(api, "tau_a", broadcast_per_neuron(api, "tau_a", tau_a, n_rec))
        beta = 1.7 * (1.0 - decay(tau_a_vec, dt)) / (1.0 - decay(tau_m_vec, dt)) * is_alif
    elif np.ndim(beta) == 0:
        beta = float(beta) * is_alif
    neuron_model = get_model(model)
    try:
        params = neuron_model.make_params(
            n_rec,
            tau_m=tau_m,
            tau_a=tau_a,
            beta=beta,
            thr=thr,
            refractory=refractory,
            gamma=gamma,
            surrogate_height=surrogate_height,
            surrogate_width=surrogate_width,
            dt=dt,
            **model_options,
        )
    except TypeError as err:
        raise ValueError(
            f"`{api}`: model {neuron_model.name!r} does not take option(s) "
            f"{', '.join(map(repr, sorted(model_options)))}: {err}"
        ) from err
    return Network(
        neuron=params,
        readout=ReadoutParams(kappa=np.asarray(decay(tau_out, dt))),
        surrogate=surrogate(surrogate_shape),
        n_in=int(n_in),
        n_out=int(n_out),
        dt=dt,
        model=neuron_model,
    )


def init_weights(
    net: Network,
    key: jax.Array,
    *,
    dtype=jnp.float32,
    input_gain: float = 1.0,
    recurrent_gain: float = 1.0,
    output_gain: float = 1.0,
    feedback_std: float | None = None,
) -> Weights:
    """Draw initial weights: Gaussian with std ``gain / sqrt(fan_in)``, no autapses, zero bias.

    ``w_in ~ N(0, 1/n_in)``, ``w_rec ~ N(0, 1/n_rec)`` with zero diagonal, ``w_out ~ N(0,
    1/n_rec)``, and an independent feedback ``b_fb ~ N(0, feedback_std^2)``. The default
    ``feedback_std = 1/sqrt(n_rec)`` gives B the scale of W_out (so random feedback keeps
    symmetric feedback's balance between task and regularisation signals); the original code's
    evidence-accumulation tutorial used ``feedback_std = 1``.

    Args:
        net: the :class:`Network`.
        key: a ``jax.random`` key.
        dtype: ``jnp.float32`` (default) or ``jnp.float64`` (needs ``jax_enable_x64``).
        input_gain, recurrent_gain, output_gain: scale factors of the three matrices.
        feedback_std: standard deviation of the random feedback matrix ``b_fb``.
    """
    k_in, k_rec, k_out, k_fb = jax.random.split(key, 4)
    n_in, n_rec, n_out = net.n_in, net.n_rec, net.n_out
    normal = jax.random.normal
    w_rec = normal(k_rec, (n_rec, n_rec), dtype) * float(recurrent_gain / np.sqrt(n_rec))
    return Weights(
        w_in=normal(k_in, (n_rec, n_in), dtype) * float(input_gain / np.sqrt(n_in)),
        w_rec=w_rec * (1 - jnp.eye(n_rec, dtype=dtype)),
        w_out=normal(k_out, (n_out, n_rec), dtype) * float(output_gain / np.sqrt(n_rec)),
        b_out=jnp.zeros((n_out,), dtype),
        b_fb=normal(k_fb, (n_rec, n_out), dtype)
        * float(1 / np.sqrt(n_rec) if feedback_std is None else feedback_std),
    )


def check_weights(api: str, net: Network, weights: Weights) -> None:
    """Raise ``ValueError`` if any weight's shape does not match ``net``."""
    n_in, n_rec, n_out = net.n_in, net.n_rec, net.n_out
    expected = Weights((n_rec, n_in), (n_rec, n_rec), (n_out, n_rec), (n_out,), (n_rec, n_out))
    for name, w, shape in zip(Weights._fields, weights, expected, strict=True):
        check_shape(api, f"weights.{name}", w, shape)


def check_inputs(api: str, net: Network, inputs) -> None:
    """Raise ``ValueError`` unless ``inputs`` is finite with shape ``(T, B, n_in)``."""
    check_shape(
        api,
        "inputs",
        inputs,
        (None, None, net.n_in),
        " Inputs are time-major (T, B, n_in); add a batch axis of size 1 if needed.",
    )
    check_finite(api, "inputs", inputs)


def recurrent_mask(n_rec: int, dtype) -> jax.Array:
    """``1 - I``: multiplies ``w_rec`` so that no neuron connects to itself."""
    return 1 - jnp.eye(n_rec, dtype=dtype)


@jax.custom_vjp
def readout_with_feedback(w_out: jax.Array, b_fb: jax.Array, z: jax.Array) -> jax.Array:
    """``z @ w_out.T`` whose gradient to ``z`` goes through ``b_fb`` instead of ``w_out``.

    The backward pass gives ``w_out`` its exact gradient, ``z`` the learning signal
    ``g @ b_fb.T`` (:math:`L = B\\,\\partial E/\\partial y`), and ``b_fb`` zero.
    """
    return z @ w_out.T


def _readout_fwd(w_out, b_fb, z):
    return z @ w_out.T, (b_fb, z)


def _readout_bwd(residuals, g):
    b_fb, z = residuals
    n_out, n_rec = g.shape[-1], z.shape[-1]
    dw_out = g.reshape(-1, n_out).T @ z.reshape(-1, n_rec)
    return dw_out, jnp.zeros_like(b_fb), g @ b_fb.T


readout_with_feedback.defvjp(_readout_fwd, _readout_bwd)


def init_state(net: Network, n_batch: int, dtype) -> NetworkState:
    """All-zero network state for a batch of ``n_batch`` trials."""
    return NetworkState(
        neuron=net.model.init_state(net.neuron, (n_batch,), dtype),
        y=jnp.zeros((n_batch, net.n_out), dtype),
    )


def network_step(
    net: Network,
    weights: Weights,
    state: NetworkState,
    input_current: jax.Array,
    perturbation: jax.Array | None = None,
    *,
    stop_recurrent_gradient: bool = False,
    stop_reset_gradient: bool = False,
    feedback: bool = False,
):
    """One step of the whole network (module docstring). ``net`` must be cast (:func:`cast`).

    Args:
        net: the network, with parameters already in the simulation dtype.
        weights: ``Weights``.
        state: ``NetworkState`` after step t-1.
        input_current: ``W_in x_t``, shape ``(B, n_rec)`` (computed by the caller, per step or
            for all steps at once with :func:`input_currents`).
        perturbation: optional ``d_t``, shape ``(B, n_rec)``, added to the outgoing spikes.
        stop_recurrent_gradient, stop_reset_gradient, feedback: see the module docstring.

    Returns:
        ``(new_state, (y_t, output))`` with the model's step output (``AlifOutput`` for ALIF); its
        ``z`` includes the perturbation.
    """
    z_prev = state.neuron.z
    z_rec = jax.lax.stop_gradient(z_prev) if stop_recurrent_gradient else z_prev
    w_rec = weights.w_rec * recurrent_mask(net.n_rec, weights.w_rec.dtype)
    return _neuron_readout_step(
        net,
        weights,
        state,
        input_current + z_rec @ w_rec.T,
        perturbation,
        stop_reset_gradient=stop_reset_gradient,
        feedback=feedback,
    )


def _neuron_readout_step(
    net: Network,
    weights: Weights,
    state: NetworkState,
    current: jax.Array,
    perturbation: jax.Array | None,
    *,
    stop_reset_gradient: bool,
    feedback: bool,
):
    """:func:`network_step` after the total input current :math:`I_t` is known."""
    neuron, out = net.model.step(
        net.neuron,
        state.neuron,
        current,
        surrogate=net.surrogate,
        stop_reset_gradient=stop_reset_gradient,
    )
    z_out = out.z if perturbation is None else out.z + perturbation
    neuron = neuron._replace(z=z_out)  # the outgoing spike feeds the next reset and recurrence
    if feedback:
        drive = readout_with_feedback(weights.w_out, weights.b_fb, z_out)
    else:
        drive = z_out @ weights.w_out.T
    y = readout_step(net.readout, state.y, drive + weights.b_out)
    return NetworkState(neuron=neuron, y=y), (y, out._replace(z=z_out))


def cast(net: Network, dtype) -> Network:
    """Return ``net`` with its parameter arrays as JAX arrays of ``dtype`` (concrete ones stay
    concrete inside ``jit``: :func:`~eprop_jax.models.base.cast_params`)."""
    with jax.ensure_compile_time_eval():
        kappa = jnp.asarray(net.readout.kappa, dtype)
    return net._replace(neuron=cast_params(net.neuron, dtype), readout=ReadoutParams(kappa=kappa))


def input_currents(weights: Weights, inputs: jax.Array) -> jax.Array:
    """``W_in x_t`` for all steps as one 2-D matrix product, shape ``(T, B, n_rec)``."""
    t, b, n_in = inputs.shape
    return (inputs.reshape(t * b, n_in) @ weights.w_in.T).reshape(t, b, -1)


def simulate(
    net: Network,
    weights: Weights,
    inputs: jax.Array,
    *,
    record: bool = False,
    stop_recurrent_gradient: bool = False,
    stop_reset_gradient: bool = False,
    feedback: bool = False,
    spike_perturbation: jax.Array | None = None,
) -> Trajectory:
    """Run the network over a batch of input sequences with one ``jax.lax.scan``.

    Differentiable with ``jax.grad`` (that is BPTT) and jit-able. The dtype of the computation is
    the dtype of ``weights``.

    Args:
        net: the :class:`Network`.
        weights: the :class:`Weights`.
        inputs: shape ``(T, B, n_in)``, time-major.
        record: also return v, the adaptive threshold and psi for every step (costs memory).
        stop_recurrent_gradient, stop_reset_gradient, feedback, spike_perturbation: see the
            module docstring (``spike_perturbation`` has shape ``(T, B, n_rec)``).

    Returns:
        A :class:`Trajectory`.

    Example:
        >>> net = network(3, 8, 2, n_alif=4)
        >>> w = init_weights(net, jax.random.key(0))
        >>> simulate(net, w, jnp.zeros((20, 2, 3))).y.shape
        (20, 2, 2)
    """
    traj, _ = run_network(
        net,
        weights,
        inputs,
        record=record,
        stop_recurrent_gradient=stop_recurrent_gradient,
        stop_reset_gradient=stop_reset_gradient,
        feedback=feedback,
        spike_perturbation=spike_perturbation,
    )
    return traj


def run_network(
    net: Network,
    weights: Weights,
    inputs: jax.Array,
    *,
    spikes: bool = True,
    record: bool = False,
    stop_recurrent_gradient: bool = False,
    stop_reset_gradient: bool = False,
    feedback: bool = False,
    spike_perturbation: jax.Array | None = None,
) -> tuple[Trajectory, jax.Array]:
    r""":func:`simulate`, also returning the spike count :math:`\sum_{t,b} z_{t,b}`, shape ``(n,)``.

    With ``spikes=False`` (and ``record=False``) the trajectory's ``z`` is ``None``: the scan
    stacks only the readout, which is all a loss with rate regularisation needs.

    How the scan is laid out for speed (what ``jax.grad`` stores and reads back, measured on
    XLA:CPU, where every fresh ``(T, B, n)`` buffer costs about as much as its page faults):
    the step computes :math:`W^{in} x_t` itself (a small matrix product per step instead of a
    hoisted ``(T, B, n)`` current and, for BPTT, its ``(T, B, n)`` cotangent); the recurrent
    input :math:`W^{rec} z_t` is computed at the end of step t and carried, so the recurrent and
    readout products share one stored residual (:math:`z_t`); spikes are counted in the carry.
    """
    api = "simulate"
    check_weights(api, net, weights)
    check_inputs(api, net, inputs)
    dtype = weights.w_rec.dtype
    inputs = jnp.asarray(inputs, dtype)
    t, n_batch, _ = inputs.shape
    if spike_perturbation is not None:
        check_shape(api, "spike_perturbation", spike_perturbation, (t, n_batch, net.n_rec))
    net_c = cast(net, dtype)
    w_in_t = weights.w_in.T
    w_rec_t = (weights.w_rec * recurrent_mask(net.n_rec, dtype)).T

    def body(carry, xs):
        state, recurrent, spike_count = carry  # recurrent = W_rec z_{t-1}
        x, d = xs
        state, (y, out) = _neuron_readout_step(
            net_c,
            weights,
            state,
            x @ w_in_t + recurrent,
            d,
            stop_reset_gradient=stop_reset_gradient,
            feedback=feedback,
        )
        z_rec = jax.lax.stop_gradient(out.z) if stop_recurrent_gradient else out.z
        carry = (state, z_rec @ w_rec_t, spike_count + jnp.sum(out.z, axis=0))
        if record:
            return carry, Trajectory(y, out.z, out.v, out.threshold, out.psi)
        return carry, Trajectory(y, out.z if spikes else None)

    zeros = jnp.zeros((n_batch, net.n_rec), dtype)
    carry0 = (init_state(net, n_batch, dtype), zeros, jnp.zeros((net.n_rec,), dtype))
    (_, _, spike_count), traj = jax.lax.scan(body, carry0, (inputs, spike_perturbation))
    return traj, spike_count
