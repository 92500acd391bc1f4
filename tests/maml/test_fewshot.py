"""MAML few-shot classification: the authors' networks and loss, transductive batch norm with meta-learned offsets,
second- vs first-order meta-gradients, the test statistics, and tiny end-to-end runs on generated data (stand-in
files in the canonical formats, not the real data sets)."""
from __future__ import annotations

import math
from pathlib import Path

import numpy as np
import pytest
import torch
import torch.nn.functional as F
import yaml

from papers.maml import fewshot_experiment as fx
from papers.maml.fewshot_nets import (Conv4, FullyConnected, batch_norm_relu, inner_names, make_network,
                                      same_padding, xent)
from papers.maml.inner_loop import adapt, sgd_step
from shared.errors import DataMissingError
from shared.fewshot.episodes import TaskBatch
from shared.params import ExperimentConfig
from shared.run import Run
from tests.fewshot_files import install_generated_data
from tests.helpers import killed_at_iteration

OMNIGLOT_5WAY_1SHOT = {  # the paper's Omniglot 5-way 1-shot settings with a small network (a test config only)
    "dataset": "omniglot", "n_way": 5, "k_shot": 1, "query_train": 1, "query_test": 1, "inner_steps_train": 1,
    "inner_steps_test": 3, "evaluation_steps": 4, "inner_step_size": 0.4, "meta_batch_size": 4,
    "meta_learning_rate": 0.001,
    "adam_beta1": 0.9, "adam_beta2": 0.999, "adam_epsilon": 1e-8, "first_order": False, "meta_grad_clip": None,
    "network": "conv4", "num_filters": 8, "max_pool": False, "batch_norm_epsilon": 0.001,
    "omniglot_train_characters": 8, "omniglot_validation_characters": 5, "omniglot_split_seed": 1,
    "omniglot_rotations": True}


def random_batch(n_tasks: int, n_way: int, k: int, q: int, channels: int, size: int, seed: int = 0) -> TaskBatch:
    g = torch.Generator().manual_seed(seed)
    labels = lambda n: torch.arange(n_way).repeat(n).expand(n_tasks, -1)  # noqa: E731
    return TaskBatch(torch.rand(n_tasks, n_way * k, channels, size, size, generator=g), labels(k),
                     torch.rand(n_tasks, n_way * q, channels, size, size, generator=g), labels(q))


# -- networks -----------------------------------------------------------------------------------------------------
def test_network_shapes_and_parameters():
    omni = Conv4(1, 28, 64, 5, max_pool=False)
    p = omni.init(torch.Generator().manual_seed(0))
    assert omni(p, torch.rand(7, 1, 28, 28)).shape == (7, 5) and p["w5"].shape == (64, 5)
    assert [p[f"conv{i}"].shape for i in (1, 2)] == [(64, 1, 3, 3), (64, 64, 3, 3)]
    mini = Conv4(3, 84, 32, 5, max_pool=True)
    q = mini.init(torch.Generator().manual_seed(0))
    assert mini.features == 5 * 5 * 32 and q["w5"].shape == (800, 5)  # 84 -> 42 -> 21 -> 10 -> 5
    assert mini(q, torch.rand(3, 3, 84, 84)).shape == (3, 5)
    fc = make_network("fc", 1, 28, 20, hidden=(256, 128, 64, 64))
    r = fc.init(torch.Generator().manual_seed(0))
    assert isinstance(fc, FullyConnected) and fc(r, torch.rand(4, 1, 28, 28)).shape == (4, 20)
    assert [r[f"w{i}"].shape for i in range(1, 6)] == [(784, 256), (256, 128), (128, 64), (64, 64), (64, 20)]
    assert sorted(k for k in r if k.startswith("bn")) == [f"bn{i}_offset" for i in range(1, 5)]


def test_tensorflow_same_padding_and_strided_sizes():
    assert same_padding(28, 3, 2) == (0, 1) and same_padding(7, 3, 2) == (1, 1) and same_padding(84, 3, 1) == (1, 1)
    sizes, size = [], 28
    for _ in range(4):
        before, after = same_padding(size, 3, 2)
        size = (size + before + after - 3) // 2 + 1
        sizes.append(size)
    assert sizes == [14, 7, 4, 2]  # ceil(size / 2) each layer, as TensorFlow's 'SAME'


def test_initialisation_is_the_authors():
    g = torch.Generator().manual_seed(1)
    p = Conv4(1, 28, 64, 5, max_pool=False).init(g)
    assert p["conv1"].abs().max() <= math.sqrt(6 / (9 * 1 + 9 * 64))  # glorot uniform, fan = 3*3*channels
    assert p["conv2"].abs().max() <= math.sqrt(6 / (9 * 64 + 9 * 64))
    assert all(p[k].eq(0).all() for k in p if k.startswith(("b", "bn")))
    assert 0.8 < p["w5"].std() < 1.2  # tf.random_normal: N(0, 1)
    q = Conv4(3, 84, 32, 5, max_pool=True).init(g)
    assert q["w5"].abs().max() <= math.sqrt(6 / (800 + 5))
    r = FullyConnected(784, (256, 128, 64, 64), 5).init(g)
    assert r["w1"].abs().max() <= 0.02 and 0.0080 < r["w1"].std() < 0.0096  # truncated N(0, 0.01^2) at 2 sd


def test_batch_norm_uses_the_statistics_of_the_batch():
    net = Conv4(1, 28, 8, 5, max_pool=False)
    p = net.init(torch.Generator().manual_seed(0))
    x = torch.rand(4, 1, 28, 28)
    other = x.clone()
    other[3] = torch.rand(1, 28, 28)
    assert not torch.allclose(net(p, x)[0], net(p, other)[0])  # example 0's logits depend on example 3
    h = torch.randn(6, 3, 5, 5) * 4 + 2
    beta = torch.tensor([0.5, -1.0, 0.0])
    mean, var = h.mean((0, 2, 3), keepdim=True), h.var((0, 2, 3), unbiased=False, keepdim=True)
    expected = torch.relu((h - mean) / torch.sqrt(var + 1e-3) + beta.view(1, 3, 1, 1))
    torch.testing.assert_close(batch_norm_relu(h, beta), expected)


def test_inner_step_leaves_batch_norm_offsets_and_the_meta_step_learns_them():
    net = Conv4(1, 28, 8, 5, max_pool=False)
    params = {k: v.requires_grad_() for k, v in net.init(torch.Generator().manual_seed(0)).items()}
    batch = random_batch(2, 5, 1, 1, 1, 28)
    names = inner_names(params)
    assert set(params) - set(names) == {f"bn{i}_offset" for i in range(1, 5)}
    loss = lambda p: xent(net(p, batch.support_x[0]), batch.support_y[0], 1)  # noqa: E731
    stepped = sgd_step(loss, params, 0.4, adapted=names)
    assert all(stepped[k] is params[k] for k in params if k not in names)
    assert all(not torch.equal(stepped[k], params[k]) for k in ("conv1", "w5", "b5"))
    post_loss, *_ = fx.meta_batch_outcomes(net, params, batch, 1, [0.4], first_order=False)
    post_loss.sum().backward()
    assert all(params[f"bn{i}_offset"].grad.abs().sum() > 0 for i in range(1, 5))


def test_loss_is_cross_entropy_over_k_summed_over_the_task():
    logits, labels = torch.randn(25, 5), torch.arange(5).repeat(5)
    per_example = F.cross_entropy(logits, labels, reduction="none")
    torch.testing.assert_close(xent(logits, labels, 5), (per_example / 5).sum())
    torch.testing.assert_close(xent(logits, labels, 5), 5 * per_example.mean())  # N-way K-shot: N x the mean


def manual_meta_gradient(net, params, batch, k, alpha, steps, first_order):
    """Eq. (2) by plain autograd, one task at a time: the objective sum_i L(theta'_i) / T and its gradient."""
    names = inner_names(params)
    total = 0.0
    for t in range(batch.support_x.shape[0]):
        p = dict(params)
        for _ in range(steps):
            inner = xent(net(p, batch.support_x[t]), batch.support_y[t], k)
            grads = torch.autograd.grad(inner, [p[n] for n in names], create_graph=not first_order)
            p = {**p, **{n: p[n] - alpha * g for n, g in zip(names, grads)}}
        total = total + xent(net(p, batch.query_x[t]), batch.query_y[t], k)
    objective = total / batch.support_x.shape[0]
    return objective, torch.autograd.grad(objective, list(params.values()))


def test_second_order_meta_gradient_matches_autograd_and_differs_from_first_order():
    torch.manual_seed(0)
    net = FullyConnected(16, (12, 10), 3)
    params = {k: (v + 0.1 * torch.randn_like(v)).requires_grad_() for k, v in
              net.init(torch.Generator().manual_seed(0)).items()}
    batch = random_batch(3, 3, 2, 2, 1, 4, seed=1)
    grads = {}
    for first_order in (False, True):
        post_loss, *_ = fx.meta_batch_outcomes(net, params, batch, 2, [0.4, 0.4], first_order)
        objective = post_loss.sum() / 3
        grads[first_order] = torch.autograd.grad(objective, list(params.values()))
        expected_objective, expected = manual_meta_gradient(net, params, batch, 2, 0.4, 2, first_order)
        torch.testing.assert_close(objective, expected_objective)
        for got, want in zip(grads[first_order], expected):
            torch.testing.assert_close(got, want, atol=1e-6, rtol=1e-4)
    difference = max((a - b).abs().max().item() for a, b in zip(grads[False], grads[True]))
    assert difference > 1e-4


def test_query_accuracies_before_and_after_each_step():
    net = Conv4(1, 28, 8, 5, max_pool=False)
    params = net.init(torch.Generator().manual_seed(3))
    batch = random_batch(3, 5, 1, 2, 1, 28, seed=2)
    acc = fx.query_accuracies(net, params, batch, 1, [0.4, 0.4])
    assert acc.shape == (3, 3)
    for t in range(3):
        path = adapt(lambda p: xent(net(p, batch.support_x[t]), batch.support_y[t], 1), params, [0.4, 0.4],
                     adapted=inner_names(params))
        expected = [(net(p, batch.query_x[t]).argmax(-1) == batch.query_y[t]).float().mean() for p in [params, *path]]
        torch.testing.assert_close(acc[t], torch.stack(expected).detach())


def test_summary_is_percent_with_the_authors_interval():
    acc = np.array([[0.2, 0.6], [0.4, 1.0], [0.0, 0.8], [0.2, 0.6]])
    m = fx.summarise(acc, 1)
    assert m["accuracy_step0"] == pytest.approx(20.0) and m["accuracy"] == pytest.approx(75.0)
    assert m["accuracy_ci95"] == pytest.approx(1.96 * np.std(100 * acc[:, 1]) / 2)  # np.std: ddof 0
    assert m["accuracy_step1_ci95"] == m["accuracy_ci95"]
    assert fx.summarise(acc, 0)["accuracy"] == pytest.approx(20.0)


# -- end to end on generated files --------------------------------------------------------------------------------
@pytest.fixture
def fewshot_data(tmp_path, monkeypatch) -> Path:
    return install_generated_data(tmp_path, monkeypatch)


def tiny_config(hp: dict | None = None, iterations: int = 3, **budget) -> ExperimentConfig:
    return ExperimentConfig("maml", "omniglot_5way_1shot", "omniglot", "smoke", hp or dict(OMNIGLOT_5WAY_1SHOT),
                            {"iterations": iterations, "evaluation_tasks": 12, **budget})


def run_tiny(tmp_path: Path, config: ExperimentConfig, seed: int = 5, tag: str = "a",
             checkpoint_seconds: float = 1e9) -> tuple[dict, Run]:
    run = Run(config, seed, tmp_path / tag / "out", tmp_path / tag / "ckpt", checkpoint_seconds=checkpoint_seconds,
              show_progress=False)
    return fx.train_fewshot(config, run), run


def test_same_seed_same_result_and_another_seed_differs(tmp_path, fewshot_data):
    config = tiny_config(validation_tasks=5)
    a, run_a = run_tiny(tmp_path, config, tag="a")
    b, run_b = run_tiny(tmp_path, config, tag="b")
    assert a == b and run_a.curve == run_b.curve
    c, run_c = run_tiny(tmp_path, config, seed=6, tag="c")
    assert run_c.curve != run_a.curve
    assert a["iterations"] == 3 and a["evaluation_tasks"] == 12
    assert {f"accuracy_step{j}" for j in range(5)} | {"accuracy", "accuracy_ci95"} <= set(a)
    assert a["accuracy"] == a["accuracy_step3"] and 0 <= a["accuracy"] <= 100
    assert [row["iteration"] for row in run_a.curve] == [3] and "validation_accuracy" in run_a.curve[0]


def test_killed_run_resumes_to_the_same_result(tmp_path, fewshot_data, monkeypatch):
    """Checkpoint after every iteration, die in the third, start again: the same metrics and curve."""
    monkeypatch.setattr(fx, "LOG_EVERY", 1)
    config = tiny_config(iterations=4)
    expected, whole = run_tiny(tmp_path, config, tag="whole")
    with killed_at_iteration(monkeypatch, 3):
        run_tiny(tmp_path, config, tag="killed", checkpoint_seconds=0)
    resumed, run = run_tiny(tmp_path, config, tag="killed", checkpoint_seconds=0)
    assert run.resumed_from == 2  # the checkpoint of iteration 2 was loaded
    assert resumed == expected and run.curve == whole.curve


def test_non_conv_and_miniimagenet_runs(tmp_path, fewshot_data):
    fc = {**OMNIGLOT_5WAY_1SHOT, "network": "fc", "hidden_sizes": [256, 128, 64, 64]}
    metrics, _ = run_tiny(tmp_path, tiny_config(fc, iterations=2), tag="fc")
    assert "accuracy_step3" in metrics
    mini = {**OMNIGLOT_5WAY_1SHOT, "dataset": "miniimagenet", "query_train": 15, "inner_steps_train": 2,
            "inner_steps_test": 2, "evaluation_steps": 2, "inner_step_size": 0.01, "meta_batch_size": 2,
            "num_filters": 4, "max_pool": True, "meta_grad_clip": 10.0, "first_order": True}
    metrics, run = run_tiny(tmp_path, tiny_config(mini, iterations=2), tag="mini")
    assert "accuracy_step2" in metrics and "accuracy_step3" not in metrics and len(run.curve) == 1


def test_missing_data_names_the_dvc_fetch_stage(tmp_path, monkeypatch):
    monkeypatch.setenv("REPLICA_DATA", str(tmp_path / "nothing"))
    with pytest.raises(DataMissingError, match="dvc repro papers/maml/dvc.yaml:fetch_omniglot"):
        run_tiny(tmp_path, tiny_config())
    mini = {**OMNIGLOT_5WAY_1SHOT, "dataset": "miniimagenet"}
    with pytest.raises(DataMissingError, match="dvc repro papers/maml/dvc.yaml:fetch_miniimagenet"):
        run_tiny(tmp_path, tiny_config(mini))


@pytest.mark.parametrize("stage_name, group, data", [("train_omniglot", "omniglot_maml", "../../data/omniglot/omniglot28.npz"),
                                                     ("train_miniimagenet", "miniimagenet_maml", "../../data/miniimagenet")])
def test_dvc_fewshot_stages_list_the_code_and_data_they_use(stage_name, group, data):
    from pipelines.registry import load_paper
    from tests.helpers import REPO, modules_imported_by

    paper = load_paper("maml")
    stage = yaml.safe_load((REPO / "papers/maml/dvc.yaml").read_text())["stages"][stage_name]
    groups = {paper.params.experiment(e).paper_experiment for e in stage["matrix"]["exp"]}
    assert group in groups
    assert sorted(stage["matrix"]["exp"]) == sorted(e for e in paper.params.experiments
                                                    if paper.params.experiment(e).paper_experiment in groups)
    code = sorted(d for d in stage["deps"] if d not in ("../../shared/run.py", data))
    assert code == modules_imported_by("maml", group) and data in stage["deps"]


def test_smoke_leaves_out_the_stages_whose_data_are_absent(monkeypatch, tmp_path):
    from pipelines import smoke

    monkeypatch.setattr(smoke, "repo_root", lambda: tmp_path)
    targets = smoke.smoke_targets("maml")
    assert "papers/maml/dvc.yaml:train_sinusoid" in targets and "papers/maml/dvc.yaml:check" in targets
    assert not any("omniglot" in t or "miniimagenet" in t for t in targets)
    (tmp_path / "data/omniglot").mkdir(parents=True)
    (tmp_path / "data/omniglot/omniglot28.npz").write_bytes(b"")
    targets = smoke.smoke_targets("maml")
    assert "papers/maml/dvc.yaml:train_omniglot" in targets and "papers/maml/dvc.yaml:fetch_omniglot" in targets
    assert not any("miniimagenet" in t for t in targets)
