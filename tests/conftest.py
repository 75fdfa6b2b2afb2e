"""Test configuration: float64 available, strict dtype promotion, seeded keys that print."""

import random

import jax
import pytest

jax.config.update("jax_enable_x64", True)
jax.config.update("jax_numpy_dtype_promotion", "strict")


@pytest.fixture
def getkey():
    """Return a function that hands out fresh keys from a seed printed on failure."""
    seed = random.randrange(2**31)
    print(f"getkey seed: {seed}")
    key = jax.random.key(seed)

    def next_key():
        nonlocal key
        key, sub = jax.random.split(key)
        return sub

    return next_key
