"""`keep_freed_memory`: glibc's malloc settings, the opt-out, and what they buy (page faults)."""

import ctypes
import resource
import sys

import jax
import jax.numpy as jnp
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


@pytest.mark.skipif(allocator._glibc() is None, reason="needs glibc")
def test_freed_buffers_are_reused_without_page_faults(monkeypatch):
    """A 64 MB result freed and allocated again: with the settings, the second allocation
    comes back from the heap (far fewer minor faults than its 16,384 pages)."""
    monkeypatch.delenv(allocator.ENV_VAR, raising=False)
    assert allocator.keep_freed_memory() is True
    assert sys.platform.startswith("linux")
    fill = jax.jit(lambda x: jnp.broadcast_to(x, (2**24,)) + 1.0)  # 64 MB of float32
    jax.block_until_ready(fill(jnp.float32(0)))  # compile; heap grows to hold it

    def faults_of_one_call():
        before = resource.getrusage(resource.RUSAGE_SELF).ru_minflt
        out = jax.block_until_ready(fill(jnp.float32(1)))
        del out
        return resource.getrusage(resource.RUSAGE_SELF).ru_minflt - before

    faults_of_one_call()
    assert faults_of_one_call() < 2**24 * 4 // 4096 // 4  # under a quarter of the pages


def test_glibc_is_found_on_linux():
    if not sys.platform.startswith("linux"):
        pytest.skip("Linux only")
    libc = allocator._glibc()
    if libc is None:  # another C library (musl): nothing to set
        assert not hasattr(ctypes.CDLL(None), "gnu_get_libc_version")
    else:
        assert libc.gnu_get_libc_version  # a glibc symbol
