"""The command line: train writes every file and figure, plot redraws, compare prints, errors."""

import json
import re

import jax
import pytest

from eprop_jax.cli import build_parser, main


@pytest.fixture(autouse=True)
def standard_promotion():
    with jax.numpy_dtype_promotion("standard"):
        yield


SMALL = ["--iterations", "3", "--n-rec", "12", "--eval-interval", "2", "--no-progress",
         "--task-option", "duration=100", "--task-option", "n_in=10"]  # fmt: skip


def test_train_writes_metrics_checkpoint_and_figures(tmp_path, capsys):
    out = tmp_path / "run"
    assert main(["train", "infinite_loop", *SMALL, "--out", str(out)]) == 0
    text = capsys.readouterr().out
    assert "done: 3 iterations" in text and "figures:" in text
    names = {p.name for p in out.iterdir()}
    assert {"config.json", "metrics.jsonl", "checkpoint.npz", "learning_curve.png",
            "snapshot_first.png", "snapshot_last.png", "readout_first.png",
            "readout_last.png", "weights.png"} <= names  # fmt: skip
    lines = (out / "metrics.jsonl").read_text().splitlines()
    assert [json.loads(x)["iteration"] for x in lines] == [0, 1, 2]
    for png in out.glob("*.png"):
        assert png.read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"
    (out / "weights.png").unlink()
    assert main(["plot", str(out)]) == 0
    assert (out / "weights.png").exists()


def test_train_resume_extends_a_run(tmp_path):
    out = str(tmp_path / "run")
    assert main(["train", "sine_waves", *SMALL, "--out", out, "--no-plots"]) == 0
    args = ["train", "sine_waves", *SMALL, "--out", out, "--no-plots", "--resume"]
    args[args.index("--iterations") + 1] = "5"
    assert main(args) == 0
    lines = (tmp_path / "run" / "metrics.jsonl").read_text().splitlines()
    assert [json.loads(x)["iteration"] for x in lines] == [0, 1, 2, 3, 4]


def test_compare_prints_alignment_json(capsys):
    args = ["compare", "evidence_accumulation", "--batches", "1", "--batch-size", "2",
            "--n-rec", "10", "--json"]  # fmt: skip
    assert main(args) == 0
    result = json.loads(capsys.readouterr().out)
    table = result["alignment"]
    assert set(table) == {"eprop/symmetric", "eprop/random", "eprop/adaptive",
                          "eprop-autodiff/symmetric", "tbptt/K=20"}  # fmt: skip
    assert table["eprop/random"]["w_out"]["cosine"] == pytest.approx(1.0, abs=1e-5)
    assert table["eprop/symmetric"]["w_rec"]["cosine"] == pytest.approx(
        table["eprop-autodiff/symmetric"]["w_rec"]["cosine"], abs=1e-4
    )
    assert table["eprop/symmetric"]["w_rec"]["cosine_std"] == 0.0  # one batch


def test_train_tbptt_then_compare_at_the_trained_weights(tmp_path, capsys):
    out = tmp_path / "run"
    args = ["train", "evidence_accumulation", "--rule", "tbptt", "--rule-option", "truncation=25",
            "--iterations", "2", "--batch-size", "2", "--n-rec", "10", "--eval-interval", "0",
            "--no-progress", "--no-plots", "--out", str(out)]  # fmt: skip
    assert main(args) == 0
    config = json.loads((out / "config.json").read_text())
    assert config["rule"] == "tbptt" and config["rule_options"] == {"truncation": 25}
    assert config["feedback"] == "symmetric"
    capsys.readouterr()
    args = ["compare", "--run", str(out), "--batches", "2", "--batch-size", "2",
            "--truncation", "5", "--truncation", "2250", "--rule", "eprop_jax.rules:bptt", "--json"]  # fmt: skip
    assert main(args) == 0
    result = json.loads(capsys.readouterr().out)
    assert result["task"] == "evidence_accumulation" and "after 2 iterations" in result["weights"]
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
    for option in ("--rule", "--feedback", "--iterations", "--batch-size", "--seed", "--out",
                   "--resume", "--weight-bounds", "--c-reg", "--target-error", "--n-alif"):  # fmt: skip
        assert option in text


def test_bad_arguments_give_clear_errors(tmp_path, capsys):
    assert main(["train", "sine_waves", "--iterations", "0", "--out", str(tmp_path)]) == 2
    assert re.search(r"iterations must be an integer >= 1; got 0", capsys.readouterr().err)
    with pytest.raises(SystemExit):
        main(["train", "xor"])
    assert "invalid choice: 'xor'" in capsys.readouterr().err
    assert main(["plot", str(tmp_path / "nothing")]) == 2
    assert "is this a training output directory?" in capsys.readouterr().err


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


def test_train_nest_compatible_runs_the_nest_tutorial(tmp_path, capsys):
    out = tmp_path / "nest"
    args = ["train", "sine_waves", "--nest-compatible", "--iterations", "3", "--no-progress",
            "--out", str(out)]  # fmt: skip
    assert main(args) == 0
    assert "done: 3 iterations in NEST mode" in capsys.readouterr().out
    metrics = [json.loads(line) for line in (out / "metrics.jsonl").read_text().splitlines()]
    assert [m["iteration"] for m in metrics] == [1, 2, 3]
    assert all(m["loss"] > 0 for m in metrics)
    for name in ("config.json", "summary.json", "weights_final.npz", "learning_curve.png"):
        assert (out / name).is_file(), name


def test_nest_compatible_refuses_options_it_cannot_honour(tmp_path, capsys):
    args = ["train", "sine_waves", "--nest-compatible", "--rule", "bptt", "--n-rec", "5",
            "--out", str(tmp_path)]  # fmt: skip
    assert main(args) == 2
    err = capsys.readouterr().err
    assert "--nest-compatible runs NEST's tutorial with its own parameters" in err
    assert "--rule" in err and "n_rec" in err


def test_train_dnms_writes_metrics_checkpoint_and_figures(tmp_path, capsys):
    out = tmp_path / "dnms"
    args = ["train", "dnms", "--iterations", "3", "--networks", "2", "--no-progress",
            "--out", str(out)]  # fmt: skip
    assert main(args) == 0
    text = capsys.readouterr().out
    assert "done: 3 groups x 2 network(s)" in text and "trials to criterion" in text
    for name in ("config.json", "metrics.jsonl", "checkpoint.npz", "summary.json",
                 "dnms_rewards.png", "dnms_traces.png"):  # fmt: skip
        assert (out / name).is_file(), name
    assert len((out / "metrics.jsonl").read_text().splitlines()) >= 3
    assert main(["train", "dnms", "--rule", "bptt", "--out", str(out)]) == 2
    assert "dnms trains Miconi's rate network" in capsys.readouterr().err
