"""Smoke tests of the tutorial figures in eprop_jax.plotting (drawn on tiny task batches)."""

import io
import re

import jax
import numpy as np
import pytest

from eprop_jax import plotting, tasks

PNG_SIGNATURE = b"\x89PNG\r\n\x1a\n"
EA_TINY = dict(
    n_cues=3, cue_duration=4.0, cue_silence=2.0, delay=3.0, recall_duration=5.0, n_per_group=2
)


def _png(fig) -> bytes:
    buffer = io.BytesIO()
    fig.savefig(buffer, format="png", dpi=40)
    return buffer.getvalue()


def test_plot_evidence_trial():
    batch, _ = tasks.evidence_accumulation(jax.random.key(0), 2, **EA_TINY)
    fig = plotting.plot_evidence_trial(batch, trial=1, dt=2.0)
    ax_in, ax_target = fig.axes
    assert ax_in.get_title() == "trial 1: input spikes"
    # one raster line per input group, and all the spikes of the trial are drawn
    assert [line.get_label() for line in ax_in.lines] == [
        "left cue",
        "right cue",
        "recall",
        "background",
    ]
    assert sum(len(line.get_xdata()) for line in ax_in.lines) == int(batch.inputs[:, 1].sum())
    np.testing.assert_array_equal(ax_target.lines[1].get_ydata(), batch.targets[:, 1, 1])
    assert ax_target.lines[0].get_xdata()[-1] == 2.0 * (batch.mask.shape[0] - 1)  # dt scales t
    assert _png(fig).startswith(PNG_SIGNATURE)


def test_plot_regression_trial():
    batch, _ = tasks.sine_waves(jax.random.key(0), 1, n_in=3, duration=20.0)
    fig = plotting.plot_regression_trial(batch)
    ax_in, ax_target = fig.axes
    assert ax_in.get_title() == "trial 0: frozen input spikes"
    np.testing.assert_array_equal(ax_target.lines[0].get_ydata(), batch.targets[:, 0, 0])
    assert _png(fig).startswith(PNG_SIGNATURE)


def test_plot_pattern_trial_with_and_without_pen():
    batch, info = tasks.handwriting(jax.random.key(0), 1, n_in=3, word="ab", duration=30.0)
    plain = plotting.plot_pattern_trial(batch)
    assert plain.axes[2].get_title() == "target curve"
    assert [line.get_label() for line in plain.axes[2].lines][-1] == "start"
    pen = plotting.plot_pattern_trial(batch, pen_down=info.pen_down)
    down, up = pen.axes[2].lines
    assert pen.axes[2].get_title() == "target: pen down (solid), pen up (dotted)"
    pen_down = np.asarray(info.pen_down)
    # pen-down points are drawn solid, the others dotted: each point appears in exactly one
    assert np.array_equal(np.isfinite(down.get_ydata()), pen_down)
    assert np.array_equal(np.isfinite(up.get_ydata()), ~pen_down)
    assert _png(pen).startswith(PNG_SIGNATURE)


TABLE = {
    "eprop/symmetric": {
        m: {"cosine": c, "norm_ratio": 1.0} for m, c in [("w_in", 0.9), ("w_rec", 0.5)]
    },
    "eprop/random": {
        m: {"cosine": c, "norm_ratio": 1.0} for m, c in [("w_in", 0.3), ("w_rec", -0.4)]
    },
}


def test_plot_alignment():
    fig = plotting.plot_alignment(TABLE, "initial weights")
    (ax,) = fig.axes
    heights = [bar.get_height() for container in ax.containers for bar in container]
    assert heights == [0.9, 0.5, 0.3, -0.4]
    low, high = ax.get_ylim()
    assert ax.get_title() == "initial weights" and low < -0.4 and high == 1.05
    assert _png(fig).startswith(PNG_SIGNATURE)


def test_plot_alignment_by_rule_and_loss_curves():
    fig = plotting.plot_alignment_by_rule(TABLE)
    assert [ax.get_title() for ax in fig.axes] == [
        "w_in: cosine with BPTT",
        "w_rec: cosine with BPTT",
    ]
    widths = [bar.get_width() for bar in fig.axes[1].containers[0]]
    assert widths == [0.5, -0.4]
    curves = plotting.plot_loss_curves({"a": [1.0, 0.5, 0.25], "b": [2.0, 1.0]}, title="t")
    (ax,) = curves.axes
    assert ax.get_yscale() == "log" and [len(line.get_xdata()) for line in ax.lines] == [3, 2]
    assert _png(curves).startswith(PNG_SIGNATURE)


@pytest.mark.parametrize(
    ("call", "message"),
    [
        (lambda: plotting.plot_evidence_trial(object()), "must be an eprop_jax.types.Batch"),
        (lambda: plotting.plot_alignment({}, "x"), "`plot_alignment`: table must be a non-empty"),
        (lambda: plotting.plot_loss_curves({}), "curves must be a non-empty dict"),
    ],
)
def test_bad_input(call, message):
    with pytest.raises(ValueError, match=re.escape(message)):
        call()


def test_bad_trial_and_pen():
    batch, _ = tasks.infinite_loop(jax.random.key(0), 2, n_in=3, duration=20.0)
    with pytest.raises(
        ValueError, match=re.escape("trial must index the batch of 2 trials; got 2")
    ):
        plotting.plot_pattern_trial(batch, trial=2)
    with pytest.raises(
        ValueError, match=re.escape("pen_down must have shape (T,)=(20,); got (3,)")
    ):
        plotting.plot_pattern_trial(batch, pen_down=np.ones(3, bool))
    sine, _ = tasks.sine_waves(jax.random.key(0), 1, n_in=3, duration=20.0)
    with pytest.raises(ValueError, match=re.escape("expected 2 outputs (x, y); got 1")):
        plotting.plot_pattern_trial(sine)
