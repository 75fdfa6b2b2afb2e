"""The command line: train writes every file and figure, plot redraws, compare prints, errors."""

import json
import os
import subprocess
import sys
from pathlib import Path

import jax
import numpy as np
import pytest

from eprop_jax.cli import build_parser, main


@pytest.fixture(autouse=True)
def standard_promotion():
    with jax.numpy_dtype_promotion("standard"):
        yield


SMALL = [
    "--iterations",
    "3",
    "--n-rec",
    "12",
    "--eval-interval",
    "2",
    "--no-progress",
    "--task-option",
    "duration=100",
    "--task-option",
    "n_in=10",
]


@pytest.mark.slow
def test_train_writes_metrics_checkpoint_and_figures(tmp_path, capsys):
    out = tmp_path / "run"
    assert main(["train", "infinite_loop", *SMALL, "--out", str(out)]) == 0
    text = capsys.readouterr().out
    assert "done: 3 iterations" in text and "figures:" in text
    names = {p.name for p in out.iterdir()}
    assert {
        "config.json",
        "metrics.jsonl",
        "checkpoint.npz",
        "learning_curve.png",
        "snapshot_first.png",
        "snapshot_last.png",
        "readout_first.png",
        "readout_last.png",
        "weights.png",
    } <= names
    lines = (out / "metrics.jsonl").read_text().splitlines()
    assert [json.loads(x)["iteration"] for x in lines] == [0, 1, 2]
    for png in out.glob("*.png"):
        assert png.read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"
    (out / "weights.png").unlink()
    assert main(["plot", str(out)]) == 0
    assert (out / "weights.png").exists()


@pytest.mark.slow
def test_train_resume_extends_a_run(tmp_path):
    out = str(tmp_path / "run")
    assert main(["train", "sine_waves", *SMALL, "--out", out, "--no-plots"]) == 0
    args = ["train", "sine_waves", *SMALL, "--out", out, "--no-plots", "--resume"]
    args[args.index("--iterations") + 1] = "5"
    assert main(args) == 0
    lines = (tmp_path / "run" / "metrics.jsonl").read_text().splitlines()
    assert [json.loads(x)["iteration"] for x in lines] == [0, 1, 2, 3, 4]


@pytest.mark.slow
def test_compare_prints_alignment_json(capsys):
    args = [
        "compare",
        "evidence_accumulation",
        "--batches",
        "1",
        "--batch-size",
        "2",
        "--n-rec",
        "10",
        "--json",
    ]
    assert main(args) == 0
    result = json.loads(capsys.readouterr().out)
    table = result["alignment"]
    assert set(table) == {
        "eprop/symmetric",
        "eprop/random",
        "eprop/adaptive",
        "eprop-autodiff/symmetric",
        "tbptt/K=20",
    }
    assert table["eprop/random"]["w_out"]["cosine"] == pytest.approx(1.0, abs=1e-5)
    assert table["eprop/symmetric"]["w_rec"]["cosine"] == pytest.approx(
        table["eprop-autodiff/symmetric"]["w_rec"]["cosine"], abs=1e-4
    )
    assert table["eprop/symmetric"]["w_rec"]["cosine_std"] == 0.0  # one batch


@pytest.mark.slow
def test_train_tbptt_then_compare_at_the_trained_weights(tmp_path, capsys):
    out = tmp_path / "run"
    args = [
        "train",
        "evidence_accumulation",
        "--rule",
        "tbptt",
        "--rule-option",
        "truncation=25",
        "--iterations",
        "2",
        "--batch-size",
        "2",
        "--n-rec",
        "10",
        "--eval-interval",
        "0",
        "--no-progress",
        "--no-plots",
        "--out",
        str(out),
    ]
    assert main(args) == 0
    config = json.loads((out / "config.json").read_text())
    assert config["rule"] == "tbptt" and config["rule_options"] == {"truncation": 25}
    assert config["feedback"] == "symmetric"
    capsys.readouterr()
    args = [
        "compare",
        "--run",
        str(out),
        "--batches",
        "2",
        "--batch-size",
        "2",
        "--truncation",
        "5",
        "--truncation",
        "2250",
        "--rule",
        "eprop_jax.rules:bptt",
        "--seed",
        "3",
        "--json",
    ]
    assert main(args) == 0
    result = json.loads(capsys.readouterr().out)
    assert result["task"] == "evidence_accumulation" and "after 2 iterations" in result["weights"]
    assert result["seeds"] == [0] and result["batch_seed"] == 3  # the run's seed; --seed: batches
    table = result["alignment"]
    assert {"tbptt/K=5", "tbptt/K=2250", "eprop_jax.rules:bptt"} <= set(table)
    for matrix in ("w_in", "w_rec", "w_out"):  # a window covering the trial and BPTT itself
        assert table["tbptt/K=2250"][matrix]["cosine"] == pytest.approx(1.0, abs=1e-4)
        assert table["eprop_jax.rules:bptt"][matrix]["cosine"] == pytest.approx(1.0, abs=1e-6)
    assert table["tbptt/K=5"]["w_rec"]["cosine"] < 0.999


def test_help_documents_every_option(capsys):
    parser = build_parser()
    with pytest.raises(SystemExit):
        parser.parse_args(["train", "--help"])
    text = capsys.readouterr().out
    for option in (
        "--rule",
        "--feedback",
        "--iterations",
        "--batch-size",
        "--seed",
        "--out",
        "--resume",
        "--overwrite",
        "--weight-bounds",
        "--c-reg",
        "--target-error",
        "--n-alif",
        "--dt",
        "--check-finite",
    ):
        assert option in text
    assert "--nest-compatible" not in text and "--networks" not in text
    assert main(["nest", "--help"]) == 0
    text = capsys.readouterr().out
    assert "--iterations" in text and "--feedback" not in text and "--c-reg" not in text
    assert main(["dnms", "--help"]) == 0
    text = capsys.readouterr().out
    assert "--networks" in text and "--rule" not in text and "--n-rec" not in text


def test_bad_arguments_give_clear_errors(tmp_path, capsys):
    assert main(["train", "sine_waves", "--iterations", "0", "--out", str(tmp_path)]) == 2
    err = capsys.readouterr().err
    assert err == (
        "eprop-jax train: error: argument --iterations: must be an integer >= 1; got '0'\n"
    )
    assert main(["train", "xor"]) == 2
    assert "invalid choice: 'xor'" in capsys.readouterr().err
    assert main(["plot", str(tmp_path / "nothing")]) == 2
    assert capsys.readouterr().err.startswith("eprop-jax plot: error: ")
    assert not list(tmp_path.iterdir())  # nothing was written


def _one_error_line(capsys) -> str:
    captured = capsys.readouterr()
    lines = captured.err.strip().splitlines()
    assert len(lines) == 1 and "Traceback" not in captured.err, captured.err
    return lines[0]


@pytest.mark.parametrize(
    ("argv", "message"),
    [
        (
            ["train", "sine_waves", "--learning-rate", "nan"],
            "eprop-jax train: error: argument --learning-rate: must be a finite number in (0, inf); got 'nan'",
        ),
        (
            ["train", "sine_waves", "--learning-rate", "-1"],
            "argument --learning-rate: must be a finite number in (0, inf); got '-1'",
        ),
        (
            ["train", "sine_waves", "--batch-size", "2.5"],
            "argument --batch-size: expected an integer >= 1; got '2.5'",
        ),
        (
            ["train", "sine_waves", "--lr-decay", "0"],
            "argument --lr-decay: must be a finite number in (0, 1]",
        ),
        (
            ["train", "sine_waves", "--target-error", "1"],
            "argument --target-error: must be a finite number in [0, 1)",
        ),
        (
            ["train", "sine_waves", "--tau-m", "inf"],
            "argument --tau-m: must be a finite number in (0, inf)",
        ),
        (["train", "sine_waves", "--n-rec", "0"], "argument --n-rec: must be an integer >= 1"),
        (
            ["train", "sine_waves", "--dt", "0"],
            "argument --dt: must be a finite number in (0, inf)",
        ),
        (
            ["train", "sine_waves", "--weight-bounds", "-1", "inf"],
            "argument --weight-bounds: must be a finite number",
        ),
        (
            ["train", "sine_waves", "--seed", "-3"],
            "argument --seed: must be an integer in [0, 4294967295]",
        ),
        (
            ["train", "sine_waves", "--task-option", "dt=10"],
            "argument --task-option: dt is set with --dt (one time step for the task and the network)",
        ),
        (
            ["train", "sine_waves", "--task-option", "nonsense"],
            "argument --task-option: expected KEY=VALUE",
        ),
        (
            ["train", "sine_waves", "--rule-option", "feedback=symmetric"],
            "argument --rule-option: feedback is set by --feedback, not here",
        ),
        (
            ["train", "sine_waves", "--rule-option", "regularization=1"],
            "argument --rule-option: regularization is set by --c-reg and --f-target, not here",
        ),
        (
            ["train", "sine_waves", "--nest-compatible"],
            "eprop-jax train: error: NEST mode has its own command now: eprop-jax nest TASK",
        ),
        (
            ["train", "dnms", "--iterations", "3"],
            "eprop-jax train: error: DNMS has its own command now: eprop-jax dnms",
        ),
        (
            ["nest", "sine_waves", "--feedback", "random"],
            "eprop-jax nest: error: unrecognized arguments: --feedback random",
        ),
        (
            ["nest", "sine_waves", "--iterations", "0"],
            "eprop-jax nest: error: argument --iterations: must be an integer >= 1",
        ),
        (["dnms", "--c-reg", "1"], "eprop-jax dnms: error: unrecognized arguments: --c-reg 1"),
        (
            ["dnms", "--networks", "0"],
            "eprop-jax dnms: error: argument --networks: must be an integer >= 1",
        ),
        (
            ["compare", "--truncation", "0"],
            "eprop-jax compare: error: argument --truncation: must be an integer >= 1",
        ),
        (
            ["train", "sine_waves", "--seed", "99999999999999999999"],
            "eprop-jax train: error: argument --seed: must be an integer in [0, 4294967295]",
        ),
        (
            ["nest", "sine_waves", "--seed", "0"],
            "eprop-jax nest: error: argument --seed: must be an integer in [1, 4294967295]",
        ),
        (
            ["nest", "nmnist"],
            "eprop-jax nest: error: argument task: invalid choice: 'nmnist'",
        ),
        (
            ["compare", "sine_waves", "--run", "somewhere"],
            "eprop-jax compare: error: TASK cannot be combined with --run",
        ),
    ],
)
def test_bad_options_are_refused_in_one_line(argv, message, capsys, tmp_path):
    assert main([*argv, "--out", str(tmp_path / "run")] if argv[0] != "compare" else argv) == 2
    assert message in _one_error_line(capsys)
    assert not (tmp_path / "run").exists()


def test_library_errors_are_one_line_naming_the_option(tmp_path, capsys):
    out = str(tmp_path / "run")
    assert main(["train", "sine_waves", "--task-option", "colour=3", "--out", out]) == 2
    line = _one_error_line(capsys)
    assert line.startswith(
        "eprop-jax train: error: `TrainConfig`: task 'sine_waves' has no "
        "option(s) 'colour'; it accepts n_in, input_rate, duration"
    )
    assert (
        main(["train", "sine_waves", "--rule", "tbptt", "--rule-option", "window=3", "--out", out])
        == 2
    )
    assert "rule 'tbptt' has no option(s) 'window'" in _one_error_line(capsys)
    assert main(["train", "sine_waves", "--weight-bounds", "1", "-1", "--out", out]) == 2
    assert "weight_bounds must be (w_min, w_max) with w_min < w_max" in _one_error_line(capsys)
    assert main(["train", "sine_waves", "--rule", "nosuchmodule:f", "--out", out]) == 2
    assert "cannot import rule factory 'nosuchmodule:f'" in _one_error_line(capsys)
    assert (
        main(["train", "sine_waves", "--rule", "bptt", "--feedback", "random", "--out", out]) == 2
    )
    assert "error: --feedback random: rule 'bptt' has no feedback choice" in _one_error_line(capsys)
    assert (
        main(
            ["train", "sine_waves", "--feedback", "symmetric", "--feedback-std", "2", "--out", out]
        )
        == 2
    )
    assert (
        "--feedback-std applies to random and adaptive feedback (it draws b_fb); the run uses symmetric"
        in _one_error_line(capsys)
    )
    assert main(["train", "sine_waves", "--target-error", "0.1", "--out", out]) == 2
    assert (
        "--target-error applies to classification tasks (evidence_accumulation, nmnist) only; "
        "sine_waves is a regression task"
    ) in _one_error_line(capsys)
    assert not (tmp_path / "run").exists()


@pytest.mark.slow
def test_run_folder_mistakes_are_one_line_and_lose_nothing(tmp_path, capsys):
    out = tmp_path / "run"
    assert main(["train", "sine_waves", *SMALL, "--out", str(out), "--no-plots"]) == 0
    capsys.readouterr()
    before = {p.name: p.read_bytes() for p in out.iterdir() if p.is_file()}
    # A forgotten --resume, or another task into the same folder: refused.
    assert main(["train", "sine_waves", *SMALL, "--out", str(out)]) == 2
    line = _one_error_line(capsys)
    assert f"{out} already holds a run (config.json, metrics.jsonl, checkpoint.npz" in line
    assert "resume it (--resume) or replace it (--overwrite)" in line
    assert main(["train", "infinite_loop", *SMALL, "--out", str(out), "--resume"]) == 2
    assert "the configuration differs in " in _one_error_line(capsys)
    assert main(["dnms", "--groups", "2", "--out", str(out), "--resume"]) == 2
    assert f"cannot resume: {out} holds a spiking run, not a dnms run" in _one_error_line(capsys)
    assert main(["nest", "sine_waves", "--out", str(out), "--resume"]) == 2
    assert "NEST mode cannot resume" in _one_error_line(capsys)
    assert main(["train", "sine_waves", *SMALL, "--out", str(out), "--resume", "--overwrite"]) == 2
    assert "resume and overwrite exclude each other" in _one_error_line(capsys)
    after = {p.name: p.read_bytes() for p in out.iterdir() if p.is_file()}
    assert after == before
    # --out that is a file, or a folder that cannot be written.
    a_file = tmp_path / "file.txt"
    a_file.write_text("keep me")
    assert main(["train", "sine_waves", *SMALL, "--out", str(a_file)]) == 2
    assert f"output folder {a_file} is an existing file, not a folder" in _one_error_line(capsys)
    assert main(["train", "sine_waves", *SMALL, "--out", str(a_file / "sub")]) == 2
    assert "cannot create output folder" in _one_error_line(capsys)
    assert a_file.read_text() == "keep me"
    locked = tmp_path / "ro"
    locked.mkdir()
    locked.chmod(0o500)
    try:
        if not os.access(locked, os.W_OK):  # root can write anyway
            assert main(["train", "sine_waves", *SMALL, "--out", str(locked / "x")]) == 2
            assert "cannot create output folder" in _one_error_line(capsys)
            assert main(["train", "sine_waves", *SMALL, "--out", str(locked)]) == 2
            assert f"output folder {locked} is not writable" in _one_error_line(capsys)
    finally:
        locked.chmod(0o700)
    # A damaged checkpoint: one line naming the file, the previous checkpoint is used.
    (out / "checkpoint.npz").write_bytes(b"PK\x03\x04 truncated")
    args = ["train", "sine_waves", *SMALL, "--out", str(out), "--no-plots", "--resume"]
    args[args.index("--iterations") + 1] = "4"
    assert main(args) == 0
    err = capsys.readouterr().err
    assert f"cannot read {out / 'checkpoint.npz'}: BadZipFile (damaged or truncated file)" in err
    assert "Resuming from the previous checkpoint" in err and "pickle" not in err
    # Both damaged: one line, nothing else touched.
    for name in ("checkpoint.npz", "checkpoint.prev.npz"):
        (out / name).write_bytes(b"")
    args[args.index("--iterations") + 1] = "5"
    assert main(args) == 2
    line = _one_error_line(capsys)
    assert "No usable checkpoint is left; start again with --overwrite" in line
    assert "pickle" not in line
    # --overwrite removes the old run's files, figures included.
    (out / "learning_curve.png").write_bytes(b"old figure")
    assert (
        main(["train", "sine_waves", *SMALL, "--out", str(out), "--no-plots", "--overwrite"]) == 0
    )
    assert not (out / "learning_curve.png").exists()
    assert len((out / "metrics.jsonl").read_text().splitlines()) == 3


@pytest.mark.slow
def test_truncated_metrics_line_is_dropped_with_a_warning(tmp_path, capsys):
    out = tmp_path / "run"
    assert main(["train", "sine_waves", *SMALL, "--out", str(out), "--no-plots"]) == 0
    with (out / "metrics.jsonl").open("a") as f:
        f.write('{"iteration": 3, "lo')  # a killed writer
    args = ["train", "sine_waves", *SMALL, "--out", str(out), "--no-plots", "--resume"]
    args[args.index("--iterations") + 1] = "4"
    capsys.readouterr()
    assert main(args) == 0
    err = capsys.readouterr().err
    assert "eprop-jax train: warning: " in err and "dropped the truncated last line 4" in err
    lines = [json.loads(x) for x in (out / "metrics.jsonl").read_text().splitlines()]
    assert [m["iteration"] for m in lines] == [0, 1, 2, 3]


@pytest.mark.slow
def test_divergence_is_one_line_and_keeps_a_finite_checkpoint(tmp_path, capsys):
    out = tmp_path / "run"
    args = [
        "train",
        "sine_waves",
        *SMALL,
        "--out",
        str(out),
        "--no-plots",
        "--learning-rate",
        "1e38",
        "--checkpoint-interval",
        "1",
    ]
    assert main(args) == 2
    line = _one_error_line(capsys)
    assert line.startswith(
        "eprop-jax train: error: `train`: the loss, the gradients or the "
        "weights became NaN/inf at iteration "
    )
    assert "the last finite checkpoint (after" in line and str(out / "checkpoint.npz") in line
    with np.load(out / "checkpoint.npz", allow_pickle=False) as ckpt:
        assert all(np.all(np.isfinite(ckpt[k])) for k in ckpt.files if ckpt[k].dtype.kind == "f")


@pytest.mark.slow
def test_plot_redraws_every_kind_of_run(tmp_path, capsys):
    dnms = tmp_path / "dnms"
    assert (
        main(
            [
                "dnms",
                "--groups",
                "3",
                "--chunk-groups",
                "2",
                "--no-progress",
                "--no-plots",
                "--out",
                str(dnms),
            ]
        )
        == 0
    )
    assert main(["plot", str(dnms)]) == 0
    assert {"dnms_rewards.png", "dnms_traces.png"} <= {p.name for p in dnms.iterdir()}
    nest_run = tmp_path / "nest"
    assert (
        main(
            [
                "nest",
                "sine_waves",
                "--iterations",
                "2",
                "--no-progress",
                "--no-plots",
                "--out",
                str(nest_run),
            ]
        )
        == 0
    )
    assert main(["plot", str(nest_run)]) == 0
    assert (nest_run / "learning_curve.png").is_file()
    assert json.loads((nest_run / "config.json").read_text())["kind"] == "nest"


@pytest.mark.slow
def test_bench_quick_prints_one_json_object_per_measurement(capsys):
    assert main(["bench", "--quick", "--methods", "forward", "eprop"]) == 0
    rows = [json.loads(line) for line in capsys.readouterr().out.splitlines()]
    assert [r.get("method") for r in rows] == ["forward", "eprop", "stream", None]
    for row in rows[:2]:
        assert "error" not in row, row
        assert row["ms_median"] > 0 and row["compile_s"] > 0 and row["peak_rss_mb"] > 100
        assert (row["n_rec"], row["T"], row["batch"]) == (100, 500, 16)
    assert "error" not in rows[2], rows[2]
    assert rows[2]["stream_gbps_state_size"] > 0 and rows[2]["stream_gbps_large"] > 0
    roof = rows[3]["eprop_roofline"]  # online e-prop's eligibility traffic vs the stream kernel
    assert roof["elig_bytes_per_step"] == 2 * 4 * 16 * 140 * (1 + 50 + 200)
    assert roof["achieved_gbps"] > 0 and roof["fraction_of_state_size"] > 0


def test_nest_runs_the_nest_tutorial(tmp_path, capsys):
    out = tmp_path / "nest"
    args = ["nest", "sine_waves", "--iterations", "3", "--no-progress", "--out", str(out)]
    assert main(args) == 0
    assert "done: 3 iterations in NEST mode" in capsys.readouterr().out
    metrics = [json.loads(line) for line in (out / "metrics.jsonl").read_text().splitlines()]
    assert [m["iteration"] for m in metrics] == [1, 2, 3]
    assert all(m["loss"] > 0 for m in metrics)
    for name in ("config.json", "summary.json", "weights_final.npz", "learning_curve.png"):
        assert (out / name).is_file(), name
    assert main(args) == 2
    assert "already holds a run" in _one_error_line(capsys)
    assert main([*args, "--overwrite", "--no-plots"]) == 0


@pytest.mark.slow
def test_dnms_writes_metrics_checkpoint_and_figures(tmp_path, capsys):
    out = tmp_path / "dnms"
    args = ["dnms", "--iterations", "3", "--networks", "2", "--no-progress", "--out", str(out)]
    assert main(args) == 0
    text = capsys.readouterr().out
    assert "done: 3 groups x 2 network(s)" in text and "trials to criterion" in text
    for name in (
        "config.json",
        "metrics.jsonl",
        "checkpoint.npz",
        "summary.json",
        "dnms_rewards.png",
        "dnms_traces.png",
    ):
        assert (out / name).is_file(), name
    assert len((out / "metrics.jsonl").read_text().splitlines()) == 3
    resume = [
        "dnms",
        "--groups",
        "5",
        "--networks",
        "2",
        "--no-progress",
        "--out",
        str(out),
        "--resume",
    ]
    assert main(resume) == 0
    assert len((out / "metrics.jsonl").read_text().splitlines()) == 5


@pytest.mark.slow
def test_float64_trains_in_float64_in_a_fresh_process(tmp_path):
    """`--dtype float64` switches on x64 in a process where it is off, so weights are float64."""
    root = Path(__file__).resolve().parents[1]
    env = {
        **os.environ,
        "JAX_PLATFORMS": "cpu",
        "JAX_ENABLE_X64": "0",
        "PYTHONPATH": os.pathsep.join([str(root / "src"), os.environ.get("PYTHONPATH", "")]),
    }
    out = tmp_path / "run64"
    argv = [
        sys.executable,
        "-m",
        "eprop_jax.cli",
        "train",
        "sine_waves",
        "--dtype",
        "float64",
        *SMALL,
        "--eval-interval",
        "0",
        "--no-plots",
        "--out",
        str(out),
    ]
    proc = subprocess.run(argv, env=env, capture_output=True, text=True, timeout=300, check=False)
    assert proc.returncode == 0, proc.stderr[-3000:]
    for name in ("weights_final.npz", "checkpoint.npz"):
        with np.load(out / name, allow_pickle=False) as data:
            floats = [data[k].dtype for k in data.files if data[k].dtype.kind == "f"]
        assert floats and all(d == np.float64 for d in floats), (name, floats)
    assert json.loads((out / "config.json").read_text())["dtype"] == "float64"


def test_interrupt_is_one_line(monkeypatch, capsys):
    from eprop_jax import cli

    def interrupted(args):
        raise KeyboardInterrupt

    monkeypatch.setattr(cli, "_dnms", interrupted)
    assert main(["dnms", "--groups", "2"]) == 130
    assert _one_error_line(capsys) == "eprop-jax dnms: interrupted (continue it with --resume)"
