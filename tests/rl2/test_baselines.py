"""The Table 1-2 baselines against direct, loop-by-loop ports of the code the authors ran."""
from __future__ import annotations

import numpy as np
import pytest

from papers.rl2 import bandit_baselines as bb
from papers.rl2 import mdp_baselines as mb
from papers.rl2.gittins import gittins_table


def evi_reference(r, p, r_slack, p_slack, horizon):
    """TabulaRL compute_qVals_EVI for one MDP, line by line (pOpt aliases P[s, a], as in the original)."""
    s_n, a_n = r.shape
    p = {(s, a): p[s, a].copy() for s in range(s_n) for a in range(a_n)}
    q_max = {horizon: np.zeros(s_n)}
    q_vals = np.zeros((horizon, s_n, a_n))
    for i in range(horizon):
        j = horizon - i - 1
        q_max[j] = np.zeros(s_n)
        for s in range(s_n):
            for a in range(a_n):
                r_opt = r[s, a] + r_slack[s, a]
                p_ind = np.argsort(q_max[j + 1], kind="stable")
                p_opt = p[s, a]
                if p_opt[p_ind[s_n - 1]] + p_slack[s, a] * 0.5 > 1:
                    p_opt = np.zeros(s_n)
                    p_opt[p_ind[s_n - 1]] = 1
                else:
                    p_opt[p_ind[s_n - 1]] += p_slack[s, a] * 0.5
                loop = 0
                while np.sum(p_opt) > 1 + 1e-12:  # the original's `> 1`, without float round-off loops
                    worst = p_ind[loop]
                    p_opt[worst] = max(0, 1 - np.sum(p_opt) + p_opt[worst])
                    loop += 1
                q_vals[j, s, a] = r_opt + np.dot(p_opt, q_max[j + 1])
            q_max[j][s] = np.max(q_vals[j, s])
    return q_vals


def test_extended_value_iteration_matches_tabularl_loop():
    rng = np.random.default_rng(0)
    batch, s, a, horizon = 6, 4, 3, 5
    r = rng.normal(1, 1, size=(batch, s, a))
    p = rng.dirichlet(np.ones(s), size=(batch, s, a))
    p_slack = rng.uniform(0, 1.5, size=(batch, s, a))  # some saturate (p + slack / 2 > 1), some do not
    r_slack = rng.uniform(0, 1, size=(batch, s, a))
    ours = mb.extended_value_iteration(r, p, r_slack, p_slack, horizon)
    for b in range(batch):
        np.testing.assert_allclose(ours[b], evi_reference(r[b], p[b], r_slack[b], p_slack[b], horizon), atol=1e-9)


def test_value_iteration_with_bonuses_matches_tabularl():
    rng = np.random.default_rng(1)
    r = rng.normal(size=(2, 3, 2))
    p = rng.dirichlet(np.ones(3), size=(2, 3, 2))
    rb, pb = rng.uniform(size=(2, 3, 2)), rng.uniform(size=(2, 3, 2))
    q = mb.value_iteration(r, p, 4, rb, pb)
    for b in range(2):
        v = np.zeros(3)
        for i in range(4):
            j = 3 - i
            expected = r[b] + rb[b] + p[b] @ v + pb[b] * i  # compute_qVals_opt adds P_bonus * i
            np.testing.assert_allclose(q[b, j], expected, rtol=1e-5)
            v = expected.max(-1)


def test_posterior_update_is_tabularl_normal_and_dirichlet():
    post = mb.Posterior.prior(1, 2, 2, alpha0=1.0, tau0=1.0)
    post.update(np.array([0]), np.array([1]), np.array([3.0]), np.array([1]), episode_continues=True)
    assert post.mu[0, 0, 1] == pytest.approx(1.5) and post.tau[0, 0, 1] == 2.0  # (0 * 1 + 3 * 1) / 2
    np.testing.assert_array_equal(post.counts[0, 0, 1], [1.0, 2.0])
    post.update(np.array([0]), np.array([1]), np.array([0.0]), np.array([0]), episode_continues=False)
    np.testing.assert_array_equal(post.counts[0, 0, 1], [1.0, 2.0])  # the last step of an episode adds no count
    assert post.mu[0, 0, 1] == pytest.approx(1.0)


def test_egreedy_breaks_ties_uniformly_and_explores():
    rng = np.random.default_rng(2)
    q = np.tile(np.array([[1.0, 3.0, 3.0, 0.0]]), (20000, 1))
    counts = np.bincount(mb.egreedy(q, 0.0, rng), minlength=4) / 20000
    np.testing.assert_allclose(counts, [0, 0.5, 0.5, 0], atol=0.02)
    counts = np.bincount(mb.egreedy(q, 1.0, rng), minlength=4) / 20000
    np.testing.assert_allclose(counts, [0.25] * 4, atol=0.02)


def test_optimistic_psrl_with_one_sample_is_psrl():
    a = mb.play(mb.psrl(10), 3, 50, seed=4, policy_seed=5)
    b = mb.play(mb.optimistic_psrl(10, 1), 3, 50, seed=4, policy_seed=5)
    np.testing.assert_array_equal(a, b)


def test_mdp_baselines_order_on_a_small_batch():
    """Learning beats random play by a wide margin at n = 10 (Table 2: 100.1 random, 133-150 the others)."""
    random = mb.play(mb.epsilon_greedy(10, 1.0), 10, 200, seed=6, policy_seed=7).mean()
    beb = mb.play(mb.beb(10, 0.001), 10, 200, seed=6, policy_seed=7).mean()
    assert abs(random - 100) < 8 and beb > random + 25


def test_gittins_table_matches_published_values():
    """Gittins, Glazebrook & Weber (2011) Table 8.4, gamma = 0.9: index of Beta(1, 1) = 0.7029, Beta(2, 1) = 0.8001."""
    table = gittins_table(200, 2000, 0.9)
    assert table[0, 0] == pytest.approx(0.7029, abs=1e-3)
    assert table[1, 0] == pytest.approx(0.8001, abs=1e-3)
    assert table[0, 1] < table[0, 0] < table[1, 0]


def test_ucb1_first_pulls_and_zero_bonus_is_greedy():
    s, m = np.ones((3, 4)), np.full((3, 4), 2.0)
    s[1, 2] = 2.0
    np.testing.assert_array_equal(bb.ucb1(1.0)(0, s, m, None), [0, 0, 0])  # log 0: arm 0, as np.argmax of NaNs
    np.testing.assert_array_equal(bb.ucb1(1.0)(1, s, m, None), [0, 2, 0])  # log 1 = 0: greedy
    a = bb.play(bb.ucb1(0.0), 5, 30, 100, seed=1, policy_seed=2)
    b = bb.play(bb.epsilon_greedy(0.0), 5, 30, 100, seed=1, policy_seed=2)
    np.testing.assert_array_equal(a, b)


def test_optimistic_thompson_with_one_sample_is_thompson_sampling():
    a = bb.play(bb.thompson_sampling, 5, 20, 100, seed=3, policy_seed=4)
    b = bb.play(bb.optimistic_thompson(1), 5, 20, 100, seed=3, policy_seed=4)
    np.testing.assert_array_equal(a, b)


def test_optimistic_thompson_keeps_the_most_likely_draw():
    """With many draws the kept one approaches the posterior mode: OTS then behaves like greedy on modes."""
    rng = np.random.default_rng(5)
    s = np.array([[30.0, 2.0]])
    m = np.array([[40.0, 4.0]])  # Beta(30, 10) vs Beta(2, 2): modes 0.74 vs 0.5
    picks = [bb.optimistic_thompson(50)(5, s, m, rng)[0] for _ in range(200)]
    assert np.mean(np.array(picks) == 0) > 0.9


def test_gittins_table_policy_reads_the_table_as_the_authors_did():
    table = np.array([[0.5, 0.2, 0.1], [0.9, 0.4, 0.97], [0.6, 0.35, 0.2]])  # index[a - 1, b - 1]
    s = np.array([[1.0, 2.0, 1.0]])
    m = np.array([[2.0, 3.0, 3.0]])  # Beta(1, 1), Beta(2, 1), Beta(1, 2)
    assert bb.gittins_table_policy(table, 0)(0, s, m, None)[0] == 1  # 0.5, 0.9, 0.2
    assert bb.gittins_table_policy(table, 1)(0, s, m, None)[0] == 2  # Beta(2,2) 0.4, Beta(3,2) 0.35, Beta(2,3) 0.97


def test_gittins_closed_form_is_the_authors_formula():
    s = np.array([[3.0, 1.0, 5.0]])
    m = np.array([[5.0, 2.0, 10.0]])
    n, mu = m, s / m
    expected = mu + mu * (1 - mu) / (np.sqrt(n * mu * (1 - mu)) + mu - 0.5)  # discount 1: c = 0
    assert bb.gittins_closed_form(1.0)(0, s, m, None)[0] == np.argmax(expected)
    assert np.argmax(expected) == 1  # not the posterior-mean argmax (arm 0): the formula explores
