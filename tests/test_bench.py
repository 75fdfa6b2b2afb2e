"""The bench's bookkeeping: eligibility bytes, ratios, spreads and the roofline row (no timing)."""

import json

import jax
import jax.numpy as jnp
import pytest

import eprop_jax as ej
from eprop_jax import bench
from eprop_jax.eprop import eprop_eligibility
from eprop_jax.network import cast


@pytest.mark.parametrize(("n_in", "n_rec", "n_alif", "batch"), [(3, 8, 4, 2), (5, 6, 0, 3)])
def test_eligibility_bytes_match_the_online_rule_state(n_in, n_rec, n_alif, batch):
    net = cast(ej.network(n_in, n_rec, 2, n_alif=n_alif), jnp.float32)
    rule = eprop_eligibility(net.neuron, net.readout.kappa, track_e_sum=True)
    state = jax.eval_shape(lambda: rule.init(batch, n_in + n_rec, jnp.float32))
    moved = sum(2 * getattr(state, f).size * 4 for f in ("elig_v", "elig_a", "elig_trace", "e_sum"))
    assert bench.eligibility_bytes_per_step(n_in, n_rec, n_alif, batch) == moved
    # The evidence-accumulation size: 18 MB per step at batch 64.
    assert bench.eligibility_bytes_per_step(40, 100, 50, 64) == 2 * 4 * 64 * 140 * 251


def test_time_ratios_spread_and_summary():
    medians = {"bptt": 300.0, "bptt-lean": 200.0, "eprop-factored": 90.0}
    assert bench.time_ratios(medians, "bptt-lean") == {
        "bptt": 1.5,
        "bptt-lean": 1.0,
        "eprop-factored": 0.45,
    }
    assert bench.time_ratios(medians, "eprop") == {}
    stats = bench.spread([3.0, 1.0, 2.0, 10.0])
    assert (stats["median"], stats["min"], stats["max"], stats["n"]) == (2.5, 1.0, 10.0, 4)
    assert (stats["q1"], stats["q3"]) == (1.75, 4.75)
    assert bench.spread([2.0])["q1"] == bench.spread([2.0])["q3"] == 2.0
    reps = [
        {"time_ratio_to_bptt_lean": {"bptt": 1.2}},
        {"time_ratio_to_bptt_lean": {"bptt": 1.0}},
        {"time_ratio_to_bptt_lean": {"bptt": 1.1}},
    ]
    summary = bench._summary("quick", reps)
    assert summary["repeats"] == 3
    assert summary["time_ratio_to_bptt_lean"]["bptt"]["median"] == 1.1


def test_roofline_row_uses_the_formula():
    size = {"n_in": 40, "n_rec": 100, "n_alif": 50, "T": 2250, "batch": 64}
    eprop_row = {**size, "ms_median": 1000.0, "ms_min": 500.0}
    stream_row = {"stream_gbps_state_size": 80.0, "stream_gbps_large": 20.0}
    roof = bench.eprop_roofline(eprop_row, stream_row)
    per_step = 2 * 4 * 64 * 140 * 251
    assert roof["elig_bytes_per_step"] == per_step
    assert roof["achieved_gbps"] == round(per_step * 2250 / 1e9, 3)  # one second
    assert roof["achieved_gbps_best"] == round(2 * per_step * 2250 / 1e9, 3)
    assert roof["fraction_of_state_size"] == round(per_step * 2250 / 1e9 / 80.0, 3)
    assert roof["fraction_of_large"] == round(per_step * 2250 / 1e9 / 20.0, 3)


def test_stream_bandwidth_is_positive_and_finite():
    gbps = bench._stream_gbps(2**16, reps=2)
    assert 0.1 < gbps < 1e5


def test_bad_repeats_is_refused(capsys):
    with pytest.raises(SystemExit) as err:
        bench.main(["--quick", "--repeats", "0"])
    assert err.value.code == 2
    assert "--repeats must be an integer >= 1; got 0." in capsys.readouterr().err


@pytest.mark.slow
def test_one_measurement_of_the_lean_reference_in_process(capsys):
    """``--one`` runs in this process: the lean method builds, compiles and times."""
    size = {**bench.SIZES["quick"], "T": 20, "batch": 2}
    assert bench.main(["--one", json.dumps({"method": "bptt-lean", "size": size, "reps": 1})]) == 0
    row = json.loads(capsys.readouterr().out.strip().splitlines()[-1])
    assert row["method"] == "bptt-lean" and row["ms_median"] > 0 and row["T"] == 20
