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
# # e-prop tutorial 1: evidence accumulation with adaptive neurons
#
# A recurrent network of spiking neurons watches a sequence of cues, some on the left and
# some on the right, waits for about a second, and then has to say which side showed more
# cues. This is the classification experiment of Fig. 3 of
#
# > Bellec, Scherr, Subramoney, Hajek, Salaj, Legenstein and Maass, *A solution to the learning dilemma for recurrent networks of spiking neurons*, Nat. Commun. 11:3625 (2020), [doi:10.1038/s41467-020-17236-y](https://doi.org/10.1038/s41467-020-17236-y)
#
# and the NEST example `eprop_supervised_classification_evidence-accumulation`
# (`pynest/examples/eprop_plasticity`). Here the same experiment runs in JAX.
#
# **e-prop in brief.** Backpropagation through time (BPTT) finds the gradient of the loss
# by running the network backwards over the whole trial, which needs the full history in
# memory and is not something a brain could do. e-prop (eligibility propagation) writes
# the gradient of every synapse as a sum over time of two factors that are both available
# *now*: an **eligibility trace**, which the synapse computes forward in time from its
# pre- and postsynaptic activity, and a **learning signal**, the current readout error
# sent back to each neuron. The weight change is their product, summed over the trial.
#
# The notebook has five parts:
#
# 1. the task, and one batch of it;
# 2. the network (LIF and ALIF neurons) and the e-prop gradient next to BPTT's;
# 3. training with `eprop_jax.train.train`;
# 4. the figures: learning curve, a trial before and after training, the weights;
# 5. what to try next, and the same run from the command line.
#
# The full run (up to 500 iterations of 64 trials, 2.25 s each) takes 2 to 3 s per
# iteration on a two-core CPU, so up to about 25 minutes; it stops early once the recall
# error is below 7 %, and a GPU is much faster. Set the environment variable
# `EPROP_JAX_NOTEBOOK_SMOKE=1` to run everything at a tiny size in seconds, for example to
# check an installation.

# %%
# %matplotlib inline
import json
import os
import tempfile
from pathlib import Path

import jax
import numpy as np

import eprop_jax
from eprop_jax import tasks
from eprop_jax.plotting import (
    plot_alignment,
    plot_evidence_trial,
    plot_learning_curve,
    plot_snapshot,
    plot_weights,
)
from eprop_jax.train import TASK_PRESETS, TrainConfig, build, train

TASK = "evidence_accumulation"
# EPROP_JAX_NOTEBOOK_SMOKE=1 shrinks everything so that the notebook runs in seconds (the test
# suite uses it); leave it unset for the real experiment.
SMOKE = os.environ.get("EPROP_JAX_NOTEBOOK_SMOKE") == "1"
SEED = 0
preset = TASK_PRESETS[TASK]
if SMOKE:
    ITERATIONS, BATCH_SIZE, N_REC, N_ALIF = 3, 2, 20, 10
    TASK_OPTIONS = {
        "n_cues": 3,
        "cue_duration": 20.0,
        "cue_silence": 10.0,
        "delay": 50.0,
        "recall_duration": 20.0,
    }
else:  # the paper's setting: the task preset and the generator's defaults
    ITERATIONS, BATCH_SIZE = preset["iterations"], preset["batch_size"]
    N_REC, N_ALIF = preset["network"]["n_rec"], preset["network"]["n_alif"]
    TASK_OPTIONS = {}

# Results go to runs/notebooks/<task> in the repository (git-ignored), or to a temporary
# folder in smoke mode or when the notebook runs outside a checkout.
here = Path.cwd().resolve()
repo = next((p for p in (here, *here.parents) if (p / "src" / "eprop_jax").is_dir()), None)
if SMOKE or repo is None:
    OUT = Path(tempfile.mkdtemp(prefix="eprop-jax-")) / TASK
else:
    OUT = repo / "runs" / "notebooks" / TASK
print(f"eprop_jax {eprop_jax.__version__}, jax {jax.__version__}, device {jax.devices()[0]}")
print(f"smoke mode: {SMOKE}; outputs in {OUT}")

# %% [markdown]
# ## 1. The task
#
# Every trial is built from 40 Poisson input neurons in four groups of 10:
#
# | neurons | group | active |
# |---|---|---|
# | 0-9 | left cue | 40 Hz during each cue shown on the left |
# | 10-19 | right cue | 40 Hz during each cue shown on the right |
# | 20-29 | recall | 40 Hz in the final recall window |
# | 30-39 | background | 10 Hz for the whole trial |
#
# A trial shows 7 cues, each 100 ms long after 50 ms of silence. One side is chosen as the
# likely side of the trial, and each cue appears there with probability 0.7 (otherwise on
# the other side). After the last cue comes a delay of 1050 ms with background activity
# only, and then 150 ms of recall activity: the question "which side had more cues?". A
# trial lasts $7 \cdot 150 + 1050 + 150 = 2250$ ms.
#
# There are two readouts, one per side. The target is the one-hot label at every time
# step, but the loss (cross-entropy between the softmax of the readouts and the label)
# only counts inside the recall window, given by the batch's `mask`. The answer is the
# side whose readout is larger on average over that window; the paper's criterion of
# success is a recall error below 7 %.
#
# The information has to be held for more than a second, fifty times the membrane time
# constant of 20 ms. This is why the network contains adaptive neurons (part 2).
#
# The generator is a pure function of a JAX key: a new key gives new cues and new spikes,
# and the trainer draws a fresh batch every iteration.

# %%
example, info = tasks.evidence_accumulation(jax.random.key(SEED), 4, **TASK_OPTIONS)
print("inputs", example.inputs.shape, "targets", example.targets.shape, "mask", example.mask.shape)
for b in range(4):
    cues = "".join("LR"[int(side)] for side in info.cue_sides[b])
    print(f"trial {b}: cues {cues} -> answer {'LR'[int(info.labels[b])]}")

# %%
fig = plot_evidence_trial(example)
fig

# %% [markdown]
# ## 2. The network and its gradient
#
# Each recurrent neuron $j$ is a leaky integrate-and-fire unit updated every
# $dt = 1$ ms. Its membrane potential sums the input spikes $x_i^t$ and the recurrent
# spikes of the previous step, decays with $\alpha = e^{-dt/\tau_m}$, and drops by the
# threshold $v_{th}$ after each of its own spikes (reset by subtraction):
#
# $$v_j^t = \alpha\, v_j^{t-1} + \sum_i W^{in}_{ji} x_i^t
#           + \sum_{i \neq j} W^{rec}_{ji} z_i^{t-1} - v_{th} z_j^{t-1}.$$
#
# The neuron spikes, $z_j^t = 1$, when $v_j^t$ exceeds its threshold $A_j^t$ and it is
# not refractory (5 ms after a spike).
#
# * **LIF** neurons have a fixed threshold, $A_j^t = v_{th}$.
# * **ALIF** (adaptive LIF) neurons raise their threshold with every spike and let it
#   relax slowly: $A_j^t = v_{th} + \beta a_j^t$ with $a_j^{t+1} = \rho a_j^t + z_j^t$
#   and $\rho = e^{-dt/\tau_a}$. With $\tau_a = 2$ s, a neuron that fired a lot during
#   the cues stays harder to excite through the whole delay: its threshold stores the
#   evidence.
#
# The preset network has 100 neurons, the last 50 of them ALIF (a "long short-term
# memory spiking network", LSNN). Two leaky readouts integrate the recurrent spikes,
# $y_k^t = \kappa y_k^{t-1} + (1 - \kappa)(\sum_j W^{out}_{kj} z_j^t + b_k)$.
#
# A spike is a step function of $v - A$, so the gradient uses a **pseudo-derivative**
# $\psi_j^t$ instead of its derivative: a triangle that peaks when $v$ is at threshold.
#
# **The e-prop gradient.** For a synapse from $i$ to $j$,
#
# $$\frac{dE}{dW_{ji}} \approx \sum_t L_j^t\, e_{ji}^t .$$
#
# For a LIF neuron the eligibility trace is $e_{ji}^t = \psi_j^t \bar z_i^{t-1}$, the
# postsynaptic pseudo-derivative times the presynaptic spikes low-pass filtered with
# $\alpha$. An ALIF neuron adds a second, slowly decaying component that keeps track of
# how the synapse has moved the threshold; that is how e-prop credits a spike during the
# cues for an error a second later. The learning signal is the output error mapped back
# to the neurons by a feedback matrix $B$,
# $L_j^t = \sum_k B_{jk} (\pi_k^t - y_k^{*,t})$ with the softmax outputs $\pi^t$
# inside the learning window. `feedback="symmetric"` uses $B = W^{out\top}$,
# `"random"` a fixed random $B$ (the variant used below), `"adaptive"` a $B$ that learns
# along with $W^{out}$.

# %% [markdown]
# ### Building it
#
# `TrainConfig` holds everything a run needs; fields left at `None` take the task's
# preset (`TASK_PRESETS`), and `network={...}` overrides single network arguments.
# `build` resolves the configuration and returns the network description, the task
# sampler, the learning rule and the optimiser that `train` will use.
# Here it is a mix of LIF and ALIF neurons, the ALIF ones last (`n_alif`).

# %%
config = TrainConfig(
    task=TASK,
    rule="eprop",
    feedback="random",
    iterations=ITERATIONS,
    batch_size=BATCH_SIZE,
    seed=SEED,
    network={"n_rec": N_REC, "n_alif": N_ALIF},
    task_options=TASK_OPTIONS,
)
exp = build(config)
net = exp.net
print(json.dumps(exp.config.network))
print(f"inputs {net.n_in}, recurrent {net.n_rec}, readouts {net.n_out}, dt {net.dt} ms")
print(f"loss: {exp.loss}; learning rate {exp.config.learning_rate}")

# %% [markdown]
# The same network, written by hand with `eprop_jax.network`. Per-neuron constants are
# stored as decay factors per time step: $\alpha = e^{-dt/\tau_m}$ for the membrane,
# $\rho = e^{-dt/\tau_a}$ for the threshold adaptation and $\beta$ for its strength
# ($\beta = 0$ makes a neuron LIF).

# %%
by_hand = eprop_jax.network(net.n_in, n_out=net.n_out, **exp.config.network)
assert np.allclose(by_hand.neuron.beta, net.neuron.beta)

neuron = net.neuron
n_lif = net.n_rec - N_ALIF
for kind, rows in (("LIF", range(n_lif)), ("ALIF", range(n_lif, net.n_rec))):
    if len(rows) == 0:
        continue
    j = rows[0]
    text = f"{len(rows)} {kind} neurons: alpha={float(neuron.alpha[j]):.4f}"
    text += f", threshold={float(neuron.thr[j])}"
    text += f", refractory={int(neuron.n_refractory[j])} steps"
    if kind == "ALIF":
        text += f", rho={float(neuron.rho[j]):.6f}, beta={float(neuron.beta[j]):.4f}"
    print(text)

# %% [markdown]
# Before any learning, draw initial weights and run the network on a batch from the
# trainer's sampler. `simulate` returns the readout `y` and the spikes `z`, both
# time-major `(T, batch, n)`.

# %%
weights = eprop_jax.init_weights(net, jax.random.key(SEED))
batch = exp.sample(jax.random.key(SEED + 1))
trajectory = eprop_jax.simulate(net, weights, batch.inputs)
rate_hz = float(np.mean(trajectory.z)) * 1000.0 / net.dt
print(f"untrained network: mean firing rate {rate_hz:.1f} Hz")

# %% [markdown]
# ### e-prop against BPTT on one batch
#
# BPTT gives the exact gradient of the loss (with the same pseudo-derivative). e-prop leaves out
# every path by which a spike of neuron $j$ changes the error *later* through the recurrent
# weights, so for `w_in` and `w_rec` it is an approximation; the readout weights `w_out` and the
# bias `b_out` get their exact gradient in every rule. `compare_rules` evaluates each rule on the
# same weights and batch and reports, per weight matrix, the cosine similarity with BPTT's
# gradient (1: same direction) and the ratio of the norms.
#
# The rules here see the task loss alone. Training adds the firing-rate regulariser, whose
# gradient does not involve the feedback matrix; with it (as in `eprop-jax compare`) all cosines
# come out higher, the more so the further the firing rates are from their target.

# %%
reference = eprop_jax.bptt(net, loss=exp.loss)
rules = {
    f"eprop/{feedback}": eprop_jax.eprop(net, loss=exp.loss, feedback=feedback)
    for feedback in ("symmetric", "random")
}
table = eprop_jax.compare_rules(rules, weights, batch, reference=reference)
print(eprop_jax.format_alignment(table))

# %%
fig = plot_alignment(table, "initial weights")
fig

# %% [markdown]
# How to read it: the `w_out` and `b_out` bars are 1 for every rule. With symmetric feedback
# ($B = W^{out\top}$) each neuron receives the learning signal BPTT would give it at the same
# time step, and the cosine for `w_in` and `w_rec` shows how much of the gradient travels along
# the recurrent paths e-prop leaves out (at full size it is typically between 0.6 and 0.8). Random
# feedback sends the error through a fixed random matrix $B$ that has nothing to do with
# $W^{out}$ yet, so at the initial weights its cosine is close to 0. It learns nonetheless, as in
# feedback alignment: part 4 repeats this comparison with the trained weights. (In smoke mode the
# network is tiny and the numbers mean little.)

# %% [markdown]
# ## 3. Training
#
# `train` runs the loop: every iteration draws a fresh batch, asks the rule for the
# gradient, applies Adam (step size 5e-3) and records the loss, the accuracy and the
# firing rate. The loss includes a firing-rate regulariser that pulls every neuron toward
# 10 Hz. Every 25 iterations (and at the end) the network is evaluated on fresh batches;
# once the evaluation recall error falls below the paper's 7 %, training stops early.
#
# With an output folder, `train` also writes `config.json`, `metrics.jsonl`, a
# checkpoint (`resume=True` continues a run exactly), the weights before and after, and
# one recorded trial before and after training (`snapshot_*.npz`) for the figures below.
# The progress bar comes from `tqdm`; without the `ipywidgets` package it is drawn as text,
# after a harmless warning that `IProgress` was not found.

# %%
result = train(config, OUT, progress=True, overwrite=True)  # a rerun replaces its own last run
final = result.metrics[-1]
print(
    f"{result.iterations_done} iterations, {result.seconds_per_iteration:.3f} s per iteration"
    + (" (stopped early: target error reached)" if result.stopped_early else "")
)
print(json.dumps({k: round(v, 4) for k, v in final.items() if isinstance(v, float)}))
print(sorted(p.name for p in OUT.iterdir() if not p.name.startswith(".")))

# %% [markdown]
# ## 4. Results
#
# ### Learning curve
#
# The top panel is the loss (log scale), the bottom one the recall error: the fraction of
# trials whose averaged readout picked the wrong side. Training values are per batch,
# evaluation values (markers) are averages over fresh batches, and the evaluation loss
# leaves out the regulariser; the dashed line is the 7 % criterion.

# %%
fig = plot_learning_curve(result.metrics, "classification")
fig

# %% [markdown]
# The trained weights are in `result.weights`. Test them on trials the network has never
# seen: run it, average each readout over the recall window and compare the larger one
# with the label.

# %%
test, test_info = tasks.evidence_accumulation(
    jax.random.key(SEED + 1000), 4 * BATCH_SIZE, **TASK_OPTIONS
)
y = np.asarray(eprop_jax.simulate(net, result.weights, test.inputs).y)
window = np.asarray(test.mask)[..., None]
answer = np.argmax((y * window).sum(axis=0) / window.sum(axis=0), axis=-1)
correct = np.mean(answer == np.asarray(test_info.labels))
print(f"{len(answer)} new trials: {100 * correct:.1f} % correct")

# %% [markdown]
# ### e-prop against BPTT after training
#
# The comparison of part 2, on the same batch, with the trained weights. With random feedback
# the cosine for `w_in` and `w_rec` is usually much higher than at the start: the readout weights
# have adapted to the fixed feedback matrix, so the random learning signals now point roughly
# where BPTT's do.

# %%
after = eprop_jax.compare_rules(rules, result.weights, batch, reference=reference)
print(eprop_jax.format_alignment(after))
fig = plot_alignment(after, f"after {result.iterations_done} iterations")
fig


# %% [markdown]
# ### One trial before and after training
#
# `train` recorded the same trial with the initial and with the final weights. From top
# to bottom: input spikes; recurrent spikes (LIF black, ALIF red); membrane potential,
# adaptive threshold, pseudo-derivative and learning signal of five active ALIF neurons;
# the readouts as class probabilities against the target (dashed), the recall window
# shaded; and the error that drives the learning signal.


# %%
def load(name):
    """Read one of the .npz files written by `train` into a dict of arrays."""
    with np.load(OUT / name) as data:
        return {key: data[key] for key in data.files}


first, last = load("snapshot_first.npz"), load("snapshot_last.npz")
print({key: value.shape for key, value in first.items()})

# %%
fig = plot_snapshot(first, "before training", n_alif=N_ALIF, task_kind="classification")
fig

# %%
title = f"after {int(last['iteration'])} iterations"
fig = plot_snapshot(last, title, n_alif=N_ALIF, task_kind="classification")
fig

# %% [markdown]
# ### Weights before and after
#
# Each column is one weight matrix: the initial weights on top, the trained ones below, with the
# same symmetric colour scale in both rows. `w_out` usually changes the most; random feedback
# leaves the fixed matrix `b_fb` (not shown) untouched.

# %%
fig = plot_weights(load("weights_initial.npz"), load("weights_final.npz"))
fig

# %% [markdown]
# ## 5. What to try next
#
# * **Feedback.** Train with `feedback="symmetric"` or `feedback="adaptive"` and compare
#   the learning curves with random feedback.
# * **The reference.** `rule="bptt"` trains the same network with exact gradients;
#   `rule="eprop-autodiff"` computes e-prop with `jax.grad` and stop-gradients and must
#   give the same numbers as `rule="eprop"`.
# * **Memory.** Set `N_ALIF = 0`: without adaptive thresholds only recurrent activity can
#   carry the evidence through the delay. Or make the delay longer with
#   `TASK_OPTIONS = {"delay": 2000.0}`.
# * **Robustness.** Other seeds (`SEED`), the surrogate shape
#   (`network={"surrogate_shape": "exponential", ...}`) or the regulariser (`c_reg`,
#   `f_target`).
#
# The same training run from the command line (it also writes the figures as PNG files
# next to the results; `eprop-jax plot DIR` redraws them):

# %%
command = [f"eprop-jax train {TASK} --rule {config.rule} --feedback {config.feedback}"]
command.append(f"--iterations {ITERATIONS} --batch-size {BATCH_SIZE} --seed {SEED}")
command.append(f"--n-rec {N_REC} --n-alif {N_ALIF}")
command += [f"--task-option {key}={value}" for key, value in TASK_OPTIONS.items()]
command.append(f"--out runs/{TASK}")
print(" \\\n    ".join(command))

# %% [markdown]
# and the gradient check of part 2, averaged over several batches:
# `eprop-jax compare evidence_accumulation --batches 8`.
