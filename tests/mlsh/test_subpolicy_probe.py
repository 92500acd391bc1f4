"""The Four Rooms sub-policy probe: it finds a fixed sequence of skills that reaches a goal when one exists, finds
none when the skills cannot get there, and reads an agent back from a run's config and training checkpoint."""
from __future__ import annotations

import json

import numpy as np
import pytest

from papers.mlsh.experiment import make_env, settings
from papers.mlsh.hierarchy import MLSH
from papers.mlsh.subpolicy_probe import fixed_sequences, load_agent, probe, sequence_returns
from tests.mlsh.test_runs import run_tiny, tiny_config


def scripted_agent(directions: list[int]) -> MLSH:
    """A tiny Four Rooms agent whose sub-policy k always takes action ``directions[k]`` (0 up, 1 down, 2 left,
    3 right): its output bias makes every other action's logit -1e9."""
    hp = tiny_config("four_rooms_mlsh").hyperparameters
    agent = MLSH(make_env(hp), settings(hp))
    agent.subs["pi_out.b"].data[:] = -1e9
    for k, a in enumerate(directions):
        agent.subs["pi_out.b"].data[k, a] = 0.0
    return agent


def test_every_sequence_is_enumerated_once():
    seqs = fixed_sequences(4, 4)
    assert seqs.shape == (256, 4) and len({tuple(s) for s in seqs}) == 256 and seqs.min() == 0 and seqs.max() == 3


def test_directional_skills_reach_the_corner_goal_and_identical_skills_do_not():
    """Goal 103 is the bottom-right corner (11, 11), the start the doorway (7, 9): down for 25 steps reaches the
    bottom wall and right then the corner, where pushing into the walls holds the agent (no slip without a move)."""
    rng = np.random.default_rng(0)
    seqs, returns = sequence_returns(scripted_agent([0, 1, 2, 3]), 103, 20, rng)
    best = seqs[returns.argmax()]
    assert returns.max() > 60 and best[0] == 1 and set(best[1:].tolist()) <= {1, 3}
    _, stuck = sequence_returns(scripted_agent([0, 0, 0, 0]), 103, 20, rng)
    assert stuck.max() == 0.0


def test_probe_reports_every_held_out_goal_with_the_oracle():
    agent = scripted_agent([0, 1, 2, 3])
    agent.subs["pi_out.b"].data[:] = 0.0  # uniform random skills: the probe's randomness must come from its seed
    assert probe(agent, episodes=5, seed=0) == probe(agent, episodes=5, seed=0)
    result = probe(scripted_agent([0, 1, 2, 3]), episodes=5, seed=0)
    assert set(result["goals"]) == {"68", "80", "90", "103"}
    assert result["goals"]["103"]["best_sequence_return"] <= result["goals"]["103"]["oracle_return"] + 5
    assert result["mean_oracle_return"] > 60 and 0 < result["mean_best_sequence_return"] <= 100


def test_load_agent_reads_the_training_checkpoint(tmp_path):
    config = tiny_config("four_rooms_mlsh", iterations=3)
    run_tiny(tmp_path, config, checkpoint_seconds=0)  # checkpoints after iterations 1 and 2
    (tmp_path / "a" / "out").mkdir(parents=True, exist_ok=True)
    (tmp_path / "a" / "out" / "config.json").write_text(json.dumps(config.as_flat_dict()))
    agent, iteration = load_agent(tmp_path / "a" / "out", tmp_path / "a" / "ckpt")
    assert iteration == 2 and agent.s.subpolicies == 4 and agent.env.obs_dim == 104
    mb = tiny_config("moving_bandits_mlsh")
    (tmp_path / "a" / "out" / "config.json").write_text(json.dumps(mb.as_flat_dict()))
    with pytest.raises(SystemExit, match="needs a Four Rooms run"):
        load_agent(tmp_path / "a" / "out", tmp_path / "a" / "ckpt")
