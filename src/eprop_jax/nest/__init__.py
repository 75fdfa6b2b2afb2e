r"""NEST-exact mode: NEST 3.10's e-prop models, number for number.

Two families. The current models (``eprop_iaf``, ``eprop_iaf_adapt``, ``eprop_iaf_psc_delta``,
``eprop_iaf_psc_delta_adapt`` with ``eprop_readout`` and ``eprop_synapse``; continuous learning)
are modelled in :mod:`~eprop_jax.nest.current`, which states their equations and reproduces
NEST 3.10.0 bit for bit; the rest of this docstring is about the ``*_bsshslm_2020`` family.

NEST's e-prop tutorials (``eprop_supervised_*_bsshslm_2020.py``) are what many users start from.
This package maps their parameter dictionaries (NEST's names and units) onto this project's
:class:`~eprop_jax.network.Network`, and wraps the project's own network step and e-prop
(online, :func:`~eprop_jax.eprop.eprop_gradients`, or its exact offline form
:func:`~eprop_jax.eprop_factored.eprop_factored_gradients`, the faster default) in the transforms
that turn the paper's conventions into NEST's. It is not a second engine: the neuron step, the
eligibility traces and the learning signal are the ones the rest of the package uses.

**NEST's update order** (``eprop_iaf[_adapt]_bsshslm_2020``, per step, for sequence step
:math:`k` of an update interval of :math:`T` steps; all delays are one step):

1. at :math:`k = 0` the neuron is reset (:math:`v = 0`, :math:`a = 0`, refractory counter 0, last
   spike 0): every update interval (sequence) starts from rest;
2. :math:`v_k = \alpha v_{k-1} + \zeta S_k - v_{th} z_{k-1}`, reset by subtraction one step after
   the spike, with :math:`S_k = W^{in} x_k [k \ge 1] + W^{rec} z_{k-1} [k \ge 1]` (the input
   spikes of step 0 and the recurrent spikes of the previous interval's last step are dropped);
   ALIF: :math:`a_k = \rho a_{k-1} + z_{k-1}`, :math:`A_k = v_{th} + \beta a_k` (no
   :math:`1 - \rho` factor; the reset still subtracts :math:`v_{th}`);
3. :math:`\psi_k = h f((v_k - A_k)/w)` (0 while refractory); spike if :math:`v_k \ge A_k` and not
   refractory.

:math:`\zeta = 1` with ``regular_spike_arrival`` (the default) and :math:`1 - \alpha` without.
This is exactly :func:`~eprop_jax.neurons.alif_step` run on one sequence from a zero state with the
input of step 0 zeroed and the weights scaled by :math:`\zeta`.

**Readout** (``eprop_readout_bsshslm_2020``): :math:`y_k = \kappa y_{k-1} + \zeta_{out} W^{out}
z_k` (same step :math:`k`), :math:`\pi_k = \mathrm{softmax}(y_k)` (cross-entropy) or
:math:`\pi_k = y_k` (mean squared error), error :math:`\mathrm{err}_k = (\pi_k - y^*_{k})
[k \ge T - LW]`, where :math:`y^*_k` is the value the target generator holds at NEST time
:math:`4 + nT + k` (:func:`~eprop_jax.nest.gradients.nest_targets`; generators set from ``3 + nT`` give the target one
step early).
Learning signal :math:`L_{j,k} = \sum_o B_{jo}\,\mathrm{err}_{o,k}`.

**Gradient of one interval** :math:`n` (``eprop_synapse_bsshslm_2020``), traces from zero:

.. math::

    \bar z_k &= \alpha_j \bar z_{k-1} + \zeta_j s_k, \qquad
    e_k = \psi_{j,k} (\bar z_k - \beta_j \epsilon_{k-1}), \qquad
    \epsilon_k = \rho_j \epsilon_{k-1} + e_k \\
    \bar e_k &= \kappa \bar e_{k-1} + (1 - \kappa) e_k \\
    g_{ji}(n) &= \Big[\sum_k L_{j,k} \bar e_k
                 + c_{reg} \big(\tfrac{n^{spk}_j(n)}{T} - f^* \big) \tfrac1T \sum_k e_k\Big]
                 \big/ LW \;\text{(if average\_gradient)}

with :math:`s_k = x_k` or :math:`z_{k-1}`: the regularisation uses the *unfiltered* trace and the
interval's own spike count, and (NEST 3.10) is divided by :math:`LW` with the task term. An input
synapse whose presynaptic neuron next spikes at step 1 of the next sequence computes its gradient
before the last learning signal :math:`L_{T-1}` arrives and leaves that term out. Readout synapses:
:math:`g_{oj} = \sum_k \mathrm{err}_{o,k} \bar z^{out}_{j,k}` with
:math:`\bar z^{out}_k = \kappa \bar z^{out}_{k-1} + \zeta_{out} z_k` (/LW if averaging).

**Optimiser** (``weight_optimizer``): the gradients of the :math:`B` intervals of a batch are
summed and divided by :math:`B`; then gradient descent :math:`W \mathrel{-}= \eta G` or NEST's Adam

.. math::

    \alpha_t = \eta \sqrt{1 - \beta_2^t} / (1 - \beta_1^t), \quad
    m \leftarrow \beta_1 m + (1 - \beta_1) G, \quad
    v \leftarrow \beta_2 v + (1 - \beta_2) G^2, \quad
    W \leftarrow W - \alpha_t m / (\sqrt{v} + \epsilon)

(:math:`\epsilon` outside the square root, bias correction folded into the step size), and the
weight is clipped to :math:`[W_{min}, W_{max}]` after the step. Learning rates: NEST keeps one
per synapse (``eta_current``) so that scripts can change ``eta`` between phases (validation and
test phases with ``eta = 0``). It starts as the first non-default ``eta`` the user set
(``eta_first_change``, the first-eta rule) and is reset to the global ``eta`` at each of the
synapse's optimisations; a step uses the value from the synapse's previous optimisation, so a
batch's gradient is applied with the rate of the phase it was computed in, except for synapses
whose presynaptic neuron was silent (:func:`~eprop_jax.nest.training.nest_train` with ``etas`` models this per weight
column). NEST applies
an update lazily at the next presynaptic spike; with the reset at every interval this equals the
dense per-batch update here (weights that do not spike do not matter until they do; Adam's
catch-up steps with zero gradient are the dense steps; NEST clips once after a run of catch-up
steps, here after every step, which differs only when a weight reaches a bound).

Deliberate limits: ``eprop_reset_neurons_on_update=True`` only, no current input (``I_e``), no
finite ``V_min``, readout ``E_L = 0``, one-step delays, one surrogate function, ``c_reg`` and
``f_target`` shared by all recurrent populations (:func:`~eprop_jax.nest.params.from_nest` says so
by name). The spike
condition is ``v > A`` where NEST has ``v >= A`` (equality has probability zero in float64).

**Modules** (one job each; the functions refer to the equations above):

* :mod:`~eprop_jax.nest.params`: NEST's dictionaries -> ``Network`` + :class:`NestConfig`
  (:func:`from_nest`);
* :mod:`~eprop_jax.nest.optimizer`: the optimiser as an optax transformation that returns updates
  (:func:`nest_optimizer`) and the clipping as a projection (:func:`nest_projection`);
* :mod:`~eprop_jax.nest.gradients`: the per-interval conventions and the batch gradient
  (:func:`nest_batch_gradients`);
* :mod:`~eprop_jax.nest.training`: the training loop (:func:`nest_train`);
* :mod:`~eprop_jax.nest.tutorials`: the tutorials' recipes (:func:`nest_tutorial`);
* :mod:`~eprop_jax.nest.current`: NEST 3.10's current models (``eprop_iaf``, ``eprop_iaf_adapt``,
  ``eprop_iaf_psc_delta``, ``eprop_iaf_psc_delta_adapt``, ``eprop_readout``, ``eprop_synapse``:
  continuous learning, bit for bit; :func:`current_config_from_nest`, :func:`simulate_current`);
* :mod:`~eprop_jax.nest.current_tutorials`: their sine-waves tutorial and test-suite recipes
  (:func:`current_sine_waves`, :func:`run_current_tutorial`);
* :mod:`~eprop_jax.nest.run`: the driver that writes a run to a folder
  (:func:`train_nest_tutorial`, :func:`train_current_tutorial`), the only module here that
  writes files.

References:
    Bellec et al. 2020, Nat. Commun. 11:3625 (Eqs. 13-14, 25-28);
    NEST 3.10 models ``eprop_iaf_bsshslm_2020``, ``eprop_iaf_adapt_bsshslm_2020``,
    ``eprop_readout_bsshslm_2020``, ``eprop_synapse_bsshslm_2020``, ``weight_optimizer``;
    the e-prop tutorials in ``pynest/examples/eprop_plasticity`` (tag v3.10).
"""

from .current import (
    CURRENT_MODELS,
    CurrentConfig,
    CurrentRun,
    current_config_from_nest,
    simulate_current,
)
from .current_tutorials import CurrentTutorial, current_sine_waves, run_current_tutorial
from .gradients import NestBatchResult, nest_batch_gradients, nest_targets, nest_truncation
from .optimizer import NestOptimizer, NestOptimizerState, nest_optimizer, nest_projection
from .params import (
    NEST_LOSSES,
    NEST_SURROGATES,
    READOUT_MODEL,
    RECURRENT_MODELS,
    SYNAPSE_MODEL,
    NestConfig,
    NestOptimizerConfig,
    from_nest,
)
from .random import nest_normal_draws
from .run import train_current_tutorial, train_nest_tutorial
from .training import NestRun, nest_train, nest_weights
from .tutorials import (
    TUTORIALS,
    NestTutorial,
    nest_handwriting_data,
    nest_tutorial,
    tutorial_network,
)

__all__ = [
    "CURRENT_MODELS",
    "NEST_LOSSES",
    "NEST_SURROGATES",
    "READOUT_MODEL",
    "RECURRENT_MODELS",
    "SYNAPSE_MODEL",
    "TUTORIALS",
    "CurrentConfig",
    "CurrentRun",
    "CurrentTutorial",
    "NestBatchResult",
    "NestConfig",
    "NestOptimizer",
    "NestOptimizerConfig",
    "NestOptimizerState",
    "NestRun",
    "NestTutorial",
    "current_config_from_nest",
    "current_sine_waves",
    "from_nest",
    "nest_batch_gradients",
    "nest_handwriting_data",
    "nest_normal_draws",
    "nest_optimizer",
    "nest_projection",
    "nest_targets",
    "nest_train",
    "nest_truncation",
    "nest_tutorial",
    "nest_weights",
    "run_current_tutorial",
    "simulate_current",
    "train_current_tutorial",
    "train_nest_tutorial",
    "tutorial_network",
]
