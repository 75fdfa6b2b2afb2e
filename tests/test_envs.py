"""Environments for reward-based e-prop: the pure-function interface, the delayed-reward decision
task, the batched rollout, and CartPole through the Gymnasium adapter (a smoke test)."""

import re

import jax.numpy as jnp
import numpy as np
import pytest

import eprop_jax as ej
from eprop_jax import envs
from eprop_jax import reward as rw
from eprop_jax.reward_train import iterations_to_criterion


def small_decision_env():
    return envs.delayed_decision(
        n_cues=1, cue_duration=5.0, cue_silence=2.0, delay=3.0, recall_duration=4.0, n_per_group=2
    )


def test_delayed_decision_rewards_only_correct_recall_actions(getkey):
    env = small_decision_env()
    assert (env.n_obs, env.n_actions, env.n_steps, env.success_return) == (8, 2, 14, 2.0)
    state, obs = env.reset(getkey())
    assert obs.shape == (8,)
    label = int(state.label)
    rewards, dones = [], []
    for t in range(env.n_steps):
        action = label if t % 2 == 0 else 1 - label
        state, obs, reward, done = env.step(state, jnp.int32(action), getkey())
        rewards.append(float(reward))
        dones.append(bool(done))
    assert rewards == [0.0] * 10 + [1.0, 0.0, 1.0, 0.0]
    assert dones == [False] * 13 + [True]
    # the recall group (inputs 4:6) is silent before the recall window
    assert float(state.inputs[:10, 4:6].sum()) == 0.0


def test_end_mode_gives_one_reward_for_the_majority_and_scores_are_by_hand(getkey):
    options = dict(
        n_cues=3, cue_duration=5.0, cue_silence=2.0, delay=3.0, recall_duration=4.0, n_per_group=2
    )
    env = envs.delayed_decision(reward_mode="end", **options)
    assert env.success_return == 0.5 and env.criterion == 0.9
    for right_steps, want in ((3, 1.0), (2, 0.0)):  # 3 of 4 recall steps right: a majority
        state, _ = env.reset(getkey())
        label, recall_start = int(state.label), env.n_steps - 4
        rewards = []
        for t in range(env.n_steps):
            right = recall_start <= t < recall_start + right_steps
            state, _, reward, _ = env.step(state, jnp.int32(label if right else 1 - label), None)
            rewards.append(float(reward))
        assert rewards == [0.0] * (env.n_steps - 1) + [want]
    # scores: argmax right on 3 of 4 recall steps -> greedy 1; p_label the mean of pi(label)
    pi_label = jnp.array([0.0] * (env.n_steps - 4) + [0.9, 0.6, 0.2, 0.7])
    pi = jnp.stack([pi_label, 1 - pi_label], -1)
    state = state._replace(label=jnp.int32(0), unanimous=jnp.bool_(True))
    scores = env.score(state, pi)
    assert float(scores["greedy"]) == 1.0 and float(scores["unanimous"]) == 1.0
    assert abs(float(scores["p_label"]) - 0.6) < 1e-6
    scores = env.score(state._replace(label=jnp.int32(1)), pi)
    assert float(scores["greedy"]) == 0.0 and abs(float(scores["p_label"]) - 0.4) < 1e-6


def test_rollout_refuses_a_network_of_the_wrong_size(getkey):
    env = small_decision_env()
    wrong = ej.network(8, 8, 2)
    with pytest.raises(ValueError, match=re.escape("needs a network with n_in = 8 and n_out")):
        envs.rollout(wrong, ej.init_weights(wrong, getkey()), env, getkey(), 2)


def test_iterations_to_criterion_counts_successive_episodes():
    correct = np.r_[np.zeros(50), np.ones(95), np.zeros(5), np.ones(100)]
    # episodes 50..149 hold 95 correct: met after 150 episodes = iteration 3 with 64 per batch
    assert iterations_to_criterion(correct, 64, window=100, fraction=0.95) == 3
    assert iterations_to_criterion(np.zeros(300), 64) is None
    assert iterations_to_criterion(np.ones(50), 64) is None


def test_cartpole_through_the_gymnasium_adapter(getkey):
    gymnasium = pytest.importorskip("gymnasium")
    from eprop_jax.envs.gym_adapter import gym_rollout

    gym_envs = [gymnasium.make("CartPole-v1") for _ in range(3)]
    net = ej.network(4, 16, 3, n_alif=8)
    weights = ej.init_weights(net, getkey(), dtype=jnp.float64, input_gain=3.0)
    key = getkey()
    episode, trace = gym_rollout(net, weights, gym_envs, key, max_steps=25)
    assert episode.inputs.shape == (25, 3, 4) and trace.y.shape == (25, 3, 3)
    mask = np.asarray(episode.mask)
    lengths = mask.sum(0)
    assert np.all(lengths >= 1) and np.all(np.diff(mask, axis=0) <= 0)  # alive, then dead
    # CartPole pays 1 per step survived: the return is the episode length
    np.testing.assert_array_equal(np.asarray(episode.rewards).sum(0), lengths)
    config = rw.actor_critic(2, gamma=0.9)
    grads, aux = rw.reward_eprop_online(net, weights, episode, config=config)
    assert all(bool(jnp.all(jnp.isfinite(g))) for g in grads)
    assert float(jnp.max(jnp.abs(grads.w_in))) > 0
    np.testing.assert_array_equal(aux.episode_return, lengths)
    # the same seed replays the same episodes
    again, _ = gym_rollout(net, weights, gym_envs, key, max_steps=25)
    np.testing.assert_array_equal(again.actions, episode.actions)
    with pytest.raises(ValueError, match=re.escape("needs a network with n_in = 4 and n_out")):
        gym_rollout(
            ej.network(4, 8, 2),
            ej.init_weights(ej.network(4, 8, 2), key),
            gym_envs,
            key,
            max_steps=5,
        )


def test_gym_segments_continue_the_games_and_bootstrap_with_the_next_value(getkey):
    gymnasium = pytest.importorskip("gymnasium")
    from eprop_jax.envs.gym_adapter import gym_segment, gym_start, make_agent_step

    gym_envs = [gymnasium.make("CartPole-v1") for _ in range(3)]
    net = ej.network(4, 16, 3, n_alif=8)
    weights = ej.init_weights(net, getkey(), dtype=jnp.float64, input_gain=3.0)
    agent_step = make_agent_step(net, jnp.float64)
    stream = gym_start(gym_envs, getkey())
    total, finished_total, lengths, n_cut = 0.0, 0.0, [], 0
    for _ in range(6):
        before = stream
        episode, _, stream, finished = gym_segment(
            net, weights, gym_envs, stream, getkey(), max_steps=8, agent_step=agent_step
        )
        mask = np.asarray(episode.mask)
        np.testing.assert_array_equal(np.asarray(episode.inputs[0]), before.obs)
        running = stream.steps > 0  # a game that ended was reset to 0 steps
        assert np.all(mask[-1][running] == 1)
        # V_{T+1}: the network run on the segment and one more step on the next observation
        after = jnp.concatenate([episode.inputs, jnp.asarray(stream.obs)[None]])
        value_next = np.asarray(ej.simulate(net, weights, after).y[-1, :, 2])
        boot = np.asarray(episode.bootstrap)
        np.testing.assert_allclose(boot[running], value_next[running], rtol=1e-12, atol=1e-12)
        assert np.all(boot[~running] == 0.0)
        n_cut += int(running.sum())
        total += float(np.asarray(episode.rewards).sum())
        finished_total += sum(score for score, _ in finished)
        lengths += [steps for _, steps in finished]
        assert all(score == steps for score, steps in finished)  # 1 per step survived
    # CartPole pays 1 per step: every reward is in a finished game or a running one
    assert finished_total + stream.score.sum() == total
    assert n_cut > 0 and max(lengths) > 8  # some games were cut and went on in the next segment


def test_dnms_trial_structure_and_rewards(getkey):
    env = envs.dnms(
        stim_steps=3,
        gap_steps=2,
        trial_steps=12,
        response_steps=4,
        n_per_group=1,
        stim_rate=1000.0,
        noise_rate=0.0,
    )
    assert (env.n_obs, env.n_actions, env.n_steps, env.success_return) == (3, 2, 12, 2.0)
    for trial_type in range(4):
        state, obs = env.reset(getkey())
        state = state._replace(trial_type=jnp.int32(trial_type))
        obs = [np.asarray(obs)]
        first, second = trial_type // 2, trial_type % 2
        answer = int(first != second)
        rewards = []
        for _ in range(env.n_steps):
            state, o, reward, done = env.step(state, jnp.int32(answer), getkey())
            obs.append(np.asarray(o))
            rewards.append(float(reward))
        assert rewards == [0.0] * 8 + [1.0] * 4 and bool(done)
        obs = np.stack(obs)
        # step 0 was observed before the type was replaced; steps 1-2 show stimulus one
        np.testing.assert_array_equal(obs[1:3, first], 1.0)
        np.testing.assert_array_equal(obs[5:8, second], 1.0)
        assert obs[3:5, :2].sum() == 0 and obs[8:12, :2].sum() == 0
    with pytest.raises(ValueError, match=re.escape("trial_steps must be an integer >= 8")):
        envs.dnms(stim_steps=3, gap_steps=2, trial_steps=7, response_steps=4)
