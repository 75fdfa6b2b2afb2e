"""Write the tutorial notebooks in ``notebooks/`` from the cell lists in this file.

The notebooks are maintained here, as code, and generated without outputs; edit this file and run

    python scripts/make_notebooks.py            # (re)write notebooks/*.ipynb
    python scripts/make_notebooks.py --check    # exit 1 if a notebook differs from this file

``tests/test_notebooks.py`` checks that the committed notebooks match this file and executes each
one at a tiny size (``EPROP_JAX_NOTEBOOK_SMOKE=1``).

Every notebook walks through one task: (1) the task and one batch of it, (2) the network and the
e-prop gradient next to BPTT's on one batch, (3) training, (4) the figures, (5) what to try next.
"""

from __future__ import annotations

import argparse
import sys
import textwrap
from pathlib import Path

import nbformat

NOTEBOOK_DIR = Path(__file__).resolve().parents[1] / "notebooks"

PAPER = (
    "Bellec, Scherr, Subramoney, Hajek, Salaj, Legenstein and Maass, *A solution to the learning "
    "dilemma for recurrent networks of spiking neurons*, Nat. Commun. 11:3625 (2020), "
    "[doi:10.1038/s41467-020-17236-y](https://doi.org/10.1038/s41467-020-17236-y)"
)

Cell = tuple[str, str]  # ("markdown" | "code", source)

# The short explanation of e-prop shared by the regression notebooks. Continuation lines keep
# the 8-space indent of the f-strings it is placed in (they are dedented after formatting).
EPROP_IN_BRIEF = "\n".join(
    [
        "**e-prop in brief.** Backpropagation through time (BPTT) finds the gradient of the loss",
        "        by running the network backwards over the whole trial. e-prop (eligibility propagation)",
        "        replaces this with two factors available at every time step: an **eligibility trace**",
        "        per synapse, computed forward in time from pre- and postsynaptic activity, and a",
        "        **learning signal** per neuron, the current readout error sent back to it. Their",
        "        product, summed over the trial, is the weight update.",
    ]
)


def md(text: str) -> Cell:
    return ("markdown", textwrap.dedent(text).strip("\n"))


def code(text: str) -> Cell:
    return ("code", textwrap.dedent(text).strip("\n"))


# --------------------------------------------------------------------------------------------
# Pieces shared by the four notebooks
# --------------------------------------------------------------------------------------------

SETUP_IMPORTS = """\
%matplotlib inline
import json
import os
import tempfile
from pathlib import Path

import jax
import numpy as np
from matplotlib.figure import Figure

import eprop_jax
from eprop_jax import tasks
from eprop_jax.plotting import {plots}
from eprop_jax.train import TASK_PRESETS, TrainConfig, build, train
"""

SETUP_SMOKE = """\
# EPROP_JAX_NOTEBOOK_SMOKE=1 shrinks everything so that the notebook runs in seconds (the test
# suite uses it); leave it unset for the real experiment.
SMOKE = os.environ.get("EPROP_JAX_NOTEBOOK_SMOKE") == "1"
SEED = 0
preset = TASK_PRESETS[TASK]
"""

SETUP_OUT = """\
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
"""


def setup_cell(task: str, sizes: str) -> Cell:
    """The first code cell: imports, the smoke switch, the sizes and the output folder."""
    plots = ["plot_learning_curve", "plot_snapshot", "plot_weights"]
    if task != "evidence_accumulation":
        plots.insert(1, "plot_regression")
    text = (
        SETUP_IMPORTS.format(plots=", ".join(plots))
        + f'\nTASK = "{task}"\n'
        + SETUP_SMOKE
        + textwrap.dedent(sizes).strip("\n")
        + "\n\n"
        + SETUP_OUT
    )
    return ("code", text.strip("\n"))


def build_cells(population: str) -> list[Cell]:
    """Build the experiment, print the network and check it against ``eprop_jax.network``."""
    return [
        md(
            f"""
            ### Building it

            `TrainConfig` holds everything a run needs; fields left at `None` take the task's
            preset (`TASK_PRESETS`), and `network={{...}}` overrides single network arguments.
            `build` resolves the configuration and returns the network description, the task
            sampler, the learning rule and the optimiser that `train` will use.
            {population}
            """
        ),
        code(
            """
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
            """
        ),
        md(
            """
            The same network, written by hand with `eprop_jax.network`. Per-neuron constants are
            stored as decay factors per time step: $\\alpha = e^{-dt/\\tau_m}$ for the membrane,
            $\\rho = e^{-dt/\\tau_a}$ for the threshold adaptation and $\\beta$ for its strength
            ($\\beta = 0$ makes a neuron LIF).
            """
        ),
        code(
            """
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
            """
        ),
        md(
            """
            Before any learning, draw initial weights and run the network on a batch from the
            trainer's sampler. `simulate` returns the readout `y` and the spikes `z`, both
            time-major `(T, batch, n)`.
            """
        ),
        code(
            """
            weights = eprop_jax.init_weights(net, jax.random.key(SEED))
            batch = exp.sample(jax.random.key(SEED + 1))
            trajectory = eprop_jax.simulate(net, weights, batch.inputs)
            rate_hz = float(np.mean(trajectory.z)) * 1000.0 / net.dt
            print(f"untrained network: mean firing rate {rate_hz:.1f} Hz")
            """
        ),
    ]


COMPARE_INTRO = """\
### e-prop against BPTT on one batch

BPTT gives the exact gradient of the loss (with the same pseudo-derivative). e-prop leaves out
every path by which a spike of neuron $j$ changes the error *later* through the recurrent
weights, so for `w_in` and `w_rec` it is an approximation; the readout weights `w_out` and the
bias `b_out` get their exact gradient in every rule. `compare_rules` evaluates each rule on the
same weights and batch and reports, per weight matrix, the cosine similarity with BPTT's
gradient (1: same direction) and the ratio of the norms.

The rules here see the task loss alone. Training adds the firing-rate regulariser, whose
gradient does not involve the feedback matrix; with it (as in `eprop-jax compare`) all cosines
come out higher, the more so the further the firing rates are from their target.
"""

COMPARE_CODE = """\
reference = eprop_jax.bptt(net, loss=exp.loss)
rules = {
    f"eprop/{feedback}": eprop_jax.eprop(net, loss=exp.loss, feedback=feedback)
    for feedback in ("symmetric", "random")
}
table = eprop_jax.compare_rules(rules, weights, batch, reference=reference)
print(eprop_jax.format_alignment(table))
"""

COMPARE_PLOT = """\
def plot_alignment(table, title):
    \"\"\"Bar chart of the cosine with BPTT's gradient, per rule and weight matrix.\"\"\"
    matrices = list(next(iter(table.values())))
    x = np.arange(len(matrices))
    width = 0.8 / len(table)
    fig = Figure(figsize=(6.5, 2.8), layout="constrained")
    ax = fig.subplots()
    for i, (name, per_matrix) in enumerate(table.items()):
        cosines = [per_matrix[m]["cosine"] for m in matrices]
        ax.bar(x + (i - (len(table) - 1) / 2) * width, cosines, width, label=name)
    ax.axhline(0.0, color="k", lw=0.6)
    ax.set_xticks(x, matrices)
    ax.set(ylabel="cosine with BPTT", ylim=(min(-0.1, ax.get_ylim()[0]), 1.05), title=title)
    ax.legend(fontsize=8, loc="lower left")
    return fig


fig = plot_alignment(table, "initial weights")
fig
"""

COMPARE_OUTRO = """\
How to read it: the `w_out` and `b_out` bars are 1 for every rule. With symmetric feedback
($B = W^{out\\top}$) each neuron receives the learning signal BPTT would give it at the same
time step, and the cosine for `w_in` and `w_rec` shows how much of the gradient travels along
the recurrent paths e-prop leaves out (at full size it is typically between 0.6 and 0.8). Random
feedback sends the error through a fixed random matrix $B$ that has nothing to do with
$W^{out}$ yet, so at the initial weights its cosine is close to 0. It learns nonetheless, as in
feedback alignment: part 4 repeats this comparison with the trained weights. (In smoke mode the
network is tiny and the numbers mean little.)
"""

ALIGNMENT_AFTER_MD = """\
### e-prop against BPTT after training

The comparison of part 2, on the same batch, with the trained weights. With random feedback
the cosine for `w_in` and `w_rec` is usually much higher than at the start: the readout weights
have adapted to the fixed feedback matrix, so the random learning signals now point roughly
where BPTT's do.
"""

ALIGNMENT_AFTER_CODE = """\
after = eprop_jax.compare_rules(rules, result.weights, batch, reference=reference)
print(eprop_jax.format_alignment(after))
fig = plot_alignment(after, f"after {result.iterations_done} iterations")
fig
"""


def compare_cells() -> list[Cell]:
    return [
        md(COMPARE_INTRO),
        code(COMPARE_CODE),
        code(COMPARE_PLOT),
        md(COMPARE_OUTRO),
    ]


def alignment_after_cells() -> list[Cell]:
    return [md(ALIGNMENT_AFTER_MD), code(ALIGNMENT_AFTER_CODE)]


TRAIN_CODE = """\
result = train(config, OUT, progress=True)
final = result.metrics[-1]
print(
    f"{result.iterations_done} iterations, {result.seconds_per_iteration:.3f} s per iteration"
    + (" (stopped early: target error reached)" if result.stopped_early else "")
)
print(json.dumps({k: round(v, 4) for k, v in final.items() if isinstance(v, float)}))
print(sorted(p.name for p in OUT.iterdir()))
"""

LOAD_CODE = """\
def load(name):
    \"\"\"Read one of the .npz files written by `train` into a dict of arrays.\"\"\"
    with np.load(OUT / name) as data:
        return {key: data[key] for key in data.files}


first, last = load("snapshot_first.npz"), load("snapshot_last.npz")
print({key: value.shape for key, value in first.items()})
"""

WEIGHTS_MD = """\
### Weights before and after

Each column is one weight matrix: the initial weights on top, the trained ones below, with the
same symmetric colour scale in both rows. `w_out` usually changes the most; random feedback
leaves the fixed matrix `b_fb` (not shown) untouched.
"""

WEIGHTS_CODE = """\
fig = plot_weights(load("weights_initial.npz"), load("weights_final.npz"))
fig
"""


def cli_cell() -> Cell:
    """Print the command line that repeats this notebook's training run."""
    return code(
        """
        command = [f"eprop-jax train {TASK} --rule {config.rule} --feedback {config.feedback}"]
        command.append(f"--iterations {ITERATIONS} --batch-size {BATCH_SIZE} --seed {SEED}")
        command.append(f"--n-rec {N_REC} --n-alif {N_ALIF}")
        command += [f"--task-option {key}={value}" for key, value in TASK_OPTIONS.items()]
        command.append(f"--out runs/{TASK}")
        print(" \\\\\\n    ".join(command))
        """
    )


# --------------------------------------------------------------------------------------------
# 01: evidence accumulation
# --------------------------------------------------------------------------------------------

EVIDENCE: list[Cell] = [
    md(
        f"""
        # e-prop tutorial 1: evidence accumulation with adaptive neurons

        A recurrent network of spiking neurons watches a sequence of cues, some on the left and
        some on the right, waits for about a second, and then has to say which side showed more
        cues. This is the classification experiment of Fig. 3 of

        > {PAPER}

        and the NEST example `eprop_supervised_classification_evidence-accumulation`
        (`pynest/examples/eprop_plasticity`). Here the same experiment runs in JAX.

        **e-prop in brief.** Backpropagation through time (BPTT) finds the gradient of the loss
        by running the network backwards over the whole trial, which needs the full history in
        memory and is not something a brain could do. e-prop (eligibility propagation) writes
        the gradient of every synapse as a sum over time of two factors that are both available
        *now*: an **eligibility trace**, which the synapse computes forward in time from its
        pre- and postsynaptic activity, and a **learning signal**, the current readout error
        sent back to each neuron. The weight change is their product, summed over the trial.

        The notebook has five parts:

        1. the task, and one batch of it;
        2. the network (LIF and ALIF neurons) and the e-prop gradient next to BPTT's;
        3. training with `eprop_jax.train.train`;
        4. the figures: learning curve, a trial before and after training, the weights;
        5. what to try next, and the same run from the command line.

        The full run (up to 500 iterations of 64 trials, 2.25 s each) takes 2 to 3 s per
        iteration on a two-core CPU, so up to about 25 minutes; it stops early once the recall
        error is below 7 %, and a GPU is much faster. Set the environment variable
        `EPROP_JAX_NOTEBOOK_SMOKE=1` to run everything at a tiny size in seconds, for example to
        check an installation.
        """
    ),
    setup_cell(
        "evidence_accumulation",
        """
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
        """,
    ),
    md(
        """
        ## 1. The task

        Every trial is built from 40 Poisson input neurons in four groups of 10:

        | neurons | group | active |
        |---|---|---|
        | 0-9 | left cue | 40 Hz during each cue shown on the left |
        | 10-19 | right cue | 40 Hz during each cue shown on the right |
        | 20-29 | recall | 40 Hz in the final recall window |
        | 30-39 | background | 10 Hz for the whole trial |

        A trial shows 7 cues, each 100 ms long after 50 ms of silence. One side is chosen as the
        likely side of the trial, and each cue appears there with probability 0.7 (otherwise on
        the other side). After the last cue comes a delay of 1050 ms with background activity
        only, and then 150 ms of recall activity: the question "which side had more cues?". A
        trial lasts $7 \\cdot 150 + 1050 + 150 = 2250$ ms.

        There are two readouts, one per side. The target is the one-hot label at every time
        step, but the loss (cross-entropy between the softmax of the readouts and the label)
        only counts inside the recall window, given by the batch's `mask`. The answer is the
        side whose readout is larger on average over that window; the paper's criterion of
        success is a recall error below 7 %.

        The information has to be held for more than a second, fifty times the membrane time
        constant of 20 ms. This is why the network contains adaptive neurons (part 2).

        The generator is a pure function of a JAX key: a new key gives new cues and new spikes,
        and the trainer draws a fresh batch every iteration.
        """
    ),
    code(
        """
        example, info = tasks.evidence_accumulation(jax.random.key(SEED), 4, **TASK_OPTIONS)
        print("inputs", example.inputs.shape, "targets", example.targets.shape, "mask", example.mask.shape)
        for b in range(4):
            cues = "".join("LR"[int(side)] for side in info.cue_sides[b])
            print(f"trial {b}: cues {cues} -> answer {'LR'[int(info.labels[b])]}")
        """
    ),
    code(
        """
        def plot_trial(batch, trial=0, dt=1.0):
            \"\"\"Input spikes (coloured by group) and the target of one trial.\"\"\"
            inputs = np.asarray(batch.inputs[:, trial])
            target = np.asarray(batch.targets[:, trial])
            mask = np.asarray(batch.mask[:, trial])
            t = np.arange(len(mask)) * dt
            per_group = inputs.shape[1] // 4
            fig = Figure(figsize=(9, 4.5), layout="constrained")
            ax_in, ax_target = fig.subplots(2, 1, sharex=True, height_ratios=[2, 1])
            step, neuron = np.nonzero(inputs)
            for g, name in enumerate(["left cue", "right cue", "recall", "background"]):
                sel = neuron // per_group == g
                ax_in.plot(t[step[sel]], neuron[sel], "|", ms=4, color=f"C{g}", label=name)
            ax_in.set(ylabel="input neuron", title=f"trial {trial}: input spikes")
            ax_in.legend(loc="upper left", bbox_to_anchor=(1.01, 1), frameon=False)
            ax_target.fill_between(t, 0, 1, where=mask > 0, color="0.88", label="learning window")
            for k, side in enumerate(["left", "right"]):
                ax_target.plot(t, target[:, k], color=f"C{k}", label=f"target: {side}")
            ax_target.set(xlabel="time (ms)", ylabel="target", ylim=(-0.1, 1.1))
            ax_target.legend(loc="upper left", bbox_to_anchor=(1.01, 1), frameon=False)
            return fig


        fig = plot_trial(example)
        fig
        """
    ),
    md(
        """
        ## 2. The network and its gradient

        Each recurrent neuron $j$ is a leaky integrate-and-fire unit updated every
        $dt = 1$ ms. Its membrane potential sums the input spikes $x_i^t$ and the recurrent
        spikes of the previous step, decays with $\\alpha = e^{-dt/\\tau_m}$, and drops by the
        threshold $v_{th}$ after each of its own spikes (reset by subtraction):

        $$v_j^t = \\alpha\\, v_j^{t-1} + \\sum_i W^{in}_{ji} x_i^t
                  + \\sum_{i \\neq j} W^{rec}_{ji} z_i^{t-1} - v_{th} z_j^{t-1}.$$

        The neuron spikes, $z_j^t = 1$, when $v_j^t$ exceeds its threshold $A_j^t$ and it is
        not refractory (5 ms after a spike).

        * **LIF** neurons have a fixed threshold, $A_j^t = v_{th}$.
        * **ALIF** (adaptive LIF) neurons raise their threshold with every spike and let it
          relax slowly: $A_j^t = v_{th} + \\beta a_j^t$ with $a_j^{t+1} = \\rho a_j^t + z_j^t$
          and $\\rho = e^{-dt/\\tau_a}$. With $\\tau_a = 2$ s, a neuron that fired a lot during
          the cues stays harder to excite through the whole delay: its threshold stores the
          evidence.

        The preset network has 100 neurons, the last 50 of them ALIF (a "long short-term
        memory spiking network", LSNN). Two leaky readouts integrate the recurrent spikes,
        $y_k^t = \\kappa y_k^{t-1} + (1 - \\kappa)(\\sum_j W^{out}_{kj} z_j^t + b_k)$.

        A spike is a step function of $v - A$, so the gradient uses a **pseudo-derivative**
        $\\psi_j^t$ instead of its derivative: a triangle that peaks when $v$ is at threshold.

        **The e-prop gradient.** For a synapse from $i$ to $j$,

        $$\\frac{dE}{dW_{ji}} \\approx \\sum_t L_j^t\\, e_{ji}^t .$$

        For a LIF neuron the eligibility trace is $e_{ji}^t = \\psi_j^t \\bar z_i^{t-1}$, the
        postsynaptic pseudo-derivative times the presynaptic spikes low-pass filtered with
        $\\alpha$. An ALIF neuron adds a second, slowly decaying component that keeps track of
        how the synapse has moved the threshold; that is how e-prop credits a spike during the
        cues for an error a second later. The learning signal is the output error mapped back
        to the neurons by a feedback matrix $B$,
        $L_j^t = \\sum_k B_{jk} (\\pi_k^t - y_k^{*,t})$ with the softmax outputs $\\pi^t$
        inside the learning window. `feedback="symmetric"` uses $B = W^{out\\top}$,
        `"random"` a fixed random $B$ (the variant used below), `"adaptive"` a $B$ that learns
        along with $W^{out}$.
        """
    ),
    *build_cells("Here it is a mix of LIF and ALIF neurons, the ALIF ones last (`n_alif`)."),
    *compare_cells(),
    md(
        """
        ## 3. Training

        `train` runs the loop: every iteration draws a fresh batch, asks the rule for the
        gradient, applies Adam (step size 5e-3) and records the loss, the accuracy and the
        firing rate. The loss includes a firing-rate regulariser that pulls every neuron toward
        10 Hz. Every 25 iterations (and at the end) the network is evaluated on fresh batches;
        once the evaluation recall error falls below the paper's 7 %, training stops early.

        With an output folder, `train` also writes `config.json`, `metrics.jsonl`, a
        checkpoint (`resume=True` continues a run exactly), the weights before and after, and
        one recorded trial before and after training (`snapshot_*.npz`) for the figures below.
        The progress bar comes from `tqdm`; without the `ipywidgets` package it is drawn as text,
        after a harmless warning that `IProgress` was not found.
        """
    ),
    code(TRAIN_CODE),
    md(
        """
        ## 4. Results

        ### Learning curve

        The top panel is the loss (log scale), the bottom one the recall error: the fraction of
        trials whose averaged readout picked the wrong side. Training values are per batch,
        evaluation values (markers) are averages over fresh batches, and the evaluation loss
        leaves out the regulariser; the dashed line is the 7 % criterion.
        """
    ),
    code(
        """
        fig = plot_learning_curve(result.metrics, "classification")
        fig
        """
    ),
    md(
        """
        The trained weights are in `result.weights`. Test them on trials the network has never
        seen: run it, average each readout over the recall window and compare the larger one
        with the label.
        """
    ),
    code(
        """
        test, test_info = tasks.evidence_accumulation(
            jax.random.key(SEED + 1000), 4 * BATCH_SIZE, **TASK_OPTIONS
        )
        y = np.asarray(eprop_jax.simulate(net, result.weights, test.inputs).y)
        window = np.asarray(test.mask)[..., None]
        answer = np.argmax((y * window).sum(axis=0) / window.sum(axis=0), axis=-1)
        correct = np.mean(answer == np.asarray(test_info.labels))
        print(f"{len(answer)} new trials: {100 * correct:.1f} % correct")
        """
    ),
    *alignment_after_cells(),
    md(
        """
        ### One trial before and after training

        `train` recorded the same trial with the initial and with the final weights. From top
        to bottom: input spikes; recurrent spikes (LIF black, ALIF red); membrane potential,
        adaptive threshold, pseudo-derivative and learning signal of five active ALIF neurons;
        the readouts as class probabilities against the target (dashed), the recall window
        shaded; and the error that drives the learning signal.
        """
    ),
    code(LOAD_CODE),
    code(
        """
        fig = plot_snapshot(first, "before training", n_alif=N_ALIF, task_kind="classification")
        fig
        """
    ),
    code(
        """
        title = f"after {int(last['iteration'])} iterations"
        fig = plot_snapshot(last, title, n_alif=N_ALIF, task_kind="classification")
        fig
        """
    ),
    md(WEIGHTS_MD),
    code(WEIGHTS_CODE),
    md(
        """
        ## 5. What to try next

        * **Feedback.** Train with `feedback="symmetric"` or `feedback="adaptive"` and compare
          the learning curves with random feedback.
        * **The reference.** `rule="bptt"` trains the same network with exact gradients;
          `rule="eprop-autodiff"` computes e-prop with `jax.grad` and stop-gradients and must
          give the same numbers as `rule="eprop"`.
        * **Memory.** Set `N_ALIF = 0`: without adaptive thresholds only recurrent activity can
          carry the evidence through the delay. Or make the delay longer with
          `TASK_OPTIONS = {"delay": 2000.0}`.
        * **Robustness.** Other seeds (`SEED`), the surrogate shape
          (`network={"surrogate_shape": "exponential", ...}`) or the regulariser (`c_reg`,
          `f_target`).

        The same training run from the command line (it also writes the figures as PNG files
        next to the results; `eprop-jax plot DIR` redraws them):
        """
    ),
    cli_cell(),
    md(
        """
        and the gradient check of part 2, averaged over several batches:
        `eprop-jax compare evidence_accumulation --batches 8`.
        """
    ),
]


# --------------------------------------------------------------------------------------------
# The regression tasks share most of their text
# --------------------------------------------------------------------------------------------


def lif_network_md(n_rec: str, why: str) -> Cell:
    return md(
        f"""
        ## 2. The network and its gradient

        The network has {n_rec} recurrent **LIF** (leaky integrate-and-fire) neurons, updated
        every $dt = 1$ ms. The membrane potential of neuron $j$ sums the input spikes $x_i^t$
        and the recurrent spikes of the previous step, decays with
        $\\alpha = e^{{-dt/\\tau_m}}$ ($\\tau_m$ = 30 ms here), and drops by the threshold after
        each of the neuron's own spikes:

        $$v_j^t = \\alpha\\, v_j^{{t-1}} + \\sum_i W^{{in}}_{{ji}} x_i^t
                  + \\sum_{{i \\neq j}} W^{{rec}}_{{ji}} z_i^{{t-1}} - v_{{th}} z_j^{{t-1}}.$$

        The neuron spikes ($z_j^t = 1$) when $v_j^t$ exceeds the threshold $v_{{th}}$ = 0.6
        and it is not refractory.
        {why}
        (ALIF neurons, whose threshold rises with every spike and relaxes over seconds, are
        introduced in tutorial 1; `n_alif` adds them here too.)
        Each readout is a leaky integrator of the spikes,
        $y_k^t = \\kappa y_k^{{t-1}} + (1 - \\kappa)(\\sum_j W^{{out}}_{{kj}} z_j^t + b_k)$, and
        the loss is the squared error averaged over the time steps,
        $E = \\frac{{1}}{{T}} \\sum_t \\frac12 \\sum_k (y_k^t - y_k^{{*,t}})^2$, plus a firing-rate
        regulariser.

        **The e-prop gradient.** The spike is a step function, so all gradients use a
        pseudo-derivative $\\psi_j^t$ (largest when $v_j^t$ is at threshold). For the synapse
        from $i$ to $j$, e-prop approximates

        $$\\frac{{dE}}{{dW_{{ji}}}} \\approx \\sum_t L_j^t\\, e_{{ji}}^t,
          \\qquad e_{{ji}}^t = \\psi_j^t\\, \\bar z_i^{{t-1}},
          \\qquad L_j^t = \\sum_k B_{{jk}} (y_k^t - y_k^{{*,t}}).$$

        The eligibility trace $e_{{ji}}^t$ is local: the presynaptic spikes filtered with
        $\\alpha$ (for input synapses $\\bar x_i^t$) times the postsynaptic pseudo-derivative.
        The learning signal $L_j^t$ is the readout error of the same time step sent back
        through a feedback matrix $B$: $W^{{out\\top}}$ (`feedback="symmetric"`), a fixed random
        matrix (`"random"`, used below) or one that learns along with $W^{{out}}$
        (`"adaptive"`). Both factors exist at time $t$, so the weight update can be
        accumulated while the network runs, with memory that does not grow with the trial.
        """
    )


REGRESSION_TRAIN_MD = """\
## 3. Training

`train` runs the loop: each iteration simulates the (frozen) trial, asks the rule for the
gradient, applies Adam (step size 5e-3) and records the loss and the firing rate. The loss
includes a firing-rate regulariser that pulls every neuron toward 10 Hz. Every 25 iterations
(and at the end) the network is also evaluated without it.

With an output folder, `train` also writes `config.json`, `metrics.jsonl`, a checkpoint
(`resume=True` continues a run exactly), the weights before and after, and the trial recorded
with the initial and the final weights (`snapshot_*.npz`), used for the figures below.
The progress bar comes from `tqdm`; without the `ipywidgets` package it is drawn as text,
after a harmless warning that `IProgress` was not found.
"""

REGRESSION_CURVE_MD = """\
## 4. Results

### Learning curve

The training loss (line, log scale) is the squared error plus the firing-rate regulariser;
the evaluation loss (markers, every 25 iterations) is the squared error alone, so it lies
below the line.
"""

REGRESSION_CURVE_CODE = """\
fig = plot_learning_curve(result.metrics, "regression")
fig
"""

REGRESSION_READOUT_MD = """\
### Readout against target

The recorded trial, readout (solid) against target (dashed), with the initial weights and
after training.{extra}
"""

REGRESSION_FIRST = """\
fig = plot_regression(first, "before training")
fig
"""

REGRESSION_LAST = """\
fig = plot_regression(last, f"after {int(last['iteration'])} iterations")
fig
"""

REGRESSION_SNAPSHOT_MD = """\
### Inside the network

The trained network on the same trial. From top to bottom: input spikes, recurrent spikes,
membrane potential, pseudo-derivative and learning signal of five active neurons, the
readout against the target, and the readout error that the learning signal carries back.
"""

REGRESSION_SNAPSHOT_CODE = """\
title = f"after {int(last['iteration'])} iterations"
fig = plot_snapshot(last, title, n_alif=N_ALIF, task_kind="regression")
fig
"""


def regression_results(extra: str = "") -> list[Cell]:
    return [
        md(REGRESSION_TRAIN_MD),
        code(TRAIN_CODE),
        md(REGRESSION_CURVE_MD),
        code(REGRESSION_CURVE_CODE),
        *alignment_after_cells(),
        md(REGRESSION_READOUT_MD.format(extra=extra)),
        code(LOAD_CODE),
        code(REGRESSION_FIRST),
        code(REGRESSION_LAST),
        md(REGRESSION_SNAPSHOT_MD),
        code(REGRESSION_SNAPSHOT_CODE),
        md(WEIGHTS_MD),
        code(WEIGHTS_CODE),
    ]


CLI_MD = """\
The same training run from the command line (it also writes the figures as PNG files next to
the results; `eprop-jax plot DIR` redraws them):
"""


NEXT_STEPS_MD = """\
## 5. What to try next

* **Feedback.** Train with `feedback="symmetric"` or `feedback="adaptive"` and compare the
  learning curves with random feedback.
* **The reference.** `rule="bptt"` trains the same network with exact gradients;
  `rule="eprop-autodiff"` computes e-prop with `jax.grad` and stop-gradients and must give the
  same numbers as `rule="eprop"`.
"""


def next_steps(task: str, ideas: str) -> list[Cell]:
    text = NEXT_STEPS_MD + textwrap.dedent(ideas).strip("\n") + "\n\n" + CLI_MD
    return [
        ("markdown", text.strip("\n")),
        cli_cell(),
        md(
            f"""
            and the gradient check of part 2, averaged over several batches:
            `eprop-jax compare {task} --batches 8`.
            """
        ),
    ]


def plot_pattern_trial_code(extra_2d: str, title: str) -> str:
    """A figure with the input raster, the two target coordinates over time and the 2-D curve."""
    text = (
        """
def plot_trial(batch, trial=0, dt=1.0):
    \"\"\"Input spikes, the two target coordinates over time and the target curve.\"\"\"
    inputs = np.asarray(batch.inputs[:, trial])
    target = np.asarray(batch.targets[:, trial])
    t = np.arange(len(target)) * dt
    fig = Figure(figsize=(11, 4.5), layout="constrained")
    grid = fig.add_gridspec(2, 2, width_ratios=[1.8, 1], height_ratios=[1.4, 1])
    ax_in = fig.add_subplot(grid[0, 0])
    ax_xy_t = fig.add_subplot(grid[1, 0], sharex=ax_in)
    ax_pattern = fig.add_subplot(grid[:, 1])
    step, neuron = np.nonzero(inputs)
    ax_in.plot(t[step], neuron, "|", ms=2, color="0.2")
    ax_in.set(ylabel="input neuron", title=f"trial {trial}: input spikes")
    for k, name in enumerate(["x", "y"]):
        ax_xy_t.plot(t, target[:, k], color=f"C{k}", label=f"target {name}")
    ax_xy_t.set(xlabel="time (ms)", ylabel="target")
    ax_xy_t.legend(fontsize=8)
"""
        + textwrap.indent(textwrap.dedent(extra_2d).strip("\n"), "    ")
        + """
    ax_pattern.set(aspect="equal", xlabel="x (output 0)", ylabel="y (output 1)")
    ax_pattern.set_title(PATTERN_TITLE)
    return fig


fig = plot_trial(example)
fig
"""
    )
    return text.replace("PATTERN_TITLE", f'"{title}"').strip("\n")


# --------------------------------------------------------------------------------------------
# 02: sine waves
# --------------------------------------------------------------------------------------------

SINE_WAVES: list[Cell] = [
    md(
        f"""
        # e-prop tutorial 2: generating a sum of sine waves

        A recurrent network of spiking neurons receives the same random spike pattern in every
        trial and has to turn it into a smooth target curve: a sum of four sine waves. This is
        the pattern-generation (regression) experiment of Fig. S7 of

        > {PAPER}

        and the NEST example `eprop_supervised_regression_sine-waves`
        (`pynest/examples/eprop_plasticity`). Here the same experiment runs in JAX.

        {EPROP_IN_BRIEF}

        The notebook has five parts: (1) the task, (2) the network and the e-prop gradient next
        to BPTT's, (3) training, (4) the figures, (5) what to try next. The full run (300
        iterations of one 1 s trial) takes well under a minute on a CPU. Set the environment
        variable `EPROP_JAX_NOTEBOOK_SMOKE=1` to run everything at a tiny size in seconds.
        """
    ),
    setup_cell(
        "sine_waves",
        """
        if SMOKE:
            ITERATIONS, BATCH_SIZE, N_REC, N_ALIF = 3, 1, 20, 0
            TASK_OPTIONS = {"duration": 100.0, "n_in": 20}
        else:  # the paper's setting: the task preset and the generator's defaults
            ITERATIONS, BATCH_SIZE = preset["iterations"], preset["batch_size"]
            N_REC, N_ALIF = preset["network"]["n_rec"], preset["network"]["n_alif"]
            TASK_OPTIONS = {}
        """,
    ),
    md(
        """
        ## 1. The task

        * **Input:** 100 neurons firing Poisson spikes at 50 Hz for 1000 ms. The raster is drawn
          once and then *frozen*: every trial shows exactly the same spikes, so the input acts
          as a clock that tells the network where in the trial it is.
        * **Target:** one readout must follow
          $u(t) = \\sum_{k=1}^{4} A_k \\sin(2\\pi t / P_k + \\phi_k)$ with periods
          $P_k$ = 1000, 500, 333 and 200 ms, amplitudes $A_k$ drawn from $[0.5, 2]$ and random
          phases $\\phi_k$, scaled so that its largest absolute value is 1.
        * **Loss:** mean squared error between readout and target over the whole trial (the
          `mask` is 1 everywhere).

        The generator is a pure function of a JAX key: the key fixes the input raster, the
        amplitudes and the phases. Training uses one such sample, drawn from `TrainConfig.seed`,
        in every iteration (the batch below is an example from another key).
        """
    ),
    code(
        """
        example, info = tasks.sine_waves(jax.random.key(SEED), 1, **TASK_OPTIONS)
        print("inputs", example.inputs.shape, "targets", example.targets.shape, "mask", example.mask.shape)
        print("periods (ms):", np.round(np.asarray(info.periods), 1))
        print("amplitudes:  ", np.round(np.asarray(info.amplitudes[0]), 2))
        print("phases:      ", np.round(np.asarray(info.phases[0]), 2))
        """
    ),
    code(
        """
        def plot_trial(batch, trial=0, dt=1.0):
            \"\"\"Input spikes and target of one trial.\"\"\"
            inputs = np.asarray(batch.inputs[:, trial])
            target = np.asarray(batch.targets[:, trial, 0])
            t = np.arange(len(target)) * dt
            fig = Figure(figsize=(9, 4.5), layout="constrained")
            ax_in, ax_target = fig.subplots(2, 1, sharex=True, height_ratios=[1.6, 1])
            step, neuron = np.nonzero(inputs)
            ax_in.plot(t[step], neuron, "|", ms=2, color="0.2")
            ax_in.set(ylabel="input neuron", title=f"trial {trial}: frozen input spikes")
            ax_target.plot(t, target, color="k", ls="--", label="target")
            ax_target.set(xlabel="time (ms)", ylabel="target $y^*$")
            ax_target.legend(fontsize=8)
            return fig


        fig = plot_trial(example)
        fig
        """
    ),
    lif_network_md(
        "100",
        "Nothing has to be remembered for long here, since the frozen input itself marks the "
        "time, so plain LIF neurons suffice.",
    ),
    *build_cells("Here all neurons are LIF (`n_alif=0`)."),
    *compare_cells(),
    *regression_results(),
    *next_steps(
        "sine_waves",
        """
        * **Harder patterns.** Shorter periods, e.g.
          `TASK_OPTIONS = {"periods": [500.0, 250.0, 125.0, 50.0]}`, or a longer trial
          (`"duration": 2000.0`).
        * **Capacity.** Fewer or more neurons (`N_REC`), more iterations, a different
          `learning_rate`, or a few ALIF neurons (`N_ALIF`).
        * **Several patterns.** `TASK_OPTIONS = {"same_pattern": False}` with `BATCH_SIZE = 4`
          gives each batch element its own input and target.
        """,
    ),
]


# --------------------------------------------------------------------------------------------
# 03: infinite loop
# --------------------------------------------------------------------------------------------

INFINITE_LOOP: list[Cell] = [
    md(
        f"""
        # e-prop tutorial 3: drawing an infinite loop

        Two readouts of a recurrent spiking network act as the $x$ and $y$ coordinates of a pen
        that has to draw a figure eight (the "infinite loop", a lemniscate-like Lissajous
        curve) from a frozen random input. This is the NEST example
        `eprop_supervised_regression_infinite-loop` (`pynest/examples/eprop_plasticity`, called
        `..._lemniscate` from NEST 3.9 on), a two-dimensional version of the pattern-generation
        experiment (Fig. S7) of

        > {PAPER}

        {EPROP_IN_BRIEF}

        The notebook has five parts: (1) the task, (2) the network and the e-prop gradient next
        to BPTT's, (3) training, (4) the figures, (5) what to try next. The full run (300
        iterations of one 1.26 s trial with 200 neurons) takes about a minute on a CPU. Set
        the environment variable `EPROP_JAX_NOTEBOOK_SMOKE=1` to run everything at a tiny size
        in seconds.
        """
    ),
    setup_cell(
        "infinite_loop",
        """
        if SMOKE:
            ITERATIONS, BATCH_SIZE, N_REC, N_ALIF = 3, 1, 20, 0
            TASK_OPTIONS = {"duration": 100.0, "n_in": 20}
        else:  # the NEST example's setting: the task preset and the generator's defaults
            ITERATIONS, BATCH_SIZE = preset["iterations"], preset["batch_size"]
            N_REC, N_ALIF = preset["network"]["n_rec"], preset["network"]["n_alif"]
            TASK_OPTIONS = {}
        """,
    ),
    md(
        """
        ## 1. The task

        * **Input:** 100 neurons firing Poisson spikes at 50 Hz for 1258 ms (the length of the
          NEST example). The raster is drawn once and *frozen*: every trial shows the same
          spikes, which gives the network a clock.
        * **Target:** with $P$ the trial length and $A = 0.5$,
          $x^*(t) = A \\sin(2\\pi t/P)$ and $y^*(t) = A \\sin(4\\pi t/P)$: the $y$ coordinate
          runs twice as fast as $x$, so the pen goes once around a figure eight per trial.
        * **Loss:** mean squared error of both readouts over the whole trial.

        The target does not depend on the key; the key only draws the input raster. Training
        reuses one sample, drawn from `TrainConfig.seed`, in every iteration.
        """
    ),
    code(
        """
        example, info = tasks.infinite_loop(jax.random.key(SEED), 1, **TASK_OPTIONS)
        print("inputs", example.inputs.shape, "targets", example.targets.shape, "mask", example.mask.shape)
        """
    ),
    code(
        plot_pattern_trial_code(
            """
    ax_pattern.plot(target[:, 0], target[:, 1], color="k", ls="--")
    ax_pattern.plot(*target[0], "o", color="C2", label="start")
    ax_pattern.legend(fontsize=8)
            """,
            "target curve",
        )
    ),
    lif_network_md(
        "200",
        "The frozen input marks the time, so nothing has to be remembered for long and plain "
        "LIF neurons suffice.",
    ),
    *build_cells("Here all neurons are LIF (`n_alif=0`)."),
    *compare_cells(),
    *regression_results(
        " With two readouts, the panel on the right draws the curve they trace together."
    ),
    *next_steps(
        "infinite_loop",
        """
        * **Bigger loops.** `TASK_OPTIONS = {"amplitude": 1.0}` asks for the full square
          $[-1, 1]^2$; `{"period": 629.0}` draws the loop twice per trial.
        * **Capacity.** Fewer or more neurons (`N_REC`), more iterations, a different
          `learning_rate`, or some ALIF neurons (`N_ALIF`).
        * **Other figures.** Tutorial 4 writes a whole word with the same two readouts.
        """,
    ),
]


# --------------------------------------------------------------------------------------------
# 04: handwriting
# --------------------------------------------------------------------------------------------

HANDWRITING: list[Cell] = [
    md(
        f"""
        # e-prop tutorial 4: writing a word

        Two readouts of a recurrent spiking network act as the $x$ and $y$ coordinates of a pen
        tip, and the network has to write a word in cursive, driven by a frozen random input.
        This is the NEST example `eprop_supervised_regression_handwriting`
        (`pynest/examples/eprop_plasticity`, the word "chaos"), a two-dimensional version of the
        pattern-generation experiment (Fig. S7) of

        > {PAPER}

        {EPROP_IN_BRIEF}

        The notebook has five parts: (1) the task, (2) the network and the e-prop gradient next
        to BPTT's, (3) training, (4) the figures, (5) what to try next. The full run (300
        iterations of one 1.2 s trial with 200 neurons) takes about a minute on a CPU. Set the
        environment variable `EPROP_JAX_NOTEBOOK_SMOKE=1` to run everything at a tiny size in
        seconds.
        """
    ),
    setup_cell(
        "handwriting",
        """
        WORD = "chaos"
        if SMOKE:
            ITERATIONS, BATCH_SIZE, N_REC, N_ALIF = 3, 1, 20, 0
            TASK_OPTIONS = {"word": WORD, "duration": 100.0, "n_in": 20}
        else:  # the NEST example's setting: the task preset and the generator's defaults
            ITERATIONS, BATCH_SIZE = preset["iterations"], preset["batch_size"]
            N_REC, N_ALIF = preset["network"]["n_rec"], preset["network"]["n_alif"]
            TASK_OPTIONS = {"word": WORD}
        """,
    ),
    md(
        """
        ## 1. The task

        * **Glyphs.** The pen paths come from the Hershey "Script Simplex" font, a
          public-domain single-stroke cursive face shipped with this package (letters, digits
          and space). The strokes of the word are joined in writing order into one path; where
          the real pen would lift, the path jumps in a straight line.
        * **Target:** the pen position $(x^*(t), y^*(t))$ moving along that path at constant
          speed, centred and scaled so that the longer side of the word spans $[-1, 1]$. By
          default the trial length follows from the length of the path (about 1.2 s for
          "chaos"); `duration` sets it directly.
        * **Input:** 100 neurons firing Poisson spikes at 50 Hz, drawn once and *frozen*: the
          same spikes in every trial, a clock for the network.
        * **Loss:** mean squared error of both readouts over the whole trial.

        The target depends only on the word; the key draws the input raster. Training reuses one
        sample, drawn from `TrainConfig.seed`, in every iteration.
        """
    ),
    code(
        """
        print("characters available:", tasks.handwriting_characters())
        example, info = tasks.handwriting(jax.random.key(SEED), 1, **TASK_OPTIONS)
        print("inputs", example.inputs.shape, "targets", example.targets.shape, "mask", example.mask.shape)
        pen_down = np.asarray(info.pen_down)
        print(f"pen down {100 * pen_down.mean():.0f} % of the time")
        """
    ),
    code(
        plot_pattern_trial_code(
            """
    down = np.where(pen_down, target[:, 1], np.nan)
    up = np.where(pen_down, np.nan, target[:, 1])
    ax_pattern.plot(target[:, 0], down, color="k", lw=1.5)
    ax_pattern.plot(target[:, 0], up, color="0.6", lw=1, ls=":")
            """,
            "target: pen down (solid), pen up (dotted)",
        )
    ),
    lif_network_md(
        "200",
        "The frozen input marks the time, so nothing has to be remembered for long and plain "
        "LIF neurons suffice.",
    ),
    *build_cells("Here all neurons are LIF (`n_alif=0`)."),
    *compare_cells(),
    *regression_results(" The panel on the right shows the word the two readouts write together."),
    *next_steps(
        "handwriting",
        """
        * **Another word.** Set `WORD` in the first cell to any text made of the characters
          printed in part 1; longer words need longer trials, more neurons and more iterations.
        * **Speed.** `TASK_OPTIONS = {"word": WORD, "pen_speed": 5.0}` writes more slowly
          (longer trials); `"duration"` fixes the trial length instead.
        * **Capacity.** More neurons (`N_REC`), more iterations or a different `learning_rate`
          sharpen the letters.
        """,
    ),
]


# --------------------------------------------------------------------------------------------
# 05: writing a learning rule
# --------------------------------------------------------------------------------------------

RULE_API: list[Cell] = [
    md(
        rf"""
        # Writing your own learning rule

        Every learning rule in eprop-jax has one signature,

        ```python
        grads, aux = rule(weights, batch, key)
        ```

        and a *factory* `factory(net, *, loss, regularization, feedback, **options) -> rule` builds
        it. Anything with that shape gets the rest for free: the jit-compiled training loop with
        Adam, metrics, checkpoints and figures (`eprop_jax.train`), the command line
        (`eprop-jax train TASK --rule ...`) and the comparison with BPTT (`eprop-jax compare`).

        e-prop (eligibility propagation; {PAPER}) has two places where a research variant usually
        changes something, and each is a keyword of `eprop_jax.eprop`:

        * **the learning signal** $L_t = B\,\partial E/\partial y_t$: `feedback=` takes a function
          `weights -> B` of shape `(n_rec, n_out)`;
        * **the eligibility dynamics**, the per-synapse state computed forward in time:
          `eligibility=` takes a factory `(neuron_params, kappa) -> LearningRule`, an optax-style
          pair `init(n_batch, n_pre, dtype) -> state` and
          `update(state, step, learning_signal) -> (grad_t, state)`, run inside the network's
          `lax.scan` (so memory does not grow with the trial length).

        This notebook writes two variants on the sine-wave task, checks one of them against an
        independent computation, compares both with BPTT, trains them, and registers them so that
        the command line knows them.
        """
    ),
    code(
        """
        %matplotlib inline
        import os
        import tempfile
        from pathlib import Path
        from typing import NamedTuple

        import jax
        import jax.numpy as jnp
        import numpy as np
        from matplotlib.figure import Figure

        import eprop_jax
        from eprop_jax import EpropStep, LearningRule, eprop, register_rule
        from eprop_jax.compare import format_alignment, mean_alignment
        from eprop_jax.losses import rate_regularization
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
        """
    ),
    md(
        """
        ## 1. A new learning signal: sign-concordant feedback

        Random feedback ($B$ fixed and random) works because the readout weights align with $B$
        during training. *Sign-concordant* feedback (Liao, Leibo and Poggio 2016) keeps the
        magnitudes random but copies the signs of $W^{out}$: $B = \\operatorname{sign}(W^{out\\top})
        \\odot |B_{random}|$. As a rule it is three lines; `**options` passes loss, regularisation
        and anything else through to `eprop`.
        """
    ),
    code(
        """
        def sign_concordant_feedback(weights):
            return jnp.sign(weights.w_out.T) * jnp.abs(weights.b_fb)


        def eprop_sign_concordant(net, **options):
            options.pop("feedback", None)  # this rule fixes its own feedback
            return eprop(net, feedback=sign_concordant_feedback, **options)
        """
    ),
    md(
        """
        ## 2. New eligibility dynamics: e-prop without the readout filter

        e-prop filters the eligibility trace with the readout's time constant,
        $\\bar e_t = \\kappa \\bar e_{t-1} + (1-\\kappa) e_t$, because the error at time $t$ depends on
        spikes that reached the leaky readout earlier (Eq. 28 of the paper). What happens without
        that filter? For a network of LIF neurons the eligibility trace is
        $e_{t,ji} = \\psi_{t,j}\\,\\epsilon_{t,ji}$ with
        $\\epsilon_{t,ji} = \\alpha_j \\epsilon_{t-1,ji} + p_{t,i}$ (Eqs. 13-14), where $p_t$ is the
        presynaptic activity ($x_t$ for input synapses, $z_{t-1}$ for recurrent ones). Here it is,
        written from scratch: the state is a NamedTuple, `update` advances it by one step and
        returns that step's gradient $\\sum_b L_{t,b,j} e_{t,b,ji}$. The field `e_sum` (the summed
        trace) is what the firing-rate regulariser needs.
        """
    ),
    code(
        """
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
        """
    ),
    md(
        """
        **Check it.** The library's own eligibility rule with the filter switched off
        (`kappa = 0`) must give the same gradient on a LIF network. Two independent
        implementations agreeing in float64 is the kind of test every rule in eprop-jax has.
        """
    ),
    code(
        """
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
        """
    ),
    md(
        """
        ## 3. Register the rules and compare them with BPTT

        `register_rule` puts a factory under a name that `make_rule`, `TrainConfig(rule=...)` and
        the command line understand. (A module on your path works without registering:
        `--rule mypackage.rules:eprop_unfiltered`.) `mean_alignment` then gives each rule's cosine
        similarity and norm ratio to the exact BPTT gradient, per weight matrix, averaged over
        batches; `tbptt` (truncated BPTT, here with windows of 10 steps) is a non-e-prop baseline.
        Note that truncation also cuts the readout's memory: with a window shorter than the
        readout time constant even `w_out`'s gradient is only partly there.
        """
    ),
    code(
        """
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
        """
    ),
    code(
        """
        fig = Figure(figsize=(8, 3), layout="constrained")
        for ax, matrix in zip(fig.subplots(1, 2), ("w_in", "w_rec"), strict=True):
            names = list(table)
            ax.barh(names, [table[n][matrix]["cosine"] for n in names], color="tab:blue")
            ax.axvline(0, color="k", lw=0.5)
            ax.set(xlim=(-1, 1), title=f"{matrix}: cosine with BPTT")
            if matrix == "w_rec":
                ax.set_yticklabels([])
        fig
        """
    ),
    md(
        """
        ## 4. Train them

        The same `train` call for every rule; only the name changes. Each run writes metrics,
        a checkpoint and figures to its folder, exactly as `eprop-jax train` does.
        """
    ),
    code(
        """
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
            result = train(config, OUT / name, progress=False)
            curves[name] = [m["loss"] for m in result.metrics]
            print(
                f"{name:<24} final loss {curves[name][-1]:.4f} "
                f"({result.seconds_per_iteration * 1e3:.0f} ms/iteration)"
            )

        fig = Figure(figsize=(6, 3.5), layout="constrained")
        ax = fig.subplots()
        for name, losses in curves.items():
            ax.semilogy(np.arange(1, len(losses) + 1), losses, label=name)
        ax.set(
            xlabel="iteration", ylabel="loss (MSE + rate regularisation)", title="sine waves: rule variants"
        )
        ax.legend(frameon=False)
        fig
        """
    ),
    md(
        """
        ## 5. From the command line

        Put the factories in a module on your `PYTHONPATH` (say `myrules.py`) and name them as
        `module:function`; `--rule-option KEY=VALUE` passes extra factory arguments:

        ```bash
        eprop-jax train sine_waves --rule myrules:eprop_unfiltered
        eprop-jax train evidence_accumulation --rule tbptt --rule-option truncation=100
        eprop-jax compare evidence_accumulation --rule myrules:eprop_sign_concordant --truncation 50
        eprop-jax compare --run runs/evidence_accumulation-eprop-random-s0   # at trained weights
        ```

        **Other places to change.** A whole-sequence rule (anything that is not e-prop's
        eligibility x learning-signal form) is just a function `rule(weights, batch, key) ->
        (grads, aux)`: see `eprop_jax.rules.truncated_bptt` for one in about thirty lines, built on
        `network_step` and `jax.grad`. Gradients of `w_out` and `b_out` from `eprop` are exact in
        every variant; `b_fb` receives a gradient only with `feedback="adaptive"`.
        """
    ),
]


NOTEBOOKS: dict[str, list[Cell]] = {
    "01_evidence_accumulation.ipynb": EVIDENCE,
    "02_sine_waves.ipynb": SINE_WAVES,
    "03_infinite_loop.ipynb": INFINITE_LOOP,
    "04_handwriting.ipynb": HANDWRITING,
    "05_writing_a_rule.ipynb": RULE_API,
}


def build_notebook(cells: list[Cell]) -> nbformat.NotebookNode:
    """A notebook (nbformat 4, no outputs) with deterministic cell ids."""
    nb = nbformat.v4.new_notebook()
    nb.metadata = {
        "kernelspec": {
            "display_name": "Python 3 (ipykernel)",
            "language": "python",
            "name": "python3",
        },
        "language_info": {"name": "python"},
    }
    for i, (kind, source) in enumerate(cells):
        make = nbformat.v4.new_markdown_cell if kind == "markdown" else nbformat.v4.new_code_cell
        nb.cells.append(make(source=source, id=f"cell-{i:02d}"))
    nbformat.validate(nb)
    return nb


def render(cells: list[Cell]) -> str:
    """The notebook file's text."""
    return nbformat.writes(build_notebook(cells)) + "\n"


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--out", type=Path, default=NOTEBOOK_DIR, help="output folder")
    parser.add_argument("--check", action="store_true",
                        help="do not write; exit 1 if a notebook differs")  # fmt: skip
    args = parser.parse_args(argv)
    stale = []
    for name, cells in NOTEBOOKS.items():
        path = args.out / name
        text = render(cells)
        if args.check:
            if not path.is_file() or path.read_text(encoding="utf-8") != text:
                stale.append(path)
            continue
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text(text, encoding="utf-8")
        print(f"wrote {path}")
    if stale:
        print("out of date (run scripts/make_notebooks.py):", *stale, sep="\n  ", file=sys.stderr)
        return 1
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
