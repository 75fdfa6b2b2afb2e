"""`keep_freed_memory`: glibc's malloc settings, the opt-out, and what they buy (page faults)."""

import ctypes
import os
import subprocess
import sys
from pathlib import Path

import pytest

from eprop_jax import allocator


def test_opt_out_is_respected(monkeypatch):
    calls = []
    monkeypatch.setattr(allocator, "_glibc", lambda: calls.append(1))
    for value in ("0", "false", "No", " off "):
        monkeypatch.setenv(allocator.ENV_VAR, value)
        assert allocator.keep_freed_memory() is False
    assert calls == []  # mallopt is never reached


def test_no_glibc_does_nothing(monkeypatch):
    monkeypatch.delenv(allocator.ENV_VAR, raising=False)
    monkeypatch.setattr(allocator, "_glibc", lambda: None)
    assert allocator.keep_freed_memory() is False


def test_settings_reach_mallopt(monkeypatch):
    seen = []
    fake = type("FakeGlibc", (), {})()
    fake.mallopt = _Recorder(seen)
    monkeypatch.delenv(allocator.ENV_VAR, raising=False)
    monkeypatch.setattr(allocator, "_glibc", lambda: fake)
    assert allocator.keep_freed_memory() is True
    assert seen == [(-8, 1), (-4, 0), (-1, 2**31 - 1), (-2, 256 * 2**20)]  # <malloc.h> numbers
    seen.clear()
    fake.mallopt = _Recorder(seen, result=0)  # glibc refused a setting
    assert allocator.keep_freed_memory() is False


class _Recorder:
    """A stand-in for a ctypes function: records its calls, returns ``result``."""

    def __init__(self, seen, result=1):
        self.seen, self.result = seen, result

    def __call__(self, param, value):
        self.seen.append((param, value))
        return self.result


FAULTS_OF_A_64_MB_RESULT = """
import resource, sys
from eprop_jax.allocator import keep_freed_memory
kept = keep_freed_memory() if sys.argv[1] == "on" else False
import jax, jax.numpy as jnp
fill = jax.jit(lambda x: jnp.broadcast_to(x, (2**24,)) + 1.0)  # 64 MB of float32
jax.block_until_ready(fill(jnp.float32(0)))  # compile
faults = []
for _ in range(8):
    before = resource.getrusage(resource.RUSAGE_SELF).ru_minflt
    out = jax.block_until_ready(fill(jnp.float32(1)))
    del out
    faults.append(resource.getrusage(resource.RUSAGE_SELF).ru_minflt - before)
print(kept, sorted(faults[4:])[1])  # the first calls may still grow the heap
"""


def _faults_per_call(mode: str) -> tuple[str, int]:
    env = {**os.environ, "PYTHONPATH": str(Path(allocator.__file__).parents[1])}
    env.pop(allocator.ENV_VAR, None)
    proc = subprocess.run(
        [sys.executable, "-c", FAULTS_OF_A_64_MB_RESULT, mode],
        capture_output=True,
        text=True,
        env=env,
        check=True,
    )
    kept, faults = proc.stdout.split()
    return kept, int(faults)


def _huge_pages_by_default() -> bool:
    thp = Path("/sys/kernel/mm/transparent_hugepage/enabled")
    return "[always]" in (thp.read_text() if thp.exists() else "") or "GLIBC_TUNABLES" in os.environ


@pytest.mark.skipif(allocator._glibc() is None, reason="needs glibc")
def test_freed_buffers_are_reused_without_page_faults():
    """A 64 MB result (16,384 pages) freed and allocated again, in a fresh process that calls
    keep_freed_memory before its first JAX computation (as the eprop-jax command does): once
    the heap has grown, it comes back from the heap (under a quarter of its pages fault, in the
    median of the last calls); with glibc's defaults it is mapped anew and every page faults
    (not checked where huge pages are the default: then few faults either way)."""
    pages = 2**24 * 4 // 4096
    kept, faults = _faults_per_call("on")
    assert kept == "True" and faults < pages // 4
    if not _huge_pages_by_default():
        kept, faults = _faults_per_call("off")
        assert kept == "False" and faults >= pages


def test_glibc_is_found_on_linux():
    if not sys.platform.startswith("linux"):
        pytest.skip("Linux only")
    libc = allocator._glibc()
    if libc is None:  # another C library (musl): nothing to set
        assert not hasattr(ctypes.CDLL(None), "gnu_get_libc_version")
    else:
        assert libc.gnu_get_libc_version  # a glibc symbol


def test_only_a_real_command_line_changes_malloc(monkeypatch, capsys):
    """`eprop-jax` (main() reading sys.argv) keeps freed memory; main(argv) called from a
    caller's process (tests, scripts) leaves that process's malloc alone."""
    from eprop_jax import cli

    calls = []
    monkeypatch.setattr(cli, "keep_freed_memory", lambda: calls.append(1))
    assert cli.main(["no-such-command"]) == 2
    assert calls == []
    monkeypatch.setattr(sys, "argv", ["eprop-jax", "no-such-command"])
    assert cli.main() == 2
    assert calls == [1]
    capsys.readouterr()
