"""Tests for eprop_jax.plotting: figures from a fake training output directory."""

import json
import os
import re
import subprocess
import sys
import textwrap

import numpy as np
import pytest

from eprop_jax import plotting

T, N_IN, N_REC, N_ALIF, N_OUT = 50, 4, 6, 3, 2
PNG_SIGNATURE = b"\x89PNG\r\n\x1a\n"


def _snapshot(rng, iteration, task_kind):
    y = rng.normal(size=(T, N_OUT))
    target = np.zeros((T, N_OUT))
    mask = np.zeros(T)
    mask[-10:] = 1.0
    if task_kind == "classification":
        target[:, 1] = 1.0
        e = np.exp(y - y.max(axis=1, keepdims=True))
        error = e / e.sum(axis=1, keepdims=True) - target
    else:
        target = np.stack([np.sin(np.arange(T) / 8), np.cos(np.arange(T) / 8)], axis=1)
        mask[:] = 1.0
        error = y - target
    return {
        "iteration": np.array(iteration),
        "inputs": (rng.random((T, N_IN)) < 0.2).astype(np.float32),
        "z": (rng.random((T, N_REC)) < 0.1).astype(np.float32),
        "v": rng.normal(size=(T, N_REC)),
        "threshold": 0.6 + rng.random((T, N_REC)),
        "psi": rng.random((T, N_REC)),
        "learning_signal": rng.normal(size=(T, N_REC)),
        "y": y,
        "target": target,
        "mask": mask,
        "error": error,
        "dt": np.array(1.0),
    }


def _weights(rng):
    return {
        "w_in": rng.normal(size=(N_REC, N_IN)),
        "w_rec": rng.normal(size=(N_REC, N_REC)),
        "w_out": rng.normal(size=(N_OUT, N_REC)),
        "b_out": np.zeros(N_OUT),
        "b_fb": rng.normal(size=(N_REC, N_OUT)),
    }


def _metrics(task_kind):
    records = []
    for i in range(5):
        rec = {"iteration": i, "loss": 1.0 / (i + 1), "task_loss": 0.9 / (i + 1)}
        rec |= {"reg_loss": 0.1 / (i + 1), "rate_hz": 10.0 + i}
        if task_kind == "classification":
            rec |= {"accuracy": 0.5 + 0.1 * i, "recall_error": 0.5 - 0.1 * i}
        if i % 2 == 0:
            rec["eval_loss"] = 1.1 / (i + 1)
            if task_kind == "classification":
                rec |= {"eval_accuracy": 0.5 + 0.1 * i, "eval_recall_error": 0.5 - 0.1 * i}
        records.append(rec)
    return records


def _make_run(path, task_kind, *, last=True):
    rng = np.random.default_rng(0)
    config = {
        "task": "evidence_accumulation" if task_kind == "classification" else "sine_waves",
        "task_kind": task_kind,
        "rule": "eprop",
        "feedback": "random",
        "dt": 1.0,
        "n_in": N_IN,
        "n_rec": N_REC,
        "n_alif": N_ALIF,
        "n_out": N_OUT,
    }
    (path / "config.json").write_text(json.dumps(config))
    lines = [json.dumps(r) for r in _metrics(task_kind)]
    (path / "metrics.jsonl").write_text("\n".join(lines) + "\n")
    np.savez(path / "snapshot_first.npz", **_snapshot(rng, 0, task_kind))
    if last:
        np.savez(path / "snapshot_last.npz", **_snapshot(rng, 4, task_kind))
    np.savez(path / "weights_initial.npz", **_weights(rng))
    np.savez(path / "weights_final.npz", **_weights(rng))
    return path


def _assert_png(path):
    assert path.is_file(), path
    data = path.read_bytes()
    assert len(data) > 1000
    assert data[:8] == PNG_SIGNATURE


@pytest.mark.parametrize(
    ("task_kind", "expected"),
    [
        (
            "classification",
            ["learning_curve", "snapshot_first", "snapshot_last", "weights"],
        ),
        (
            "regression",
            [
                "learning_curve",
                "snapshot_first",
                "snapshot_last",
                "readout_first",
                "readout_last",
                "weights",
            ],
        ),
    ],
)
def test_plot_run_writes_pngs(tmp_path, task_kind, expected):
    run = _make_run(tmp_path, task_kind)
    paths = plotting.plot_run(run)
    assert [p.name for p in paths] == [f"{name}.png" for name in expected]
    assert sorted(p.name for p in tmp_path.glob("*.png")) == sorted(p.name for p in paths)
    for path in paths:
        _assert_png(path)


def test_plot_run_skips_missing_snapshot(tmp_path):
    run = _make_run(tmp_path, "regression", last=False)
    (run / "weights_final.npz").unlink()
    # A truncated last line, as while the trainer is writing, is skipped.
    with (run / "metrics.jsonl").open("a") as f:
        f.write('{"iteration": 5, "lo')
    names = [p.name for p in plotting.plot_run(run)]
    assert names == ["learning_curve.png", "snapshot_first.png", "readout_first.png"]


@pytest.mark.parametrize("missing", ["metrics.jsonl", "config.json"])
def test_plot_run_missing_file(tmp_path, missing):
    run = _make_run(tmp_path, "classification")
    (run / missing).unlink()
    message = f"`plot_run`: no {missing} in {run}; is this a training output directory?"
    with pytest.raises(FileNotFoundError, match=re.escape(message)):
        plotting.plot_run(run)


def test_plot_run_bad_task_kind(tmp_path):
    run = _make_run(tmp_path, "classification")
    config = json.loads((run / "config.json").read_text())
    (run / "config.json").write_text(json.dumps(config | {"task_kind": "ranking"}))
    with pytest.raises(ValueError, match=re.escape("unknown task_kind 'ranking'")):
        plotting.plot_run(run)


@pytest.mark.parametrize(("task_kind", "n_axes"), [("classification", 2), ("regression", 1)])
def test_learning_curve_axes(task_kind, n_axes):
    fig = plotting.plot_learning_curve(_metrics(task_kind), task_kind)
    assert len(fig.axes) == n_axes
    assert fig.axes[0].get_yscale() == "log"
    if task_kind == "classification":
        levels = {line.get_ydata()[0] for line in fig.axes[1].lines if len(line.get_ydata()) == 2}
        assert {0.07, 0.10} <= levels


def test_learning_curve_long_run_and_errors():
    metrics = [{"iteration": i, "loss": 1.0 + np.sin(i), "recall_error": 0.3} for i in range(300)]
    assert len(plotting.plot_learning_curve(metrics, "classification").axes) == 2
    with pytest.raises(ValueError, match=re.escape("`plot_learning_curve`: metrics is empty")):
        plotting.plot_learning_curve([], "regression")
    with pytest.raises(ValueError, match=re.escape("neither 'recall_error' nor 'accuracy'")):
        plotting.plot_learning_curve([{"iteration": 0, "loss": 1.0}], "classification")
    with pytest.raises(ValueError, match=re.escape("unknown task_kind 'foo'")):
        plotting.plot_learning_curve(metrics, "foo")


@pytest.mark.parametrize(("n_alif", "n_axes"), [(N_ALIF, 8), (None, 8), (0, 7)])
def test_snapshot_axes(n_alif, n_axes):
    snapshot = _snapshot(np.random.default_rng(1), 3, "classification")
    fig = plotting.plot_snapshot(snapshot, "title", n_alif=n_alif, task_kind="classification")
    assert len(fig.axes) == n_axes
    assert fig.axes[-1].get_xlabel() == "time (ms)"
    # Same number of spikes in the recurrent raster as in z, ALIF drawn in their own colour.
    raster = [line for line in fig.axes[1].lines if line.get_marker() == "|"]
    assert sum(len(line.get_xdata()) for line in raster) == int(snapshot["z"].sum())
    assert len(raster) == (2 if n_alif else 1)


def test_snapshot_errors():
    snapshot = _snapshot(np.random.default_rng(1), 3, "regression")
    with pytest.raises(
        ValueError, match=re.escape("`plot_snapshot`: snapshot is missing key(s) 'psi'")
    ):
        plotting.plot_snapshot({k: v for k, v in snapshot.items() if k != "psi"})
    bad = snapshot | {"v": snapshot["v"][:-1]}
    with pytest.raises(
        ValueError, match=re.escape("expected snapshot['v'] of shape (T, n) with T=50")
    ):
        plotting.plot_snapshot(bad)
    with pytest.raises(ValueError, match=re.escape("n_alif must be an integer in [0, n_rec=6]")):
        plotting.plot_snapshot(snapshot, n_alif=7)


@pytest.mark.parametrize(("n_out", "n_axes"), [(2, 3), (1, 1), (3, 3)])
def test_regression_axes(n_out, n_axes):
    rng = np.random.default_rng(2)
    snapshot = {
        "y": rng.normal(size=(T, n_out)),
        "target": rng.normal(size=(T, n_out)),
        "mask": np.ones(T),
        "dt": 1.0,
    }
    fig = plotting.plot_regression(snapshot, "title")
    assert len(fig.axes) == n_axes
    if n_out == 2:
        assert fig.axes[-1].get_aspect() == 1.0


def test_weights_axes():
    rng = np.random.default_rng(3)
    fig = plotting.plot_weights(_weights(rng), _weights(rng))
    assert len(fig.axes) == 9  # 2 x 3 heatmaps + 3 colour bars
    for col in range(3):
        lo, hi = fig.axes[col].images[0].get_clim()
        assert lo == -hi
        assert fig.axes[3 + col].images[0].get_clim() == (lo, hi)
    with pytest.raises(ValueError, match=re.escape("expected 2-D w_rec of the same shape")):
        plotting.plot_weights(_weights(rng), _weights(rng) | {"w_rec": np.zeros((2, 2))})


def test_import_keeps_backend():
    """Importing the module and drawing a figure leave the user's backend and pyplot alone."""
    code = textwrap.dedent(
        """
        import sys
        import matplotlib
        matplotlib.use("svg")
        import eprop_jax.plotting as p
        p.plot_learning_curve([{"iteration": 0, "loss": 1.0}], "regression")
        assert matplotlib.get_backend() == "svg", matplotlib.get_backend()
        assert "matplotlib.pyplot" not in sys.modules
        """
    )
    env = dict(os.environ)
    env.pop("MPLBACKEND", None)
    env["PYTHONPATH"] = os.pathsep.join([*sys.path, env.get("PYTHONPATH", "")])
    result = subprocess.run(
        [sys.executable, "-c", code], env=env, capture_output=True, text=True, timeout=60
    )
    assert result.returncode == 0, result.stderr
