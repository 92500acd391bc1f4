"""MAML for RL: the 2D navigation env, the linear feature baseline, the policy's densities, the inner step, the TRPO
meta-step, and the entry point (determinism, resume, locomotion batches, DVC stage)."""
from __future__ import annotations

import math

import numpy as np
import pytest
import torch
import yaml

from papers.maml import maml_trpo as mt
from papers.maml.gaussian_policy import distribution, init_policy, kl_divergence, log_likelihood
from papers.maml.linear_feature_baseline import fit_predict, task_advantages
from papers.maml.point_navigation import PointNavigation
from papers.maml.rl_experiment import MAMLLearner, process, sample_paths, train_point_navigation
from pipelines.registry import load_paper
from shared.params import ExperimentConfig
from shared.run import Run
from tests.helpers import REPO, killed_at_iteration, modules_imported_by


def test_point_env_scales_clips_rewards_after_the_move_and_stops_in_the_goal_box():
    env = PointNavigation()
    obs = env.reset(torch.tensor([[0.3, 0.0], [0.005, -0.005], [0.0, 0.0]]))
    assert torch.equal(obs, torch.zeros(3, 2))
    obs, reward, done = env.step(torch.tensor([[5.0, 0.0], [0.05, -0.05], [0.5, -0.2]]))
    torch.testing.assert_close(obs, torch.tensor([[0.1, 0.0], [0.005, -0.005], [0.05, -0.02]]))
    torch.testing.assert_close(reward, -torch.tensor([0.2, 0.0, math.hypot(0.05, 0.02)]))
    assert done.tolist() == [False, True, False]
    squared = PointNavigation(reward_distance="squared")
    squared.reset(torch.tensor([[0.3, 0.0]]))
    assert float(squared.step(torch.tensor([[1.0, 0.0]]))[1]) == pytest.approx(-0.04)


def rllab_features(obs: np.ndarray) -> np.ndarray:
    """rllab LinearFeatureBaseline._features of one path, for comparison."""
    o = np.clip(obs, -10, 10)
    al = np.arange(len(obs)).reshape(-1, 1) / 100.0
    return np.concatenate([o, o ** 2, al, al ** 2, al ** 3, np.ones((len(obs), 1))], axis=1)


def test_linear_baseline_is_rllab_ridge_fit_on_the_paths_it_predicts():
    rng = np.random.default_rng(0)
    lengths = [7, 10, 4]
    obs = torch.zeros(3, 10, 2, dtype=torch.float64)
    returns = torch.zeros(3, 10, dtype=torch.float64)
    mask = torch.zeros(3, 10, dtype=torch.bool)
    for i, n in enumerate(lengths):
        obs[i, :n] = torch.from_numpy(rng.normal(size=(n, 2)) * 5)
        returns[i, :n] = torch.from_numpy(rng.normal(size=n))
        mask[i, :n] = True
    feats = np.concatenate([rllab_features(obs[i, :n].numpy()) for i, n in enumerate(lengths)])
    target = np.concatenate([returns[i, :n].numpy() for i, n in enumerate(lengths)])
    coeffs = np.linalg.lstsq(feats.T @ feats + 1e-5 * np.eye(8), feats.T @ target, rcond=None)[0]
    predicted = fit_predict(obs, returns, mask)
    expected = np.concatenate([rllab_features(obs[i, :n].numpy()) @ coeffs for i, n in enumerate(lengths)])
    np.testing.assert_allclose(predicted[mask].numpy(), expected, rtol=1e-6, atol=1e-8)
    assert float(predicted[~mask].abs().max()) == 0


def test_advantages_are_returns_minus_baseline_normalised_over_the_task():
    rng = np.random.default_rng(1)
    obs = torch.from_numpy(rng.normal(size=(4, 6, 2))).float()
    rewards = torch.from_numpy(rng.normal(size=(4, 6))).float()
    mask = torch.ones(4, 6, dtype=torch.bool)
    mask[1, 4:] = False
    adv, returns = task_advantages(obs, rewards, mask, gamma=0.9, gae_lambda=1.0)
    assert float(returns[0, 4]) == pytest.approx(float(rewards[0, 4] + 0.9 * rewards[0, 5]), rel=1e-5)
    baseline = fit_predict(obs, returns.double(), mask)
    raw = (returns.double() - baseline)[mask]
    torch.testing.assert_close(adv[mask].double(), (raw - raw.mean()) / (raw.std(unbiased=False) + 1e-8),
                               rtol=1e-4, atol=1e-4)
    assert float(adv[~mask].abs().max()) == 0


def test_gaussian_density_and_kl_match_torch_distributions():
    params = init_policy(2, 2, [8, 8], 0.7, torch.Generator().manual_seed(0))
    obs, actions = torch.randn(5, 2), torch.randn(5, 2)
    mean, log_std = distribution(params, obs)
    normal = torch.distributions.Normal(mean, log_std.exp())
    torch.testing.assert_close(log_likelihood(mean, log_std, actions), normal.log_prob(actions).sum(-1))
    other = torch.distributions.Normal(mean + 0.3, (log_std - 0.2).exp())
    torch.testing.assert_close(kl_divergence(mean, log_std, mean + 0.3, log_std - 0.2),
                               torch.distributions.kl_divergence(normal, other).sum(-1), rtol=1e-5, atol=1e-6)


def tiny_batch(seed: int = 0, tasks: int = 3, paths: int = 4, horizon: int = 6):
    env, gen = PointNavigation(), torch.Generator().manual_seed(seed)
    params = init_policy(2, 2, [16, 16], 1.0, gen)
    goals = env.sample_tasks(np.random.default_rng(seed), tasks)
    return env, gen, params, goals, sample_paths(env, params, False, goals, paths, horizon, gen)


def test_inner_step_is_sgd_on_the_mean_reinforce_surrogate_of_each_task_all_parameters_included():
    env, gen, params, goals, batch = tiny_batch()
    pre = process(batch, 0.99, 1.0, 1e-5)
    fast = mt.adapted_params(params, pre, 0.5)
    for i in range(len(goals)):
        p = {k: v.clone().requires_grad_() for k, v in params.items()}
        m = pre.mask[i].float()
        mean, log_std = distribution(p, pre.obs[i])
        loss = -(log_likelihood(mean, log_std, pre.actions[i]) * pre.advantages[i] * m).sum() / m.sum()
        grads = torch.autograd.grad(loss, list(p.values()))
        for (k, v), g in zip(params.items(), grads):
            torch.testing.assert_close(fast[k][i], v - 0.5 * g, rtol=1e-4, atol=1e-6)
    assert not torch.equal(fast["log_std"][0], params["log_std"])


def test_meta_objective_starts_at_zero_kl_and_trpo_step_respects_the_trust_region():
    env, gen, params, goals, batch = tiny_batch(paths=8, horizon=10)
    pre = process(batch, 0.99, 1.0, 1e-5)
    fast = {k: v.detach() for k, v in mt.adapted_params(params, pre, 0.5).items()}
    post = process(sample_paths(env, fast, True, goals, 8, 10, gen), 0.99, 1.0, 1e-5)
    loss, kl = mt.meta_objective(params, pre, post, 0.5)
    assert float(kl) == pytest.approx(0.0, abs=1e-6) and abs(float(loss)) < 1e-5  # ratio 1, centred advantages
    settings = mt.TRPOSettings(max_kl=0.01, cg_iters=10, cg_damping=1e-5, backtrack_ratio=0.8,
                               max_backtracks=15, fd_base_eps=1.0)
    new, stats = mt.trpo_step(params, lambda p: mt.meta_objective(p, pre, post, 0.5), settings)
    new_loss, new_kl = (float(v) for v in mt.meta_objective(new, pre, post, 0.5))
    if stats["step_accepted"]:
        assert new_loss < float(loss) and new_kl <= 0.01
        assert new_kl == pytest.approx(stats["mean_kl"], rel=1e-4)
    else:
        assert all(torch.equal(new[k], params[k]) for k in params)


def test_negative_curvature_from_finite_differences_falls_back_to_a_unit_step_as_rllab():
    """s^T H s < 0 (possible with a finite-difference H) makes rllab's sqrt NaN and its step size 1; then the
    line search rejects every candidate here (the loss never decreases), so theta stays."""
    params = {"x": torch.tensor([0.3, -0.2])}
    settings = mt.TRPOSettings(max_kl=0.01, cg_iters=3, cg_damping=0.0, backtrack_ratio=0.8, max_backtracks=3,
                               fd_base_eps=1.0)
    new, stats = mt.trpo_step(params, lambda p: (p["x"].sum() ** 2,
                                                 -((p["x"] - 0.1) ** 2).sum()), settings)
    assert stats["step_accepted"] == 0.0 and torch.equal(new["x"], params["x"])


def test_conjugate_gradient_solves_a_positive_definite_system():
    a = torch.randn(6, 6, generator=torch.Generator().manual_seed(0), dtype=torch.float64)
    h = a @ a.T + 6 * torch.eye(6, dtype=torch.float64)
    b = torch.arange(6, dtype=torch.float64)
    x = mt.conjugate_gradient(lambda v: h @ v, b, iters=10)
    torch.testing.assert_close(h @ x, b)


def tiny_rl_config(task: str = "point_navigation", iterations: int = 3) -> ExperimentConfig:
    """The paper's settings with tiny batches and network (a test config only)."""
    hp = dict(load_paper("maml").params.experiment("nav2d_maml").hyperparameters)
    hp.update(hidden_sizes=[16, 16], meta_batch_size=3, trajectories_per_task=3, horizon=12,
              evaluation_trajectories=3, test_goals=4, task=task)
    return ExperimentConfig("maml", "nav2d_maml", "nav2d_maml", "smoke", hp,
                            {"iterations": iterations, "test_snapshots": [2]})


def run_rl(tmp_path, config, tag, seed=1, checkpoint_seconds=1e9):
    run = Run(config, seed, tmp_path / tag / "out", tmp_path / tag / "ckpt", checkpoint_seconds=checkpoint_seconds,
              show_progress=False)
    if config.hyperparameters["task"] == "point_navigation":
        return train_point_navigation(config, run), run.curve
    from papers.maml.locomotion_experiment import train_locomotion
    return train_locomotion(config, run), run.curve


def test_rl_same_seed_same_result_and_metrics_of_the_test_protocol(tmp_path):
    config = tiny_rl_config()
    a, curve_a = run_rl(tmp_path, config, "a")
    b, curve_b = run_rl(tmp_path, config, "b")
    c, _ = run_rl(tmp_path, config, "c", seed=2)
    assert a == b and curve_a == curve_b and a != c
    for prefix in ("", "best_", "last_", "itr2_"):
        assert all(f"{prefix}return_step{j}" in a and f"{prefix}return_step{j}_se" in a for j in range(5))
    assert a["return_step0"] == a["best_return_step0"] and a["iterations"] == 3
    assert a["best_iteration"] in (0, 1, 2) and len(curve_a) == 3


def test_rl_killed_run_resumes_to_the_same_result(tmp_path, monkeypatch):
    config = tiny_rl_config(iterations=4)
    expected, expected_curve = run_rl(tmp_path, config, "whole")
    with killed_at_iteration(monkeypatch, 3):
        run_rl(tmp_path, config, "killed", checkpoint_seconds=0)
    resumed, resumed_curve = run_rl(tmp_path, config, "killed", checkpoint_seconds=0)
    assert resumed == expected and resumed_curve == expected_curve


def test_meta_training_improves_the_post_update_return():
    """A few meta-iterations on small batches raise the post-update return (a check that the meta-step works, not
    a replication)."""
    hp = dict(tiny_rl_config().hyperparameters)
    hp.update(meta_batch_size=10, trajectories_per_task=10, horizon=30, hidden_sizes=[32, 32])
    env = PointNavigation()
    learner = MAMLLearner(hp, env, torch.Generator().manual_seed(0))
    rng = np.random.default_rng(0)
    returns = [learner.iteration(env.sample_tasks(rng, 10))["post_update_return"] for _ in range(8)]
    assert np.mean(returns[-3:]) > np.mean(returns[:3]) + 2


def test_locomotion_tasks_run_through_the_same_entry_point(tmp_path):
    config = tiny_rl_config("cheetah_velocity", iterations=1)
    hp = {**config.hyperparameters, "evaluation_step_sizes": [0.1]}
    metrics, curve = run_rl(tmp_path, ExperimentConfig("maml", "x", "nav2d_maml", "smoke", hp,
                                                       {"iterations": 1, "test_snapshots": []}), "loco")
    assert math.isfinite(metrics["return_step1"]) and curve[0]["step"] == metrics["env_steps"] == 2 * 3 * 3 * 12


@pytest.mark.parametrize("stage_name, group", [("train_nav2d", "nav2d_maml"), ("train_locomotion", "locomotion_maml")])
def test_dvc_rl_stages_list_the_code_they_run(stage_name, group):
    paper = load_paper("maml")
    stage = yaml.safe_load((REPO / "papers/maml/dvc.yaml").read_text())["stages"][stage_name]
    groups = {paper.params.experiment(e).paper_experiment for e in stage["matrix"]["exp"]}
    assert groups == ({"nav2d_maml", "nav2d_maml_launcher"} if group == "nav2d_maml" else {group})
    assert sorted(stage["matrix"]["exp"]) == sorted(e for e in paper.params.experiments
                                                    if paper.params.experiment(e).paper_experiment in groups)
    assert sorted(d for d in stage["deps"] if d != "../../shared/run.py") == modules_imported_by("maml", group)


@pytest.mark.slow
@pytest.mark.parametrize("experiment", sorted(e for e, c in load_paper("maml").params.experiments.items()
                                              if c.paper_experiment in ("nav2d_maml", "nav2d_maml_launcher",
                                                                        "locomotion_maml")))
def test_every_rl_experiment_runs_at_the_smoke_profile(repo_copy, env_for, experiment):
    """The smoke stages keep the paper's batch (20-40 tasks x 20-40 paths, a hyperparameter): 1-3 min each."""
    from tests.helpers import replica

    done = replica(repo_copy, "train", "maml", experiment, "--seed", "1", "--profile", "smoke",
                   env=env_for(repo_copy))
    assert done.returncode == 0, done.stderr
