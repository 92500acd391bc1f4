"""Side-by-side speed benchmark: our DDPG+HER (papers/her) against stable-baselines3's DDPG (and TD3) with
``HerReplayBuffer`` on FetchReach, with matched settings, on one machine.

What is measured, and how
-------------------------
Each comparison runs as a *pair*: our learner and one SB3 learner start at the same time as two subprocesses,
each with ``OMP_NUM_THREADS=1`` / ``torch.set_num_threads(1)`` and, where ``taskset`` exists and there are at
least two cores, pinned to core 0 (ours) and core 1 (SB3). Both train on 16 copies of the same env,
``papers.her.fetch_envs.make_fetch_env("reach", n_substeps=10, reject_within=0.05)``, in chunks of ``--eval-every``
env steps; after every chunk the *same* ``evaluate`` function of this file tests the deterministic policy on the
same ``--test-episodes`` seeded test episodes (success: ``|achieved_goal - desired_goal| < 0.05`` on the final
observation of the 50-step episode). A run stops at the first test with success >= 90 % or at ``--max-steps``.

Per run: ``steps_per_s`` = env steps trained / training wall seconds (the chunks' ``time.perf_counter`` time;
test time excluded), ``seconds_to_90`` / ``env_steps_to_90`` (training seconds and env steps at the first test
>= 90 %, null if never), ``peak_rss_mib`` (``ru_maxrss`` of the subprocess). Separately, single process on an
otherwise idle benchmark: the raw simulator rate, ``--raw-steps`` random-action steps of one such env (resets
included). Ratios: ``steps_per_s_ratio`` = ours / SB3, ``seconds_to_90_ratio`` and ``env_steps_to_90_ratio`` =
SB3 / ours (> 1: ours faster / more sample efficient), ``peak_rss_ratio`` = ours / SB3,
``ours_fraction_of_raw_sim`` = our steps/s / raw sim steps/s. ``target_met`` (the issue's "at least 1.5x SB3's
steps/s at equal or better sample efficiency") is null unless both runs of the pair reached 90 %.

Run ``python benchmarks/her_fetchreach_vs_sb3.py`` (full; writes ``benchmarks/results/her_fetchreach_vs_sb3.json``)
or ``--quick`` (an end-to-end check of a minute or two; writes ``her_fetchreach_vs_sb3.quick.json``). See
benchmarks/README.md for every setting that could not be matched.
"""
from __future__ import annotations

import argparse
import json
import os
import platform
import resource
import shutil
import subprocess
import sys
import tempfile
import time
from pathlib import Path
from typing import Any, Callable

import numpy as np

ROOT = Path(__file__).resolve().parents[1]
if str(ROOT) not in sys.path:
    sys.path.insert(0, str(ROOT))

RESULTS = ROOT / "benchmarks" / "results"
EXPERIMENT = "fetch_reach_her_future_k4"
TASK, N_SUBSTEPS, REJECT_WITHIN, SUCCESS_DISTANCE = "reach", 10, 0.05, 0.05
NUM_ENVS, EPISODE_STEPS = 16, 50
CYCLE_STEPS = NUM_ENVS * EPISODE_STEPS  # 800 env steps: one cycle of ours, one SB3 rollout
TARGET_SUCCESS, TARGET_SPEEDUP = 0.9, 1.5
EVAL_SEED = 12345  # the test episodes' seeds, the same for every library and every test
SB3_ALGOS = ("ddpg", "td3")

MISMATCHES = [
    "exploration: ours takes a uniform random action with probability 0.2, otherwise pi(s) + N(0, 0.1) clipped "
    "(App. A); SB3 has no random-action mixture, only NormalActionNoise(sigma=0.1) added to pi(s), clipped",
    "warm-up: SB3 acts uniformly at random for its first learning_starts steps (the first 800-step rollout); ours "
    "acts with the untrained policy plus exploration noise from the first cycle",
    "learning_starts=799, not 800: SB3 trains only when num_timesteps > learning_starts, so 800 would skip the 40 "
    "updates after the first rollout; with 799 both sides do 40 updates after every 800 env steps",
    "train_freq=(50, 'step') with 16 envs instead of (1, 'episode'): SB3 asserts episodic train_freq needs a single "
    "env; 50 vector steps x 16 envs = the same 16 complete 50-step episodes (all start and end together)",
    "optimiser: ours emulates 8 workers, each an Adam step on its own minibatch of 128 from its own buffer, then "
    "parameter averaging; SB3 is one learner taking an Adam step on one minibatch of 1024 from one buffer",
    "target networks: ours polyak 0.95 once per cycle; SB3 soft-updates after every actor update with "
    "tau = 1 - 0.95**(policy_delay/40) (DDPG: every gradient step; TD3: every 2nd), the same total decay per cycle",
    "HER relabelling: ours relabels at storage time (Alg. 1: each transition stored once with its goal and 4 times "
    "with fixed future goals, minibatches uniform over the stored copies, ~80 % relabelled); SB3 relabels at sample "
    "time with fresh future goals, exactly int(0.8 * 1024) = 819 per minibatch. Same future range s_{t+1}..s_T",
    "inputs: ours feeds the paper's features (actor 7-D: gripper position, finger distance, goal - gripper; critic "
    "12-D adds gripper and finger velocities) normalised by running mean/std of all observations (std floor 0.01, "
    "clip 5); SB3's MultiInputPolicy feeds observation + achieved_goal + desired_goal (16-D) to both networks, "
    "normalised by VecNormalize(norm_reward=False, clip_obs=5) whose statistics update every env step",
    "losses: ours adds the App. A action L2 penalty (1.0 x mean squared pre-tanh activation) to the actor loss and "
    "clips critic targets to [-1/(1-gamma), 0]; SB3 DDPG/TD3 do neither",
    "test policy: ours tests the target actor (App. A; --ours-test-network online tests the online one instead, a "
    "diagnostic); SB3 the online actor through model.predict(deterministic=True)",
    "replay capacity: ours 8 per-worker buffers of 1e6 stored transitions (hindsight copies included); SB3 one buffer "
    "of 1e6 real transitions (62,500 per env x 16). Neither fills within 200,000 env steps",
    "TD3 row: twin critics, delayed actor updates (policy_delay=2) and target policy smoothing (noise 0.2, clip 0.5) "
    "are part of TD3 by design; everything else as in the DDPG row",
    "SB3 logging off (verbose=0, log_interval=None); ours logs nothing inside the timed loop either",
    "one seed per side and pair: steps/s is stable, the time and env steps to 90 % are single-seed estimates "
    "resolved to --eval-every env steps",
]


# -- shared by both sides -------------------------------------------------------------------------------------------
def test_seeds(episodes: int) -> list[int]:
    """The fixed seeds of the test episodes (identical for both libraries and at every test)."""
    return [int(s) for s in np.random.default_rng(EVAL_SEED).integers(0, 2**31 - 1, size=episodes)]


def evaluate(act: Callable[[dict[str, np.ndarray]], np.ndarray], envs: Any, seeds: list[int]) -> float:
    """Success rate of ``act`` (a batch of dict observations -> actions in [-1, 1]) over one 50-step episode per seed:
    success iff ``|achieved_goal - desired_goal| < 0.05`` on the episode's final observation."""
    n, wins = envs.num_envs, 0
    for start in range(0, len(seeds), n):
        batch = seeds[start:start + n]
        obs, _ = envs.reset(seed=batch + [batch[-1]] * (n - len(batch)))  # padding copies are not counted
        for _ in range(EPISODE_STEPS):
            obs, _, _, _, _ = envs.step(np.asarray(act(obs), dtype=np.float32))
        distance = np.linalg.norm(obs["achieved_goal"] - obs["desired_goal"], axis=-1)[:len(batch)]
        wins += int((distance < SUCCESS_DISTANCE).sum())
    return wins / len(seeds)


def train_and_test(train_chunk: Callable[[int], None], act: Callable[[dict[str, np.ndarray]], np.ndarray],
                   cfg: dict[str, Any]) -> dict[str, Any]:
    """The common schedule: train ``eval_every`` env steps (timed), test (not timed), until 90 % or the cap."""
    from papers.her.fetch_envs import make_vector_env
    seeds = test_seeds(cfg["test_episodes"])
    test_envs = make_vector_env(TASK, min(NUM_ENVS, len(seeds)), N_SUBSTEPS, REJECT_WITHIN)
    steps, train_s, eval_s, tests, reached = 0, 0.0, 0.0, [], None
    while steps < cfg["max_steps"]:
        chunk = min(cfg["eval_every"], cfg["max_steps"] - steps)
        t0 = time.perf_counter()
        train_chunk(chunk)
        train_s += time.perf_counter() - t0
        steps += chunk
        t0 = time.perf_counter()
        success = evaluate(act, test_envs, seeds)
        eval_s += time.perf_counter() - t0
        tests.append({"env_steps": steps, "train_seconds": round(train_s, 3), "test_success": success})
        print(f"[{cfg['side']}] {steps} env steps, {train_s:.1f} s training, test success {success:.3f}",
              file=sys.stderr, flush=True)
        if success >= TARGET_SUCCESS:
            reached = tests[-1]
            break
    return {"env_steps": steps, "train_seconds": train_s, "steps_per_s": steps / train_s, "eval_seconds": eval_s,
            "reached_90": reached is not None, "seconds_to_90": reached["train_seconds"] if reached else None,
            "env_steps_to_90": reached["env_steps"] if reached else None, "tests": tests}


# -- the two sides (each runs in its own subprocess) ----------------------------------------------------------------
def run_ours(cfg: dict[str, Any]) -> dict[str, Any]:
    """papers/her's FetchDDPG with train_fetch's cycle: 16 episodes, store, 40 optimisation steps, target update."""
    import torch
    from papers.her.fetch_experiment import FetchDDPG, run_episodes
    from papers.her.fetch_envs import make_vector_env
    hp = cfg["hp"]
    assert hp["episodes_per_cycle"] * EPISODE_STEPS == CYCLE_STEPS
    torch.manual_seed(cfg["seed"])
    rng = np.random.default_rng(cfg["seed"])
    agent = FetchDDPG(hp, torch.device("cpu"), rng)
    envs = make_vector_env(TASK, hp["episodes_per_cycle"], N_SUBSTEPS, REJECT_WITHIN)

    def train_chunk(n_steps: int) -> None:
        for _ in range(n_steps // CYCLE_STEPS):
            agent.store(run_episodes(envs, rng, agent.explore))
            for _ in range(hp["optimization_steps_per_cycle"]):
                agent.optimise()
            agent.ddpg.update_targets(hp["polyak"])

    def act(obs: dict[str, np.ndarray]) -> np.ndarray:
        return agent.policy(obs["observation"].astype(np.float32), obs["desired_goal"].astype(np.float32),
                            use_target=cfg["ours_test_network"] == "target")

    return train_and_test(train_chunk, act, cfg)


def sb3_settings(hp: dict[str, Any], algo: str) -> dict[str, Any]:
    """SB3 constructor arguments matched to ``hp`` (see MISMATCHES for what could not be matched)."""
    policy_delay = 2 if algo == "td3" else 1
    updates = hp["optimization_steps_per_cycle"]
    return {"learning_rate": hp["learning_rate"], "gamma": hp["gamma"], "buffer_size": int(hp["buffer_size"]),
            "batch_size": hp["workers"] * hp["batch_size"], "learning_starts": CYCLE_STEPS - 1,
            "train_freq": (EPISODE_STEPS, "step"), "gradient_steps": updates,
            "tau": 1.0 - hp["polyak"] ** (policy_delay / updates),
            "policy_kwargs": {"net_arch": list(hp["hidden_layers"])},
            "replay_buffer_kwargs": {"n_sampled_goal": hp["her_k"], "goal_selection_strategy": hp["her_strategy"]},
            "action_noise_sigma": hp["action_noise_fraction"] * 2.0,
            "vec_normalize": {"norm_obs": True, "norm_reward": False, "clip_obs": hp["observation_clip"]}}


def run_sb3(cfg: dict[str, Any], algo: str) -> dict[str, Any]:
    """SB3 DDPG/TD3 + HerReplayBuffer on VecNormalize(DummyVecEnv(16 x our env)), trained chunk by chunk."""
    import torch
    from stable_baselines3 import DDPG, TD3, HerReplayBuffer
    from stable_baselines3.common.noise import NormalActionNoise
    from stable_baselines3.common.vec_env import DummyVecEnv, VecNormalize
    from papers.her.fetch_envs import make_fetch_env
    s = sb3_settings(cfg["hp"], algo)
    venv = VecNormalize(DummyVecEnv([lambda: make_fetch_env(TASK, N_SUBSTEPS, REJECT_WITHIN)] * NUM_ENVS),
                        gamma=s["gamma"], **s["vec_normalize"])
    # HerReplayBuffer computes the relabelled rewards with env_method("compute_reward"), which DummyVecEnv resolves
    # through get_wrapper_attr, i.e. through our PaperGoals wrapper down to FetchReach's own compute_reward
    assert venv.env_method("compute_reward", np.zeros((2, 3)), np.ones((2, 3)), [{}, {}], indices=[0])[0].shape == (2,)
    noise = NormalActionNoise(np.zeros(4), s["action_noise_sigma"] * np.ones(4))
    model = {"ddpg": DDPG, "td3": TD3}[algo](
        "MultiInputPolicy", venv, learning_rate=s["learning_rate"], buffer_size=s["buffer_size"],
        learning_starts=s["learning_starts"], batch_size=s["batch_size"], tau=s["tau"], gamma=s["gamma"],
        train_freq=s["train_freq"], gradient_steps=s["gradient_steps"], action_noise=noise,
        replay_buffer_class=HerReplayBuffer, replay_buffer_kwargs=s["replay_buffer_kwargs"],
        policy_kwargs=s["policy_kwargs"], verbose=0, seed=cfg["seed"], device=torch.device("cpu"))
    first = [True]

    def train_chunk(n_steps: int) -> None:
        model.learn(n_steps, reset_num_timesteps=first[0], log_interval=None)
        first[0] = False

    def act(obs: dict[str, np.ndarray]) -> np.ndarray:
        return model.predict(venv.normalize_obs(obs), deterministic=True)[0]

    result = train_and_test(train_chunk, act, cfg)
    result["sb3_updates"] = int(model._n_updates)
    return result


def run_raw_sim(cfg: dict[str, Any]) -> dict[str, Any]:
    """Uniformly random actions on one env, resets included: the simulator's own rate."""
    from papers.her.fetch_envs import make_fetch_env
    env = make_fetch_env(TASK, N_SUBSTEPS, REJECT_WITHIN)
    actions = np.random.default_rng(cfg["seed"]).uniform(-1, 1, size=(cfg["raw_steps"], 4)).astype(np.float32)
    env.reset(seed=cfg["seed"])
    t0 = time.perf_counter()
    for a in actions:
        _, _, terminated, truncated, _ = env.step(a)
        if terminated or truncated:
            env.reset()
    seconds = time.perf_counter() - t0
    return {"env_steps": cfg["raw_steps"], "seconds": seconds, "steps_per_s": cfg["raw_steps"] / seconds}


def worker(side: str, cfg_path: str, result_path: str) -> None:
    """Subprocess entry: one side, single-threaded; writes its numbers and its peak RSS to ``result_path``."""
    import torch
    torch.set_num_threads(1)
    cfg = json.loads(Path(cfg_path).read_text()) | {"side": side}
    t0 = time.perf_counter()
    if side == "ours":
        result = run_ours(cfg)
    elif side == "raw_sim":
        result = run_raw_sim(cfg)
    else:
        result = run_sb3(cfg, side.removeprefix("sb3_"))
    result.update(process_wall_seconds=time.perf_counter() - t0, torch_threads=torch.get_num_threads(),
                  peak_rss_mib=resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024,
                  cpu_affinity=sorted(os.sched_getaffinity(0)))
    Path(result_path).write_text(json.dumps(result))


# -- the driver -----------------------------------------------------------------------------------------------------
def launch(sides: list[str], cfg_path: Path, tmp: Path) -> dict[str, dict[str, Any]]:
    """Start ``sides`` at once, side i pinned to core i where possible; wait for all; collect their results."""
    env = os.environ | {"OMP_NUM_THREADS": "1", "MKL_NUM_THREADS": "1", "PYTHONPATH": str(ROOT)}
    pin = shutil.which("taskset") is not None and (os.cpu_count() or 1) >= len(sides)
    procs = {}
    for core, side in enumerate(sides):
        cmd = [sys.executable, str(Path(__file__).resolve()), "--worker", side, "--config", str(cfg_path),
               "--result", str(tmp / f"{side}.json")]
        procs[side] = subprocess.Popen((["taskset", "-c", str(core)] if pin else []) + cmd, env=env, cwd=ROOT)
    for side, proc in procs.items():
        if proc.wait() != 0:
            raise RuntimeError(f"{side} exited with status {proc.returncode}")
    return {side: json.loads((tmp / f"{side}.json").read_text()) | {"pinned_core": core if pin else None}
            for core, side in enumerate(sides)}


def ratio(a: float | None, b: float | None) -> float | None:
    return None if a is None or b is None else a / b


def compare(ours: dict[str, Any], sb3: dict[str, Any], raw_sim_steps_per_s: float) -> dict[str, Any]:
    speed = ours["steps_per_s"] / sb3["steps_per_s"]
    samples = ratio(sb3["env_steps_to_90"], ours["env_steps_to_90"])
    out = {"steps_per_s_ratio": speed,
           "seconds_to_90_ratio": ratio(sb3["seconds_to_90"], ours["seconds_to_90"]),
           "env_steps_to_90_ratio": samples,
           "peak_rss_ratio": ours["peak_rss_mib"] / sb3["peak_rss_mib"],
           "ours_fraction_of_raw_sim": ours["steps_per_s"] / raw_sim_steps_per_s,
           "sb3_fraction_of_raw_sim": sb3["steps_per_s"] / raw_sim_steps_per_s}
    out["target_met"] = None if samples is None else bool(speed >= TARGET_SPEEDUP and samples >= 1.0)
    out["target_note"] = target_note(ours, sb3, speed)
    return out


def target_note(ours: dict[str, Any], sb3: dict[str, Any], speed: float) -> str:
    """In words, what the numbers say about the target, including what is known when target_met is null."""
    fast = f"steps/s ratio {speed:.2f} ({'>=' if speed >= TARGET_SPEEDUP else '<'} {TARGET_SPEEDUP})"
    if ours["reached_90"] and sb3["reached_90"]:
        return f"{fast}; env steps to 90 %: ours {ours['env_steps_to_90']}, SB3 {sb3['env_steps_to_90']}"
    if sb3["reached_90"]:
        return (f"{fast}; SB3 reached 90 % at {sb3['env_steps_to_90']} env steps, ours not within "
                f"{ours['env_steps']}: the sample-efficiency condition fails for this seed")
    if ours["reached_90"]:
        return (f"{fast}; ours reached 90 % at {ours['env_steps_to_90']} env steps, SB3 not within "
                f"{sb3['env_steps']}: the sample-efficiency condition holds for this seed")
    return f"{fast}; neither run reached 90 % within the cap: sample efficiency not measured"


def machine_info() -> dict[str, Any]:
    import gymnasium
    import gymnasium_robotics
    import mujoco
    import stable_baselines3
    import torch
    cpuinfo = Path("/proc/cpuinfo").read_text() if Path("/proc/cpuinfo").exists() else ""
    model = next((line.split(":", 1)[1].strip() for line in cpuinfo.splitlines() if line.startswith("model name")),
                 platform.processor())

    def git(*args: str) -> str:
        return subprocess.run(["git", *args], cwd=ROOT, capture_output=True, text=True).stdout.strip()

    loadavg = Path("/proc/loadavg").read_text().split()[:3] if Path("/proc/loadavg").exists() else None
    return {"cpu_model": model, "cpu_cores": os.cpu_count(), "taskset": shutil.which("taskset") is not None,
            "loadavg_at_start": loadavg,
            "python": platform.python_version(), "platform": platform.platform(), "torch": torch.__version__,
            "stable_baselines3": stable_baselines3.__version__, "mujoco": mujoco.__version__,
            "gymnasium": gymnasium.__version__, "gymnasium_robotics": gymnasium_robotics.__version__,
            "numpy": np.__version__, "git_commit": git("rev-parse", "HEAD"),
            "git_dirty": bool(git("status", "--porcelain", "--untracked-files=no"))}


def parse_args(argv: list[str] | None = None) -> argparse.Namespace:
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0], formatter_class=argparse.RawTextHelpFormatter)
    p.add_argument("--quick", action="store_true",
                   help="end-to-end check: cap 16,000 steps, test every 8,000 on 8 episodes, 2,000 raw-sim steps")
    p.add_argument("--max-steps", type=int, default=200_000, help="env-step cap of every run (multiple of 800)")
    p.add_argument("--eval-every", type=int, default=8_000, help="env steps between tests (multiple of 800)")
    p.add_argument("--test-episodes", type=int, default=32)
    p.add_argument("--raw-steps", type=int, default=20_000, help="random-action steps of the raw simulator rate")
    p.add_argument("--sb3-algos", default=",".join(SB3_ALGOS), help="comma-separated, from: ddpg, td3")
    p.add_argument("--seed", type=int, default=1)
    p.add_argument("--ours-test-network", choices=("target", "online"), default="target",
                   help="which actor of ours is tested: the paper's target network (default) or, as a diagnostic of "
                        "the testing protocol's share in the sample-efficiency gap, the online one like SB3's")
    p.add_argument("--out", type=Path, default=None, help="output JSON (default: benchmarks/results/...)")
    p.add_argument("--worker", help=argparse.SUPPRESS)
    p.add_argument("--config", help=argparse.SUPPRESS)
    p.add_argument("--result", help=argparse.SUPPRESS)
    args = p.parse_args(argv)
    if args.quick:
        args.max_steps, args.eval_every, args.test_episodes, args.raw_steps = 16_000, 8_000, 8, 2_000
    if args.max_steps % CYCLE_STEPS or args.eval_every % CYCLE_STEPS:
        p.error(f"--max-steps and --eval-every must be multiples of {CYCLE_STEPS} (one cycle)")
    args.sb3_algos = [a.strip() for a in args.sb3_algos.split(",") if a.strip()]
    if not set(args.sb3_algos) <= set(SB3_ALGOS) or not args.sb3_algos:
        p.error(f"--sb3-algos takes a comma-separated subset of {SB3_ALGOS}")
    if args.out is None:
        suffix = (".quick" if args.quick else "") + (".online_test" if args.ours_test_network == "online" else "")
        args.out = RESULTS / f"her_fetchreach_vs_sb3{suffix}.json"
    return args


def main(argv: list[str] | None = None) -> dict[str, Any]:
    """Run every pair (ours vs each SB3 algorithm), then the raw simulator alone; write and return the JSON."""
    args = parse_args(argv)
    if args.worker:
        worker(args.worker, args.config, args.result)
        return {}
    from pipelines.registry import load_paper
    hp = load_paper("her").params.experiment(EXPERIMENT).hyperparameters
    cfg = {"hp": hp, "seed": args.seed, "max_steps": args.max_steps, "eval_every": args.eval_every,
           "test_episodes": args.test_episodes, "raw_steps": args.raw_steps,
           "ours_test_network": args.ours_test_network}
    report: dict[str, Any] = {"benchmark": "her_fetchreach_vs_sb3", "quick": args.quick, "machine": machine_info(),
                              "settings": {k: v for k, v in cfg.items() if k != "hp"} | {
                                  "experiment": EXPERIMENT, "ours_hyperparameters": hp,
                                  "sb3": {a: sb3_settings(hp, a) for a in args.sb3_algos},
                                  "env": {"task": TASK, "n_substeps": N_SUBSTEPS, "reject_within": REJECT_WITHIN,
                                          "num_envs": NUM_ENVS, "success_distance": SUCCESS_DISTANCE}},
                              "mismatches": MISMATCHES, "runs": {}}
    t_start = time.time()
    with tempfile.TemporaryDirectory() as tmp:
        cfg_path = Path(tmp) / "config.json"
        cfg_path.write_text(json.dumps(cfg))
        for algo in args.sb3_algos:
            print(f"pair: ours vs sb3_{algo}", file=sys.stderr, flush=True)
            report["runs"][f"ours_vs_sb3_{algo}"] = launch(["ours", f"sb3_{algo}"], cfg_path, Path(tmp))
        report["raw_sim"] = launch(["raw_sim"], cfg_path, Path(tmp))["raw_sim"]
    raw = report["raw_sim"]["steps_per_s"]
    report["comparisons"] = {f"sb3_{a}": compare(report["runs"][f"ours_vs_sb3_{a}"]["ours"],
                                                 report["runs"][f"ours_vs_sb3_{a}"][f"sb3_{a}"], raw)
                             for a in args.sb3_algos}
    primary = report["comparisons"].get("sb3_ddpg") or next(iter(report["comparisons"].values()))
    report["ratios"] = {k: v for k, v in primary.items() if k not in ("target_met", "target_note")}
    report["target_met"], report["target_note"] = primary["target_met"], primary["target_note"]
    report["target"] = (f"steps_per_s_ratio >= {TARGET_SPEEDUP} and env_steps_to_90_ratio >= 1 against SB3 DDPG (the "
                        "matched algorithm; top-level ratios); null unless both runs of the pair reached 90 %")
    report["benchmark_wall_seconds"] = time.time() - t_start
    args.out.parent.mkdir(parents=True, exist_ok=True)
    args.out.write_text(json.dumps(report, indent=2) + "\n")
    print(json.dumps({"out": str(args.out), "ratios": report["ratios"], "target_met": report["target_met"]}, indent=2))
    return report


if __name__ == "__main__":
    main()
