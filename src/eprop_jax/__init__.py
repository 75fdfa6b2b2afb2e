"""eprop-jax: e-prop (eligibility propagation) for recurrent spiking networks in JAX.

Build a network, draw weights, and get gradients from any learning rule with one signature::

    net = eprop_jax.network(40, 100, 2, n_alif=50)
    weights = eprop_jax.init_weights(net, jax.random.key(0))
    grads, aux = eprop_jax.eprop(net, loss="cross_entropy", feedback="random")(weights, batch)

The neuron model is a choice of :func:`network` (``model="alif"`` or ``"psc_delta"``, see
:mod:`eprop_jax.models`); every rule and engine is generic over it. For your own time loop,
:func:`network_step` with :func:`cast`, :func:`init_state` and :func:`input_currents` is what
:func:`simulate` runs, and :class:`Network` is a static pytree, so ``jax.jit(simulate)`` works.

Reward-based e-prop (actor-critic) takes an :class:`Episode` instead of a batch::

    config = eprop_jax.actor_critic(n_actions=2, gamma=0.99)
    grads, aux = eprop_jax.reward_eprop_factored(net, weights, episode, config=config)

with environments and rollouts in :mod:`eprop_jax.envs` and the trainers in
:mod:`eprop_jax.reward_train` (built-in environments) and :mod:`eprop_jax.reward_gym`
(Gymnasium).
"""

from .allocator import keep_freed_memory as keep_freed_memory
from .compare import alignment as alignment
from .compare import compare_rules as compare_rules
from .compare import format_alignment as format_alignment
from .engines import autodiff_gradients as autodiff_gradients
from .engines import truncated_bptt_gradients as truncated_bptt_gradients
from .eprop import EpropState as EpropState
from .eprop import EpropStep as EpropStep
from .eprop import LearningRule as LearningRule
from .eprop import eprop_eligibility as eprop_eligibility
from .eprop import eprop_gradients as eprop_gradients
from .eprop_factored import eprop_factored_gradients as eprop_factored_gradients
from .losses import RateRegularization as RateRegularization
from .losses import TrialStats as TrialStats
from .losses import accuracy as accuracy
from .losses import cross_entropy_step as cross_entropy_step
from .losses import mse_step as mse_step
from .losses import rate_regularization as rate_regularization
from .losses import trial_stats as trial_stats
from .models import MODELS as MODELS
from .models import get_model as get_model
from .models import register_model as register_model
from .models.alif import AlifOutput as AlifOutput
from .models.alif import AlifParams as AlifParams
from .models.alif import AlifState as AlifState
from .models.alif import alif_init_state as alif_init_state
from .models.alif import alif_params as alif_params
from .models.alif import alif_step as alif_step
from .models.alif import lif_params as lif_params
from .models.base import NeuronModel as NeuronModel
from .models.base import cast_params as cast_params
from .models.psc_delta import PscDeltaOutput as PscDeltaOutput
from .models.psc_delta import PscDeltaParams as PscDeltaParams
from .models.psc_delta import psc_delta_params as psc_delta_params
from .models.psc_delta import psc_delta_step as psc_delta_step
from .models.readout import ReadoutParams as ReadoutParams
from .models.readout import readout_step as readout_step
from .network import Network as Network
from .network import NetworkState as NetworkState
from .network import Trajectory as Trajectory
from .network import Weights as Weights
from .network import cast as cast
from .network import init_state as init_state
from .network import init_weights as init_weights
from .network import input_currents as input_currents
from .network import network as network
from .network import network_step as network_step
from .network import simulate as simulate
from .reward import ActorCritic as ActorCritic
from .reward import Episode as Episode
from .reward import RewardAux as RewardAux
from .reward import actor_critic as actor_critic
from .reward import reward_eprop_autodiff as reward_eprop_autodiff
from .reward import reward_eprop_factored as reward_eprop_factored
from .reward import reward_eprop_online as reward_eprop_online
from .rules import FEEDBACKS as FEEDBACKS
from .rules import RULES as RULES
from .rules import Feedback as Feedback
from .rules import Rule as Rule
from .rules import bptt as bptt
from .rules import engine_rule as engine_rule
from .rules import eprop as eprop
from .rules import eprop_autodiff as eprop_autodiff
from .rules import eprop_factored as eprop_factored
from .rules import make_rule as make_rule
from .rules import register_rule as register_rule
from .rules import resolve_feedback as resolve_feedback
from .rules import truncated_bptt as truncated_bptt
from .surrogates import Surrogate as Surrogate
from .surrogates import pseudo_derivative as pseudo_derivative
from .surrogates import spike_function as spike_function
from .surrogates import surrogate as surrogate
from .types import Batch as Batch
from .types import RuleAux as RuleAux

__version__ = "0.1.0"
