"""GPU check: exactness tests on the GPU, the benchmark, 100 training iterations; one JSON file.

    python scripts/gpu_check.py --out gpu_out            # on a machine with a GPU (~8 minutes)
    python scripts/gpu_check.py --out gpu_out --dry-run  # print the plan as JSON (works on CPU)

Three parts, each a subprocess with its own time budget (the budgets add up to less than
``TOTAL_BUDGET_S`` = 8 minutes; a part that overruns is killed with its whole process group and
recorded as timed out, and what it printed so far is kept):

1. ``tests``: pytest on the exactness test files (float64 gradient identities) with
   ``JAX_PLATFORMS=cuda``, so that a test cannot fall back to the CPU; counts from its JUnit XML.
2. ``bench``: ``python -m eprop_jax.bench`` at the ``evidence_accumulation`` and ``large`` sizes
   and at ``gpu_large`` (n_rec 2048, only sensible on a GPU), methods ``forward``, ``bptt``,
   ``bptt-lean``, ``eprop`` and ``eprop-factored``: every JSON row it prints (times, ratios to
   ``bptt`` and ``bptt-lean``, online e-prop's roofline against a stream kernel).
3. ``train``: ``eprop-jax train evidence_accumulation --iterations 100`` (online e-prop, random
   feedback, the task preset), its summary and its last metrics.

Everything goes into ``OUT/gpu_check.json`` (written again after each part, so a killed run
still leaves the parts it finished); the training run folder is ``OUT/train``. Without a GPU (and
without ``--dry-run``) the script exits with status 2 and one line saying so.
"""

from __future__ import annotations

import argparse
import json
import os
import signal
import subprocess
import sys
import time
import xml.etree.ElementTree as ET
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
TOTAL_BUDGET_S = 480
TEST_FILES = (
    "tests/test_neurons.py",
    "tests/test_rules.py",
    "tests/test_eligibility.py",
    "tests/test_eprop_factored.py",
    "tests/test_truncated_bptt.py",
    "tests/test_bench_reference.py",
)
BENCH_METHODS = ("forward", "bptt", "bptt-lean", "eprop", "eprop-factored")
# size: (budget in seconds, timed calls per measurement); every method runs in a fresh process
BENCH_SIZES = {"evidence_accumulation": (75, 5), "large": (75, 5), "gpu_large": (100, 3)}
TEST_BUDGET_S = 120
TRAIN_BUDGET_S = 90
TRAIN_ITERATIONS = 100


def plan(out: Path) -> list[dict]:
    """The parts of the check: name, command, environment additions and time budget (s)."""
    python = sys.executable
    parts = [
        {
            "part": "tests",
            "command": [
                python,
                "-m",
                "pytest",
                "-q",
                "-m",
                "not slow",
                "-p",
                "no:cacheprovider",
                f"--junitxml={out / 'junit.xml'}",
                *[f for f in TEST_FILES if (ROOT / f).is_file()],
            ],
            "env": {"JAX_PLATFORMS": "cuda"},
            "budget_s": TEST_BUDGET_S,
        }
    ]
    for size, (budget, reps) in BENCH_SIZES.items():
        parts.append(
            {
                "part": f"bench:{size}",
                "command": [
                    python,
                    "-m",
                    "eprop_jax.bench",
                    "--sizes",
                    size,
                    "--reps",
                    str(reps),
                    "--methods",
                    *BENCH_METHODS,
                ],
                "env": {},
                "budget_s": budget,
            }
        )
    parts.append(
        {
            "part": "train",
            "command": [
                python,
                "-m",
                "eprop_jax.cli",
                "train",
                "evidence_accumulation",
                "--iterations",
                str(TRAIN_ITERATIONS),
                "--no-progress",
                "--no-plots",
                "--out",
                str(out / "train"),
            ],
            "env": {},
            "budget_s": TRAIN_BUDGET_S,
        }
    )
    total = sum(p["budget_s"] for p in parts)
    if total > TOTAL_BUDGET_S:  # a programming error, caught by the dry-run test
        raise ValueError(f"`gpu_check`: the budgets add up to {total} s > {TOTAL_BUDGET_S} s.")
    return parts


def run_part(part: dict, budget_s: float) -> dict:
    """Run one part in its own process group; kill the group when the budget is spent."""
    env = {**os.environ, **part["env"], "PYTHONUNBUFFERED": "1"}
    src = str(ROOT / "src")
    env["PYTHONPATH"] = os.pathsep.join(filter(None, [src, os.environ.get("PYTHONPATH")]))
    start = time.perf_counter()
    proc = subprocess.Popen(
        part["command"],
        cwd=ROOT,
        env=env,
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
        start_new_session=True,
    )
    timed_out = False
    try:
        stdout, stderr = proc.communicate(timeout=budget_s)
    except subprocess.TimeoutExpired:
        timed_out = True
        os.killpg(proc.pid, signal.SIGKILL)
        stdout, stderr = proc.communicate()
    return {
        "part": part["part"],
        "command": part["command"],
        "budget_s": budget_s,
        "wall_s": round(time.perf_counter() - start, 2),
        "returncode": proc.returncode,
        "timed_out": timed_out,
        "stdout": stdout,
        "stderr_tail": stderr[-3000:],
    }


def json_lines(text: str) -> list[dict]:
    """The lines of ``text`` that are JSON objects (the bench prints one per measurement)."""
    rows = []
    for line in text.splitlines():
        line = line.strip()
        if line.startswith("{"):
            try:
                rows.append(json.loads(line))
            except json.JSONDecodeError:
                continue
    return rows


def junit_counts(path: Path) -> dict:
    """Totals of a pytest JUnit XML file (tests, failures, errors, skipped, time)."""
    if not path.is_file():
        return {}
    root = ET.parse(path).getroot()
    suite = root if root.tag == "testsuite" else root.find("testsuite")
    if suite is None:
        return {}
    counts = {k: int(suite.get(k, 0)) for k in ("tests", "failures", "errors", "skipped")}
    failed = [
        f"{case.get('classname')}::{case.get('name')}"
        for case in suite.iter("testcase")
        if case.find("failure") is not None or case.find("error") is not None
    ]
    return {**counts, "time_s": float(suite.get("time", 0)), "failed": failed}


def summarise(result: dict, out: Path) -> dict:
    """Turn a part's raw output into its record in the JSON file."""
    record = {k: result[k] for k in ("part", "budget_s", "wall_s", "returncode", "timed_out")}
    record["ok"] = result["returncode"] == 0 and not result["timed_out"]
    if result["part"] == "tests":
        record["pytest"] = junit_counts(out / "junit.xml")
        record["stdout_tail"] = result["stdout"][-2000:]
    elif result["part"].startswith("bench:"):
        record["rows"] = json_lines(result["stdout"])
    else:
        train_dir = out / "train"
        summary = train_dir / "summary.json"
        record["summary"] = json.loads(summary.read_text()) if summary.is_file() else None
        metrics = train_dir / "metrics.jsonl"
        lines = metrics.read_text().splitlines() if metrics.is_file() else []
        record["iterations_logged"] = len(lines)
        record["last_metrics"] = json.loads(lines[-1]) if lines else None
        record["stdout_tail"] = result["stdout"][-2000:]
    if not record["ok"]:
        record["stderr_tail"] = result["stderr_tail"]
    return record


PROBE = """import json, platform, jax
print(json.dumps({"jax": jax.__version__, "backend": jax.default_backend(),
                  "devices": [f"{d.platform}:{d.device_kind}" for d in jax.devices()],
                  "python": platform.python_version(), "machine": platform.machine()}))"""


def environment() -> dict:
    """Versions and the devices JAX sees, asked in a subprocess: this process never starts JAX,
    so it holds no GPU memory while the parts run."""
    proc = subprocess.run(
        [sys.executable, "-c", PROBE], capture_output=True, text=True, timeout=120, check=False
    )
    rows = json_lines(proc.stdout)
    if not rows:
        return {"backend": "unknown", "error": proc.stderr.strip().splitlines()[-1:]}
    return rows[-1]


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--out", type=Path, required=True, help="folder for gpu_check.json")
    parser.add_argument(
        "--dry-run",
        action="store_true",
        help="print the plan (commands, sizes, budgets) as JSON; run nothing",
    )
    args = parser.parse_args(argv)
    out = args.out.resolve()
    parts = plan(out)
    if args.dry_run:
        print(
            json.dumps(
                {
                    "out": str(out / "gpu_check.json"),
                    "total_budget_s": TOTAL_BUDGET_S,
                    "bench_sizes": list(BENCH_SIZES),
                    "bench_methods": list(BENCH_METHODS),
                    "train_iterations": TRAIN_ITERATIONS,
                    "parts": parts,
                }
            )
        )
        return 0
    deadline = time.perf_counter() + TOTAL_BUDGET_S
    env = environment()
    if env["backend"] != "gpu":
        print(
            f"gpu_check: no GPU visible to JAX (backend {env['backend']!r}); "
            "run it on a GPU machine, or use --dry-run to see the plan.",
            file=sys.stderr,
        )
        return 2
    out.mkdir(parents=True, exist_ok=True)
    report = {"environment": env, "total_budget_s": TOTAL_BUDGET_S, "parts": []}
    for part in parts:
        budget = min(part["budget_s"], deadline - time.perf_counter())
        if budget < 5:
            report["parts"].append({"part": part["part"], "skipped": "no time left"})
            continue
        record = summarise(run_part(part, budget), out)
        report["parts"].append(record)
        print(json.dumps({k: record[k] for k in ("part", "ok", "wall_s", "timed_out")}), flush=True)
        (out / "gpu_check.json").write_text(json.dumps(report, indent=1))
    (out / "gpu_check.json").write_text(json.dumps(report, indent=1))
    ok = all(p.get("ok") for p in report["parts"])
    print(
        f"gpu_check: {'all parts passed' if ok else 'some parts failed'}; "
        f"results in {out / 'gpu_check.json'}"
    )
    return 0 if ok else 1


if __name__ == "__main__":
    raise SystemExit(main())
