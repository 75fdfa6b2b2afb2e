"""Miconi's reward-modulated rate network on DNMS against its docstring equations."""

import dataclasses
import json
import os
import re
import signal
import subprocess
import sys
import time
import zipfile
from pathlib import Path

import jax
import jax.numpy as jnp
import numpy as np
import pytest

from eprop_jax import plotting
from eprop_jax.miconi import MiconiConfig, train_dnms
from eprop_jax.miconi import model as miconi
from eprop_jax.miconi import training as miconi_train
from eprop_jax.models.rate import RateState, rate_params, rate_step
from eprop_jax.train import TrainingDiverged

ROOT = Path(__file__).resolve().parents[1]

TINY = MiconiConfig(
    n=8,
    trial_steps=30,
    stim_steps=6,
    gap_steps=6,
    response_steps=8,
    p=0.4,
    dtype="float64",
    perturb_prob=0.2,
    n_warmup=0,
)


def reference_trial(config, w_in, w_rec, mask, x0, xbar0, u, xi):
    """The docstring's step order in NumPy: sums with r(t-1), then x and r, then xbar, then e."""
    bias = np.asarray(config.bias_units)
    bias_r = np.tanh(np.asarray(config.bias_values))
    x, xbar = x0.copy(), xbar0.copy()
    r = np.tanh(x)
    r[bias] = bias_r
    trace = np.zeros_like(w_rec)
    history = []
    for t in range(u.shape[0]):
        current = w_in @ u[t] + w_rec @ r + xi[t]
        x = x + config.dt / config.tau * (current - x)
        r_prev, r = r, np.tanh(x)
        r[bias] = bias_r
        dx = x - xbar
        xbar = config.xbar_alpha * xbar + (1 - config.xbar_alpha) * x
        trace += mask * np.outer(dx, r_prev) ** 3
        history.append((x.copy(), r.copy(), xbar.copy()))
    return history, trace, xbar


def _numpy(tree):
    return jax.tree.map(np.asarray, tree)


def test_rate_step_follows_the_closed_form():
    params = rate_params(3, tau=[10.0, 20.0, 30.0], dt=1.0)
    state = RateState(x=jnp.array([0.5, -0.2, 0.0]), r=jnp.zeros(3))
    current = jnp.array([1.0, 0.3, -2.0])
    for _ in range(7):
        state, r = rate_step(params, state, current)
    decay = (1 - 1.0 / np.array([10.0, 20.0, 30.0])) ** 7
    expected = np.asarray(current) + (np.array([0.5, -0.2, 0.0]) - np.asarray(current)) * decay
    np.testing.assert_allclose(state.x, expected, rtol=1e-12)
    np.testing.assert_allclose(r, np.tanh(expected), rtol=1e-12)
    with pytest.raises(ValueError, match=re.escape("`rate_params`: tau must be finite and > 0")):
        rate_params(3, tau=-1.0)


def test_step_matches_numpy_reference(getkey):
    cfg = TINY
    weights = miconi.init_weights(cfg, key=getkey())
    state = miconi.MiconiState(
        x=jax.random.uniform(getkey(), (cfg.n,), jnp.float64, -1, 1),
        r=jnp.zeros(cfg.n),
        xbar=jax.random.uniform(getkey(), (cfg.n,), jnp.float64, -1, 1),
    )
    state = state._replace(r=miconi._clamp_bias(cfg, jnp.tanh(state.x)))
    u, _ = miconi.trial_inputs(cfg, 1)
    xi = miconi.perturbations(cfg, cfg.perturb_amplitude, key=getkey())
    assert np.count_nonzero(np.asarray(xi)) > 0  # the test exercises perturbations
    w = _numpy(weights)
    history, trace_ref, _ = reference_trial(
        cfg,
        w.w_in,
        w.w_rec,
        w.mask,
        np.asarray(state.x),
        np.asarray(state.xbar),
        np.asarray(u),
        np.asarray(xi),
    )
    external = miconi.external_input(weights, u, xi)
    step = jax.jit(lambda s, ext: miconi.miconi_step(cfg, weights, s, ext))
    trace = np.zeros((cfg.n, cfg.n))
    for t in range(cfg.trial_steps):
        r_prev = np.asarray(state.r)
        state, out = step(state, external[t])
        np.testing.assert_array_equal(out.r_prev, r_prev)
        for got, want in zip((state.x, state.r, state.xbar), history[t], strict=True):
            np.testing.assert_allclose(got, want, rtol=1e-13, atol=1e-15)
        np.testing.assert_allclose(out.r_out, history[t][1][cfg.output], rtol=1e-13, atol=1e-15)
        trace += np.asarray(miconi.trace_increment(weights.mask, out.r_prev, out.dx))
        # bias units stay clamped at tanh(+1), tanh(+1), tanh(-1)
        np.testing.assert_array_equal(state.r[:3], np.tanh([1.0, 1.0, -1.0]))
    np.testing.assert_allclose(trace, trace_ref, rtol=1e-12, atol=1e-300)


@pytest.mark.parametrize("trace_mode", miconi.TRACE_MODES)
def test_trial_matches_numpy_reference(getkey, trace_mode):
    cfg = dataclasses.replace(TINY, trace=trace_mode)
    weights = miconi.init_weights(cfg, key=getkey())
    xbar0 = jax.random.normal(getkey(), (cfg.n,), jnp.float64)
    key = getkey()
    out = miconi.run_trial(cfg, weights, xbar0, 2, key=key)  # BA
    # The documented draws: key -> (initial x, perturbations).
    key_x, key_xi = jax.random.split(key)
    x0 = jax.random.uniform(key_x, (cfg.n,), jnp.float64, -cfg.x_init, cfg.x_init)
    xi = miconi.perturbations(cfg, cfg.perturb_amplitude, key=key_xi)
    u, target = miconi.trial_inputs(cfg, 2)
    assert float(target) == cfg.target  # BA is a non-match
    np.testing.assert_array_equal(np.asarray(u)[:6], [[0.0, 1.0]] * 6)  # B first
    np.testing.assert_array_equal(np.asarray(u)[12:18], [[1.0, 0.0]] * 6)  # then A
    assert not np.any(np.asarray(u)[np.r_[6:12, 18:30]])
    w = _numpy(weights)
    history, trace_ref, xbar_ref = reference_trial(
        cfg,
        w.w_in,
        w.w_rec,
        w.mask,
        np.asarray(x0),
        np.asarray(xbar0),
        np.asarray(u),
        np.asarray(xi),
    )
    r_out = np.array([h[1][cfg.output] for h in history])
    np.testing.assert_allclose(out.r_out, r_out, rtol=1e-13, atol=1e-15)
    reward = -np.mean(np.abs(cfg.target - r_out[-cfg.response_steps :]))
    np.testing.assert_allclose(out.reward, reward, rtol=1e-13)
    np.testing.assert_allclose(out.xbar, xbar_ref, rtol=1e-13, atol=1e-15)
    np.testing.assert_allclose(out.trace, trace_ref, rtol=1e-10, atol=1e-300)


@pytest.mark.slow
def test_trace_and_weights_only_on_existing_synapses(getkey):
    cfg = dataclasses.replace(TINY, n=20, p=0.3)
    state = miconi.init(cfg, key=getkey())
    mask = np.asarray(state.weights.mask)
    assert set(np.unique(mask)) <= {0.0, 1.0}
    assert not np.any(np.diag(mask))  # no self-connections
    assert np.all(np.asarray(state.weights.w_rec)[mask == 0] == 0)
    out = miconi.run_trial(cfg, state.weights, state.xbar, 0, key=getkey())
    trace = np.asarray(out.trace)
    assert np.all(trace[mask == 0] == 0)
    assert np.count_nonzero(trace[mask == 1]) == mask.sum()
    state, _ = miconi.train_groups(cfg, state, n_groups=3, key=getkey())
    w_rec = np.asarray(state.weights.w_rec)
    assert np.all(w_rec[mask == 0] == 0)
    np.testing.assert_array_equal(state.weights.mask, mask)

    dense = miconi.init_weights(dataclasses.replace(cfg, dense=True), key=getkey())
    np.testing.assert_array_equal(dense.mask, 1.0 - np.eye(cfg.n))


def test_default_initialisation_statistics(getkey):
    cfg = MiconiConfig()
    w = _numpy(miconi.init_weights(cfg, key=getkey()))
    assert w.w_in.shape == (200, 2) and w.w_rec.shape == (200, 200)
    assert w.w_rec.dtype == np.float32
    assert np.all(np.abs(w.w_in) <= 1.0)
    density = w.mask.sum() / (200 * 199)
    assert abs(density - 0.1) < 0.01
    sd = w.w_rec[w.mask == 1].std()
    assert abs(sd - 1.5 / np.sqrt(20)) < 0.02
    assert cfg.output == 100


def test_weight_update_clipping_and_sign():
    cfg = MiconiConfig(n=4, eta=0.5, clip=3e-4, dtype="float64")
    trace = jnp.array(
        [
            [0.0, 1e-5, -1e-5, 1.0],
            [-1.0, 0.0, 2e-4, -2e-4],
            [0.3, -0.3, 0.0, 0.0],
            [1e-6, 0.0, 0.0, 0.0],
        ]
    )
    mask = jnp.ones((4, 4)) - jnp.eye(4)
    mask = mask.at[3, 0].set(0.0)
    baseline = -0.8
    for reward in (-0.5, -1.1):  # better, then worse than the baseline
        dw = np.asarray(miconi.weight_update(cfg, trace, mask, reward, baseline))
        raw = 0.5 * np.asarray(trace) * 0.8 * (reward - baseline)
        expected = np.clip(raw, -3e-4, 3e-4) * np.asarray(mask)
        np.testing.assert_allclose(dw, expected, rtol=1e-14)
        assert np.max(np.abs(dw)) == pytest.approx(3e-4)  # clipping is active
        assert dw[3, 0] == 0.0  # absent synapse
        sign = np.sign(reward - baseline)
        moved = (np.asarray(trace) != 0) & (np.asarray(mask) == 1)
        np.testing.assert_array_equal(np.sign(dw[moved]), sign * np.sign(np.asarray(trace))[moved])


@pytest.mark.parametrize("bug", [False, True])
def test_baseline_per_trial_type(getkey, bug):
    cfg = dataclasses.replace(TINY, ab_baseline_bug=bug)
    baseline = jnp.array([-1.0, -0.5, -0.25, -2.0])
    rewards = jnp.array([-0.1, -0.2, -0.3, -0.4])
    new = np.asarray(miconi.update_baseline(cfg, baseline, rewards))
    own = 0.75 * np.asarray(baseline) + 0.25 * np.asarray(rewards)
    ab = 0.75 * -0.5 + 0.25 * (-0.3 if bug else -0.2)  # the notebook's slot AB tracks BA
    np.testing.assert_allclose(new, [own[0], ab, own[2], own[3]], rtol=1e-14)
    # and inside a training group
    state = miconi.init(cfg, key=getkey())
    state = state._replace(baseline=baseline)
    new_state, out = miconi.run_group(cfg, state, key=getkey())
    r = np.asarray(out.reward)
    expected = 0.75 * np.asarray(baseline) + 0.25 * r[[0, 2 if bug else 1, 2, 3]]
    np.testing.assert_allclose(new_state.baseline, expected, rtol=1e-14)
    np.testing.assert_allclose(out.baseline, expected, rtol=1e-14)


def test_group_runs_the_four_types_in_order_with_updates(getkey):
    cfg = TINY
    state = miconi.init(cfg, key=getkey())
    state = state._replace(baseline=jnp.array([-0.9, -0.7, -0.8, -1.1]))
    key = getkey()
    new_state, out = miconi.run_group(cfg, state, key=key)
    weights, xbar = state.weights, state.xbar
    for k, trial_key in enumerate(jax.random.split(key, 4)):
        trial = miconi.run_trial(cfg, weights, xbar, k, key=trial_key)
        np.testing.assert_allclose(out.reward[k], trial.reward, rtol=1e-12)
        dw = miconi.weight_update(cfg, trial.trace, weights.mask, trial.reward, state.baseline[k])
        assert np.any(np.asarray(dw) != 0)
        weights, xbar = weights._replace(w_rec=weights.w_rec + dw), trial.xbar
    np.testing.assert_allclose(new_state.weights.w_rec, weights.w_rec, rtol=1e-12)
    np.testing.assert_allclose(new_state.xbar, xbar, rtol=1e-12)
    assert int(new_state.group) == 1
    # During warm-up the weights do not change, but the baselines do.
    warm = dataclasses.replace(cfg, n_warmup=1)
    frozen, _ = miconi.run_group(warm, state, key=key)
    np.testing.assert_array_equal(frozen.weights.w_rec, state.weights.w_rec)
    assert not np.allclose(frozen.baseline, state.baseline)


@pytest.mark.slow
def test_vmap_over_networks_equals_separate_runs_and_chunks_compose(getkey):
    cfg = TINY
    keys = jax.random.split(getkey(), 3)
    train_keys = jax.random.split(getkey(), 3)
    states = jax.vmap(lambda k: miconi.init(cfg, key=k))(keys)
    batched = jax.vmap(lambda s, k: miconi.train_groups(cfg, s, n_groups=4, key=k))
    final, out = batched(states, train_keys)
    for i in range(3):
        one = miconi.init(cfg, key=keys[i])
        s, o = miconi.train_groups(cfg, one, n_groups=4, key=train_keys[i])
        np.testing.assert_allclose(o.reward, out.reward[i], rtol=1e-12)
        np.testing.assert_allclose(s.weights.w_rec, final.weights.w_rec[i], rtol=1e-12)
        if i == 0:  # 2 + 2 groups equal 4 groups
            s2, o1 = miconi.train_groups(cfg, one, n_groups=2, key=train_keys[i])
            s2, o2 = miconi.train_groups(cfg, s2, n_groups=2, key=train_keys[i])
            np.testing.assert_array_equal(np.concatenate([o1.reward, o2.reward]), o.reward)
            np.testing.assert_array_equal(s2.weights.w_rec, s.weights.w_rec)
    assert out.reward.shape == (3, 4, 4)


def test_float32_state_keeps_its_dtype_and_does_not_recompile(getkey):
    cfg = dataclasses.replace(TINY, dtype="float32")
    state = miconi.init(cfg, key=getkey())
    new, out = miconi.train_groups(cfg, state, n_groups=2, key=getkey())
    for a, b in zip(jax.tree.leaves(state), jax.tree.leaves(new), strict=True):
        assert a.dtype == b.dtype and a.shape == b.shape
    assert out.reward.dtype == jnp.float32
    compiled = miconi._train_groups._cache_size()
    miconi.train_groups(cfg, new, n_groups=2, key=getkey())
    assert miconi._train_groups._cache_size() == compiled


@pytest.mark.parametrize(
    ("kwargs", "message"),
    [
        ({"tau": -1.0}, "tau must be > 0; got -1.0"),
        ({"p": 0.0}, "p must be in (0, 1]; got 0.0"),
        ({"p": 1.5}, "p must be in (0, 1]; got 1.5"),
        ({"n": 3}, "n must be an integer >= 4; got 3"),
        ({"trace": "sparse"}, "unknown trace 'sparse'; expected one of 'factored', 'online'"),
        ({"dtype": "float16"}, "unknown dtype 'float16'"),
        ({"perturb_prob": 2.0}, "perturb_prob must be in [0, 1]; got 2.0"),
        ({"baseline_decay": 1.0}, "baseline_decay must be in [0, 1); got 1.0"),
        ({"trial_steps": 100}, "trial_steps must be an integer >= 600; got 100"),
        ({"output_unit": 1}, "output_unit must be None or an index in [0, n=200)"),
        ({"n": 8, "output_unit": 8}, "output_unit must be None or an index in [0, n=8)"),
        ({"dense": 1}, "dense must be True or False"),
        ({"bias_units": (0, 1)}, "bias_units and bias_values must have the same length"),
    ],
)
def test_bad_config_names_the_parameter(kwargs, message):
    with pytest.raises(ValueError, match=re.escape(f"`MiconiConfig`: {message}")):
        MiconiConfig(**kwargs)


def test_trials_to_criterion():
    errors = np.concatenate([np.full(50, 2.0), np.full(200, 0.8), np.full(200, 0.3)])
    assert miconi.trials_to_criterion(errors, 1.0) == 50 + 95
    assert miconi.trials_to_criterion(errors, 0.5) == 450 + 95 - 200
    assert miconi.trials_to_criterion(errors, 0.1) is None
    assert miconi.trials_to_criterion(errors[:99], 5.0) is None
    rewards = -np.arange(8.0).reshape(2, 4)
    np.testing.assert_array_equal(miconi.trial_errors(rewards), np.arange(8.0))


@pytest.mark.slow
@pytest.mark.parametrize("trial_type", [1, 3])
def test_rule_follows_the_reward_gradient(trial_type):
    """Averaged over perturbed trials, the rule's dW points along dR/dW (a test that can fail).

    Without clipping and with the baseline at the unperturbed reward R0, the mean of
    eta e |R0| (R - R0) over many trials must align with the autodiff gradient of the
    unperturbed reward (node perturbation; the cube keeps the sign). A sign error in the trace,
    the reward or the baseline gives a cosine near -1.
    """
    cfg = MiconiConfig(
        n=16,
        p=0.5,
        trial_steps=60,
        stim_steps=10,
        gap_steps=10,
        response_steps=20,
        x_init=0.0,
        dtype="float64",
        eta=1.0,
        clip=1e9,
        perturb_prob=0.02,
    )
    weights = miconi.init_weights(cfg, key=jax.random.key(0))
    xbar = jnp.zeros(cfg.n)

    def reward(w_rec):  # x_init = 0 and no perturbation: deterministic
        w = weights._replace(w_rec=w_rec)
        return miconi.run_trial(
            cfg, w, xbar, trial_type, key=jax.random.key(0), amplitude=0.0
        ).reward

    r0, grad = jax.value_and_grad(reward)(weights.w_rec)

    def rule(key):
        out = miconi.run_trial(cfg, weights, xbar, trial_type, key=key)
        return miconi.weight_update(cfg, out.trace, weights.mask, out.reward, r0)

    keys = jax.random.split(jax.random.key(1), 1000)
    dw = jax.jit(lambda k: jnp.sum(jax.vmap(rule)(k), axis=0))(keys)
    grad = grad * weights.mask
    cosine = float(jnp.sum(dw * grad) / (jnp.linalg.norm(dw) * jnp.linalg.norm(grad)))
    assert cosine > 0.7, cosine


@pytest.mark.slow
def test_driver_writes_all_files(tmp_path):
    cfg = dataclasses.replace(TINY, n_warmup=2, dtype="float32")
    summary = train_dnms(
        cfg, groups=8, out_dir=tmp_path, seed=3, n_networks=2, progress=False, chunk_groups=4
    )
    names = {p.name for p in tmp_path.iterdir()}
    assert names == {
        "config.json",
        "metrics.jsonl",
        "checkpoint.npz",
        "checkpoint.prev.npz",
        "traces.npz",
        "summary.json",
        "dnms_rewards.png",
        "dnms_traces.png",
        ".lock",
    }
    config = json.loads((tmp_path / "config.json").read_text())
    assert config["n"] == 8 and config["groups"] == 8 and config["task"] == "dnms"
    assert config["kind"] == "dnms"
    lines = [json.loads(x) for x in (tmp_path / "metrics.jsonl").read_text().splitlines()]
    assert [m["group"] for m in lines] == list(range(8))
    assert [m["learning"] for m in lines] == [False, False] + [True] * 6
    assert len(lines[0]["reward"]) == 4 and len(lines[0]["reward_per_network"]) == 2
    np.testing.assert_allclose(lines[3]["error"], -np.mean(lines[3]["reward_per_network"]))
    with np.load(tmp_path / "checkpoint.npz") as ckpt:
        assert int(ckpt["group"]) == 8
        assert ckpt["w_rec"].shape == (2, 8, 8)
    with np.load(tmp_path / "traces.npz") as traces:
        assert traces["before"].shape == traces["after"].shape == (2, 4, 30)
    saved = json.loads((tmp_path / "summary.json").read_text())
    assert saved == json.loads(json.dumps(summary))
    assert set(saved["trials_to_criterion"]) == {"1", "0.5"}
    assert len(saved["test_error"]["AB"]) == 2 and saved["trials"] == 32
    for name in ("dnms_rewards.png", "dnms_traces.png"):
        assert (tmp_path / name).read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"
    # Without out_dir nothing is written, and the same seed gives the same run.
    again = train_dnms(cfg, groups=8, seed=3, n_networks=2, progress=False, chunk_groups=4)
    assert again["test_error"] == summary["test_error"]
    assert again["trials_to_criterion"] == summary["trials_to_criterion"]
    with pytest.raises(ValueError, match=re.escape("`train_dnms`: groups must be an integer")):
        train_dnms(cfg, groups=0)
    with pytest.raises(ValueError, match=re.escape("`train_dnms`: n_networks must be an integer")):
        train_dnms(cfg, groups=2, n_networks=0)
    with pytest.raises(TypeError, match=re.escape("expected config to be a MiconiConfig")):
        train_dnms({"n": 8}, groups=2)


@pytest.mark.slow
def test_driver_stops_on_nan_and_keeps_the_last_good_checkpoint(tmp_path, monkeypatch):
    cfg = dataclasses.replace(TINY, n_warmup=2, dtype="float32")
    real = miconi_train._compiled
    calls = []

    def poisoned(config, n_groups):
        run = real(config, n_groups)

        def wrapped(states, keys):
            states, out = run(states, keys)
            calls.append(n_groups)
            if len(calls) == 2:  # the second chunk produces NaN weights
                w_rec = states.weights.w_rec * jnp.nan
                states = states._replace(weights=states.weights._replace(w_rec=w_rec))
            return states, out

        return wrapped

    monkeypatch.setattr(miconi_train, "_compiled", poisoned)
    with pytest.raises(
        TrainingDiverged,
        match=re.escape(
            "became NaN/inf in groups 4-7; the last finite checkpoint (after 4 groups) is"
        ),
    ):
        train_dnms(
            cfg,
            groups=8,
            out_dir=tmp_path,
            seed=3,
            n_networks=2,
            progress=True,
            chunk_groups=4,
            figures=False,
        )
    with np.load(tmp_path / "checkpoint.npz") as ckpt:
        assert int(ckpt["group"]) == 4
        assert np.all(np.isfinite(ckpt["w_rec"]))
    assert len((tmp_path / "metrics.jsonl").read_text().splitlines()) == 4


def test_dnms_figures():
    rng = np.random.default_rng(0)
    fig = plotting.plot_dnms_rewards(-rng.uniform(0, 2, size=(3, 60, 4)), smooth=5)
    assert len(fig.axes) == 2 and len(fig.axes[0].lines) == 4 and len(fig.axes[1].lines) == 3
    for n_groups in (1, 2, 8):  # shorter than the smoothing window and the 100-trial window
        fig = plotting.plot_dnms_rewards(-rng.uniform(0, 2, size=(n_groups, 4)))
        assert all(len(line.get_xdata()) == n_groups for line in fig.axes[0].lines)
    fig = plotting.plot_dnms_traces(
        rng.normal(size=(4, 50)),
        rng.normal(size=(4, 50)),
        stim_steps=10,
        gap_steps=10,
        response_steps=10,
    )
    assert [ax.get_title() for ax in fig.axes] == ["AA", "AB", "BA", "BB"]
    with pytest.raises(ValueError, match=re.escape("expected rewards of shape (groups, 4)")):
        plotting.plot_dnms_rewards(np.zeros((10, 3)))
    with pytest.raises(ValueError, match=re.escape("expected before and after of the same")):
        plotting.plot_dnms_traces(np.zeros((4, 5)), np.zeros((4, 6)))


def _dnms_arrays(path):
    with np.load(path / "checkpoint.npz") as ckpt:
        return {k: ckpt[k] for k in ckpt.files}


@pytest.mark.slow
def test_dnms_resumes_bit_for_bit_after_an_interruption(tmp_path, monkeypatch):
    cfg = dataclasses.replace(TINY, n_warmup=2, dtype="float32")
    common = {"seed": 5, "n_networks": 2, "progress": False, "chunk_groups": 3, "figures": False}
    straight = train_dnms(cfg, groups=9, out_dir=tmp_path / "a", **common)
    real = miconi_train._compiled
    calls = []

    def killed(config, n_groups):
        run = real(config, n_groups)

        def wrapped(states, keys):
            calls.append(n_groups)
            if len(calls) == 2:  # the process dies during the second chunk
                raise KeyboardInterrupt
            return run(states, keys)

        return wrapped

    monkeypatch.setattr(miconi_train, "_compiled", killed)
    with pytest.raises(KeyboardInterrupt):
        train_dnms(cfg, groups=9, out_dir=tmp_path / "b", **common)
    monkeypatch.setattr(miconi_train, "_compiled", real)
    assert int(_dnms_arrays(tmp_path / "b")["group"]) == 3
    # A second interruption in another way: a shorter run, extended by resume (groups may change).
    train_dnms(cfg, groups=6, out_dir=tmp_path / "b", resume=True, **common)
    assert int(_dnms_arrays(tmp_path / "b")["group"]) == 6
    resumed = train_dnms(cfg, groups=9, out_dir=tmp_path / "b", resume=True, **common)
    a, b = _dnms_arrays(tmp_path / "a"), _dnms_arrays(tmp_path / "b")
    for name in a:
        np.testing.assert_array_equal(a[name], b[name])
    lines_a = (tmp_path / "a" / "metrics.jsonl").read_text().splitlines()
    assert (tmp_path / "b" / "metrics.jsonl").read_text().splitlines() == lines_a
    assert resumed["trials_to_criterion"] == straight["trials_to_criterion"]
    assert resumed["test_error"] == straight["test_error"]
    # Nothing is overwritten by accident, and a different setting is named.
    with pytest.raises(ValueError, match=re.escape("already holds a run (config.json, metrics")):
        train_dnms(cfg, groups=9, out_dir=tmp_path / "b", **common)
    with pytest.raises(
        ValueError, match=re.escape("the configuration differs in seed: saved 5, now 6")
    ):
        train_dnms(cfg, groups=9, out_dir=tmp_path / "b", resume=True, **{**common, "seed": 6})
    assert (tmp_path / "b" / "metrics.jsonl").read_text().splitlines() == lines_a
    with pytest.raises(ValueError, match=re.escape("it has done 9 groups already")):
        train_dnms(cfg, groups=4, out_dir=tmp_path / "b", resume=True, **common)


def test_dnms_float64_needs_x64():
    cfg = dataclasses.replace(TINY, dtype="float64")
    jax.config.update("jax_enable_x64", False)
    try:
        with pytest.raises(
            ValueError, match=re.escape("`train_dnms`: dtype='float64' needs JAX's x64 mode")
        ):
            train_dnms(cfg, groups=1, progress=False)
    finally:
        jax.config.update("jax_enable_x64", True)


def _dnms_command(out, groups):
    return [
        sys.executable,
        "-m",
        "eprop_jax.cli",
        "dnms",
        "--groups",
        str(groups),
        "--chunk-groups",
        "5",
        "--seed",
        "3",
        "--no-plots",
        "--no-progress",
        "--out",
        str(out),
    ]


@pytest.mark.slow
def test_dnms_killed_with_sigkill_resumes_bit_for_bit(tmp_path):
    """A real kill (SIGKILL, no clean-up at all) mid-run, then --resume: the same weights,
    baselines and metrics as a run that was never interrupted."""
    env = {**os.environ, "PYTHONPATH": str(ROOT / "src")}
    groups = 400
    straight = subprocess.run(
        _dnms_command(tmp_path / "a", groups), env=env, capture_output=True, text=True, timeout=600
    )
    assert straight.returncode == 0, straight.stderr
    proc = subprocess.Popen(
        _dnms_command(tmp_path / "b", groups),
        env=env,
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
    )
    checkpoint = tmp_path / "b" / "checkpoint.npz"
    deadline = time.monotonic() + 300
    try:
        while proc.poll() is None and time.monotonic() < deadline:
            try:
                started = checkpoint.exists() and int(_dnms_arrays(tmp_path / "b")["group"]) >= 5
            except (OSError, ValueError, zipfile.BadZipFile):  # between two writes: look again
                started = False
            if started:
                proc.kill()  # SIGKILL: no finally blocks, no lock release by the process itself
                break
            time.sleep(0.01)
    finally:
        if proc.poll() is None:  # killed above, or the loop was left early
            proc.kill()
        proc.wait(timeout=60)  # never leave a running child behind (its Popen would warn later)
    assert proc.returncode == -signal.SIGKILL, "the run must be killed before it finishes"
    done = int(_dnms_arrays(tmp_path / "b")["group"])
    assert 5 <= done < groups
    resumed = subprocess.run(
        [*_dnms_command(tmp_path / "b", groups), "--resume"],
        env=env,
        capture_output=True,
        text=True,
        timeout=600,
    )
    assert resumed.returncode == 0, resumed.stderr
    a, b = _dnms_arrays(tmp_path / "a"), _dnms_arrays(tmp_path / "b")
    assert sorted(a) == sorted(b)
    for name in a:
        np.testing.assert_array_equal(a[name], b[name], err_msg=name)

    def metrics(run):
        rows = [
            json.loads(line) for line in (tmp_path / run / "metrics.jsonl").read_text().splitlines()
        ]
        return [{k: v for k, v in row.items() if "time" not in k} for row in rows]

    assert metrics("a") == metrics("b")
