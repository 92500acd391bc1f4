"""Entry point of MAML for RL (§5.3, Algorithm 3, App. A.2, App. C Table 4-5): meta-training with a REINFORCE inner
step and a TRPO meta-step, then the authors' test protocol.

Each meta-iteration draws ``meta_batch_size`` tasks, samples ``trajectories_per_task`` paths per task with theta,
fits each task's linear baseline, takes the inner step, samples as many paths with each theta'_i, and makes one TRPO
step on the meta-objective (``maml_trpo``). The learning curve logs the mean undiscounted return of the pre- and
post-update paths (the authors' AverageReturn before and after the update).

Test ([maml_rl] maml_examples/test_maml_point.py): ``test_goals`` fixed tasks drawn by numpy's legacy generator
seeded with ``test_goal_seed``; per task, ``evaluation_trajectories`` paths, then one vanilla policy-gradient step
(fresh linear baseline, normalised advantages) with the next step size of ``evaluation_step_sizes``, and so on; the
metric ``return_step{j}`` is the mean over tasks of the average return of the paths sampled after j updates, and
``return_step{j}_se`` its standard error over tasks (numpy's std with ddof 0, as the authors' numbers). Both the
policy with the best post-update training return (App. A.2, prefix ``best_``) and the last iterate (the authors'
launcher keeps only the last snapshot, prefix ``last_``) are tested, and the iterates named in the budget's ``test_snapshots``
(``itr{n}_``); the unprefixed metrics are those of ``model_selection``.
"""
from __future__ import annotations

from typing import Any

import numpy as np
import torch
from torch.func import vmap

from papers.maml.gaussian_policy import distribution, init_policy
from papers.maml.inner_loop import Params, sgd_step
from papers.maml.linear_feature_baseline import task_advantages
from papers.maml.maml_trpo import Paths, TRPOSettings, adapted_params, inner_loss, meta_objective, trpo_step
from papers.maml.point_navigation import PointNavigation
from shared.params import ExperimentConfig
from shared.run import Run



def sample_paths(env: Any, params: Params, per_task: bool, tasks: np.ndarray, paths_per_task: int,
                 horizon: int, generator: torch.Generator) -> dict[str, torch.Tensor]:
    """Roll out ``paths_per_task`` paths of at most ``horizon`` steps on each task, all in lockstep, with the
    policy ``params`` (one set, or one per task with a leading task axis when ``per_task``). Returns tensors shaped
    (tasks, paths, T, ...) and a mask of the steps taken (a path stops after its terminal step)."""
    n_tasks = len(tasks)
    goals = torch.as_tensor(tasks, dtype=torch.float32).repeat_interleave(paths_per_task, dim=0)
    obs = env.reset(goals, seed=int(torch.randint(2**31 - 1, (1,), generator=generator)))
    alive = torch.ones(len(goals), dtype=torch.bool)
    rows: dict[str, list[torch.Tensor]] = {k: [] for k in ("obs", "actions", "rewards", "mask", "mean", "log_std")}
    with torch.no_grad():
        for _ in range(horizon):
            o = obs.view(n_tasks, paths_per_task, -1)
            mean, log_std = vmap(distribution)(params, o) if per_task else distribution(params, o)
            mean, log_std = mean.reshape(len(goals), -1), log_std.reshape(len(goals), -1)
            actions = mean + torch.exp(log_std) * torch.randn(mean.shape, generator=generator)
            next_obs, reward, done = env.step(actions)
            for key, value in (("obs", obs), ("actions", actions), ("rewards", reward), ("mask", alive.clone()),
                               ("mean", mean), ("log_std", log_std)):
                rows[key].append(value)
            alive = alive & ~done
            obs = next_obs
            if not alive.any():
                break
    return {k: torch.stack(v, dim=1).reshape(n_tasks, paths_per_task, len(v), *v[0].shape[1:])
            for k, v in rows.items()}


def process(batch: dict[str, torch.Tensor], gamma: float, gae_lambda: float, reg: float) -> Paths:
    """Per task: fit the linear baseline on its paths and normalise its advantages (process_samples)."""
    advantages = torch.stack([task_advantages(batch["obs"][i], batch["rewards"][i], batch["mask"][i], gamma,
                                              gae_lambda, reg)[0] for i in range(batch["obs"].shape[0])])
    return Paths(batch["obs"], batch["actions"], advantages, batch["mask"], batch["mean"], batch["log_std"])


def average_returns(batch: dict[str, torch.Tensor]) -> np.ndarray:
    """Per task, the mean over its paths of the undiscounted path return."""
    return (batch["rewards"] * batch["mask"]).sum(dim=2).mean(dim=1).double().numpy()


class MAMLLearner:
    def __init__(self, hp: dict[str, Any], env: Any, generator: torch.Generator) -> None:
        self.hp, self.env, self.generator = hp, env, generator
        self.params = init_policy(env.obs_dim, env.action_dim, hp["hidden_sizes"], hp["init_std"], generator)
        self.settings = TRPOSettings(max_kl=hp["max_kl"], cg_iters=hp["cg_iters"], cg_damping=hp["cg_damping"],
                                     backtrack_ratio=hp["backtrack_ratio"], max_backtracks=hp["max_backtracks"],
                                     fd_base_eps=hp["hvp_fd_base_eps"])

    def sample(self, params: Params, per_task: bool, tasks: np.ndarray, paths: int) -> dict[str, torch.Tensor]:
        return sample_paths(self.env, params, per_task, tasks, paths, self.hp["horizon"], self.generator)

    def iteration(self, tasks: np.ndarray) -> dict[str, float]:
        hp = self.hp
        pre_batch = self.sample(self.params, False, tasks, hp["trajectories_per_task"])
        pre = process(pre_batch, hp["gamma"], hp["gae_lambda"], hp["baseline_reg"])
        with torch.no_grad():
            fast = {k: v.detach() for k, v in adapted_params(self.params, pre, hp["inner_step_size"]).items()}
        post_batch = self.sample(fast, True, tasks, hp["trajectories_per_task"])
        post = process(post_batch, hp["gamma"], hp["gae_lambda"], hp["baseline_reg"])
        self.params, stats = trpo_step(
            self.params, lambda p: meta_objective(p, pre, post, hp["inner_step_size"], hp["first_order"]),
            self.settings)
        return {"pre_update_return": float(average_returns(pre_batch).mean()),
                "post_update_return": float(average_returns(post_batch).mean()), **stats,
                "env_steps": int(pre_batch["mask"].sum() + post_batch["mask"].sum())}


def adaptation_returns(env: Any, params: Params, hp: dict[str, Any], tasks: np.ndarray,
                       generator: torch.Generator) -> np.ndarray:
    """The test protocol: (updates + 1, tasks) average returns after 0..len(step sizes) VPG updates per task."""
    n = hp["evaluation_trajectories"]
    current, per_task, out = params, False, []
    for j, step_size in enumerate([*hp["evaluation_step_sizes"], None]):
        batch = sample_paths(env, current, per_task, tasks, n, hp["horizon"], generator)
        out.append(average_returns(batch))
        if step_size is None:
            break
        paths = process(batch, hp["gamma"], hp["gae_lambda"], hp["baseline_reg"])

        def update(p, obs, actions, advantages, mask, alpha=step_size):
            return sgd_step(lambda q: inner_loss(q, obs, actions, advantages, mask), p, alpha)
        current = {k: v.detach() for k, v in
                   vmap(update, in_dims=(0 if per_task else None, 0, 0, 0, 0))(
                       current, paths.obs, paths.actions, paths.advantages, paths.mask.float()).items()}
        per_task = True
    return np.stack(out)


def test_metrics(returns: np.ndarray, prefix: str) -> dict[str, float]:
    return {**{f"{prefix}return_step{j}": float(r.mean()) for j, r in enumerate(returns)},
            **{f"{prefix}return_step{j}_se": float(r.std() / np.sqrt(len(r))) for j, r in enumerate(returns)}}


def train_point_navigation(config: ExperimentConfig, run: Run) -> dict[str, float]:
    """Entry point of the 2D navigation experiments."""
    hp = config.hyperparameters
    return train_maml_rl(config, run, PointNavigation(goal_low=hp["goal_range"][0], goal_high=hp["goal_range"][1],
                                                      reward_distance=hp["reward_distance"]))


def train_maml_rl(config: ExperimentConfig, run: Run, env: Any) -> dict[str, float]:
    """Meta-train and test on the batched task family ``env`` (``reset(tasks, seed)`` / ``step(actions)``,
    ``sample_tasks``, ``obs_dim``, ``action_dim``)."""
    hp, budget = config.hyperparameters, config.budget
    generator = torch.Generator().manual_seed(int(run.rng.integers(2**31 - 1)))
    learner = MAMLLearner(hp, env, generator)
    progress: dict[str, Any] = {"iteration": 0, "env_steps": 0, "best_return": -float("inf"), "best_params": None,
                                "best_iteration": None, "snapshots": {}}
    state = run.restore()
    if state is not None:
        learner.params = state["params"]
        generator.set_state(state["generator"])
        progress = state["progress"]
    iterations = budget["iterations"]
    bar = run.progress(total=iterations, initial=progress["iteration"])
    while progress["iteration"] < iterations:
        tasks = env.sample_tasks(run.rng, hp["meta_batch_size"])
        before = learner.params
        stats = learner.iteration(tasks)
        # App. A.2: "the model with the best average return during training was used for evaluation": the return
        # MAML maximises is the post-update one, earned by the parameters before this iteration's meta-step
        if stats["post_update_return"] > progress["best_return"]:
            progress.update(best_return=stats["post_update_return"], best_params=before,
                            best_iteration=progress["iteration"])
        progress["iteration"] += 1
        progress["env_steps"] += stats.pop("env_steps")
        if progress["iteration"] in budget["test_snapshots"]:
            progress["snapshots"][progress["iteration"]] = learner.params
        run.log(progress["env_steps"], iteration=progress["iteration"], **stats)
        bar.update(1)
        bar.set_postfix(pre=f"{stats['pre_update_return']:.1f}", post=f"{stats['post_update_return']:.1f}")
        if progress["iteration"] < iterations and run.checkpoint_due():
            run.save_checkpoint({"params": learner.params, "generator": generator.get_state(),
                                 "progress": progress}, progress["env_steps"])
    bar.close()
    test_tasks = env.sample_tasks(np.random.RandomState(hp["test_goal_seed"]), hp["test_goals"])
    test_generator = torch.Generator().manual_seed(int(run.rng.integers(2**31 - 1)))
    tested = {"best_": progress["best_params"], "last_": learner.params,
              **{f"itr{n}_": p for n, p in sorted(progress["snapshots"].items())}}
    metrics: dict[str, float] = {}
    for prefix, params in tested.items():
        metrics.update(test_metrics(adaptation_returns(env, params, hp, test_tasks, test_generator), prefix))
    chosen = {"best_training_return": "best_", "last": "last_"}[hp["model_selection"]]
    metrics.update({k[len(chosen):]: v for k, v in metrics.items() if k.startswith(chosen)})
    return {**metrics, "best_iteration": progress["best_iteration"], "best_training_return": progress["best_return"],
            "iterations": progress["iteration"], "env_steps": progress["env_steps"]}
