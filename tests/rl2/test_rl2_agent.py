"""The RL² GRU, the first-order TRPO step and the entry point (small batches; the paper's batch is a slow test)."""
from __future__ import annotations

import math

import pytest
import torch

from papers.rl2.first_order_trpo import (OptimiserSettings, ValueBaseline, batch_kl, minibatches,
                                         optimise_policy, policy_terms)
from papers.rl2.gru import GRUHead, WeightNormGRU, categorical_sample, policy_inputs


def test_gru_cell_is_the_authors_equations():
    torch.manual_seed(0)
    gru = WeightNormGRU(3, 4)
    with torch.no_grad():
        gru.g_x.uniform_(0.5, 2.0)
        gru.b.normal_()
    x, h = torch.randn(2, 3), torch.randn(2, 4)
    w_x, w_h = gru.weights()
    (wxr, wxu, wxc), (whr, whu, whc) = w_x.chunk(3, 1), w_h.chunk(3, 1)
    br, bu, bc = gru.b.chunk(3)
    r = torch.sigmoid(x @ wxr + br + h @ whr)
    u = torch.sigmoid(x @ wxu + bu + h @ whu)
    c = torch.relu(x @ wxc + bc + r * (h @ whc))
    expected = (1 - u) * h + u * c
    torch.testing.assert_close(gru.step(x @ w_x + gru.b, h, w_h), expected)
    # weight normalisation: each column of each W has norm g
    torch.testing.assert_close(w_x.norm(dim=0), gru.g_x.detach())
    torch.testing.assert_close(w_h.norm(dim=0), torch.ones(12))


def test_gru_sequence_starts_from_zero_state():
    torch.manual_seed(1)
    gru = WeightNormGRU(2, 5)
    x = torch.randn(3, 4, 2)
    out = gru(x)
    w_x, w_h = gru.weights()
    h = torch.zeros(3, 5)
    for t in range(4):
        h = gru.step(x[:, t] @ w_x + gru.b, h, w_h)
        torch.testing.assert_close(out[:, t], h)


def test_recurrent_init_is_orthogonal_and_output_layer_plain():
    torch.manual_seed(2)
    head = GRUHead(6, 8, 3)
    v_hr = head.gru.v_h[:, :8]
    torch.testing.assert_close(v_hr.T @ v_hr, 1.21 * torch.eye(8), atol=1e-5, rtol=0)  # U * 1.1
    assert torch.all(head.out.bias == 0)
    bound = math.sqrt(6 / (8 + 3))
    assert head.out.weight.abs().max() <= bound


def test_policy_inputs_append_the_policys_previous_action():
    obs = torch.zeros(2, 3, 4)
    actions = torch.tensor([[1, 0, 2], [2, 2, 0]])
    x = policy_inputs(obs, actions, 3, include_prev_action=True)
    assert x.shape == (2, 3, 7)
    torch.testing.assert_close(x[:, 0, 4:], torch.zeros(2, 3))
    torch.testing.assert_close(x[0, 1, 4:], torch.tensor([0.0, 1.0, 0.0]))
    torch.testing.assert_close(x[1, 2, 4:], torch.tensor([0.0, 0.0, 1.0]))
    assert policy_inputs(obs, actions, 3, include_prev_action=False) is obs


def test_categorical_sampling_frequencies():
    torch.manual_seed(3)
    probs = torch.tensor([[0.2, 0.5, 0.3]]).repeat(50000, 1)
    freq = torch.bincount(categorical_sample(probs), minlength=3).float() / 50000
    torch.testing.assert_close(freq, torch.tensor([0.2, 0.5, 0.3]), atol=0.01, rtol=0)


def _settings(**kw):
    base = dict(clip=0.1, max_kl=0.01, epochs=5, minibatch_trials=4, learning_rate=1e-3, adam_betas=(0.9, 0.999),
                adam_epsilon=1e-8, grad_clip=40.0,
                backtrack_ratio=0.5, max_backtracks=10, entropy_bonus=0.0)
    return OptimiserSettings(**{**base, **kw})


def _batch(seed=0, n=10, t=5, obs_dim=4, actions=3):
    g = torch.Generator().manual_seed(seed)
    obs = torch.randn(n, t, obs_dim, generator=g)
    act = torch.randint(actions, (n, t), generator=g)
    adv = torch.randn(n, t, generator=g)
    return obs, act, adv


def test_clipped_surrogate_and_kl():
    torch.manual_seed(4)
    policy = GRUHead(4, 8, 3)
    obs, act, adv = _batch()
    with torch.no_grad():
        p_old = torch.softmax(policy(obs), -1)
    loss, unclipped, kl = (t.detach() for t in policy_terms(policy, obs, act, p_old, adv, 0.1))
    assert float(kl) == pytest.approx(0.0, abs=1e-7)
    assert float(loss) == pytest.approx(-float(adv.mean()), rel=1e-5)  # ratio 1: loss = -mean A
    assert float(unclipped) == pytest.approx(float(loss), rel=1e-5)


def test_line_search_enforces_the_kl_bound():
    """With a large learning rate the epochs overshoot; the line search brings the mean KL back under delta (or
    stops after 10 halvings) and never reverts to theta_old."""
    torch.manual_seed(5)
    policy = GRUHead(4, 8, 3)
    obs, act, adv = _batch(n=16)
    with torch.no_grad():
        p_old = torch.softmax(policy(obs), -1)
    settings = _settings(learning_rate=0.05, max_kl=0.001)
    opt = torch.optim.Adam(policy.parameters(), lr=0.05)
    stats = optimise_policy(policy, opt, obs, act, p_old, adv, settings)
    kl = batch_kl(policy, obs, p_old, settings.minibatch_trials)
    assert kl == pytest.approx(stats["mean_kl"])
    assert kl <= 0.001 or stats["backtracks"] == 10
    assert kl > 0  # moved


def test_best_epoch_is_restored_when_within_kl():
    torch.manual_seed(6)
    policy = GRUHead(4, 8, 3)
    obs, act, adv = _batch(n=16)
    with torch.no_grad():
        p_old = torch.softmax(policy(obs), -1)
    opt = torch.optim.Adam(policy.parameters(), lr=1e-4)
    stats = optimise_policy(policy, opt, obs, act, p_old, adv, _settings(max_kl=1.0))
    assert stats["best_epoch_kept"] == 1.0 and stats["backtracks"] == 0.0


def test_minibatches_are_contiguous_whole_trials():
    assert minibatches(10, 4) == [slice(0, 4), slice(4, 8), slice(8, 10)]


def test_value_baseline_running_moments():
    torch.manual_seed(7)
    baseline = ValueBaseline(GRUHead(4, 8, 1), _settings(), 0.9)
    obs = torch.randn(8, 3, 4)
    returns = torch.full((8, 3), 10.0)
    baseline.fit(obs, returns)
    assert baseline.mean == pytest.approx(9.0)  # 0.1 * 0 + 0.9 * 10
    assert baseline.std == pytest.approx(0.1 + 0.9 * 1.0)  # sqrt(mean((10 - 9)^2)) = 1
    assert baseline.predict(obs).shape == (8, 3)
