"""Miconi's (2017) reward-modulated rate network on delayed non-match-to-sample (DNMS).

* :mod:`eprop_jax.miconi.model`: the network, the trial, the rule and the compiled training
  loop (pure functions);
* :mod:`eprop_jax.miconi.training`: :func:`train_dnms`, the driver that writes a run folder
  (:mod:`eprop_jax.rundir`, kind ``"dnms"``) and resumes it bit for bit;
* :mod:`eprop_jax.miconi.figures`: the DNMS figures.

The public names of all three are importable from ``eprop_jax.miconi``.
"""

from .figures import dnms_figures, plot_dnms_rewards, plot_dnms_traces
from .model import (
    TRACE_MODES,
    TRIAL_TYPES,
    EvalOutput,
    GroupOutput,
    MiconiConfig,
    MiconiState,
    MiconiWeights,
    StepOutput,
    TrainState,
    TrialOutput,
    evaluate,
    external_input,
    init,
    init_weights,
    miconi_step,
    perturbations,
    run_group,
    run_trial,
    trace_increment,
    train_groups,
    trial_errors,
    trial_inputs,
    trials_to_criterion,
    update_baseline,
    weight_update,
)
from .training import CRITERIA, rewards_from_metrics, train_dnms

__all__ = [
    "CRITERIA",
    "TRACE_MODES",
    "TRIAL_TYPES",
    "EvalOutput",
    "GroupOutput",
    "MiconiConfig",
    "MiconiState",
    "MiconiWeights",
    "StepOutput",
    "TrainState",
    "TrialOutput",
    "dnms_figures",
    "evaluate",
    "external_input",
    "init",
    "init_weights",
    "miconi_step",
    "perturbations",
    "plot_dnms_rewards",
    "plot_dnms_traces",
    "rewards_from_metrics",
    "run_group",
    "run_trial",
    "trace_increment",
    "train_dnms",
    "train_groups",
    "trial_errors",
    "trial_inputs",
    "trials_to_criterion",
    "update_baseline",
    "weight_update",
]
