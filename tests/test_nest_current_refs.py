"""NEST 3.10's current e-prop models on small networks, against values printed by NEST 3.10.0.

Each case is a small random network (:func:`build_case`, NumPy's legacy generator with a fixed
seed, so the pasted constants stay valid; ``EPROP_TEST_SEED`` does not apply) that exercises
what the tutorial and test-suite recipes of ``test_nest_current.py`` leave out: a resolution of
0.5 ms with rate regularisation (``z / dt``), batches of optimiser steps, ``Wmin``/``Wmax``
clipping, ``E_L != 0``, missing synapses (``connected``), a flush interval shorter than the
trace cutoff, the psc_delta refractory branch (``t_ref = 3 ms``) and per-spike optimisation
(``optimize_each_step=False``) for all four models. :data:`REFERENCES` was printed by
``python scripts/nest_current_refs.py`` (NEST 3.10.0, ``pip install nest-simulator==3.10.0``),
which builds the same networks in NEST from :func:`build_case`. NEST itself is not needed here.
"""

from __future__ import annotations

import numpy as np
import pytest

from eprop_jax.nest.current import current_config_from_nest, simulate_current
from eprop_jax.nest.current_tutorials import current_sine_waves, run_current_tutorial

N_IN, N_REC, N_OUT = 4, 6, 2

#: name -> (model, options); options change the base network of :func:`build_case`
CASES = {
    "dt05_rate_reg": ("eprop_iaf", {"resolution": 0.5}),
    "features_adapt": ("eprop_iaf_adapt", {"features": True}),
    "refractory_psc_delta": ("eprop_iaf_psc_delta_adapt", {"t_ref": 3.0, "per_spike": True}),
    **{f"per_spike_{m}": (m, {"per_spike": True}) for m in (
        "eprop_iaf", "eprop_iaf_adapt", "eprop_iaf_psc_delta", "eprop_iaf_psc_delta_adapt"
    )},
}  # fmt: skip


def build_case(name: str) -> dict:
    """The network of case ``name``: NEST's dictionaries and the step-indexed arrays.

    Timing as in :func:`~eprop_jax.nest.current_tutorials.current_arrays`: ``x_emit[t]`` is a
    spike generator's spike at ``t * dt`` (the parrot emits it at step ``t``), ``targets[t]``
    and ``window[t]`` a step_rate_generator's amplitude at ``t * dt``.
    """
    model, opts = CASES[name]
    rng = np.random.RandomState(7)
    dt = opts.get("resolution", 1.0)
    n_steps = 160
    features = opts.get("features", False)
    psc_delta = "psc_delta" in model
    e_l = -65.0 if features else 0.0
    params_rec = {
        "C_m": 1.0,
        "E_L": e_l,
        "V_m": e_l,
        "V_th": e_l + (0.5 if psc_delta else 0.1),
        "tau_m": 20.0,
        "t_ref": opts.get("t_ref", 2.0),
        "c_reg": 0.5,
        "f_target": 20.0,
        "kappa": 0.95,
        "kappa_reg": 0.9,
        "surrogate_gradient_function": "piecewise_linear",
        "surrogate_gradient_height": 1.0,
        "surrogate_gradient_width": 0.5,
        "eprop_isi_trace_cutoff": 30.0,
        "flush_event_send_interval": 12.0 if features else 40.0,
    }
    if psc_delta:
        params_rec["V_reset"] = e_l - 0.2
    if model.endswith("_adapt"):
        params_rec.update(adapt_beta=0.3, adapt_tau=25.0, adaptation=0.0)
    params_out = {"C_m": 1.0, "E_L": 0.25 if features else 0.0, "tau_m": 8.0}
    params_out["V_m"] = params_out["E_L"]
    params_out["eprop_isi_trace_cutoff"] = 25.0
    optimizer = {
        "type": "gradient_descent",
        "batch_size": 3 if features else 1,
        "eta": 0.3 if features else 0.01,
        "optimize_each_step": not opts.get("per_spike", False),
        "Wmin": -0.6 if features else -100.0,
        "Wmax": 0.6 if features else 100.0,
    }
    scale = 0.5 if psc_delta else 0.1  # the threshold's order: neurons near it, psi > 0
    weights = {
        "in": rng.uniform(-0.5, 1.0, (N_REC, N_IN)) * scale,
        "rec": rng.uniform(-0.5, 0.5, (N_REC, N_REC)) * scale,
        "out": rng.uniform(-0.5, 0.5, (N_OUT, N_REC)),
    }
    np.fill_diagonal(weights["rec"], 0.0)
    feedback = rng.uniform(-1.0, 1.0, (N_REC, N_OUT))
    x_emit = (rng.rand(n_steps, N_IN) < 0.15).astype(float)
    x_emit[0] = 0.0  # a generator's spike times are > 0
    targets = np.sin(np.arange(n_steps)[:, None] * [0.07, 0.13] + [0.0, 1.0])
    targets[0] = 0.0  # a step_rate_generator starts at 0
    window = (np.arange(n_steps) >= 3).astype(float)
    connected = None
    if features:
        connected = {
            "in": rng.rand(N_REC, N_IN) < 0.8,
            "rec": (rng.rand(N_REC, N_REC) < 0.7) & ~np.eye(N_REC, dtype=bool),
            "out": rng.rand(N_OUT, N_REC) < 0.8,
        }
        weights = {k: np.where(connected[k], w, 0.0) for k, w in weights.items()}
    return {
        "model": model,
        "resolution": dt,
        "params_rec": params_rec,
        "params_out": params_out,
        "optimizer": optimizer,
        "weights": weights,
        "feedback": feedback,
        "x_emit": x_emit,
        "targets": targets,
        "window": window,
        "connected": connected,
    }


def weight_summary(initial: dict, seen: dict) -> dict:
    """Per projection: the sum of the weight changes, of their absolute values and the three
    weights that start largest (``seen``: what ``GetConnections`` shows)."""
    out = {}
    for k, w in seen.items():
        w = np.asarray(w)
        dw = w - np.asarray(initial[k], np.float64)
        picks = np.argsort(-np.abs(initial[k]), axis=None, kind="stable")[:3]
        out[f"dw_{k}"] = float(np.sum(dw))
        out[f"abs_dw_{k}"] = float(np.sum(np.abs(dw)))
        out[f"w_{k}"] = [float(v) for v in w.ravel()[picks]]
    return out


def summarise(case: dict, readout, v_m, psi, weights_seen) -> dict:
    """What REFERENCES holds for a run (NEST's or ours): readout sums, the sums of all ``V_m``
    (absolute) and surrogate gradients, a stretch of neuron 0's, and :func:`weight_summary`."""
    readout = np.asarray(readout)
    out = {
        "readout_sum": float(np.sum(readout)),
        "readout_sq": float(np.sum(readout**2)),
        "v_m_sum": float(np.sum(v_m)),
        "psi_sum": float(np.sum(psi)),
        "v_m_0": [float(v) for v in np.asarray(v_m)[40:70, 0]],
        "psi_0": [float(v) for v in np.asarray(psi)[40:70, 0]],
    }
    return {**out, **weight_summary(case["weights"], weights_seen)}


def run_ours(case: dict) -> dict:
    """:func:`summarise` of :func:`simulate_current` on ``case`` (NEST's record of step t is
    the state after step t; the first ``T - 1`` steps are recorded)."""
    config = current_config_from_nest(
        case["model"],
        case["params_rec"],
        case["params_out"],
        case["optimizer"],
        resolution=case["resolution"],
    )
    run = simulate_current(
        config,
        case["weights"],
        case["feedback"],
        case["x_emit"],
        case["targets"],
        case["window"],
        connected=case["connected"],
    )
    e_l = case["params_rec"]["E_L"]
    n = len(case["window"]) - 1
    return summarise(
        case,
        np.asarray(run.readout)[:n],
        np.asarray(run.v_rec)[:n] + e_l,
        np.asarray(run.surrogate)[:n],
        run.weights_seen,
    )


# printed by `python scripts/nest_current_refs.py` (NEST 3.10.0)
REFERENCES = {
    "dt05_rate_reg": {
        "readout_sum": 27.494210334053967,
        "readout_sq": 438.83439628876977,
        "v_m_sum": -3120.6016647160027,
        "psi_sum": 62.12509806554059,
        "v_m_0": [
            -3.453443011791198,
            -4.053331212120353,
            -4.035537781129392,
            -4.044614299990155,
            -3.9447524171119337,
            -4.089440483038694,
            -4.005797567585061,
            -3.9532390520441254,
            -3.855633232076125,
            -3.91750823228569,
            -4.177518081449268,
            -4.074374792515054,
            -4.2907584933963925,
            -4.58086827439867,
            -4.412373819328354,
            -4.36850255894696,
            -4.540039058115344,
            -4.555902481407304,
            -4.454342724708198,
            -4.344364610979196,
            -4.237101866553121,
            -4.316307846645119,
            -4.20786732220782,
            -4.432075222423912,
            -4.590937648861159,
            -4.601746663760229,
            -4.755387810072487,
            -4.649057128680788,
            -4.545846156876537,
            -4.560232278497368,
        ],
        "psi_0": [
            0.0,
            0.0,
            0.0,
            0.0,
            0.0,
            0.0,
            0.0,
            0.0,
            0.0,
            0.0,
            0.0,
            0.0,
            0.0,
            0.0,
            0.0,
            0.0,
            0.0,
            0.0,
            0.0,
            0.0,
            0.0,
            0.0,
            0.0,
            0.0,
            0.0,
            0.0,
            0.0,
            0.0,
            0.0,
            0.0,
        ],
        "dw_in": -1.4655381471546605,
        "abs_dw_in": 5.85308183771533,
        "w_in": [0.27779561163655375, -0.15725676764424937, -0.08310179271788144],
        "dw_rec": -0.21624533882437177,
        "abs_dw_rec": 2.268565779168513,
        "w_rec": [-0.573982679869841, -0.04077376541532479, 0.23562042248202195],
        "dw_out": -0.022715071924976182,
        "abs_dw_out": 1.513031206530223,
        "w_out": [0.46497099953612686, 0.45546832300292595, -0.44687130932704244],
    },
    "features_adapt": {
        "readout_sum": 64.88801819683772,
        "readout_sq": 267.464957413198,
        "v_m_sum": -63898.64329236061,
        "psi_sum": 101.21377610448405,
        "v_m_0": [
            -68.81751115801158,
            -68.63134973471149,
            -69.00499601265828,
            -68.95564493597342,
            -69.00176232110499,
            -68.92615980426584,
            -68.73467873110963,
            -68.64876407111568,
            -68.47081174750626,
            -68.27649727522049,
            -67.81105946856744,
            -67.6465802365451,
            -67.16836292608637,
            -66.66912010106844,
            -66.48299843399607,
            -66.49412442098723,
            -66.08784029496309,
            -65.99050212966046,
            -66.03797417574549,
            -65.943068009775,
            -65.89707404020331,
            -65.90342747773948,
            -65.85936679972826,
            -65.47970621683633,
            -65.04481808456127,
            -64.99834871271848,
            -64.68693666294014,
            -65.14009003448443,
            -65.26486774735163,
            -65.55822510283953,
        ],
        "psi_0": [
            0.0,
            0.0,
            0.0,
            0.0,
            0.0,
            0.0,
            0.0,
            0.0,
            0.0,
            0.0,
            0.0,
            0.0,
            0.0,
            0.0,
            0.0,
            0.0,
            0.0,
            0.0,
            0.0,
            0.0,
            0.0,
            0.0,
            0.0,
            0.0,
            0.7103638308774586,
            0.8033025745630598,
            0.37387332588027156,
            0.0,
            0.0,
            0.0,
        ],
        "dw_in": -1.415656896589902,
        "abs_dw_in": 6.251085619968828,
        "w_in": [-0.32308645209522124, -0.574320467890765, 0.6],
        "dw_rec": -3.4894496864037605,
        "abs_dw_rec": 6.309041038730296,
        "w_rec": [-0.6, -0.04077376541532479, -0.6],
        "dw_out": -1.6869404760552693,
        "abs_dw_out": 2.6776669919225817,
        "w_out": [-0.6, 0.40112302347888656, 0.41783271528755117],
    },
    "refractory_psc_delta": {
        "readout_sum": 40.980692400274876,
        "readout_sq": 86.3613861529889,
        "v_m_sum": -1143.908870298596,
        "psi_sum": 95.78208192335987,
        "v_m_0": [
            -0.2,
            -0.2,
            -0.20090323616244557,
            -0.1601220140678885,
            -0.15231277129169282,
            0.2397758681657214,
            -0.0037599614052928887,
            0.27066290047249275,
            0.25746251505014334,
            0.24490592002165426,
            0.24618794580674527,
            0.15980263512958745,
            0.46107913420287155,
            -0.2,
            -0.2,
            -0.2,
            -0.2,
            -0.22226572728272903,
            0.2988501858012248,
            0.3935768130244409,
            0.3743818453500641,
            -0.2,
            -0.2,
            -0.2,
            -0.2,
            -0.032376518262256154,
            0.021033140388475275,
            -0.2,
            -0.2,
            -0.2,
        ],
        "psi_0": [
            0.0,
            0.0,
            0.0,
            0.0,
            0.0,
            0.47955173633144277,
            0.0,
            0.5413258009449855,
            0.5149250301002867,
            0.48981184004330847,
            0.4923758916134906,
            0.31960527025917496,
            0.9221582684057431,
            0.06805852374503907,
            0.0,
            0.0,
            0.0,
            0.0,
            0.5977003716024496,
            0.7871536260488818,
            0.7487636907001282,
            0.5425453639923306,
            0.0,
            0.0,
            0.0,
            0.0,
            0.042066280776950515,
            0.3820163212018075,
            0.0,
            0.0,
        ],
        "dw_in": 5.526666126392135,
        "abs_dw_in": 16.16676513483708,
        "w_in": [0.08725177994109948, -0.03856969562037226, 0.333558080793752],
        "dw_rec": 1.4898269323852602,
        "abs_dw_rec": 6.4568300700361725,
        "w_rec": [-0.5987887612659117, -0.31824603075722363, 0.20321163458216934],
        "dw_out": -0.778192455274929,
        "abs_dw_out": 1.1643392494578686,
        "w_out": [0.3301484611372411, 0.5366037511155833, -0.4777458256018816],
    },
    "per_spike_eprop_iaf": {
        "readout_sum": 32.26199044797039,
        "readout_sq": 285.92103796416677,
        "v_m_sum": -1995.4739757960858,
        "psi_sum": 82.84071731785097,
        "v_m_0": [
            -1.4376606344630534,
            -1.502248769534793,
            -1.4933391636541828,
            -1.4214716186819312,
            -1.4429648484339253,
            -1.3051327357183407,
            -1.3326220777683007,
            -1.2199905760162184,
            -1.2513230195488423,
            -1.1687121299366279,
            -1.331847215505373,
            -1.2449411089054139,
            -1.378644833434653,
            -1.3421711850063764,
            -1.2892856785304794,
            -1.2245696680061218,
            -1.4010269237122002,
            -1.310684258867668,
            -1.307558875556578,
            -1.222732010289275,
            -1.25463904167108,
            -1.1985045659785827,
            -1.2352898331252031,
            -1.3509303131188934,
            -1.552929838814165,
            -1.4582123429681868,
            -1.6570818139532077,
            -1.5371636258728174,
            -1.5401018889871854,
            -1.4458740721895653,
        ],
        "psi_0": [
            0.0,
            0.0,
            0.0,
            0.0,
            0.0,
            0.0,
            0.0,
            0.0,
            0.0,
            0.0,
            0.0,
            0.0,
            0.0,
            0.0,
            0.0,
            0.0,
            0.0,
            0.0,
            0.0,
            0.0,
            0.0,
            0.0,
            0.0,
            0.0,
            0.0,
            0.0,
            0.0,
            0.0,
            0.0,
            0.0,
        ],
        "dw_in": -1.0675165059002667,
        "abs_dw_in": 7.175204512967992,
        "w_in": [0.487984359039149, -0.3476810163115598, 0.009530330494430122],
        "dw_rec": 0.23366979470805788,
        "abs_dw_rec": 4.077543109107018,
        "w_rec": [-1.5165119627769537, -0.04077376541532479, 0.04064232691643387],
        "dw_out": -0.5984277408799139,
        "abs_dw_out": 1.0295590930337437,
        "w_out": [0.46497099953612686, 0.45546832300292595, -0.34531030846682],
    },
    "per_spike_eprop_iaf_adapt": {
        "readout_sum": 37.7560704749593,
        "readout_sq": 32.23689370256223,
        "v_m_sum": -2157.4813864499797,
        "psi_sum": 112.99270363394555,
        "v_m_0": [
            -1.4002785446220711,
            -1.669883954066641,
            -1.7800542702598834,
            -1.7757320572943085,
            -1.8028342329483984,
            -1.7747303005376172,
            -1.6881756824243768,
            -1.6702999359896742,
            -1.5888384468550372,
            -1.5113498814265254,
            -1.8011329027385785,
            -1.7132906145213185,
            -1.9667604022342453,
            -2.1929310229413392,
            -2.05630015948297,
            -2.0177775774729234,
            -2.2075625870962763,
            -2.0998984892728982,
            -2.0450886576513625,
            -1.9453485068706433,
            -1.8504727406438854,
            -1.813955677354041,
            -1.7254880150392873,
            -1.9627056212966725,
            -2.1347681666998577,
            -2.03065429465235,
            -2.194586477682644,
            -2.1229628257015283,
            -2.0536071272472802,
            -1.9534515258019949,
        ],
        "psi_0": [
            0.0,
            0.0,
            0.0,
            0.0,
            0.0,
            0.0,
            0.0,
            0.0,
            0.0,
            0.0,
            0.0,
            0.0,
            0.0,
            0.0,
            0.0,
            0.0,
            0.0,
            0.0,
            0.0,
            0.0,
            0.0,
            0.0,
            0.0,
            0.0,
            0.0,
            0.0,
            0.0,
            0.0,
            0.0,
            0.0,
        ],
        "dw_in": -5.905261069976943,
        "abs_dw_in": 6.864032936098949,
        "w_in": [-0.17388462202887434, -0.375350359733448, -0.00630695539506203],
        "dw_rec": -1.433613169967857,
        "abs_dw_rec": 1.860670411598663,
        "w_rec": [-0.49838377704727366, -0.04077376541532479, -0.014017402648926678],
        "dw_out": 0.32255741498484636,
        "abs_dw_out": 1.7283434117958878,
        "w_out": [0.46497099953612686, 0.45546832300292595, -0.44687130932704244],
    },
    "per_spike_eprop_iaf_psc_delta": {
        "readout_sum": 36.670267693308034,
        "readout_sq": 166.20949539043477,
        "v_m_sum": -1448.1195503053177,
        "psi_sum": 67.54709524777738,
        "v_m_0": [
            0.13847067142373196,
            -0.07421327233409894,
            0.12578480966127287,
            0.423550883623354,
            0.40289406327581195,
            -0.2,
            -0.2,
            -0.2,
            -0.19024588490014283,
            -0.18096748360719195,
            0.3604845524925424,
            -0.2,
            -0.2,
            -0.2,
            -0.2,
            -0.2,
            -0.2,
            -0.19024588490014283,
            -0.2,
            -0.2,
            -0.2,
            -0.2,
            -0.2,
            -0.2,
            0.2923750959205472,
            0.2781157942308432,
            -0.2,
            -0.2,
            -0.2,
            -0.19024588490014283,
        ],
        "psi_0": [
            0.27694134284746386,
            0.0,
            0.25156961932254573,
            0.847101767246708,
            0.8057881265516239,
            0.0,
            0.0,
            0.0,
            0.0,
            0.0,
            0.7209691049850848,
            0.8247710680931966,
            0.0,
            0.0,
            0.26749676839279446,
            0.0,
            0.0,
            0.0,
            0.5891921536278677,
            0.0,
            0.0,
            0.6429140004556786,
            0.0,
            0.0,
            0.5847501918410944,
            0.5562315884616864,
            0.3880662622194051,
            0.0,
            0.0,
            0.0,
        ],
        "dw_in": 8.755595100915276,
        "abs_dw_in": 16.662659474399344,
        "w_in": [0.5013412153086725, 0.16082763331615574, 0.3676806379593993],
        "dw_rec": 2.7958723333084143,
        "abs_dw_rec": 4.51896876099437,
        "w_rec": [-0.5451679374175986, -0.28269737979319737, 0.20321163458216934],
        "dw_out": -0.5230995345554531,
        "abs_dw_out": 1.24506485647994,
        "w_out": [0.42564959340314074, 0.23590952888175404, -0.5470295988428182],
    },
    "per_spike_eprop_iaf_psc_delta_adapt": {
        "readout_sum": 29.441466968317375,
        "readout_sq": 88.27050177173194,
        "v_m_sum": -1381.754859039399,
        "psi_sum": 94.95500852781602,
        "v_m_0": [
            -0.11835872185912671,
            -0.38851314403164755,
            -0.31425314363672724,
            -0.1255480575810186,
            -0.11942500655997484,
            0.3477135527273143,
            0.3209585540088352,
            -0.2,
            -0.2,
            -0.2,
            -0.06818187854786045,
            -0.07545844876084672,
            0.39598299593190806,
            -0.2,
            -0.2,
            -0.2,
            -0.30917587771960386,
            -0.30964438911302367,
            0.2089274095862551,
            0.4584762325824017,
            0.4361160828666135,
            -0.2,
            -0.2,
            -0.2,
            0.09184090012807561,
            0.08736176657445692,
            0.15801760079844346,
            -0.2,
            -0.2,
            -0.2,
        ],
        "psi_0": [
            0.0,
            0.0,
            0.0,
            0.0,
            0.0,
            0.6954271054546286,
            0.6419171080176704,
            0.8056818656884666,
            0.0,
            0.0,
            0.0,
            0.0,
            0.7919659918638161,
            0.0,
            0.0,
            0.0,
            0.0,
            0.0,
            0.4178548191725102,
            0.9169524651648034,
            0.872232165733227,
            0.35466204524982814,
            0.0,
            0.0,
            0.18368180025615122,
            0.17472353314891387,
            0.3160352015968869,
            0.0,
            0.0,
            0.0,
        ],
        "dw_in": 1.9683091762363079,
        "abs_dw_in": 10.779911955847933,
        "w_in": [0.48056569377039027, -0.02599699264155229, 0.27470876093135965],
        "dw_rec": -0.09027480305757107,
        "abs_dw_rec": 5.594630246043583,
        "w_rec": [-0.6306336855871849, -0.31096067266658245, 0.20321163458216934],
        "dw_out": -0.16082118147874225,
        "abs_dw_out": 1.3449892810971136,
        "w_out": [0.3125185407412754, 0.6620605062738054, -0.2598912444071051],
    },
}


@pytest.mark.parametrize("name", list(CASES))
def test_small_networks_match_nest(name):
    ours = run_ours(build_case(name))
    ref = REFERENCES[name]
    assert set(ours) == set(ref)
    for key, value in ref.items():
        np.testing.assert_allclose(ours[key], value, rtol=1e-11, atol=1e-13, err_msg=key)


def tutorial_summary(tut, loss, weights_seen: dict) -> dict:
    """What TUTORIAL_REFERENCES holds: the losses and :func:`weight_summary`."""
    initial = {"in": tut.w_in, "rec": tut.w_rec, "out": tut.w_out}
    return {"loss": [float(v) for v in loss], **weight_summary(initial, weights_seen)}


# printed by `python scripts/nest_current_refs.py` (NEST 3.10.0)
TUTORIAL_REFERENCES = {
    "eprop_iaf": {
        "loss": [107.73732072362752, 106.42253313316886],
        "dw_in": -0.09380728348180455,
        "abs_dw_in": 0.11410033492800806,
        "w_in": [0.01205157194907127, 0.011875740289248947, 0.011219955775167082],
        "dw_rec": -0.05549375524312011,
        "abs_dw_rec": 0.06819026016247651,
        "w_rec": [0.01246960524437234, 0.011501535120624498, 0.010685392909549155],
        "dw_out": 0.0032790483236965462,
        "abs_dw_out": 0.00330753604979513,
        "w_out": [0.010126768486511105, -0.008307513335229263, 0.008019873472920432],
    },
    "eprop_iaf_adapt": {
        "loss": [245.3575336632606, 85.75944869998479],
        "dw_in": 0.0010949306625327752,
        "abs_dw_in": 0.020016809424197417,
        "w_in": [0.40268489718437195, 0.3958620401791996, 0.37403379618137844],
        "dw_rec": 0.008425341157161842,
        "abs_dw_rec": 0.18425251518650632,
        "w_rec": [0.4168117642402649, 0.3834381103515625, 0.35606124997138977],
        "dw_out": -0.07088595947407765,
        "abs_dw_out": 0.07094553936327196,
        "w_out": [0.008637224595680582, -0.009453170692569582, 0.006535059052528724],
    },
    "eprop_iaf_psc_delta": {
        "loss": [102.76578496878753, 100.93312623942623],
        "dw_in": -0.1351359460577945,
        "abs_dw_in": 1.922698692345127,
        "w_in": [0.402517564244018, 0.3958602845668793, 0.374024897813797],
        "dw_rec": -0.09342137509418919,
        "abs_dw_rec": 1.3910842812395243,
        "w_rec": [0.4164937018055093, 0.3834290090314772, 0.35620849036421914],
        "dw_out": 0.0034432253148819238,
        "abs_dw_out": 0.0034547463501778137,
        "w_out": [0.010113339195632327, -0.008305296342789762, 0.00802145360610508],
    },
    "eprop_iaf_psc_delta_adapt": {
        "loss": [108.93376904778609, 107.75535237951335],
        "dw_in": -0.21442723978224926,
        "abs_dw_in": 1.5412688067490694,
        "w_in": [0.40224002875281817, 0.3958602845668793, 0.374024897813797],
        "dw_rec": -0.09942008677034525,
        "abs_dw_rec": 0.7569708023161406,
        "w_rec": [0.41678594021221, 0.38343818559629744, 0.3561391562119647],
        "dw_out": 0.0028777869141161766,
        "abs_dw_out": 0.0028787875906450123,
        "w_out": [0.01010072470457707, -0.008308100902849743, 0.007980172633634344],
    },
}


@pytest.mark.parametrize("model", list(TUTORIAL_REFERENCES))
def test_tutorial_per_spike_weights_match_nest(model):
    """NEST 3.10's sine-waves tutorial (gradient descent once per spike, forced final update),
    two iterations: single final weights and sum |dw| as well as the losses."""
    tut = current_sine_waves(model, iterations=2)
    assert tut.optimizer["optimize_each_step"] is False
    result = run_current_tutorial(tut)
    seen = {k[2:]: w for k, w in result["weights"].items()}
    ours = tutorial_summary(tut, result["loss"], seen)
    for key, value in TUTORIAL_REFERENCES[model].items():
        np.testing.assert_allclose(ours[key], value, rtol=1e-11, atol=1e-13, err_msg=key)
