"""SNAIL few-shot classification: episode construction, the models' shapes, tiny end-to-end runs on generated files
(stand-in files in the canonical formats, not the real data sets), resume, and the missing-data error."""
from __future__ import annotations

import numpy as np
import pytest
import torch
import yaml

from papers.snail import fewshot_experiment as fx
from papers.snail.fewshot_networks import MiniImagenetEmbedding, OmniglotEmbedding, SnailClassifier
from pipelines.registry import load_paper
from shared.errors import DataMissingError
from shared.fewshot.episodes import ImageClasses
from shared.params import ExperimentConfig
from shared.run import Run
from tests.fewshot_files import install_generated_data
from tests.helpers import REPO, killed_at_iteration, modules_imported_by


def test_episodes_hold_nk_shuffled_examples_then_one_query():
    classes = ImageClasses(np.stack([np.full((6, 4, 4, 1), 10 * c, dtype=np.uint8) for c in range(7)]),
                           tuple(str(c) for c in range(7)))
    images, labels = fx.episodes(classes, np.random.default_rng(0), 50, n_way=3, shots=2, turns=(0,))
    assert images.shape == (50, 7, 1, 4, 4) and labels.shape == (50, 7)
    for e in range(50):
        assert sorted(labels[e, :6].tolist()) == [0, 0, 1, 1, 2, 2]
        pixel = images[e, :, 0, 0, 0]
        # every image of a label shows the same class, the query's included
        for lab in range(3):
            assert len(set(pixel[labels[e] == lab].tolist())) == 1
    assert len({tuple(labels[e, :6].tolist()) for e in range(50)}) > 1  # the support order is shuffled


def test_models_map_episodes_to_the_query_logits():
    omni = SnailClassifier(OmniglotEmbedding(), n_way=5, max_shots=5)
    out = omni(torch.rand(2, 11, 1, 28, 28), torch.randint(0, 5, (2, 11)))
    assert out.shape == (2, 5)
    mini = SnailClassifier(MiniImagenetEmbedding(dropout=0.1), n_way=5, max_shots=5)
    assert mini(torch.rand(2, 6, 3, 84, 84), torch.randint(0, 5, (2, 6))).shape == (2, 5)
    assert mini.embedding(torch.rand(1, 3, 84, 84)).shape == (1, 384)


def test_the_query_label_is_hidden_from_the_model():
    torch.manual_seed(0)
    model = SnailClassifier(OmniglotEmbedding(), n_way=5, max_shots=1).eval()
    images, labels = torch.rand(1, 6, 1, 28, 28), torch.tensor([[0, 1, 2, 3, 4, 2]])
    other = labels.clone()
    other[0, -1] = 4
    assert torch.equal(model(images, labels), model(images, other))


def tiny_config(name: str = "omniglot_5way_snail", iterations: int = 3) -> ExperimentConfig:
    paper = load_paper("snail")
    exp = paper.params.experiment(name)
    hp = {**exp.hyperparameters, "episodes_per_batch": 4}
    if hp["dataset"] == "omniglot":
        hp["omniglot_train_characters"] = 10  # 18 generated characters: 10 train, 8 test
    return ExperimentConfig("snail", name, exp.paper_experiment, "smoke", hp,
                            {"iterations": iterations, "evaluation_tasks": 6})


def run_tiny(tmp_path, config, tag="a", checkpoint_seconds=1e9):
    run = Run(config, 1, tmp_path / tag / "out", tmp_path / tag / "ckpt", checkpoint_seconds=checkpoint_seconds,
              show_progress=False)
    return fx.train_fewshot_snail(config, run), run.curve


@pytest.mark.parametrize("name", ["omniglot_5way_snail", "miniimagenet_5way_snail"])
def test_tiny_runs_on_generated_files_are_deterministic(tmp_path, monkeypatch, name):
    install_generated_data(tmp_path, monkeypatch)
    config = tiny_config(name)
    a, curve = run_tiny(tmp_path, config, "a")
    assert run_tiny(tmp_path, config, "b") == (a, curve)
    assert {"accuracy_1shot", "accuracy_5shot", "accuracy_1shot_ci95"} <= set(a) and a["iterations"] == 3
    assert 0 <= a["accuracy_1shot"] <= 100 and curve[-1]["iteration"] == 3


def test_killed_run_resumes_to_the_same_result(tmp_path, monkeypatch):
    install_generated_data(tmp_path, monkeypatch)
    config = tiny_config(iterations=4)
    monkeypatch.setattr(fx, "LOG_EVERY", 1)  # log every iteration so the run can be killed at one
    expected = run_tiny(tmp_path, config, "whole")
    with killed_at_iteration(monkeypatch, 2):
        run_tiny(tmp_path, config, "killed", checkpoint_seconds=0)
    assert run_tiny(tmp_path, config, "killed", checkpoint_seconds=0) == expected


@pytest.mark.parametrize("name, dataset", [("omniglot_5way_snail", "omniglot"),
                                           ("miniimagenet_5way_snail", "miniimagenet")])
def test_missing_data_names_the_fetch_command(tmp_path, monkeypatch, name, dataset):
    monkeypatch.setenv("REPLICA_DATA", str(tmp_path / "nothing"))
    with pytest.raises(DataMissingError, match=f"python -m shared.fewshot.fetch {dataset}"):
        run_tiny(tmp_path, tiny_config(name))


def test_dvc_fewshot_stages_list_the_code_and_data_they_use():
    paper = load_paper("snail")
    stages = yaml.safe_load((REPO / "papers/snail/dvc.yaml").read_text())["stages"]
    for stage, group, data in (("train_omniglot", "omniglot_snail", "../../data/omniglot/omniglot28.npz"),
                               ("train_miniimagenet", "miniimagenet_snail", "../../data/miniimagenet")):
        exps = stages[stage]["matrix"]["exp"]
        assert {paper.params.experiment(e).paper_experiment for e in exps} == {group}
        assert sorted(exps) == sorted(e for e in paper.params.experiments
                                      if paper.params.experiment(e).paper_experiment == group)
        code = sorted(d for d in stages[stage]["deps"] if d not in ("../../shared/run.py", data))
        assert code == modules_imported_by("snail", group) and data in stages[stage]["deps"]
