"""scripts/gpu_check.py on CPU: the dry-run plan, the refusal without a GPU, and its plumbing."""

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest

from eprop_jax import bench
from eprop_jax.cli import build_parser

from helpers import load_script

ROOT = Path(__file__).resolve().parents[1]
SCRIPT = ROOT / "scripts" / "gpu_check.py"
ENV = {
    **os.environ,
    "JAX_PLATFORMS": "cpu",
    "PYTHONPATH": os.pathsep.join([str(ROOT / "src"), os.environ.get("PYTHONPATH", "")]),
}


def test_dry_run_prints_a_plan_within_eight_minutes(tmp_path):
    proc = subprocess.run(
        [sys.executable, str(SCRIPT), "--out", str(tmp_path), "--dry-run"],
        env=ENV,
        capture_output=True,
        text=True,
        timeout=120,
        check=False,
    )
    assert proc.returncode == 0, proc.stderr[-3000:]
    plan = json.loads(proc.stdout.strip().splitlines()[-1])
    parts = {p["part"]: p for p in plan["parts"]}
    assert list(parts) == [
        "tests",
        "bench:evidence_accumulation",
        "bench:large",
        "bench:gpu_large",
        "train",
    ]
    assert sum(p["budget_s"] for p in plan["parts"]) <= plan["total_budget_s"] <= 480
    assert all(p["budget_s"] > 0 for p in plan["parts"])
    assert not any(tmp_path.iterdir())  # a dry run writes nothing
    # The tests run on the GPU only, on files that exist, including the lean-BPTT identity.
    tests = parts["tests"]
    assert tests["env"] == {"JAX_PLATFORMS": "cuda"}
    files = [a for a in tests["command"] if a.startswith("tests/")]
    assert "tests/test_bench_reference.py" in files and "tests/test_rules.py" in files
    assert all((ROOT / f).is_file() for f in files)
    # The bench commands name sizes and methods the bench knows; gpu_large is bigger than large.
    for name in ("evidence_accumulation", "large", "gpu_large"):
        cmd = parts[f"bench:{name}"]["command"]
        assert cmd[cmd.index("--sizes") + 1] == name
        assert set(cmd[cmd.index("--methods") + 1 :]) <= set(bench.METHODS)
    assert bench.SIZES["gpu_large"]["n_rec"] > bench.SIZES["large"]["n_rec"]
    # The training command parses with the CLI's own parser: 100 iterations of the task.
    train = parts["train"]["command"]
    args = build_parser().parse_args(train[train.index("train") :])
    assert (args.task, args.iterations) == ("evidence_accumulation", 100)


def test_without_a_gpu_it_exits_with_one_line(tmp_path):
    proc = subprocess.run(
        [sys.executable, str(SCRIPT), "--out", str(tmp_path / "o")],
        env=ENV,
        capture_output=True,
        text=True,
        timeout=120,
        check=False,
    )
    assert proc.returncode == 2
    assert proc.stderr.strip() == (
        "gpu_check: no GPU visible to JAX (backend 'cpu'); run it on a GPU machine, "
        "or use --dry-run to see the plan."
    )
    assert not (tmp_path / "o").exists()


@pytest.mark.slow
def test_a_part_over_budget_is_killed_with_its_children_and_keeps_its_output(tmp_path):
    gpu_check = load_script("gpu_check")
    marker = tmp_path / "child_alive"
    child = f"import time, pathlib; time.sleep(3); pathlib.Path({str(marker)!r}).write_text('x')"
    code = (
        "import json, subprocess, sys, time; print(json.dumps({'method': 'a'}), flush=True); "
        f"subprocess.Popen([sys.executable, '-c', {child!r}]); time.sleep(30)"
    )
    part = {
        "part": "bench:quick",
        "command": [sys.executable, "-c", code],
        "env": {},
        "budget_s": 2,
    }
    result = gpu_check.run_part(part, 2)
    assert result["timed_out"] and result["wall_s"] < 10
    record = gpu_check.summarise(result, tmp_path)
    assert record["ok"] is False and record["rows"] == [{"method": "a"}]
    subprocess.run([sys.executable, "-c", "import time; time.sleep(4)"], check=True)
    assert not marker.exists()  # the grandchild died with the process group


def test_junit_counts_reads_totals_and_failures(tmp_path):
    gpu_check = load_script("gpu_check")
    xml = tmp_path / "junit.xml"
    xml.write_text(
        '<testsuites><testsuite name="pytest" tests="3" failures="1" errors="0" skipped="1" '
        'time="1.5"><testcase classname="tests.test_rules" name="test_a"/>'
        '<testcase classname="tests.test_rules" name="test_b"><failure message="x"/></testcase>'
        '<testcase classname="tests.test_rules" name="test_c"><skipped/></testcase>'
        "</testsuite></testsuites>"
    )
    counts = gpu_check.junit_counts(xml)
    assert counts == {
        "tests": 3,
        "failures": 1,
        "errors": 0,
        "skipped": 1,
        "time_s": 1.5,
        "failed": ["tests.test_rules::test_b"],
    }
    assert gpu_check.junit_counts(tmp_path / "missing.xml") == {}
