"""The batched torch CartPole equals gymnasium's CartPole-v1, step for step."""
import gymnasium as gym
import numpy as np
import torch

from nas.evolution.tasks.cartpole import CartPole, cartpole_step


def test_step_matches_gymnasium_on_random_states_and_actions():
    rng = np.random.default_rng(0)
    env = gym.make("CartPole-v1").unwrapped
    env.reset(seed=0)
    states = rng.uniform(-0.3, 0.3, size=(500, 4))
    actions = rng.integers(0, 2, size=500)
    ours, ours_done = cartpole_step(torch.tensor(states, dtype=torch.float64),
                                    torch.tensor(actions == 1))
    for i in range(500):
        env.state = states[i].copy()
        env.steps_beyond_terminated = None
        _, reward, terminated, _, _ = env.step(int(actions[i]))
        assert reward == 1.0
        np.testing.assert_allclose(ours[i].numpy(), env.state, rtol=0, atol=1e-12)
        assert bool(ours_done[i]) == terminated


def test_trajectory_matches_gymnasium_for_a_whole_episode():
    env = gym.make("CartPole-v1").unwrapped
    env.reset(seed=3)
    state = torch.tensor(env.state, dtype=torch.float64).unsqueeze(0)
    rng = np.random.default_rng(1)
    for _ in range(200):
        action = int(rng.integers(0, 2))
        _, _, terminated, _, _ = env.step(action)
        state, done = cartpole_step(state, torch.tensor([action == 1]))
        np.testing.assert_allclose(state[0].numpy(), env.state, atol=1e-12)
        assert bool(done[0]) == terminated
        if terminated:
            break


def test_fitness_counts_steps_including_the_failing_one():
    class PushRight:
        def __call__(self, obs):
            return torch.ones(len(obs), 1)

        def keep(self, rows):
            pass

    task = CartPole()
    starts = torch.zeros(3, 4, dtype=torch.float64)
    fitness = task.evaluate(PushRight(), starts)
    env = gym.make("CartPole-v1").unwrapped
    env.reset(seed=0)
    env.state = np.zeros(4)
    steps = 0
    while True:
        steps += 1
        if env.step(1)[2]:
            break
    assert fitness.tolist() == [steps] * 3
