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
``tbptt``           truncated BPTT: exact inside windows of ``truncation`` steps, no gradient
                    through the state at window boundaries (``truncated_bptt.py``)
=================== ==========================================================================

Feedback (e-prop rules only): ``symmetric`` (:math:`B = W^{out\top}`), ``random`` (fixed
:math:`B` = ``weights.b_fb``), ``adaptive`` (``b_fb`` receives the transpose of ``w_out``'s gradient,
Kolen-Pollack; with equal weight decay on both, :math:`B \to W^{out\top}`; the decay belongs to the
optimiser, :attr:`Feedback.decay_mask` says where), or any function ``weights -> B`` of shape
``(n_rec, n_out)``. :func:`resolve_feedback` turns the choice into one :class:`Feedback` record
that rules, trainer and CLI read. In every rule ``w_out`` and ``b_out`` get their exact gradient,
and the diagonal of ``w_rec`` gets zero.

Every rule is one engine (``eprop_jax.engines``: ``(net, weights, inputs, targets, mask, ...) ->
(grads, aux)``) wrapped by :func:`engine_rule`, which validates and casts the batch, resolves the
feedback matrix and applies the feedback's training of ``b_fb``.

Writing a new rule: either a function with the signature above, or :func:`eprop` with a custom
``feedback`` function and/or a custom ``eligibility`` (a :class:`~eprop_jax.eprop.LearningRule`
factory, the per-step synapse dynamics). :func:`register_rule` makes it available by name to
:func:`make_rule`, the trainer, ``eprop-jax train --rule`` and ``eprop-jax compare``; a rule factory
can also be named as ``"package.module:function"`` without registering it. See
``notebooks/05_writing_a_rule.ipynb``.

References:
    Bellec et al. 2020, Nat. Commun. 11:3625; Supplementary Note 1 (e-prop via autodiff).
"""

from __future__ import annotations

import functools
import importlib
import inspect
from collections.abc import Callable
from typing import NamedTuple

import jax
import jax.numpy as jnp
import numpy as np

from ._checks import check_choice, check_finite, check_shape
from .engines import (
    autodiff_gradients,
    eprop_factored_gradients,
    eprop_gradients,
    truncated_bptt_gradients,
)
from .losses import RateRegularization, get_loss, rate_regularization
from .models.base import LearningRule
from .network import Network, Weights, check_inputs, check_weights
from .types import Batch
from .types import RuleAux as RuleAux

FEEDBACKS = ("symmetric", "random", "adaptive")
IMPLEMENTATIONS = ("online", "factored")

Rule = Callable[..., tuple[Weights, RuleAux]]
FeedbackFn = Callable[[Weights], jax.Array]
EligibilityFactory = Callable[..., LearningRule]


def _w_out_transposed(weights: Weights) -> jax.Array:
    return weights.w_out.T


def _b_fb(weights: Weights) -> jax.Array:
    return weights.b_fb


class Feedback(NamedTuple):
    r"""A feedback mode, resolved once (:func:`resolve_feedback`).

    The learning signal is :math:`L_t = B\,\partial E/\partial y_t` with :math:`B` =
    ``matrix(weights)`` of shape ``(n_rec, n_out)``.
    """

    mode: str  # "symmetric" | "random" | "adaptive" | "custom" (a function weights -> B)
    matrix: FeedbackFn  # weights -> B, shape (n_rec, n_out)
    trains_b_fb: bool  # adaptive (Kolen-Pollack): b_fb's gradient is w_out's, transposed
    decay_mask: Weights | None  # adaptive: the weights an optimiser's weight decay acts on

    def feedback_matrix(self, api: str, net: Network, weights: Weights) -> jax.Array:
        """``B`` for these weights; a custom function's result is checked for its shape."""
        b_matrix = self.matrix(weights)
        if getattr(b_matrix, "shape", None) != (net.n_rec, net.n_out):
            raise ValueError(
                f"`{api}`: the feedback function must return B of shape (n_rec, n_out) = "
                f"{(net.n_rec, net.n_out)}; got {getattr(b_matrix, 'shape', type(b_matrix))}."
            )
        return b_matrix

    def train(self, grads: Weights) -> Weights:
        """An engine's gradient with ``b_fb``'s entry set: ``w_out``'s transposed if
        ``trains_b_fb``, else zero."""
        b_fb = grads.w_out.T if self.trains_b_fb else jnp.zeros_like(grads.b_fb)
        return grads._replace(b_fb=b_fb)


def resolve_feedback(feedback: str | FeedbackFn | Feedback, api: str = "resolve_feedback"):
    """The :class:`Feedback` record of a mode name, a function ``weights -> B`` or a record.

    Example:
        >>> fb = resolve_feedback("adaptive")
        >>> fb.trains_b_fb, fb.decay_mask.w_out, fb.decay_mask.w_rec
        (True, True, False)
    """
    if isinstance(feedback, Feedback):
        return feedback
    if callable(feedback):
        return Feedback("custom", feedback, False, None)
    check_choice(api, "feedback", feedback, FEEDBACKS)
    if feedback == "symmetric":
        return Feedback("symmetric", _w_out_transposed, False, None)
    if feedback == "random":
        return Feedback("random", _b_fb, False, None)
    decay_mask = Weights(w_in=False, w_rec=False, w_out=True, b_out=False, b_fb=True)
    return Feedback("adaptive", _b_fb, True, decay_mask)


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


def engine_rule(
    api: str,
    net: Network,
    engine: Callable[..., tuple[Weights, RuleAux]],
    *,
    loss: str = "mse",
    regularization: RateRegularization | None = None,
    feedback: Feedback | None = None,
    **engine_options,
) -> Rule:
    """Wrap a gradient engine (``eprop_jax.engines``) into a rule ``(weights, batch, key)``.

    Args:
        api: the rule's name, for error messages.
        net: the network.
        engine: ``engine(net, weights, inputs, targets, mask, *, step_loss, regularization,
            [feedback_matrix,] **engine_options) -> (grads, aux)``.
        loss: ``"mse"`` or ``"cross_entropy"``.
        regularization: firing-rate regularisation (default none).
        feedback: a :class:`Feedback`: its matrix goes to the engine as ``feedback_matrix`` and
            it sets ``b_fb``'s gradient; ``None`` for engines without a learning signal.
        **engine_options: passed to the engine on every call.
    """
    step_loss = get_loss(loss)
    reg = regularization or rate_regularization()

    def rule(weights: Weights, batch: Batch, key: jax.Array | None = None):
        check_batch(api, net, weights, batch)
        batch = _cast_batch(batch, weights.w_rec.dtype)
        options = dict(engine_options)
        if feedback is not None:
            options["feedback_matrix"] = feedback.feedback_matrix(api, net, weights)
        grads, aux = engine(
            net, weights, *batch, step_loss=step_loss, regularization=reg, **options
        )
        if feedback is not None:
            grads = feedback.train(grads)
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
    return engine_rule(
        "bptt",
        net,
        autodiff_gradients,
        loss=loss,
        regularization=regularization,
        stop_reset_gradient=stop_reset_gradient,
        record=record,
    )


def eprop_autodiff(
    net: Network,
    *,
    loss: str = "mse",
    feedback: str | FeedbackFn = "symmetric",
    regularization: RateRegularization | None = None,
    record: bool = False,
) -> Rule:
    """e-prop by autodiff: ``jax.grad`` with the recurrent and reset paths of z_{t-1} stopped.

    Random, adaptive and custom feedback route the readout's gradient to the spikes through
    :math:`B`. Gives the same gradients as :func:`eprop` (to float rounding) but stores the
    trajectory (memory grows with T).
    """
    fb = resolve_feedback(feedback, "eprop_autodiff")
    engine = functools.partial(
        autodiff_gradients, stop_recurrent_gradient=True, stop_reset_gradient=True, record=record
    )
    # Symmetric feedback (B = W_out^T) is the exact readout backward pass: nothing to reroute.
    return engine_rule(
        "eprop_autodiff",
        net,
        engine,
        loss=loss,
        regularization=regularization,
        feedback=None if fb.mode == "symmetric" else fb,
    )


def eprop(
    net: Network,
    *,
    loss: str = "mse",
    feedback: str | FeedbackFn = "symmetric",
    regularization: RateRegularization | None = None,
    record: bool = False,
    implementation: str = "online",
    eligibility: EligibilityFactory | None = None,
) -> Rule:
    r"""e-prop: eligibility traces times learning signals (Bellec et al. 2020, Eq. 28).

    ``implementation="online"`` computes traces and gradients forward in one scan; memory does
    not grow with the number of steps (unless ``record``). ``"factored"`` computes the same
    gradient after the forward pass (``eprop_factored.py``): faster, memory O(T B n).

    Args:
        net: the network.
        loss: ``"mse"`` or ``"cross_entropy"``.
        feedback: ``"symmetric"``, ``"random"``, ``"adaptive"`` (module docstring), or a function
            ``weights -> B`` of shape ``(n_rec, n_out)`` (the learning signal is
            :math:`L_t = B\,\partial E/\partial y_t`; ``b_fb`` gets no gradient).
        regularization: firing-rate regularisation (default none).
        record: also return the trajectory and the learning signals (online only).
        implementation: ``"online"`` or ``"factored"``.
        eligibility: ``factory(neuron_params, kappa) -> LearningRule``, the per-step eligibility
            dynamics (online only; default :func:`~eprop_jax.eprop.eprop_eligibility`). Its state
            must have an ``e_sum`` field (the summed unfiltered trace) when the rate
            regularisation is on.

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
    fb = resolve_feedback(feedback, api)
    check_choice(api, "implementation", implementation, IMPLEMENTATIONS)
    if record and implementation == "factored":
        raise ValueError(f"`{api}`: record=True needs implementation='online'.")
    if eligibility is not None and implementation == "factored":
        raise ValueError(
            f"`{api}`: a custom `eligibility` needs implementation='online' (the factored path "
            "runs the network's model's own adjoint)."
        )
    engine = eprop_gradients if implementation == "online" else eprop_factored_gradients
    return engine_rule(
        api,
        net,
        engine,
        loss=loss,
        regularization=regularization,
        feedback=fb,
        eligibility=eligibility,
        record=record,
    )


def eprop_factored(net: Network, **options) -> Rule:
    """:func:`eprop` with ``implementation="factored"``: the exact e-prop gradient, offline."""
    return eprop(net, implementation="factored", **options)


def truncated_bptt(
    net: Network,
    *,
    truncation: int = 50,
    loss: str = "mse",
    regularization: RateRegularization | None = None,
    stop_reset_gradient: bool = False,
) -> Rule:
    """Truncated BPTT: exact gradients inside windows of ``truncation`` steps, no gradient through
    the state at window boundaries (``truncated_bptt.py``). ``truncation >= T`` is :func:`bptt`.

    Memory grows with ``truncation``, not with the sequence length.

    Example:
        >>> from eprop_jax import network, init_weights, Batch
        >>> net = network(3, 8, 2, n_alif=4)
        >>> w = init_weights(net, jax.random.key(0))
        >>> batch = Batch(jnp.ones((20, 2, 3)), jnp.zeros((20, 2, 2)), jnp.ones((20, 2)))
        >>> grads, aux = truncated_bptt(net, truncation=5)(w, batch)
        >>> grads.w_in.shape
        (8, 3)
    """
    api = "truncated_bptt"
    if (
        isinstance(truncation, bool)
        or not isinstance(truncation, (int, np.integer))
        or (truncation < 1)
    ):
        raise ValueError(
            f"`{api}`: `truncation` must be a positive integer number of steps; got {truncation!r}."
        )
    return engine_rule(
        api,
        net,
        truncated_bptt_gradients,
        loss=loss,
        regularization=regularization,
        truncation=int(truncation),
        stop_reset_gradient=stop_reset_gradient,
    )


RULES: dict[str, Callable[..., Rule]] = {
    "bptt": bptt,
    "tbptt": truncated_bptt,
    "eprop": eprop,
    "eprop-factored": eprop_factored,
    "eprop-autodiff": eprop_autodiff,
}


def register_rule(name: str, factory: Callable[..., Rule], *, overwrite: bool = False) -> None:
    """Make a rule factory available by ``name`` to :func:`make_rule`, the trainer and the CLI.

    ``factory(net, *, loss, regularization, [feedback,] **options) -> rule`` builds a rule with
    the signature ``grads, aux = rule(weights, batch, key)``. A factory without a ``feedback``
    keyword (and without ``**kwargs``) is a rule with no feedback choice, like ``bptt``.

    Example:
        >>> from eprop_jax import eprop
        >>> register_rule("eprop-sign-concordant", lambda net, **kw: eprop(
        ...     net, feedback=lambda w: jnp.sign(w.w_out.T) * jnp.abs(w.b_fb),
        ...     **{k: v for k, v in kw.items() if k != "feedback"}), overwrite=True)
        >>> "eprop-sign-concordant" in RULES
        True
    """
    if not isinstance(name, str) or not name or ":" in name:
        raise ValueError(
            f"`register_rule`: `name` must be a non-empty string without ':'; got {name!r}."
        )
    if not callable(factory):
        raise ValueError(
            f"`register_rule`: `factory` must be callable; got {type(factory).__name__}."
        )
    if name in RULES and not overwrite:
        raise ValueError(
            f"`register_rule`: a rule named {name!r} exists already; pass overwrite=True to replace it."
        )
    RULES[name] = factory


def resolve_rule(name: str, api: str = "make_rule") -> Callable[..., Rule]:
    """The factory of a registered rule, or of ``"package.module:function"`` (imported).

    ``api`` names the caller in error messages.
    """
    if isinstance(name, str) and ":" in name and name not in RULES:
        module_name, _, attr = name.partition(":")
        try:
            factory = getattr(importlib.import_module(module_name), attr)
        except (ImportError, AttributeError) as err:
            raise ValueError(
                f"`{api}`: cannot import rule factory {name!r} ('package.module:function'): {err}"
            ) from err
        if not callable(factory):
            raise ValueError(f"`{api}`: {name!r} is not callable.")
        return factory
    if name not in RULES:
        raise ValueError(
            f"`{api}`: unknown rule {name!r}; expected one of {', '.join(map(repr, RULES))}, "
            "or 'package.module:function' for a rule factory outside the registry."
        )
    return RULES[name]


def takes_feedback(factory: Callable) -> bool:
    """Whether a rule factory has a ``feedback`` choice (a ``feedback`` or ``**kwargs`` keyword)."""
    try:
        params = inspect.signature(factory).parameters.values()
    except (TypeError, ValueError):
        return True
    return any(p.name == "feedback" or p.kind is p.VAR_KEYWORD for p in params)


def make_rule(name: str, net: Network, **options) -> Rule:
    """Build the rule called ``name`` with keyword ``options``.

    ``name`` is a key of :data:`RULES` (see :func:`register_rule`) or ``"package.module:function"``.
    ``feedback`` (a mode name, a function or a :class:`Feedback`) goes only to rules that take it;
    a non-symmetric ``feedback`` for a rule without one (``bptt``, ``tbptt``) raises.
    """
    factory = resolve_rule(name)
    if not takes_feedback(factory):
        feedback = options.pop("feedback", "symmetric")
        if resolve_feedback(feedback, "make_rule").mode != "symmetric":
            raise ValueError(
                f"`make_rule`: rule {name!r} has no feedback option; got feedback={feedback!r}."
                " Use rule 'eprop' or 'eprop-autodiff' for random or adaptive feedback."
            )
    try:
        params = inspect.signature(factory).parameters
    except (TypeError, ValueError):
        params = None
    if params is not None and not any(p.kind is p.VAR_KEYWORD for p in params.values()):
        accepted = [k for k, p in params.items() if p.kind is p.KEYWORD_ONLY]
        unknown = sorted(set(options) - set(accepted))
        if unknown:
            raise ValueError(
                f"`make_rule`: rule {name!r} has no option(s) {', '.join(map(repr, unknown))}; "
                f"it accepts {', '.join(map(repr, accepted)) or 'none'}."
            )
    return factory(net, **options)
