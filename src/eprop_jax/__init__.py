"""eprop-jax: e-prop (eligibility propagation) for recurrent spiking networks in JAX.

Build a network, draw weights, and get gradients from any learning rule with one signature::

    net = eprop_jax.network(40, 100, 2, n_alif=50)
    weights = eprop_jax.init_weights(net, jax.random.key(0))
    grads, aux = eprop_jax.eprop(net, loss="cross_entropy", feedback="random")(weights, batch)
"""

from .compare import alignment as alignment
from .compare import compare_rules as compare_rules
from .compare import format_alignment as format_alignment
from .eprop import EpropState as EpropState
from .eprop import EpropStep as EpropStep
from .eprop import LearningRule as LearningRule
from .eprop import eprop_eligibility as eprop_eligibility
from .eprop import eprop_gradients as eprop_gradients
from .eprop_factored import eprop_factored_gradients as eprop_factored_gradients
from .losses import RateRegularization as RateRegularization
from .losses import accuracy as accuracy
from .losses import cross_entropy_step as cross_entropy_step
from .losses import mse_step as mse_step
from .losses import rate_regularization as rate_regularization
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
from .neurons import AlifOutput as AlifOutput
from .neurons import AlifParams as AlifParams
from .neurons import AlifState as AlifState
from .neurons import ReadoutParams as ReadoutParams
from .neurons import alif_init_state as alif_init_state
from .neurons import alif_params as alif_params
from .neurons import alif_step as alif_step
from .neurons import cast_params as cast_params
from .neurons import lif_params as lif_params
from .neurons import readout_step as readout_step
from .rules import RULES as RULES
from .rules import Rule as Rule
from .rules import RuleAux as RuleAux
from .rules import bptt as bptt
from .rules import eprop as eprop
from .rules import eprop_autodiff as eprop_autodiff
from .rules import eprop_factored as eprop_factored
from .rules import make_rule as make_rule
from .rules import register_rule as register_rule
from .rules import truncated_bptt as truncated_bptt
from .surrogates import Surrogate as Surrogate
from .surrogates import pseudo_derivative as pseudo_derivative
from .surrogates import spike_function as spike_function
from .surrogates import surrogate as surrogate
from .types import Batch as Batch

__version__ = "0.1.0"
