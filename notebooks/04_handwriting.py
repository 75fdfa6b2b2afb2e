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
# # e-prop tutorial 4: writing a word
#
# Two readouts of a recurrent spiking network act as the $x$ and $y$ coordinates of a pen
# tip, and the network has to write a word in cursive, driven by a frozen random input.
# This is the NEST example `eprop_supervised_regression_handwriting`
# (`pynest/examples/eprop_plasticity`, the word "chaos"), a two-dimensional version of the
# pattern-generation experiment (Fig. S7) of
#
# > Bellec, Scherr, Subramoney, Hajek, Salaj, Legenstein and Maass, *A solution to the learning dilemma for recurrent networks of spiking neurons*, Nat. Commun. 11:3625 (2020), [doi:10.1038/s41467-020-17236-y](https://doi.org/10.1038/s41467-020-17236-y)
#
# **e-prop in brief.** Backpropagation through time (BPTT) finds the gradient of the loss
# by running the network backwards over the whole trial. e-prop (eligibility propagation)
# replaces this with two factors available at every time step: an **eligibility trace**
# per synapse, computed forward in time from pre- and postsynaptic activity, and a
# **learning signal** per neuron, the current readout error sent back to it. Their
# product, summed over the trial, is the weight update.
#
# The notebook has five parts: (1) the task, (2) the network and the e-prop gradient next
# to BPTT's, (3) training, (4) the figures, (5) what to try next. The full run (300
# iterations of one 1.2 s trial with 200 neurons) takes about a minute on a CPU. Set the
# environment variable `EPROP_JAX_NOTEBOOK_SMOKE=1` to run everything at a tiny size in
# seconds.

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
    plot_learning_curve,
    plot_pattern_trial,
    plot_regression,
    plot_snapshot,
    plot_weights,
)
from eprop_jax.train import TASK_PRESETS, TrainConfig, build, train

TASK = "handwriting"
# EPROP_JAX_NOTEBOOK_SMOKE=1 shrinks everything so that the notebook runs in seconds (the test
# suite uses it); leave it unset for the real experiment.
SMOKE = os.environ.get("EPROP_JAX_NOTEBOOK_SMOKE") == "1"
SEED = 0
preset = TASK_PRESETS[TASK]
WORD = "chaos"
if SMOKE:
    ITERATIONS, BATCH_SIZE, N_REC, N_ALIF = 3, 1, 20, 0
    TASK_OPTIONS = {"word": WORD, "duration": 100.0, "n_in": 20}
else:  # the NEST example's setting: the task preset and the generator's defaults
    ITERATIONS, BATCH_SIZE = preset["iterations"], preset["batch_size"]
    N_REC, N_ALIF = preset["network"]["n_rec"], preset["network"]["n_alif"]
    TASK_OPTIONS = {"word": WORD}

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
# * **Glyphs.** The pen paths come from the Hershey "Script Simplex" font, a
#   public-domain single-stroke cursive face shipped with this package (letters, digits
#   and space). The strokes of the word are joined in writing order into one path; where
#   the real pen would lift, the path jumps in a straight line.
# * **Target:** the pen position $(x^*(t), y^*(t))$ moving along that path at constant
#   speed, centred and scaled so that the longer side of the word spans $[-1, 1]$. By
#   default the trial length follows from the length of the path (about 1.2 s for
#   "chaos"); `duration` sets it directly.
# * **Input:** 100 neurons firing Poisson spikes at 50 Hz, drawn once and *frozen*: the
#   same spikes in every trial, a clock for the network.
# * **Loss:** mean squared error of both readouts over the whole trial.
#
# The target depends only on the word; the key draws the input raster. Training reuses one
# sample, drawn from `TrainConfig.seed`, in every iteration.

# %%
print("characters available:", tasks.handwriting_characters())
example, info = tasks.handwriting(jax.random.key(SEED), 1, **TASK_OPTIONS)
print("inputs", example.inputs.shape, "targets", example.targets.shape, "mask", example.mask.shape)
pen_down = np.asarray(info.pen_down)
print(f"pen down {100 * pen_down.mean():.0f} % of the time")

# %%
fig = plot_pattern_trial(example, pen_down=pen_down)
fig

# %% [markdown]
# ## 2. The network and its gradient
#
# The network has 200 recurrent **LIF** (leaky integrate-and-fire) neurons, updated
# every $dt = 1$ ms. The membrane potential of neuron $j$ sums the input spikes $x_i^t$
# and the recurrent spikes of the previous step, decays with
# $\alpha = e^{-dt/\tau_m}$ ($\tau_m$ = 30 ms here), and drops by the threshold after
# each of the neuron's own spikes:
#
# $$v_j^t = \alpha\, v_j^{t-1} + \sum_i W^{in}_{ji} x_i^t
#           + \sum_{i \neq j} W^{rec}_{ji} z_i^{t-1} - v_{th} z_j^{t-1}.$$
#
# The neuron spikes ($z_j^t = 1$) when $v_j^t$ exceeds the threshold $v_{th}$ = 0.6
# and it is not refractory.
# The frozen input marks the time, so nothing has to be remembered for long and plain LIF neurons suffice.
# (ALIF neurons, whose threshold rises with every spike and relaxes over seconds, are
# introduced in tutorial 1; `n_alif` adds them here too.)
# Each readout is a leaky integrator of the spikes,
# $y_k^t = \kappa y_k^{t-1} + (1 - \kappa)(\sum_j W^{out}_{kj} z_j^t + b_k)$, and
# the loss is the squared error averaged over the time steps,
# $E = \frac{1}{T} \sum_t \frac12 \sum_k (y_k^t - y_k^{*,t})^2$, plus a firing-rate
# regulariser.
#
# **The e-prop gradient.** The spike is a step function, so all gradients use a
# pseudo-derivative $\psi_j^t$ (largest when $v_j^t$ is at threshold). For the synapse
# from $i$ to $j$, e-prop approximates
#
# $$\frac{dE}{dW_{ji}} \approx \sum_t L_j^t\, e_{ji}^t,
#   \qquad e_{ji}^t = \psi_j^t\, \bar z_i^{t-1},
#   \qquad L_j^t = \sum_k B_{jk} (y_k^t - y_k^{*,t}).$$
#
# The eligibility trace $e_{ji}^t$ is local: the presynaptic spikes filtered with
# $\alpha$ (for input synapses $\bar x_i^t$) times the postsynaptic pseudo-derivative.
# The learning signal $L_j^t$ is the readout error of the same time step sent back
# through a feedback matrix $B$: $W^{out\top}$ (`feedback="symmetric"`), a fixed random
# matrix (`"random"`, used below) or one that learns along with $W^{out}$
# (`"adaptive"`). Both factors exist at time $t$, so the weight update can be
# accumulated while the network runs, with memory that does not grow with the trial.

# %% [markdown]
# ### Building it
#
# `TrainConfig` holds everything a run needs; fields left at `None` take the task's
# preset (`TASK_PRESETS`), and `network={...}` overrides single network arguments.
# `build` resolves the configuration and returns the network description, the task
# sampler, the learning rule and the optimiser that `train` will use.
# Here all neurons are LIF (`n_alif=0`).

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
# `train` runs the loop: each iteration simulates the (frozen) trial, asks the rule for the
# gradient, applies Adam (step size 5e-3) and records the loss and the firing rate. The loss
# includes a firing-rate regulariser that pulls every neuron toward 10 Hz. Every 25 iterations
# (and at the end) the network is also evaluated without it.
#
# With an output folder, `train` also writes `config.json`, `metrics.jsonl`, a checkpoint
# (`resume=True` continues a run exactly), the weights before and after, and the trial recorded
# with the initial and the final weights (`snapshot_*.npz`), used for the figures below.
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
# The training loss (line, log scale) is the squared error plus the firing-rate regulariser;
# the evaluation loss (markers, every 25 iterations) is the squared error alone, so it lies
# below the line.

# %%
fig = plot_learning_curve(result.metrics, "regression")
fig

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
# ### Readout against target
#
# The recorded trial, readout (solid) against target (dashed), with the initial weights and
# after training. The panel on the right shows the word the two readouts write together.


# %%
def load(name):
    """Read one of the .npz files written by `train` into a dict of arrays."""
    with np.load(OUT / name) as data:
        return {key: data[key] for key in data.files}


first, last = load("snapshot_first.npz"), load("snapshot_last.npz")
print({key: value.shape for key, value in first.items()})

# %%
fig = plot_regression(first, "before training")
fig

# %%
fig = plot_regression(last, f"after {int(last['iteration'])} iterations")
fig

# %% [markdown]
# ### Inside the network
#
# The trained network on the same trial. From top to bottom: input spikes, recurrent spikes,
# membrane potential, pseudo-derivative and learning signal of five active neurons, the
# readout against the target, and the readout error that the learning signal carries back.

# %%
title = f"after {int(last['iteration'])} iterations"
fig = plot_snapshot(last, title, n_alif=N_ALIF, task_kind="regression")
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
# * **Feedback.** Train with `feedback="symmetric"` or `feedback="adaptive"` and compare the
#   learning curves with random feedback.
# * **The reference.** `rule="bptt"` trains the same network with exact gradients;
#   `rule="eprop-autodiff"` computes e-prop with `jax.grad` and stop-gradients and must give the
#   same numbers as `rule="eprop"`.
# * **Another word.** Set `WORD` in the first cell to any text made of the characters
#   printed in part 1; longer words need longer trials, more neurons and more iterations.
# * **Speed.** `TASK_OPTIONS = {"word": WORD, "pen_speed": 5.0}` writes more slowly
#   (longer trials); `"duration"` fixes the trial length instead.
# * **Capacity.** More neurons (`N_REC`), more iterations or a different `learning_rate`
#   sharpen the letters.
#
# The same training run from the command line (it also writes the figures as PNG files next to
# the results; `eprop-jax plot DIR` redraws them):

# %%
command = [f"eprop-jax train {TASK} --rule {config.rule} --feedback {config.feedback}"]
command.append(f"--iterations {ITERATIONS} --batch-size {BATCH_SIZE} --seed {SEED}")
command.append(f"--n-rec {N_REC} --n-alif {N_ALIF}")
command += [f"--task-option {key}={value}" for key, value in TASK_OPTIONS.items()]
command.append(f"--out runs/{TASK}")
print(" \\\n    ".join(command))

# %% [markdown]
# and the gradient check of part 2, averaged over several batches:
# `eprop-jax compare handwriting --batches 8`.
