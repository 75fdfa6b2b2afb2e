"""scripts/train_gpu.py: the batch-size rule and the plan it prints (CPU, forced host devices)."""

import json
import os
import subprocess
import sys
from pathlib import Path

from helpers import load_script

ROOT = Path(__file__).resolve().parents[1]
SCRIPT = ROOT / "scripts" / "train_gpu.py"


def test_auto_batch_size_fills_half_the_memory_in_powers_of_two():
    gpu = load_script("train_gpu")
    per_trial = gpu.bytes_per_trial("eprop-factored", 2250, 40, 100)
    assert per_trial == 2250 * (40 + 800) * 4
    # 80 GB: capped by max_batch; 1 GB: 2**k * 7.56 MB <= 0.5 GB gives k = 6.
    assert gpu.auto_batch_size(per_trial, 80 * 10**9, 1, 64, 1024) == 1024
    assert gpu.auto_batch_size(per_trial, 10**9, 1, 64, 1024) == 64
    assert gpu.auto_batch_size(per_trial, 10**9, 4, 64, 1024) == 256  # per device, times 4
    assert gpu.auto_batch_size(per_trial, None, 4, 30, 1024) == 28  # CPU: preset, divisible
    # Online e-prop's working set does not depend on T.
    assert gpu.bytes_per_trial("eprop", 2250, 40, 100) == gpu.bytes_per_trial("eprop", 9, 40, 100)


def test_dry_run_plans_data_parallel_training_over_all_devices():
    env = {
        **os.environ,
        "XLA_FLAGS": "--xla_force_host_platform_device_count=4",
        "JAX_PLATFORMS": "cpu",
        "PYTHONPATH": os.pathsep.join([str(ROOT / "src"), os.environ.get("PYTHONPATH", "")]),
    }
    proc = subprocess.run(
        [sys.executable, str(SCRIPT), "sine_waves", "--dry-run"],
        env=env,
        capture_output=True,
        text=True,
        timeout=300,
        check=False,
    )
    assert proc.returncode == 0, proc.stderr[-3000:]
    plan = json.loads(proc.stdout.strip().splitlines()[-1])
    assert plan["devices"] == 4 and plan["data_parallel"] is True
    assert plan["batch_size"] % 4 == 0 and plan["batch_size"] >= 4
    assert plan["platform"] == "cpu" and plan["dtype"] == "float32"
