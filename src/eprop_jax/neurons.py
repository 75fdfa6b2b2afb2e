"""Neuron models (compatibility re-export): the models now live in :mod:`eprop_jax.models`.

``alif.py`` holds the (A)LIF model and its equations, ``readout.py`` the leaky readout and
``rate.py`` the tanh rate unit (Miconi 2017). Import from there in new code.
"""

from .models.alif import AlifOutput as AlifOutput
from .models.alif import AlifParams as AlifParams
from .models.alif import AlifState as AlifState
from .models.alif import alif_init_state as alif_init_state
from .models.alif import alif_params as alif_params
from .models.alif import alif_step as alif_step
from .models.alif import lif_params as lif_params
from .models.base import cast_params as cast_params
from .models.base import decay as decay
from .models.rate import RateParams as RateParams
from .models.rate import RateState as RateState
from .models.rate import rate_params as rate_params
from .models.rate import rate_step as rate_step
from .models.readout import ReadoutParams as ReadoutParams
from .models.readout import readout_step as readout_step
