r"""NEST 3.10's random draws, reproduced bit for bit in NumPy.

NEST's lemniscate and handwriting e-prop tutorials set ``tau_m`` to
``nest.random.normal(mean=30.0, std=2.0)``: NEST draws one value per neuron from its own
generator while the population is created. This module repeats those draws exactly, so that a
``eprop-jax nest`` run of these tutorials uses NEST's own time constants.

**NEST's generators** (``RandomManager``, NEST 3.10, single process): the default engine is
``mt19937_64``. Each virtual process :math:`vp` owns a *VP-specific* engine seeded with the three
32-bit words :math:`(s, \mathtt{0xb84c9bae}, vp)`, where :math:`s` is the kernel's ``rng_seed``
(default 143202461); a *rank-synchronised* engine is seeded with :math:`(s, \mathtt{0xc229212d})`.
The words do not go through ``std::seed_seq``: NEST's engine wrapper passes them through Melissa
O'Neill's fixed-entropy seed sequence ``randutils::seed_seq_fe128`` (128 bits of state), whose
``generate`` fills the engine's 624 seed words. Setting ``rng_seed`` (or the number of threads)
re-seeds all engines. Node parameters given as a NEST ``Parameter`` in ``nest.Create`` are
evaluated node by node, in node order, with the VP-specific engine of the node's thread; a
single-thread script creates nothing that draws before its recurrent population (spike
generators and parrot neurons draw nothing), so the recurrent population takes the first values
of VP 0's stream. A ``nest.random.normal`` parameter holds one libstdc++
``std::normal_distribution<double>`` per thread (with the parameter's mean and standard
deviation), so the cached second value of a pair goes to the next node.

**The algorithms** (each written here from its published definition):

* ``mt19937_64`` (C++ [rand.eng.mers], Matsumoto & Nishimura 1998; 64-bit parameters of
  Nishimura 2000): :math:`w = 64, n = 312, m = 156, r = 31`,
  :math:`a = \mathtt{0xb5026f5aa96619e9}`, tempering :math:`(u, d) = (29,
  \mathtt{0x5555555555555555})`, :math:`(s, b) = (17, \mathtt{0x71d67fffeda60000})`,
  :math:`(t, c) = (37, \mathtt{0xfff7eee000000000})`, :math:`l = 43`; the twist

  .. math::

      y = (x_i \wedge \text{upper}_{33}) \vee (x_{i+1} \wedge \text{lower}_{31}), \qquad
      x_{i+n} = x_{i+m} \oplus (y \gg 1) \oplus (a \text{ if } y \text{ odd})

  and the tempering :math:`z = y \oplus ((y \gg u) \wedge d)`, :math:`z \mathrel{\oplus}=
  (z \ll s) \wedge b`, :math:`z \mathrel{\oplus}= (z \ll t) \wedge c`, :math:`z \mathrel{\oplus}=
  z \gg l`. Seeding from a seed sequence takes :math:`2n` 32-bit words :math:`q` and sets
  :math:`x_i = q_{2i} + 2^{32} q_{2i+1}` (C++ [rand.eng.mers]/9).
* ``std::seed_seq::generate`` (C++ [rand.util.seedseq]/8): fill with ``0x8b8b8b8b``, then
  :math:`\max(s + 1, N)` mixing rounds with :math:`1664525\,T(\cdot)` (:math:`T(x) = x \oplus
  (x \gg 27)`) that add the seeds, then :math:`N` rounds with :math:`1566083941\,T(\cdot)`, all
  modulo :math:`2^{32}`.
* ``seed_seq_fe128`` (O'Neill 2015): see :func:`seed_seq_fe128_generate`.
* ``generate_canonical<double, 53>`` on a 64-bit engine (C++ [rand.util.canonical], libstdc++):
  one engine output :math:`g`, :math:`u = \mathrm{double}(g) / 2^{64}` (the conversion rounds to
  nearest), and :math:`u = 1^-` (the largest double below 1) if the rounding gave :math:`1`.
* ``std::normal_distribution<double>`` in libstdc++: Marsaglia's polar method. Draw
  :math:`x = 2u_1 - 1`, :math:`y = 2u_2 - 1` until :math:`0 < r^2 = x^2 + y^2 \le 1`, set
  :math:`f = \sqrt{-2 \ln r^2 / r^2}`, return :math:`y f` and cache :math:`x f` for the next call;
  the result is :math:`z\,\sigma + \mu`.

Logarithms are taken with :func:`math.log` (the C library's, as in NEST), not NumPy's vectorised
one, which may differ in the last bit.

References:
    ISO/IEC 14882:2011 (C++11) §26.5.3.2 (``mersenne_twister_engine``, ``mt19937_64`` with the
    check value 9981545732273789042 for the 10000th output), §26.5.7.1 (``seed_seq``),
    §26.5.7.2 (``generate_canonical``);
    M. E. O'Neill, "Developing a seed_seq Alternative", 2015
    (https://www.pcg-random.org/posts/developing-a-seed_seq-alternative.html);
    M. Matsumoto and T. Nishimura, "Mersenne Twister: a 623-dimensionally equidistributed uniform
    pseudo-random number generator", ACM TOMACS 8:3-30, 1998;
    G. Marsaglia and T. A. Bray, "A convenient method for generating normal variables",
    SIAM Review 6:260-264, 1964;
    NEST 3.10 ``nestkernel/random_manager.cpp`` (seeder constants),
    ``nestkernel/random_generators.h`` (engine wrapper, seeding through ``seed_seq_fe128``),
    ``nestkernel/parameter.cpp`` (``NormalParameter``) and the random-numbers guide
    (https://nest-simulator.readthedocs.io/en/v3.10/nest_behavior/random_numbers.html).
"""

from __future__ import annotations

import math
from collections.abc import Sequence

import numpy as np

__all__ = [
    "NEST_DEFAULT_SEED",
    "Mt19937_64",
    "NestNormal",
    "generate_canonical",
    "nest_normal_draws",
    "nest_vp_engine",
    "seed_seq_fe128_generate",
    "seed_seq_generate",
]

NEST_DEFAULT_SEED = 143202461
"""NEST's ``rng_seed`` after ``ResetKernel``."""
_VP_SPECIFIC_SEEDER = 0xB84C9BAE

_N, _M = 312, 156
_A = np.uint64(0xB5026F5AA96619E9)
_UPPER = np.uint64(0xFFFFFFFF80000000)  # the top w - r = 33 bits
_LOWER = np.uint64(0x000000007FFFFFFF)  # the low r = 31 bits
_MASK32 = 0xFFFFFFFF


def _err(api: str, msg: str) -> ValueError:
    return ValueError(f"{api}: {msg}")


def seed_seq_generate(seeds: Sequence[int], n: int) -> np.ndarray:
    """``std::seed_seq(seeds).generate`` into ``n`` 32-bit words (C++ [rand.util.seedseq]/8).

    Args:
        seeds: the seed sequence's words (each taken modulo :math:`2^{32}`, as ``seed_seq`` does).
        n: how many words to generate.

    Returns:
        ``uint32`` array of shape ``(n,)``.

    Example:
        >>> seed_seq_generate([1, 2, 3], 2).dtype
        dtype('uint32')
    """
    if isinstance(n, bool) or not isinstance(n, int | np.integer) or n < 0:
        raise _err("seed_seq_generate", f"n must be a non-negative integer, got {n!r}.")
    v = [int(x) & _MASK32 for x in seeds]
    if n == 0:
        return np.zeros(0, np.uint32)
    s = len(v)
    b = [0x8B8B8B8B] * n
    t = 11 if n >= 623 else 7 if n >= 68 else 5 if n >= 39 else 3 if n >= 7 else (n - 1) // 2
    p = (n - t) // 2
    q = p + t
    m = max(s + 1, n)
    for k in range(m):
        x = b[k % n] ^ b[(k + p) % n] ^ b[(k - 1) % n]
        r1 = (1664525 * (x ^ (x >> 27))) & _MASK32
        if k == 0:
            r2 = r1 + s
        elif k <= s:
            r2 = r1 + k % n + v[k - 1]
        else:
            r2 = r1 + k % n
        r2 &= _MASK32
        b[(k + p) % n] = (b[(k + p) % n] + r1) & _MASK32
        b[(k + q) % n] = (b[(k + q) % n] + r2) & _MASK32
        b[k % n] = r2
    for k in range(m, m + n):
        x = (b[k % n] + b[(k + p) % n] + b[(k - 1) % n]) & _MASK32
        r3 = (1566083941 * (x ^ (x >> 27))) & _MASK32
        r4 = (r3 - k % n) & _MASK32
        b[(k + p) % n] ^= r3
        b[(k + q) % n] ^= r4
        b[k % n] = r4
    return np.asarray(b, np.uint32)


_FE_INIT_A, _FE_MULT_A = 0x43B0D7E5, 0x931E8875
_FE_INIT_B, _FE_MULT_B = 0x8B51F9DD, 0x58F38DED
_FE_MIX_L, _FE_MIX_R = 0xCA01F9DD, 0x4973F715


def seed_seq_fe128_generate(seeds: Sequence[int], n: int) -> np.ndarray:
    r"""``randutils::seed_seq_fe128(seeds).generate`` into ``n`` 32-bit words (O'Neill 2015).

    The fixed-entropy seed sequence NEST seeds its engines with: a store of four 32-bit words.
    With :math:`h_A` starting at ``0x43b0d7e5`` and multiplied by ``0x931e8875`` after each use,
    :math:`\mathrm{hash}(v) = g((v \oplus h_A)\,h_A')` (:math:`h_A'` the multiplied constant,
    :math:`g(x) = x \oplus (x \gg 16)`) and :math:`\mathrm{mix}(x, y) = g(\mathtt{0xca01f9dd}\,x
    - \mathtt{0x4973f715}\,y)`, all modulo :math:`2^{32}`: the store is filled with the hashes of
    the first four seeds (0 for missing ones), then every word is mixed with the hash of every
    other word (in order, source-major), then with the hash of each remaining seed. Output word
    :math:`i` is :math:`g((m_{i \bmod 4} \oplus h_B)\,h_B')` with :math:`h_B` starting at
    ``0x8b51f9dd`` and multiplied by ``0x58f38ded`` per word.

    Args:
        seeds: the seed words (each taken modulo :math:`2^{32}`).
        n: how many words to generate.

    Returns:
        ``uint32`` array of shape ``(n,)``.
    """
    if isinstance(n, bool) or not isinstance(n, int | np.integer) or n < 0:
        raise _err("seed_seq_fe128_generate", f"n must be a non-negative integer, got {n!r}.")
    v = [int(x) & _MASK32 for x in seeds]
    hash_const = _FE_INIT_A

    def hash_(value: int) -> int:
        nonlocal hash_const
        value ^= hash_const
        hash_const = (hash_const * _FE_MULT_A) & _MASK32
        value = (value * hash_const) & _MASK32
        return value ^ (value >> 16)

    def mix(x: int, y: int) -> int:
        r = (_FE_MIX_L * x - _FE_MIX_R * y) & _MASK32
        return r ^ (r >> 16)

    store = [hash_(v[i] if i < len(v) else 0) for i in range(4)]
    for src in range(4):
        for dest in range(4):
            if src != dest:
                store[dest] = mix(store[dest], hash_(store[src]))
    for value in v[4:]:
        for dest in range(4):
            store[dest] = mix(store[dest], hash_(value))
    out = np.empty(n, np.uint32)
    hash_const = _FE_INIT_B
    for i in range(n):
        value = store[i % 4] ^ hash_const
        hash_const = (hash_const * _FE_MULT_B) & _MASK32
        value = (value * hash_const) & _MASK32
        out[i] = value ^ (value >> 16)
    return out


class Mt19937_64:
    """``std::mt19937_64`` (C++ [rand.eng.mers]): a NumPy engine with the standard's outputs.

    The state is 312 ``uint64`` words; a whole block is twisted at once (vectorised) and
    tempered on demand. ``Mt19937_64()`` is the default-constructed engine (seed 5489).

    Args:
        seed: an integer seed (``engine.seed(value)``), or ``None`` for the default 5489.
        seed_words: instead of ``seed``, the 624 32-bit words a seed sequence generates for the
            engine (``engine.seed(seq)`` calls ``seq.generate`` for 624 words), e.g.
            :func:`seed_seq_generate` (``std::seed_seq``) or :func:`seed_seq_fe128_generate`.

    Example:
        >>> eng = Mt19937_64()
        >>> int(eng.next(10000)[-1])
        9981545732273789042
    """

    def __init__(self, seed: int | None = None, *, seed_words: Sequence[int] | None = None):
        if seed is not None and seed_words is not None:
            raise _err("Mt19937_64", "pass seed or seed_words, not both.")
        x = np.empty(_N, np.uint64)
        if seed_words is not None:
            words = np.asarray(seed_words)
            if words.shape != (2 * _N,):
                raise _err(
                    "Mt19937_64", f"seed_words must have shape ({2 * _N},), got {words.shape}."
                )
            words = (words.astype(np.int64) & _MASK32).astype(np.uint64)
            x[:] = words[0::2] | (words[1::2] << np.uint64(32))
            if int(x[0]) & int(_UPPER) == 0 and not x[1:].any():
                x[0] = np.uint64(1 << 63)  # [rand.eng.mers]/9: never the all-zero state
        else:
            value = 5489 if seed is None else int(seed)
            prev = value & 0xFFFFFFFFFFFFFFFF
            x[0] = prev
            for i in range(1, _N):
                prev = (6364136223846793005 * (prev ^ (prev >> 62)) + i) & 0xFFFFFFFFFFFFFFFF
                x[i] = prev
        self._state = x
        self._block = np.empty(0, np.uint64)
        self._pos = 0

    def _twist(self) -> None:
        """Advance the state by n words (the recurrence in the module docstring)."""
        x = self._state
        new = np.empty_like(x)

        def mix(hi: np.ndarray, lo: np.ndarray, far: np.ndarray) -> np.ndarray:
            y = (hi & _UPPER) | (lo & _LOWER)
            return far ^ (y >> np.uint64(1)) ^ np.where(y & np.uint64(1), _A, np.uint64(0))

        k = _N - _M
        new[:k] = mix(x[:k], x[1 : k + 1], x[_M:])
        new[k : _N - 1] = mix(x[k : _N - 1], x[k + 1 :], new[: _N - 1 - k])
        new[_N - 1] = mix(x[_N - 1 :], new[:1], new[_M - 1 : _M])[0]
        self._state = new
        y = new.copy()
        y ^= (y >> np.uint64(29)) & np.uint64(0x5555555555555555)
        y ^= (y << np.uint64(17)) & np.uint64(0x71D67FFFEDA60000)
        y ^= (y << np.uint64(37)) & np.uint64(0xFFF7EEE000000000)
        y ^= y >> np.uint64(43)
        self._block = y
        self._pos = 0

    def next(self, count: int = 1) -> np.ndarray:
        """The next ``count`` outputs, ``uint64`` array of shape ``(count,)``."""
        out = []
        while count > 0:
            if self._pos >= len(self._block):
                self._twist()
            take = min(count, len(self._block) - self._pos)
            out.append(self._block[self._pos : self._pos + take])
            self._pos += take
            count -= take
        return np.concatenate(out) if out else np.zeros(0, np.uint64)


def generate_canonical(engine: Mt19937_64, count: int = 1) -> np.ndarray:
    """``generate_canonical<double, 53>(engine)`` as libstdc++ computes it, ``count`` times.

    One 64-bit output :math:`g` per value: :math:`u = \\mathrm{double}(g) / 2^{64}`, replaced by
    the largest double below 1 where the rounding reached 1 (libstdc++ clamps).

    Returns:
        ``float64`` array of shape ``(count,)`` in :math:`[0, 1)`.
    """
    u = engine.next(count).astype(np.float64) / 2.0**64
    return np.where(u >= 1.0, np.nextafter(1.0, 0.0), u)


class NestNormal:
    """libstdc++'s ``std::normal_distribution<double>`` on an engine: the polar method.

    Keeps the cached second value of each pair, as the C++ object does, so consecutive calls
    consume the engine exactly as NEST does (see the module docstring).

    Args:
        engine: the :class:`Mt19937_64` to draw from (advanced in place).
    """

    def __init__(self, engine: Mt19937_64):
        self.engine = engine
        self._saved: float | None = None

    def standard(self) -> float:
        """One standard normal value (:math:`\\mu = 0`, :math:`\\sigma = 1`)."""
        if self._saved is not None:
            value, self._saved = self._saved, None
            return value
        while True:
            u1, u2 = (float(u) for u in generate_canonical(self.engine, 2))
            x = 2.0 * u1 - 1.0
            y = 2.0 * u2 - 1.0
            r2 = x * x + y * y
            if 0.0 < r2 <= 1.0:
                break
        mult = math.sqrt(-2.0 * math.log(r2) / r2)
        self._saved = x * mult
        return y * mult

    def __call__(self, mean: float = 0.0, std: float = 1.0) -> float:
        """One value :math:`z \\sigma + \\mu`."""
        return self.standard() * std + mean


def nest_vp_engine(rng_seed: int = NEST_DEFAULT_SEED, vp: int = 0) -> Mt19937_64:
    """The VP-specific ``mt19937_64`` of virtual process ``vp`` right after NEST seeds it.

    Args:
        rng_seed: the kernel's ``rng_seed`` (NEST accepts :math:`0 < s < 2^{32}`).
        vp: the virtual process.
    """
    api = "nest_vp_engine"
    if isinstance(rng_seed, bool) or not isinstance(rng_seed, int | np.integer):
        raise _err(api, f"rng_seed must be an integer in (0, 2**32), got {rng_seed!r}.")
    if not 0 < rng_seed < 2**32:
        raise _err(api, f"rng_seed must be in (0, 2**32) as NEST requires, got {rng_seed}.")
    if isinstance(vp, bool) or not isinstance(vp, int | np.integer) or vp < 0:
        raise _err(api, f"vp must be a non-negative integer, got {vp!r}.")
    return Mt19937_64(
        seed_words=seed_seq_fe128_generate([int(rng_seed), _VP_SPECIFIC_SEEDER, int(vp)], 2 * _N)
    )


def nest_normal_draws(
    n: int, mean: float = 0.0, std: float = 1.0, *, rng_seed: int = NEST_DEFAULT_SEED
) -> np.ndarray:
    """The values ``nest.random.normal(mean, std)`` gives ``n`` neurons in a fresh NEST 3.10 kernel.

    The situation of NEST's lemniscate and handwriting scripts: ``ResetKernel``, ``rng_seed``
    set, one virtual process (one thread, one rank), no draws before the population is created,
    and one parameter for the whole population, evaluated neuron by neuron (see the module
    docstring). ``nest_normal_draws(200, 30.0, 2.0, rng_seed=1)[0]`` is the first neuron's
    ``tau_m`` in those scripts, 32.02781784560859 ms.

    Args:
        n: number of neurons.
        mean: the parameter's ``mean``.
        std: the parameter's ``std``.
        rng_seed: the kernel's ``rng_seed``.

    Returns:
        ``float64`` array of shape ``(n,)``, equal (``==``) to NEST's values.

    Example:
        >>> float(nest_normal_draws(1, 30.0, 2.0, rng_seed=1)[0])
        32.02781784560859
    """
    if isinstance(n, bool) or not isinstance(n, int | np.integer) or n < 0:
        raise _err("nest_normal_draws", f"n must be a non-negative integer, got {n!r}.")
    normal = NestNormal(nest_vp_engine(rng_seed, 0))
    return np.array([normal(mean, std) for _ in range(n)], np.float64)
