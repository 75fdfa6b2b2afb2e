# ---
# jupyter:
#   jupytext:
#     text_representation:
#       extension: .py
#       format_name: percent
#       format_version: '1.3'
#       jupytext_version: 1.19.6
#   kernelspec:
#     display_name: Python 3 (ipykernel)
#     language: python
#     name: python3
# ---

# %% [markdown]
# # Writing your own learning rule
#
# Every learning rule in eprop-jax has one signature,
#
# ```python
# grads, aux = rule(weights, batch, key)
# ```
#
# and a *factory* `factory(net, *, loss, regularization, feedback, **options) -> rule` builds
# it. Anything with that shape gets the rest for free: the jit-compiled training loop with
# Adam, metrics, checkpoints and figures (`eprop_jax.train`), the command line
# (`eprop-jax train TASK --rule ...`) and the comparison with BPTT (`eprop-jax compare`).
#
# e-prop (eligibility propagation; Bellec, Scherr, Subramoney, Hajek, Salaj, Legenstein and Maass, *A solution to the learning dilemma for recurrent networks of spiking neurons*, Nat. Commun. 11:3625 (2020), [doi:10.1038/s41467-020-17236-y](https://doi.org/10.1038/s41467-020-17236-y)) has two places where a research variant usually
# changes something, and each is a keyword of `eprop_jax.eprop`:
#
# * **the learning signal** $L_t = B\,\partial E/\partial y_t$: `feedback=` takes a function
#   `weights -> B` of shape `(n_rec, n_out)`;
# * **the eligibility dynamics**, the per-synapse state computed forward in time:
#   `eligibility=` takes a factory `(neuron_params, kappa) -> LearningRule`, an optax-style
#   pair `init(n_batch, n_pre, dtype) -> state` and
#   `update(state, step, learning_signal) -> (grad_t, state)`, run inside the network's
#   `lax.scan` (so memory does not grow with the trial length).
#
# This notebook writes two variants on the sine-wave task, checks one of them against an
# independent computation, compares both with BPTT, trains them, and registers them so that
# the command line knows them.

# %%
# %matplotlib inline
import os
import tempfile
from pathlib import Path
from typing import NamedTuple

import jax
import jax.numpy as jnp
import numpy as np

import eprop_jax
from eprop_jax import EpropStep, LearningRule, eprop, register_rule
from eprop_jax.compare import format_alignment, mean_alignment
from eprop_jax.losses import rate_regularization
from eprop_jax.plotting import plot_alignment_by_rule, plot_loss_curves
from eprop_jax.train import TrainConfig, build, train

# EPROP_JAX_NOTEBOOK_SMOKE=1 shrinks everything so that the notebook runs in seconds (the
# test suite uses it); leave it unset for the real experiment.
SMOKE = os.environ.get("EPROP_JAX_NOTEBOOK_SMOKE") == "1"
TASK = "sine_waves"
N_REC = 20 if SMOKE else 100
ITERATIONS = 3 if SMOKE else 300
TASK_OPTIONS = {"duration": 100, "n_in": 10} if SMOKE else {}
OUT = Path(tempfile.mkdtemp(prefix="eprop-jax-rules-"))
print(f"eprop_jax {eprop_jax.__version__}, jax {jax.__version__}, device {jax.devices()[0]}")


# %% [markdown]
# ## 1. A new learning signal: sign-concordant feedback
#
# Random feedback ($B$ fixed and random) works because the readout weights align with $B$
# during training. *Sign-concordant* feedback (Liao, Leibo and Poggio 2016) keeps the
# magnitudes random but copies the signs of $W^{out}$: $B = \operatorname{sign}(W^{out\top})
# \odot |B_{random}|$. As a rule it is three lines; `**options` passes loss, regularisation
# and anything else through to `eprop`.


# %%
def sign_concordant_feedback(weights):
    return jnp.sign(weights.w_out.T) * jnp.abs(weights.b_fb)


def eprop_sign_concordant(net, **options):
    options.pop("feedback", None)  # this rule fixes its own feedback
    return eprop(net, feedback=sign_concordant_feedback, **options)


# %% [markdown]
# ## 2. New eligibility dynamics: e-prop without the readout filter
#
# e-prop filters the eligibility trace with the readout's time constant,
# $\bar e_t = \kappa \bar e_{t-1} + (1-\kappa) e_t$, because the error at time $t$ depends on
# spikes that reached the leaky readout earlier (Eq. 28 of the paper). What happens without
# that filter? For a network of LIF neurons the eligibility trace is
# $e_{t,ji} = \psi_{t,j}\,\epsilon_{t,ji}$ with
# $\epsilon_{t,ji} = \alpha_j \epsilon_{t-1,ji} + p_{t,i}$ (Eqs. 13-14), where $p_t$ is the
# presynaptic activity ($x_t$ for input synapses, $z_{t-1}$ for recurrent ones). Here it is,
# written from scratch: the state is a NamedTuple, `update` advances it by one step and
# returns that step's gradient $\sum_b L_{t,b,j} e_{t,b,ji}$. The field `e_sum` (the summed
# trace) is what the firing-rate regulariser needs.


# %%
class UnfilteredState(NamedTuple):
    eps: jax.Array  # (B, n, P): epsilon of every synapse onto the n neurons
    e_sum: jax.Array  # (n, P): sum over steps and batch of e, for the rate regulariser


def unfiltered_lif_eligibility(params, kappa):
    alpha = params.alpha[:, None]  # (n, 1): each neuron's membrane decay

    def init(n_batch, n_pre, dtype):
        n = params.alpha.shape[0]
        return UnfilteredState(jnp.zeros((n_batch, n, n_pre), dtype), jnp.zeros((n, n_pre), dtype))

    def update(state, step: EpropStep, learning_signal):
        eps = alpha * state.eps + step.pre[:, None, :]  # Eq. 14
        e = step.psi[..., None] * eps  # Eq. 13, no filter
        grad_t = jnp.einsum("bj,bji->ji", learning_signal, e)  # L_t e_t
        return grad_t, UnfilteredState(eps, state.e_sum + e.sum(0))

    return LearningRule(init, update)


def eprop_unfiltered(net, **options):
    return eprop(net, eligibility=unfiltered_lif_eligibility, **options)


# %% [markdown]
# **Check it.** The library's own eligibility rule with the filter switched off
# (`kappa = 0`) must give the same gradient on a LIF network. Two independent
# implementations agreeing in float64 is the kind of test every rule in eprop-jax has.

# %%
with jax.enable_x64(True):
    exp64 = build(
        TrainConfig(task=TASK, network={"n_rec": N_REC}, task_options=TASK_OPTIONS, dtype="float64")
    )
    w64 = eprop_jax.init_weights(exp64.net, jax.random.key(1), dtype=jnp.float64)
    batch64 = exp64.sample(jax.random.key(2))
    ours, _ = eprop_unfiltered(exp64.net, loss="mse")(w64, batch64)

    def library_unfiltered(params, kappa):
        return eprop_jax.eprop_eligibility(params, jnp.zeros_like(kappa))

    library, _ = eprop(exp64.net, loss="mse", eligibility=library_unfiltered)(w64, batch64)
    for name in ("w_in", "w_rec"):
        a, b = np.asarray(getattr(ours, name)), np.asarray(getattr(library, name))
        err = np.max(np.abs(a - b)) / np.max(np.abs(b))
        print(f"{name}: max relative difference {err:.1e}")
        assert err < 1e-10

# %% [markdown]
# ## 3. Register the rules and compare them with BPTT
#
# `register_rule` puts a factory under a name that `make_rule`, `TrainConfig(rule=...)` and
# the command line understand. (A module on your path works without registering:
# `--rule mypackage.rules:eprop_unfiltered`.) `mean_alignment` then gives each rule's cosine
# similarity and norm ratio to the exact BPTT gradient, per weight matrix, averaged over
# batches; `tbptt` (truncated BPTT, here with windows of 10 steps) is a non-e-prop baseline.
# Note that truncation also cuts the readout's memory: with a window shorter than the
# readout time constant even `w_out`'s gradient is only partly there.

# %%
register_rule("eprop-sign-concordant", eprop_sign_concordant, overwrite=True)
register_rule("eprop-unfiltered", eprop_unfiltered, overwrite=True)

exp = build(TrainConfig(task=TASK, network={"n_rec": N_REC}, task_options=TASK_OPTIONS))
# Without the rate regulariser: its gradient is the same in every e-prop variant and, at
# the initial weights, it would dominate and hide the differences in the learning signal.
common = {"loss": exp.loss, "regularization": rate_regularization(0.0)}
weights = eprop_jax.init_weights(exp.net, jax.random.key(0))
rules = {
    "eprop/symmetric": eprop_jax.make_rule("eprop", exp.net, feedback="symmetric", **common),
    "eprop/random": eprop_jax.make_rule("eprop", exp.net, feedback="random", **common),
    "eprop-sign-concordant": eprop_jax.make_rule("eprop-sign-concordant", exp.net, **common),
    "eprop-unfiltered": eprop_jax.make_rule(
        "eprop-unfiltered", exp.net, feedback="symmetric", **common
    ),
    "tbptt/K=10": eprop_jax.make_rule("tbptt", exp.net, truncation=10, **common),
}
reference = eprop_jax.make_rule("bptt", exp.net, **common)
# The sine-wave task has one frozen input, so the batches differ only in the perturbations
# of nothing: one batch is enough here; classification tasks average over several.
table = mean_alignment(rules, weights, [exp.sample(jax.random.key(3))], reference=reference)
print(format_alignment(table))

# %%
fig = plot_alignment_by_rule(table, ("w_in", "w_rec"))
fig

# %% [markdown]
# ## 4. Train them
#
# The same `train` call for every rule; only the name changes. Each run writes metrics,
# a checkpoint and figures to its folder, exactly as `eprop-jax train` does.

# %%
curves = {}
for name, feedback in [
    ("eprop", "random"),
    ("eprop-sign-concordant", "random"),
    ("eprop-unfiltered", "random"),
    ("bptt", "symmetric"),
]:
    config = TrainConfig(
        task=TASK,
        rule=name,
        feedback=feedback,
        iterations=ITERATIONS,
        network={"n_rec": N_REC},
        task_options=TASK_OPTIONS,
        eval_interval=0,
    )
    result = train(config, OUT / name, progress=False, overwrite=True)  # reruns replace
    curves[name] = [m["loss"] for m in result.metrics]
    print(
        f"{name:<24} final loss {curves[name][-1]:.4f} "
        f"({result.seconds_per_iteration * 1e3:.0f} ms/iteration)"
    )

fig = plot_loss_curves(
    curves, title="sine waves: rule variants", ylabel="loss (MSE + rate regularisation)"
)
fig

# %% [markdown]
# ## 5. From the command line
#
# Put the factories in a module on your `PYTHONPATH` (say `myrules.py`) and name them as
# `module:function`; `--rule-option KEY=VALUE` passes extra factory arguments:
#
# ```bash
# eprop-jax train sine_waves --rule myrules:eprop_unfiltered
# eprop-jax train evidence_accumulation --rule tbptt --rule-option truncation=100
# eprop-jax compare evidence_accumulation --rule myrules:eprop_sign_concordant --truncation 50
# eprop-jax compare --run runs/evidence_accumulation-eprop-random-s0   # at trained weights
# ```
#
# **Other places to change.** A whole-sequence rule (anything that is not e-prop's
# eligibility x learning-signal form) is just a function `rule(weights, batch, key) ->
# (grads, aux)`: see `eprop_jax.rules.truncated_bptt` for one in about thirty lines, built on
# `network_step` and `jax.grad`. Gradients of `w_out` and `b_out` from `eprop` are exact in
# every variant; `b_fb` receives a gradient only with `feedback="adaptive"`.
