"""Former home of the DNMS training driver; now :mod:`eprop_jax.miconi.training`.

Kept so that ``from eprop_jax.miconi_train import train_dnms`` still works.
"""

from .miconi.training import CRITERIA, dnms_figures, rewards_from_metrics, train_dnms

__all__ = ["CRITERIA", "dnms_figures", "rewards_from_metrics", "train_dnms"]
