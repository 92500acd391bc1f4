"""The transfer tasks: the Ant obstacle course (§6.5) and Humanoid Walk/Crawl with its combination task (§6.4), the
ported environments' rewards, dynamics hooks and observations, and the fine-tuning entry point (sub-policies frozen
under a fresh master, a shared policy fine-tuned, a single policy from scratch)."""
from __future__ import annotations

import numpy as np
import pytest
import torch

from papers.mlsh import finetune_experiment
from papers.mlsh.physics_experiment import train_physics
from papers.mlsh.ant_obstacle_course import ENEMY_HOME, GOAL, AntObstacleCourseEnv
from pipelines.registry import load_paper
from shared.errors import DataMissingError
from shared.params import ExperimentConfig
from shared.run import Run
from tests.helpers import killed_at_iteration

SMALL = {"groups": 1, "workers_per_group": 2, "hidden": 8, "epochs": 1, "sub_minibatches": 2, "master_minibatch": 2}


def place_torso(env: AntObstacleCourseEnv, xy) -> None:
    qpos = env.data.qpos.copy()
    qpos[:2] = xy
    env.set_state(qpos, np.zeros_like(env.data.qvel))


def test_course_starts_bottom_left_and_rewards_only_the_top_right_corner():
    env = AntObstacleCourseEnv()
    obs, _ = env.reset(seed=0)
    assert obs.shape == (30,) and obs[-1] == 0.0  # Twowalk's layout: qpos[:-2], qvel[:-2], 0
    assert np.allclose(env.data.qpos[:2], [-35, 15], atol=0.11)
    assert env.step(np.zeros(8))[1] == 0.0
    place_torso(env, GOAL + [0.0, 3.0])  # 9 < 30 = the squared radius
    assert env.step(np.zeros(8))[1] == 1.0
    place_torso(env, GOAL + [0.0, 6.0])  # 36 > 30
    assert env.step(np.zeros(8))[1] == 0.0


def test_enemy_chases_only_inside_its_circle_and_joints_reset_every_300_steps():
    env = AntObstacleCourseEnv()
    env.reset(seed=1)
    env.step(np.zeros(8))
    assert np.array_equal(env.enemy, ENEMY_HOME) and np.allclose(env.data.qpos[-2:], ENEMY_HOME, atol=0.05)
    place_torso(env, [20.0, 28.0])  # inside the radius-15 circle around (25, 30)
    env.step(np.zeros(8))
    assert np.array_equal(env.enemy, ENEMY_HOME + [-1.0, -1.0])
    assert np.allclose(env.data.qpos[-2:], env.enemy, atol=0.05)  # the slide joints carry it
    env.reset(seed=2)
    for _ in range(299):
        env.step(np.zeros(8))
    xy, height = env.data.qpos[:2].copy(), env.data.qpos[2]
    env.step(np.zeros(8))  # the 300th step redraws the pose around qpos0, keeping x and y
    assert np.allclose(env.data.qpos[:2], xy, atol=0.05) and abs(env.data.qpos[2] - 0.6) < abs(height - 0.6) + 0.15


def config_for(name: str, iterations: int, **changes) -> ExperimentConfig:
    exp = load_paper("mlsh").params.experiment(name)
    return ExperimentConfig("mlsh", name, exp.paper_experiment, "smoke",
                            {**exp.hyperparameters, **SMALL, **changes}, {**exp.budget, "iterations": iterations})


def run_for(config: ExperimentConfig, root, tag: str = "run", checkpoint_seconds: float = 1e9) -> Run:
    return Run(config, 1, root / tag / "out", root / tag / "ckpt", checkpoint_seconds=checkpoint_seconds,
               show_progress=False)


@pytest.fixture
def twowalk_subpolicies(tmp_path, monkeypatch):
    """A finished tiny ant_twowalk_mlsh run (seed 1, smoke profile) where the obstacle course looks for it."""
    monkeypatch.setattr(finetune_experiment, "CHECKPOINTS", tmp_path / "checkpoints")
    config = config_for("ant_twowalk_mlsh", 1, rollout_steps=1000, warmup=1, joint=1, stagger=0,
                        evaluation_master_updates=1)
    config = ExperimentConfig(**{**config.__dict__, "budget": {"iterations": 1, "evaluation_rounds": 0}})
    run = Run(config, 1, tmp_path / "twowalk", tmp_path / "checkpoints/smoke/ant_twowalk_mlsh/seed1",
              show_progress=False)
    train_physics(config, run)
    run.mark_complete({})
    return torch.load(run.ckpt_dir / "checkpoint.pt", weights_only=False)["state"]["agent"]


def test_transfer_fine_tunes_the_master_over_frozen_twowalk_subpolicies(tmp_path, twowalk_subpolicies, monkeypatch):
    config = config_for("ant_obstacle_mlsh_transfer", 2, episode_length=400, rollout_steps=400)
    seen = {}
    original = finetune_experiment.meta_train

    def spy(agent, iterations, run):
        seen["masters_before"] = {k: v.clone() for k, v in agent.masters.items()}
        progress = original(agent, iterations, run)
        seen["agent"] = agent
        return progress

    monkeypatch.setattr(finetune_experiment, "meta_train", spy)
    metrics = finetune_experiment.train_finetune(config, run_for(config, tmp_path))
    agent = seen["agent"]
    for k, v in twowalk_subpolicies["subs"].items():
        assert torch.equal(agent.subs[k], v)  # phi is the Twowalk run's, untouched by the fine-tuning
    assert torch.equal(agent.sub_rms.state_dict()["count"], twowalk_subpolicies["sub_rms"]["count"])
    assert any(not torch.equal(agent.masters[k], seen["masters_before"][k]) for k in agent.masters)
    assert agent.counters.tolist() == [2] and metrics["iterations"] == 2 and metrics["env_steps"] == 2 * 2 * 400
    assert 0.0 <= metrics["return_after_finetuning"] <= 400


def test_transfer_without_the_twowalk_run_names_the_command(tmp_path, monkeypatch):
    monkeypatch.setattr(finetune_experiment, "CHECKPOINTS", tmp_path / "nothing")
    config = config_for("ant_obstacle_mlsh_transfer", 1, episode_length=400, rollout_steps=400)
    with pytest.raises(DataMissingError, match=r"dvc repro papers/mlsh/dvc.yaml:train_ant@ant_twowalk_mlsh-1"):
        finetune_experiment.train_finetune(config, run_for(config, tmp_path))


def test_naive_ppo_trains_its_one_policy_and_resumes_after_a_kill(tmp_path, monkeypatch):
    config = config_for("ant_obstacle_single_policy", 2, episode_length=400, rollout_steps=400)
    run = run_for(config, tmp_path, "whole")
    expected = finetune_experiment.train_finetune(config, run)
    assert expected["iterations"] == 2 and expected["return_mean"] >= 0.0
    assert all(row["contributing_workers"] == 2 for row in run.curve)  # its policy learns on every iteration
    with killed_at_iteration(monkeypatch, 1):
        finetune_experiment.train_finetune(config, run_for(config, tmp_path, "killed", 0))
    assert finetune_experiment.train_finetune(config, run_for(config, tmp_path, "killed", 0)) == expected


def test_walk_rewards_upright_forward_motion_and_crawl_backward_motion_under_the_box():
    from papers.mlsh.humanoid_walk_crawl import BOX_ASIDE, BOX_IN_PLACE, CRAWL, WALK, HumanoidWalkCrawlEnv
    walk, crawl = HumanoidWalkCrawlEnv(WALK), HumanoidWalkCrawlEnv(CRAWL)
    for env in (walk, crawl):
        obs, _ = env.reset(seed=0)
        assert obs.shape == (376,)
    _, r_walk, *_, info = walk.step(np.zeros(17))
    assert walk.data.qpos[-1] == BOX_ASIDE and not info["fallen"]
    assert 4.0 < r_walk < 6.0  # the alive bonus 5, little motion, small costs
    _, r_crawl, *_ = crawl.step(np.zeros(17))
    assert crawl.data.qpos[-1] == BOX_IN_PLACE and abs(r_crawl) < 1.0  # no alive bonus when crawling

    def reward_after_push(env, vx):
        env.reset(seed=0)
        qvel = env.data.qvel.copy()
        qvel[0] = vx
        env.set_state(env.data.qpos.copy(), qvel)
        return env.step(np.zeros(17))[1]

    assert reward_after_push(walk, 1.0) > reward_after_push(walk, -1.0)  # walk: forwards pays
    assert reward_after_push(crawl, -1.0) > reward_after_push(crawl, 1.0)  # crawl: backwards pays


def test_combination_task_walks_then_switches_to_crawling_past_x_25():
    from papers.mlsh.humanoid_walk_crawl import BOX_ASIDE, BOX_IN_PLACE, COMBINATION, CRAWL, WALK, \
        HumanoidWalkCrawlEnv
    env = HumanoidWalkCrawlEnv(COMBINATION)
    env.reset(seed=0)
    assert env.step(np.zeros(17))[-1]["objective"] == WALK and env.data.qpos[-1] == BOX_ASIDE
    place_torso(env, [25.5, 0.0])
    assert env.step(np.zeros(17))[-1]["objective"] == CRAWL and env.data.qpos[-1] == BOX_IN_PLACE
    env.reset(seed=0)  # a new episode walks again
    assert env.step(np.zeros(17))[-1]["objective"] == WALK


def test_shared_policy_transfer_fine_tunes_the_walk_crawl_policy(tmp_path, monkeypatch):
    monkeypatch.setattr(finetune_experiment, "CHECKPOINTS", tmp_path / "checkpoints")
    source = config_for("humanoid_walk_crawl_shared_policy", 1, rollout_steps=1000, joint=1, stagger=0,
                        evaluation_master_updates=1)
    source = ExperimentConfig(**{**source.__dict__, "budget": {"iterations": 1, "evaluation_rounds": 0}})
    folder = tmp_path / "checkpoints/smoke/humanoid_walk_crawl_shared_policy/seed1"
    run = Run(source, 1, tmp_path / "walk_crawl", folder, show_progress=False)
    train_physics(source, run)
    run.mark_complete({})
    trained = torch.load(run.ckpt_dir / "checkpoint.pt", weights_only=False)["state"]["agent"]["subs"]
    config = config_for("humanoid_combination_shared_transfer", 1, episode_length=600, rollout_steps=600)
    seen = {}
    original = finetune_experiment.meta_train

    def spy(agent, iterations, run):
        seen["start"] = {k: v.clone() for k, v in agent.subs.items()}
        progress = original(agent, iterations, run)
        seen["end"] = agent.subs
        return progress

    monkeypatch.setattr(finetune_experiment, "meta_train", spy)
    finetune_experiment.train_finetune(config, run_for(config, tmp_path))
    assert all(torch.equal(seen["start"][k], v) for k, v in trained.items())  # it starts from the trained policy
    assert any(not torch.equal(seen["end"][k], v) for k, v in trained.items())  # and keeps learning
