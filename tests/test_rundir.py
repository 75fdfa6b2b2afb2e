"""Run folders: lock, no accidental overwrite, atomic checkpoints, readable errors."""

import json
import os
import re
import subprocess
import sys
import textwrap
from pathlib import Path

import numpy as np
import pytest

from eprop_jax import rundir
from eprop_jax.rundir import RunDirError, RunDirWarning, open_run

ROOT = Path(__file__).resolve().parents[1]


def _env():
    paths = [str(ROOT / "src"), os.environ.get("PYTHONPATH", "")]
    return {**os.environ, "PYTHONPATH": os.pathsep.join(paths), "JAX_PLATFORMS": "cpu"}


def test_a_second_writer_is_refused_naming_folder_and_pid(tmp_path):
    with open_run(tmp_path, "spiking", {"a": 1}, api="train") as run:
        run.write_config({"a": 1})
        message = f"`train`: {tmp_path} is in use by another process (pid {os.getpid()}); wait"
        with pytest.raises(RunDirError, match=re.escape(message)):
            open_run(tmp_path, "spiking", {"a": 1}, resume=True, api="train")
    # Released on close: resuming now works.
    open_run(tmp_path, "spiking", {"a": 1}, resume=True, api="train").close()


@pytest.mark.slow
def test_two_processes_on_one_folder_end_with_one_clear_refusal(tmp_path):
    script = textwrap.dedent(f"""
        import sys, time
        from eprop_jax.rundir import RunDirError, open_run
        try:
            run = open_run({str(tmp_path / "run")!r}, "spiking", {{"a": 1}}, api="train")
        except RunDirError as err:
            print(err, file=sys.stderr)
            sys.exit(2)
        run.write_config({{"a": 1}})
        run.start_metrics([])
        for i in range(20):
            run.append_metrics([{{"iteration": i}}])
            time.sleep(0.1)
        run.close()
    """)
    procs = [
        subprocess.Popen(
            [sys.executable, "-c", script],
            env=_env(),
            text=True,
            stdout=subprocess.PIPE,
            stderr=subprocess.PIPE,
        )
        for _ in range(2)
    ]
    results = [(p.wait(timeout=120), p.stderr.read()) for p in procs]
    for p in procs:
        p.stdout.close()
        p.stderr.close()
    codes = sorted(code for code, _ in results)
    assert codes == [0, 2], results
    refusal = next(err for code, err in results if code == 2).strip()
    assert len(refusal.splitlines()) == 1 and "Traceback" not in refusal
    assert ("is in use by another process (pid " in refusal) or ("already holds a run" in refusal)
    lines = (tmp_path / "run" / "metrics.jsonl").read_text().splitlines()
    assert [json.loads(x)["iteration"] for x in lines] == list(range(20))


def test_checkpoints_rotate_and_never_hold_nan(tmp_path):
    with open_run(tmp_path, "dnms", {}, api="train_dnms") as run:
        run.save_checkpoint({"w": np.ones(3), "group": np.asarray(1)})
        run.save_checkpoint({"w": np.full(3, 2.0), "group": np.asarray(2)})
        with pytest.raises(
            RunDirError, match=re.escape("refusing to write a checkpoint holding NaN/inf (in w)")
        ):
            run.save_checkpoint({"w": np.array([1.0, np.nan, 3.0]), "group": np.asarray(3)})
        assert int(run.load_checkpoint()["group"]) == 2
        assert not list(tmp_path.glob(".tmp-*"))
        # A damaged newest checkpoint: the previous one, with a one-line warning.
        (tmp_path / "checkpoint.npz").write_bytes(b"\x00" * 10)
        with pytest.warns(
            RunDirWarning, match=r"cannot read .*checkpoint.npz: not a valid .npz file"
        ):
            assert int(run.load_checkpoint()["group"]) == 1


def test_load_npz_errors_are_one_line_and_never_advise_pickle(tmp_path):
    objects = tmp_path / "objects.npz"
    np.savez(objects, a=np.array([{"x": 1}], dtype=object))
    with pytest.raises(RunDirError) as info:
        rundir.load_npz(objects, "load_checkpoint")
    assert str(info.value) == (
        f"`load_checkpoint`: cannot read {objects}: it holds Python objects (damaged or truncated)."
    )
    empty = tmp_path / "empty.npz"
    empty.write_bytes(b"")
    with pytest.raises(RunDirError, match=re.escape(f"cannot read {empty}")) as info:
        rundir.load_npz(empty)
    assert "pickle" not in str(info.value) and "\n" not in str(info.value)
    bare = tmp_path / "bare.npy"
    np.save(bare, np.ones(2))
    with pytest.raises(RunDirError, match=re.escape("not a valid .npz file")):
        rundir.load_npz(bare)
    with pytest.raises(RunDirError, match=re.escape("does not exist")):
        rundir.load_npz(tmp_path / "missing.npz")


def test_truncated_last_metrics_line_is_dropped_with_a_warning(tmp_path):
    path = tmp_path / "metrics.jsonl"
    path.write_text('{"iteration": 0}\n{"iteration": 1}\n{"itera')
    with pytest.warns(RunDirWarning, match=re.escape("dropped the truncated last line 3")):
        assert rundir.read_metrics(path) == [{"iteration": 0}, {"iteration": 1}]
    path.write_text('{"iteration": 0}\n{"itera\n{"iteration": 2}\n')
    with pytest.raises(RunDirError, match=re.escape("line 2 is not JSON; the file is damaged")):
        rundir.read_metrics(path)


def test_refusals_and_overwrite(tmp_path):
    with open_run(tmp_path, "spiking", {"task": "a", "iterations": 3}) as run:
        run.write_config({"task": "a", "iterations": 3})
        run.start_metrics([{"iteration": 0}])
    (tmp_path / "learning_curve.png").write_bytes(b"old")
    (tmp_path / "notes.txt").write_text("mine")
    with pytest.raises(
        RunDirError, match=re.escape("already holds a run (config.json, metrics.jsonl)")
    ):
        open_run(tmp_path, "spiking", {"task": "a", "iterations": 3})
    with pytest.raises(
        RunDirError,
        match=re.escape(
            'the configuration differs in task: saved "a", now "b". Only iterations may change.'
        ),
    ):
        open_run(
            tmp_path,
            "spiking",
            {"task": "b", "iterations": 5},
            resume=True,
            may_change=["iterations"],
        )
    with pytest.raises(RunDirError, match=re.escape("holds a spiking run, not a nest run")):
        open_run(tmp_path, "nest", {}, resume=True)
    open_run(
        tmp_path, "spiking", {"task": "a", "iterations": 5}, resume=True, may_change=["iterations"]
    ).close()
    open_run(tmp_path, "nest", {}, overwrite=True).close()
    assert sorted(p.name for p in tmp_path.iterdir()) == [".lock", "notes.txt"]
    with pytest.raises(RunDirError, match=re.escape("nothing to resume in")):
        open_run(tmp_path, "nest", {}, resume=True)
    with pytest.raises(RunDirError, match=re.escape("kind must be one of spiking, nest, dnms")):
        open_run(tmp_path, "other", {})


def test_overwrite_refuses_a_folder_whose_config_is_not_a_run(tmp_path):
    (tmp_path / "config.json").write_text('{"editor.tabSize": 4}')
    (tmp_path / "figure.png").write_bytes(b"not ours")
    message = f"`train`: {tmp_path}/config.json is not the configuration of an eprop-jax run"
    with pytest.raises(RunDirError, match=re.escape(message)):
        open_run(tmp_path, "spiking", {"a": 1}, overwrite=True, api="train")
    assert (tmp_path / "config.json").exists() and (tmp_path / "figure.png").exists()


def test_checkpoint_rotation_keeps_the_newest_under_its_name(tmp_path):
    """The previous checkpoint gets its new name before the newest replaces it, so
    checkpoint.npz exists at every moment after the first write."""
    with open_run(tmp_path, "spiking", {"a": 1}, api="train") as run:
        run.save_checkpoint({"x": np.zeros(2)})
        first = os.stat(tmp_path / "checkpoint.npz").st_ino
        run.save_checkpoint({"x": np.ones(2)})
        assert os.stat(tmp_path / "checkpoint.prev.npz").st_ino == first  # the same file, renamed
        np.testing.assert_array_equal(run.load_checkpoint()["x"], np.ones(2))
    assert not list(tmp_path.glob(".tmp-*"))
