r"""The gradient engines behind one contract.

Every engine is a function

``engine(net, weights, inputs, targets, mask, *, step_loss, regularization, ...) -> (grads, aux)``

returning the gradient of :math:`E + E_{reg}` (or e-prop's approximation of it) as
:class:`~eprop_jax.network.Weights`, with ``b_fb``'s entry zero (training ``b_fb`` is the feedback
mode's business, :class:`~eprop_jax.rules.Feedback`), and a :class:`~eprop_jax.types.RuleAux`
whose statistics come from :func:`~eprop_jax.losses.trial_stats`. ``rules.py`` turns an engine
into a rule ``grads, aux = rule(weights, batch, key)``.

====================================== =========================================================
engine                                 gradient
====================================== =========================================================
:func:`eprop_gradients`                online e-prop, eligibility traces in the forward scan
:func:`eprop_factored_gradients`       the same e-prop gradient, offline by reverse adjoints
:func:`truncated_bptt_gradients`       BPTT inside windows of ``truncation`` steps
:func:`autodiff_gradients`             ``jax.grad`` through the trajectory: BPTT, or e-prop
                                       with the stop-gradients of Supplementary Note 1
====================================== =========================================================

Example:
    >>> sorted(ENGINES)
    ['autodiff', 'eprop', 'eprop_factored', 'truncated_bptt']
"""

from ..eprop import eprop_gradients as eprop_gradients
from ..eprop_factored import eprop_factored_gradients as eprop_factored_gradients
from ..truncated_bptt import truncated_bptt_gradients as truncated_bptt_gradients
from .autodiff import autodiff_gradients as autodiff_gradients

ENGINES = {
    "autodiff": autodiff_gradients,
    "eprop": eprop_gradients,
    "eprop_factored": eprop_factored_gradients,
    "truncated_bptt": truncated_bptt_gradients,
}
