r"""Learning rules behind one signature: ``grads, aux = rule(weights, batch, key)``.

Every rule returns a gradient pytree shaped like :class:`~eprop_jax.network.Weights` (optax applies
it) and a :class:`RuleAux` with the loss and what metrics and plots need. The trainer never branches
on the rule; a new rule is a new function with this signature.

=================== ==========================================================================
name                gradient of :math:`E = E_{task} + E_{reg}` for ``w_in`` and ``w_rec``
=================== ==========================================================================
``bptt``            exact: ``jax.grad`` through :func:`~eprop_jax.network.simulate`
``eprop``           online e-prop (eligibility traces in the forward scan, ``eprop.py``)
``eprop-factored``  the same e-prop gradient computed offline after the forward pass by reverse
                    per-neuron recursions and two matrix products (``eprop_factored.py``):
                    exact, fastest, but memory grows with T
``eprop-autodiff``  ``jax.grad`` with ``stop_gradient`` on :math:`z_{t-1}` in the recurrent
                    input and in the reset (not in the adaptation); equals ``eprop`` exactly
=================== ==========================================================================

Feedback (e-prop rules only): ``symmetric`` (:math:`B = W^{out\top}`), ``random`` (fixed
:math:`B` = ``weights.b_fb``), ``adaptive`` (``b_fb`` receives the transpose of ``w_out``'s gradient,
Kolen-Pollack; with equal weight decay on both, :math:`B \to W^{out\top}`; the decay belongs to the
optimiser). In every rule ``w_out`` and ``b_out`` get their exact gradient, and the diagonal of
``w_rec`` gets zero.

References:
    Bellec et al. 2020, Nat. Commun. 11:3625; Supplementary Note 1 (e-prop via autodiff).
"""

from __future__ import annotations

from collections.abc import Callable
from typing import NamedTuple

import jax
import jax.numpy as jnp

from ._checks import check_choice, check_finite, check_shape
from .eprop import eprop_gradients
from .eprop_factored import eprop_factored_gradients
from .losses import (
    RateRegularization,
    get_loss,
    masked_mean_readout,
    mean_rate,
    rate_loss,
    rate_regularization,
    task_loss,
)
from .network import Network, Trajectory, Weights, check_inputs, check_weights, simulate
from .types import Batch

FEEDBACKS = ("symmetric", "random", "adaptive")
IMPLEMENTATIONS = ("online", "factored")


class RuleAux(NamedTuple):
    """Side outputs of a rule, for metrics and plots."""

    loss: jax.Array  # shape=(), task loss + regularisation
    task_loss: jax.Array  # shape=()
    reg_loss: jax.Array  # shape=()
    y_mean: jax.Array  # shape=(B, K), readout averaged over the learning window
    rate: jax.Array  # shape=(n_rec,), mean spikes per step
    trajectory: Trajectory | None = None  # when the rule was built with record=True
    learning_signal: jax.Array | None = None  # shape=(T, B, n_rec), e-prop rules with record=True


Rule = Callable[..., tuple[Weights, RuleAux]]


def check_batch(api: str, net: Network, weights: Weights, batch: Batch) -> None:
    """Validate shapes and finiteness of a batch against the network."""
    check_weights(api, net, weights)
    check_inputs(api, net, batch.inputs)
    t, b, _ = batch.inputs.shape
    check_shape(api, "batch.targets", batch.targets, (t, b, net.n_out))
    check_shape(api, "batch.mask", batch.mask, (t, b))
    check_finite(api, "batch.targets", batch.targets)
    check_finite(api, "batch.mask", batch.mask)


def _cast_batch(batch: Batch, dtype) -> Batch:
    return Batch(*(jnp.asarray(x, dtype) for x in batch))


def _autodiff_rule(
    api: str,
    net: Network,
    loss: str,
    regularization: RateRegularization,
    record: bool,
    sim_options: dict,
    feedback: str | None,
) -> Rule:
    step_loss = get_loss(loss)

    def objective(weights: Weights, batch: Batch):
        traj = simulate(net, weights, batch.inputs, record=record, **sim_options)
        task = task_loss(step_loss, traj.y, batch.targets, batch.mask)
        rate = mean_rate(traj.z)
        reg = rate_loss(regularization, rate, net.dt)
        y_mean = masked_mean_readout(traj.y, batch.mask)
        return task + reg, RuleAux(task + reg, task, reg, y_mean, rate,
                                   traj if record else None)  # fmt: skip

    def rule(weights: Weights, batch: Batch, key: jax.Array | None = None):
        check_batch(api, net, weights, batch)
        batch = _cast_batch(batch, weights.w_rec.dtype)
        grads, aux = jax.grad(objective, has_aux=True)(weights, batch)
        if feedback == "adaptive":
            grads = grads._replace(b_fb=grads.w_out.T)
        return grads, aux

    return rule


def bptt(
    net: Network,
    *,
    loss: str = "mse",
    regularization: RateRegularization | None = None,
    stop_reset_gradient: bool = False,
    record: bool = False,
) -> Rule:
    """Backpropagation through time: ``jax.grad`` of the loss through :func:`simulate`.

    Args:
        net: the network.
        loss: ``"mse"`` or ``"cross_entropy"``.
        regularization: firing-rate regularisation (default none).
        stop_reset_gradient: drop the reset's gradient path (a common surrogate-gradient choice;
            off by default, so this is the true gradient of the model).
        record: put the full trajectory in ``aux``.
    """
    reg = regularization or rate_regularization()
    options = {"stop_reset_gradient": stop_reset_gradient}
    return _autodiff_rule("bptt", net, loss, reg, record, options, None)


def eprop_autodiff(
    net: Network,
    *,
    loss: str = "mse",
    feedback: str = "symmetric",
    regularization: RateRegularization | None = None,
    record: bool = False,
) -> Rule:
    """e-prop by autodiff: ``jax.grad`` with the recurrent and reset paths of z_{t-1} stopped.

    Random and adaptive feedback route the readout's gradient to the spikes through ``b_fb``.
    Gives the same gradients as :func:`eprop` (to float rounding) but stores the trajectory
    (memory grows with T).
    """
    check_choice("eprop_autodiff", "feedback", feedback, FEEDBACKS)
    reg = regularization or rate_regularization()
    options = {
        "stop_recurrent_gradient": True,
        "stop_reset_gradient": True,
        "feedback": feedback != "symmetric",
    }
    return _autodiff_rule("eprop_autodiff", net, loss, reg, record, options, feedback)


def eprop(
    net: Network,
    *,
    loss: str = "mse",
    feedback: str = "symmetric",
    regularization: RateRegularization | None = None,
    record: bool = False,
    implementation: str = "online",
) -> Rule:
    """e-prop: eligibility traces times learning signals (Bellec et al. 2020, Eq. 28).

    ``implementation="online"`` computes traces and gradients forward in one scan; memory does
    not grow with the number of steps (unless ``record``). ``"factored"`` computes the same
    gradient after the forward pass (``eprop_factored.py``): faster, memory O(T B n).

    Args:
        net: the network.
        loss: ``"mse"`` or ``"cross_entropy"``.
        feedback: ``"symmetric"``, ``"random"`` or ``"adaptive"`` (module docstring).
        regularization: firing-rate regularisation (default none).
        record: also return the trajectory and the learning signals (online only).
        implementation: ``"online"`` or ``"factored"``.

    Example:
        >>> from eprop_jax import network, init_weights, Batch
        >>> net = network(3, 8, 2, n_alif=4)
        >>> w = init_weights(net, jax.random.key(0))
        >>> batch = Batch(jnp.ones((20, 2, 3)), jnp.zeros((20, 2, 2)), jnp.ones((20, 2)))
        >>> grads, aux = eprop(net, feedback="random")(w, batch)
        >>> grads.w_rec.shape
        (8, 8)
    """
    api = "eprop"
    check_choice(api, "feedback", feedback, FEEDBACKS)
    check_choice(api, "implementation", implementation, IMPLEMENTATIONS)
    if record and implementation == "factored":
        raise ValueError(f"`{api}`: record=True needs implementation='online'.")
    gradients = eprop_gradients if implementation == "online" else eprop_factored_gradients
    step_loss = get_loss(loss)
    reg = regularization or rate_regularization()

    def rule(weights: Weights, batch: Batch, key: jax.Array | None = None):
        check_batch(api, net, weights, batch)
        batch = _cast_batch(batch, weights.w_rec.dtype)
        b_matrix = weights.w_out.T if feedback == "symmetric" else weights.b_fb
        res = gradients(
            net, weights, *batch, step_loss=step_loss, feedback_matrix=b_matrix,
            regularization=reg, record=record,
        )  # fmt: skip
        b_fb_grad = res.grad_out.T if feedback == "adaptive" else jnp.zeros_like(weights.b_fb)
        grads = Weights(res.grad_in, res.grad_rec, res.grad_out, res.grad_bias, b_fb_grad)
        loss_value = res.task_loss + res.reg_loss
        aux = RuleAux(loss_value, res.task_loss, res.reg_loss, res.y_mean, res.rate,
                      res.trajectory, res.learning_signal)  # fmt: skip
        return grads, aux

    return rule


def eprop_factored(net: Network, **options) -> Rule:
    """:func:`eprop` with ``implementation="factored"``: the exact e-prop gradient, offline."""
    return eprop(net, implementation="factored", **options)


RULES: dict[str, Callable[..., Rule]] = {
    "bptt": bptt,
    "eprop": eprop,
    "eprop-factored": eprop_factored,
    "eprop-autodiff": eprop_autodiff,
}


def make_rule(name: str, net: Network, **options) -> Rule:
    """Build the rule called ``name`` (a key of :data:`RULES`) with keyword ``options``.

    ``feedback`` is accepted only by the e-prop rules; passing it to ``bptt`` raises.
    """
    check_choice("make_rule", "rule", name, tuple(RULES))
    if name == "bptt" and options.get("feedback", "symmetric") != "symmetric":
        raise ValueError(
            f"`make_rule`: rule 'bptt' has no feedback option; got feedback={options['feedback']!r}."
            " Use rule 'eprop' or 'eprop-autodiff' for random or adaptive feedback."
        )
    if name == "bptt":
        options.pop("feedback", None)
    return RULES[name](net, **options)
