"""Test configuration: float64 available, strict dtype promotion, deterministic seeded keys.

Every test that draws random numbers takes them from the ``getkey`` fixture, whose seed is derived
from the test's own name (its pytest node id), so a run is the same on every machine and every
time. To try other draws, set ``EPROP_TEST_SEED`` to any integer: each test's seed is then mixed
with it (``EPROP_TEST_SEED=0``, the default, gives the committed seeds). The seed in use is printed,
so a failure can be reproduced with the same ``EPROP_TEST_SEED``.

Fast and full suites: ``pytest`` runs everything (CI and the README's test command do).
``pytest -m "not slow"`` is the quick loop while editing: it leaves out the tests marked
``@pytest.mark.slow`` (learning runs, notebooks, subprocess and end-to-end runs) and, of a
parametrised randomised test (the exactness tables: tests that draw from ``getkey`` or take a
``model``), keeps one parameter set per neuron model (the last one listed, the richest:
mixed populations, refractoriness, regularisation); the other combinations are marked slow here.
"""

import gc
import os
import zlib

import jax
import pytest

jax.config.update("jax_enable_x64", True)
jax.config.update("jax_numpy_dtype_promotion", "strict")

BASE_SEED_VARIABLE = "EPROP_TEST_SEED"


def _base_seed() -> int:
    text = os.environ.get(BASE_SEED_VARIABLE, "0")
    try:
        return int(text)
    except ValueError:
        raise pytest.UsageError(f"{BASE_SEED_VARIABLE} must be an integer; got {text!r}.") from None


def name_seed(node_id: str, base: int) -> int:
    """The seed of one test: a CRC-32 of its node id, mixed with the base seed."""
    return (zlib.crc32(node_id.encode()) ^ (base * 0x9E3779B1)) % 2**31


@pytest.fixture
def getkey(request):
    """Return a function that hands out fresh keys from the test's name-derived seed."""
    base = _base_seed()
    seed = name_seed(request.node.nodeid, base)
    print(f"getkey seed: {seed} ({BASE_SEED_VARIABLE}={base}, {request.node.nodeid})")
    key = jax.random.key(seed)

    def next_key():
        nonlocal key
        key, sub = jax.random.split(key)
        return sub

    return next_key


@pytest.fixture(autouse=True, scope="module")
def _release_compiled_programs():
    """Drop JAX's compiled programs after each test module.

    Every compiled XLA:CPU program keeps memory mappings alive; a whole suite in one process would
    otherwise approach the kernel's limit on mappings (``vm.max_map_count``, 65530 by default),
    where compilation crashes.
    """
    yield
    jax.clear_caches()
    gc.collect()


def pytest_collection_modifyitems(config, items):
    """Of a parametrised randomised test (one that draws from ``getkey`` or takes a ``model``),
    mark every parameter set but the last per neuron model as slow."""
    last = {}
    for item in items:
        callspec = getattr(item, "callspec", None)
        if callspec is None or not ("getkey" in item.fixturenames or "model" in callspec.params):
            continue
        owner = (item.module.__name__, item.cls.__name__ if item.cls else None, item.originalname)
        last[(*owner, callspec.params.get("model"))] = item
    keep = {id(item) for item in last.values()}
    for item in items:
        callspec = getattr(item, "callspec", None)
        if callspec is None or not ("getkey" in item.fixturenames or "model" in callspec.params):
            continue
        if id(item) not in keep:
            item.add_marker(pytest.mark.slow)
