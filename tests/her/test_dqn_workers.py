"""The 8-worker DQN emulation (§4.1: workers average parameters after every update) and App. A's clipped targets."""
from __future__ import annotations

import numpy as np
import pytest
import torch

from papers.her.bitflip_experiment import BitFlipDQN, make_vector_env, run_episodes
from papers.her.dqn_workers import WorkerQNetworks, dqn_loss, dqn_targets

W, IN, HIDDEN, A, B = 4, 6, [16], 3, 8


@pytest.fixture
def nets():
    torch.manual_seed(0)
    return WorkerQNetworks(W, IN, HIDDEN, A)


def test_workers_start_identical(nets):
    for p in nets.parameters():
        assert p.shape[0] == W
        for w in range(1, W):
            assert torch.equal(p[w], p[0])


def test_forward_worker_matches_batched_forward(nets):
    x = torch.randn(W, B, IN)
    q = nets(x)
    assert q.shape == (W, B, A)
    for w in range(W):
        torch.testing.assert_close(nets.forward_worker(x[w], w), q[w])


def test_own_minibatch_adam_step_then_average(nets):
    torch.manual_seed(1)
    x = torch.randn(W, B, IN)  # every worker its own minibatch
    actions = torch.randint(0, A, (W, B))
    targets = -torch.rand(W, B) * 5
    opt = torch.optim.Adam(nets.parameters(), lr=1e-2)
    loss = dqn_loss(nets, x, actions, targets)
    opt.zero_grad()
    loss.backward()
    # each worker's gradient is the gradient of its own mean squared TD error only
    grads = [p.grad.clone() for p in nets.parameters()]
    other = WorkerQNetworks(W, IN, HIDDEN, A)
    other.load_state_dict(nets.state_dict())
    q0 = other(x)[0].gather(-1, actions[0].unsqueeze(-1)).squeeze(-1)
    ((q0 - targets[0]) ** 2).mean().backward()
    for g, p in zip(grads, other.parameters()):
        torch.testing.assert_close(g[0], p.grad[0])
        assert torch.count_nonzero(p.grad[1:]) == 0
    opt.step()
    before = [p.detach().clone() for p in nets.parameters()]
    assert any(not torch.equal(p[0], p[1]) for p in before), "workers did not take different steps"
    nets.average_workers()
    for p, pre in zip(nets.parameters(), before):
        for w in range(W):
            torch.testing.assert_close(p[w], pre.mean(0), rtol=0, atol=1e-7)


def test_dqn_loss_value(nets):
    x = torch.randn(W, B, IN)
    actions = torch.randint(0, A, (W, B))
    targets = torch.zeros(W, B)
    q = nets(x).gather(-1, actions.unsqueeze(-1)).squeeze(-1)
    expected = sum(((q[w] - 0) ** 2).mean() for w in range(W))
    torch.testing.assert_close(dqn_loss(nets, x, actions, targets), expected)


def test_dqn_targets_clip_and_no_terminal_mask():
    torch.manual_seed(2)
    target = WorkerQNetworks(1, IN, HIDDEN, A)
    gamma = 0.98
    low, high = -1.0 / (1.0 - gamma), 0.0
    x_next = torch.randn(W, B, IN)
    next_q = target.forward_worker(x_next.reshape(-1, IN)).max(-1).values.view(W, B)
    rewards = torch.full((W, B), -1.0)
    rewards[0] = 100.0  # clipped to 0
    rewards[1] = -1000.0  # clipped to -1/(1-gamma) = -50
    y = dqn_targets(target, x_next, rewards, gamma, low, high)
    assert torch.all(y[0] == 0.0)
    torch.testing.assert_close(y[1], torch.full((B,), -50.0))
    # gamma applies to every transition (no terminal mask); inside the range the target is unclipped
    torch.testing.assert_close(y[2:], (rewards[2:] + gamma * next_q[2:]).clamp(low, high))
    inside = (rewards[2:] + gamma * next_q[2:] > low) & (rewards[2:] + gamma * next_q[2:] < high)
    assert inside.any()
    torch.testing.assert_close(y[2:][inside], (rewards[2:] + gamma * next_q[2:])[inside])
    assert not y.requires_grad


def test_polyak_from():
    torch.manual_seed(3)
    online = WorkerQNetworks(W, IN, HIDDEN, A)
    target = WorkerQNetworks(1, IN, HIDDEN, A)
    old = [p.detach().clone() for p in target.parameters()]
    target.polyak_from(online, 0.95)
    for t, o, src in zip(target.parameters(), old, online.parameters()):
        torch.testing.assert_close(t, 0.95 * o + 0.05 * src[:1])
    target.polyak_from(online, 0.0)
    for t, src in zip(target.parameters(), online.parameters()):
        torch.testing.assert_close(t, src[:1])


HP = {"n_bits": 4, "her_strategy": "final", "her_k": 1, "hidden_layers": [16], "workers": 2, "episodes_per_cycle": 4,
      "cycles_per_epoch": 1, "optimization_steps_per_cycle": 2, "batch_size": 8, "buffer_size": 100,
      "buffer_scope": "per_worker", "polyak": 0.95, "learning_rate": 0.001, "adam_beta1": 0.9, "adam_beta2": 0.999,
      "adam_epsilon": 1e-8, "gamma": 0.98, "clip_target": True, "observation_clip": 5.0, "normalizer_std_floor": 0.01,
      "exploration_epsilon": 0.2, "loss": "mse", "double_q": False, "test_network": "target"}


@pytest.mark.parametrize("strategy,copies", [("none", 1), ("final", 2), ("future", 4)])
def test_agent_store_and_optimise(strategy, copies):
    """Each worker's buffer holds its own episodes (x copies per transition); after an update all workers are equal
    and the target network only moves on update_target."""
    torch.manual_seed(0)
    hp = {**HP, "her_strategy": strategy, "her_k": 3}
    rng = np.random.default_rng(0)
    agent = BitFlipDQN(hp, torch.device("cpu"), rng)
    envs = make_vector_env(hp["n_bits"], hp["episodes_per_cycle"])
    episodes = run_episodes(envs, hp["n_bits"], rng, agent.explore)
    agent.store(episodes)
    per_worker = hp["episodes_per_cycle"] // hp["workers"] * hp["n_bits"] * copies
    assert [b.size for b in agent.buffers] == [per_worker] * hp["workers"]
    first = agent.buffers[0]
    obs = np.unpackbits(first.data["obs"][:first.size], axis=-1, count=hp["n_bits"])
    np.testing.assert_array_equal(obs[0], episodes["states"][0, 0])  # worker 0 holds episode 0 first
    target_before = [p.detach().clone() for p in agent.target.parameters()]
    agent.optimise()
    for p in agent.online.parameters():
        assert all(torch.equal(p[w], p[0]) for w in range(hp["workers"]))
    assert all(torch.equal(a, b) for a, b in zip(target_before, agent.target.parameters()))
    agent.update_target()
    assert any(not torch.equal(a, b) for a, b in zip(target_before, agent.target.parameters()))
