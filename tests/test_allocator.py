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
jax.block_until_ready(fill(jnp.float32(0)))  # compile; the heap grows to hold the result
faults = []
for _ in range(3):
    before = resource.getrusage(resource.RUSAGE_SELF).ru_minflt
    out = jax.block_until_ready(fill(jnp.float32(1)))
    del out
    faults.append(resource.getrusage(resource.RUSAGE_SELF).ru_minflt - before)
print(kept, min(faults[1:]))
"""


@pytest.mark.skipif(allocator._glibc() is None, reason="needs glibc")
@pytest.mark.parametrize("mode", ["on", "off"])
def test_freed_buffers_are_reused_without_page_faults(mode):
    """A 64 MB result (16,384 pages) freed and allocated again, in a fresh process that calls
    keep_freed_memory before its first JAX computation (as the eprop-jax command does): with
    the settings it comes back from the heap (under a quarter of its pages fault); without,
    glibc maps it anew and every page faults."""
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
    pages = 2**24 * 4 // 4096
    if mode == "on":
        assert kept == "True" and int(faults) < pages // 4
    else:
        assert kept == "False" and int(faults) >= pages  # the defaults: every page again


def test_glibc_is_found_on_linux():
    if not sys.platform.startswith("linux"):
        pytest.skip("Linux only")
    libc = allocator._glibc()
    if libc is None:  # another C library (musl): nothing to set
        assert not hasattr(ctypes.CDLL(None), "gnu_get_libc_version")
    else:
        assert libc.gnu_get_libc_version  # a glibc symbol
