"""NEST 3.10's random draws (``eprop_jax.nest.random``): the engine, the seed sequences, the
normal distribution, and NEST's own recorded ``tau_m`` values."""

import json
import re
from pathlib import Path

import numpy as np
import pytest

from eprop_jax.nest import nest_normal_draws, nest_tutorial
from eprop_jax.nest.random import (
    Mt19937_64,
    NestNormal,
    generate_canonical,
    nest_vp_engine,
    seed_seq_fe128_generate,
    seed_seq_generate,
)

DRAWS = json.loads((Path(__file__).parent / "data" / "nest_tau_m_draws.json").read_text())
RECORDS = DRAWS["records"]


def test_mt19937_64_standard_check_value():
    # C++11 [rand.predef]/6: the 10000th output of a default-constructed mt19937_64.
    assert int(Mt19937_64().next(10000)[-1]) == 9981545732273789042


def test_mt19937_64_blocks_and_integer_seed():
    # Outputs do not depend on how they are requested (block boundaries at 312, 624, ...).
    whole = Mt19937_64(42).next(1000)
    eng = Mt19937_64(42)
    pieces = np.concatenate([eng.next(k) for k in (1, 310, 2, 313, 374)])
    np.testing.assert_array_equal(whole, pieces)
    # std::mt19937_64 e(42); e(), e(), e()  (printed by libstdc++, GCC 12.2)
    assert whole[:3].tolist() == [
        13930160852258120406,
        11788048577503494824,
        13874630024467741450,
    ]


def test_seed_seq_published_example():
    # std::seed_seq{1, 2, 3, 4, 5}.generate into 10 words: the example values published on
    # cppreference (std::seed_seq::generate), also printed by libstdc++ (GCC 12.2).
    expected = [4204997637, 4246533866, 1856049002, 1129615051, 690460811]
    expected += [1075771511, 46783058, 3904109078, 1534123438, 1495905678]
    assert seed_seq_generate([1, 2, 3, 4, 5], 10).tolist() == expected


def test_seed_seq_engine_and_normal_match_libstdcxx():
    # Values printed by a C++ program compiled with GCC 12.2 / libstdc++:
    # std::seed_seq q{1, 0xb84c9bae, 0}; q.generate into 8 and into 624 words;
    # std::mt19937_64 e(q); std::normal_distribution<double> d; d(e) five times.
    assert seed_seq_generate([1, 0xB84C9BAE, 0], 8).tolist() == [
        328844440,
        1792904152,
        2910501240,
        3699708852,
        2422932311,
        4139739737,
        361640316,
        497633967,
    ]
    words = seed_seq_generate([1, 0xB84C9BAE, 0], 624)
    assert [int(words[i]) for i in (0, 311, 623)] == [922710086, 2242502542, 3355932635]
    eng = Mt19937_64(seed_words=words)
    assert eng.next(3).tolist() == [
        8431981434698120660,
        12703513181344950915,
        1332622322479373027,
    ]
    normal = NestNormal(Mt19937_64(seed_words=words))
    got = [normal() for _ in range(5)]
    expected = ["0x1.e6795504c48d6p+0", "-0x1.ba8016aa8c701p-2", "-0x1.b6550e7c420c1p-5"]
    expected += ["-0x1.908a3e3a86173p-1", "0x1.4910c2b75b468p+0"]
    assert got == [float.fromhex(h) for h in expected]


def test_generate_canonical_matches_libstdcxx_and_clamps():
    # std::generate_canonical<double, 53>(e) with std::mt19937_64 e(42), libstdc++ (GCC 12.2).
    expected = ["0x1.82a3befaddcbcp-1", "0x1.472f1f73724ap-1", "0x1.81192cfe1cbcfp-1"]
    assert generate_canonical(Mt19937_64(42), 3).tolist() == [float.fromhex(h) for h in expected]

    class Top:  # an engine whose output rounds up to 2**64 in double
        def next(self, count):
            return np.full(count, 2**64 - 1, np.uint64)

    u = generate_canonical(Top(), 2)
    assert u.tolist() == [np.nextafter(1.0, 0.0)] * 2


def test_polar_method_caches_second_value():
    # The pair's x f is returned on the next call: two values per accepted pair, in the
    # documented order (y f first), consuming two uniforms per attempt.
    eng = Mt19937_64(7)
    normal = NestNormal(Mt19937_64(7))
    first, second = normal(), normal()
    while True:
        u1, u2 = generate_canonical(eng, 2)
        x, y = 2.0 * u1 - 1.0, 2.0 * u2 - 1.0
        r2 = x * x + y * y
        if 0.0 < r2 <= 1.0:
            break
    f = np.sqrt(-2.0 * np.log(r2) / r2)
    np.testing.assert_allclose([first, second], [y * f, x * f], rtol=1e-15)
    assert normal.engine.next(1) == eng.next(1)  # the cached value drew nothing


def test_seed_seq_fe128_against_nest_first_words():
    # NEST's VP-specific engine for rng_seed=1 gives neuron 0 the tau_m 32.02781784560859 ms
    # (NEST 3.10 lemniscate / handwriting tutorial); this pins the whole chain
    # seed_seq_fe128 -> mt19937_64 -> generate_canonical -> polar method.
    words = seed_seq_fe128_generate([1, 0xB84C9BAE, 0], 624)
    assert words.dtype == np.uint32 and words.shape == (624,)
    normal = NestNormal(Mt19937_64(seed_words=words))
    assert normal(30.0, 2.0) == 32.02781784560859
    # The fixed-entropy store has four words: inputs beyond the fourth still change it.
    assert not np.array_equal(
        seed_seq_fe128_generate([1, 2, 3, 4, 5], 8), seed_seq_fe128_generate([1, 2, 3, 4, 6], 8)
    )


@pytest.mark.parametrize("record", RECORDS, ids=lambda r: f"seed{r['rng_seed']}-n{r['n_rec']}")
def test_nest_normal_draws_equal_nest_recordings(record):
    ours = nest_normal_draws(record["n_rec"], 30.0, 2.0, rng_seed=record["rng_seed"])
    assert ours.dtype == np.float64
    assert ours.tolist() == record["tau_m"]  # exact float64 equality


def test_recorded_draws_cover_seeds_and_tutorial_size():
    assert DRAWS["nest_version"].startswith("3.10")
    assert {r["rng_seed"] for r in RECORDS} >= {1, 2, 12345}
    assert 200 in {r["n_rec"] for r in RECORDS}  # the tutorials' n_rec


@pytest.mark.parametrize("task", ["infinite_loop", "handwriting"])
def test_tutorials_carry_nest_tau_m(task):
    record = next(r for r in RECORDS if r["rng_seed"] == 1 and r["n_rec"] == 200)
    data = np.cumsum(np.ones((4, 2)), axis=0)  # tau_m does not depend on the handwriting data
    tut = nest_tutorial(
        task, iterations=1, handwriting_data=data if task == "handwriting" else None
    )
    tau_m = np.asarray(tut.populations[0][2]["tau_m"])
    assert tau_m.tolist() == record["tau_m"]
    assert tau_m[0] == 32.02781784560859  # NEST's neuron 0 (the old NumPy substitute: 28.77)


def test_other_seed_reaches_tutorial():
    record = next(r for r in RECORDS if r["rng_seed"] == 2 and r["n_rec"] == 200)
    tut = nest_tutorial("infinite_loop", iterations=1, seed=2)
    assert np.asarray(tut.populations[0][2]["tau_m"]).tolist() == record["tau_m"]


def test_vp_engines_differ():
    assert nest_vp_engine(1, 0).next(1) != nest_vp_engine(1, 1).next(1)
    assert nest_vp_engine(1, 0).next(1) != nest_vp_engine(2, 0).next(1)


@pytest.mark.parametrize(
    ("call", "message"),
    [
        (
            lambda: nest_normal_draws(3, rng_seed=0),
            "nest_vp_engine: rng_seed must be in (0, 2**32)",
        ),
        (lambda: nest_normal_draws(3, rng_seed=2**32), "nest_vp_engine: rng_seed must be in"),
        (lambda: nest_normal_draws(3, rng_seed=1.5), "nest_vp_engine: rng_seed must be an integer"),
        (lambda: nest_normal_draws(-1), "nest_normal_draws: n must be a non-negative integer"),
        (lambda: nest_vp_engine(1, -1), "nest_vp_engine: vp must be a non-negative integer"),
        (lambda: Mt19937_64(seed_words=[1, 2]), "Mt19937_64: seed_words must have shape (624,)"),
        (lambda: Mt19937_64(1, seed_words=[1]), "Mt19937_64: pass seed or seed_words, not both"),
        (lambda: seed_seq_generate([1], -2), "seed_seq_generate: n must be a non-negative"),
        (lambda: seed_seq_fe128_generate([1], 1.0), "seed_seq_fe128_generate: n must be"),
    ],
)
def test_errors(call, message):
    with pytest.raises(ValueError, match=re.escape(message)):
        call()
