"""Record the ``tau_m`` values NEST 3.10 draws in its lemniscate and handwriting e-prop tutorials.

Both scripts (``eprop_supervised_regression_{lemniscate,handwriting}_bsshslm_2020.py``) run
``nest.ResetKernel()``, ``nest.set(rng_seed=..., total_num_virtual_procs=1, ...)``, create
``n_in`` spike generators and ``n_in`` parrot neurons, then the recurrent population with
``"tau_m": nest.random.normal(mean=30.0, std=2.0)``. This script repeats exactly that (with the
recipe's other neuron parameters from ``eprop_jax.nest.nest_tutorial``) for a few seeds and
writes the drawn values to a JSON file, which ``tests/test_nest_random.py`` compares with
``eprop_jax.nest.random.nest_normal_draws`` (``==``, float64). With ``--check`` it also compares
the full tutorial populations here and prints the result instead of writing.

Needs ``pip install eprop-jax[nest]`` (``nest-simulator``)::

    python scripts/record_nest_draws.py                  # writes tests/data/nest_tau_m_draws.json
    python scripts/record_nest_draws.py --check --seeds 1,2,12345,4294967295
"""

from __future__ import annotations

import argparse
import json
import os
from pathlib import Path

import numpy as np

MODEL = "eprop_iaf_adapt_bsshslm_2020"
TAU_M_MEAN, TAU_M_STD = 30.0, 2.0
OUT = Path(__file__).resolve().parents[1] / "tests" / "data" / "nest_tau_m_draws.json"


def nest_tau_m(rng_seed: int, n_rec: int, n_in: int = 100) -> np.ndarray:
    """Create the tutorial's populations in a fresh NEST kernel; return the drawn ``tau_m``."""
    import nest

    from eprop_jax.nest import nest_tutorial

    nest.ResetKernel()
    nest.verbosity = nest.VerbosityLevel.FATAL
    tut = nest_tutorial("infinite_loop", iterations=1)
    params = dict(tut.populations[0][2])
    params["tau_m"] = nest.random.normal(mean=TAU_M_MEAN, std=TAU_M_STD)
    nest.set(**tut.kernel, rng_seed=rng_seed, total_num_virtual_procs=1, print_time=False)
    nest.Create("spike_generator", n_in)
    nest.Create("parrot_neuron", n_in)
    rec = nest.Create(MODEL, n_rec, params)
    return np.asarray(rec.get("tau_m"), np.float64).reshape(n_rec)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--seeds", default="1,2,12345", help="comma-separated rng_seed values")
    parser.add_argument("--n-rec", default="7,200", help="comma-separated population sizes")
    parser.add_argument("--check", action="store_true", help="compare with ours; write nothing")
    args = parser.parse_args()
    seeds = [int(s) for s in args.seeds.split(",")]
    sizes = [int(n) for n in args.n_rec.split(",")]

    os.environ.setdefault("PYNEST_QUIET", "1")  # no banner on stdout
    import nest

    if args.check:
        from eprop_jax.nest.random import nest_normal_draws

        report = {}
        for seed in seeds:
            for n in sizes:
                ours = nest_normal_draws(n, TAU_M_MEAN, TAU_M_STD, rng_seed=seed)
                theirs = nest_tau_m(seed, n)
                report[f"seed={seed},n_rec={n}"] = {
                    "equal": bool(np.array_equal(ours, theirs)),
                    "max_abs_diff": float(np.max(np.abs(ours - theirs))),
                }
        print(json.dumps(report, indent=1))
        return

    records = [
        {"rng_seed": seed, "n_rec": n, "tau_m": nest_tau_m(seed, n).tolist()}
        for seed in seeds
        for n in sizes
    ]
    data = {
        "nest_version": nest.__version__,
        "model": MODEL,
        "parameter": f"nest.random.normal(mean={TAU_M_MEAN}, std={TAU_M_STD})",
        "setup": "ResetKernel; rng_seed; 1 VP; n_in=100 spike_generator + parrot_neuron first",
        "records": records,
    }
    OUT.parent.mkdir(parents=True, exist_ok=True)
    OUT.write_text(json.dumps(data, indent=1) + "\n")
    print(f"wrote {OUT}")


if __name__ == "__main__":
    main()
