"""``params.yaml`` validated against ``paper.yaml``; the real HER files and their DVC matrix."""
from __future__ import annotations

import shutil

import pytest

import yaml

from shared.errors import SpecError
from shared.paper_spec import load_paper_spec
from shared.params import load_params
from tests.helpers import REPO, modules_imported_by
from tests.shared.specs import PAPER_YAML, PARAMS_YAML, assert_spec_error, edit, line_of, write


@pytest.fixture
def spec(tmp_path):
    return load_paper_spec(write(tmp_path, "paper.yaml", PAPER_YAML))


def load(tmp_path, spec, text, profile=None):
    return load_params(write(tmp_path, "params.yaml", text), "toy", spec, profile)


def expect(tmp_path, spec, text, key, needle=None, reason=None, profile=None):
    with pytest.raises(SpecError) as err:
        load(tmp_path, spec, text, profile)
    assert_spec_error(err, tmp_path / "params.yaml", key, line_of(text, needle) if needle else None, reason)
    return err.value


def test_minimal_params_load(tmp_path, spec):
    params = load(tmp_path, spec, PARAMS_YAML)
    assert params.profile == "paper" and params.seeds == (1, 2)
    assert params.profile_seeds == {"paper": (1, 2, 3), "smoke": (1,)}
    cfg = params.experiment("toy_run")
    assert cfg.hyperparameters == {"gamma": 0.98, "lr": 0.001, "width": 64}
    assert cfg.budget == {"epochs": 10}
    assert cfg.as_flat_dict()["hp.gamma"] == 0.98 and cfg.as_flat_dict()["budget.epochs"] == 10
    smoke = load(tmp_path, spec, PARAMS_YAML, profile="smoke")
    # a profile override changes only the budget (and falls back to the profile's seeds), never a hyperparameter
    assert smoke.profile == "smoke" and smoke.seeds == (1,)
    assert smoke.experiment("toy_run").budget == {"epochs": 1}
    assert smoke.experiment("toy_run").hyperparameters == cfg.hyperparameters


def test_unknown_experiment_name(tmp_path, spec):
    params = load(tmp_path, spec, PARAMS_YAML)
    with pytest.raises(SpecError) as err:
        params.experiment("nope")
    assert_spec_error(err, tmp_path / "params.yaml", "experiments.nope", reason="unknown experiment")


def test_unknown_top_level_key(tmp_path, spec):
    text = PARAMS_YAML + "learning_rate: 0.1\n"
    expect(tmp_path, spec, text, "learning_rate", "learning_rate:", "unknown key")


def test_unknown_experiment_key(tmp_path, spec):
    text = edit(PARAMS_YAML, "    paper_experiment: toy\n", "    paper_experiment: toy\n    notes: hi\n")
    expect(tmp_path, spec, text, "experiments.toy_run.notes", "notes: hi", "unknown key")


def test_hyperparameter_unknown_to_paper_yaml(tmp_path, spec):
    text = edit(PARAMS_YAML, "      width: 64\n", "      width: 64\n      momentum: 0.9\n")
    expect(tmp_path, spec, text, "experiments.toy_run.hyperparameters.momentum", "momentum:",
           "not a hyperparameter of paper experiment 'toy'")


def test_missing_hyperparameter(tmp_path, spec):
    text = edit(PARAMS_YAML, "      lr: 0.001\n", "")
    expect(tmp_path, spec, text, "experiments.toy_run.hyperparameters.lr", "hyperparameters:", "missing")


def test_profile_that_sets_a_hyperparameter(tmp_path, spec):
    text = edit(PARAMS_YAML, "    budget: {epochs: 1}\n", "    budget: {epochs: 1}\n    gamma: 0.5\n")
    expect(tmp_path, spec, text, "profiles.smoke.gamma", "gamma: 0.5", "never change hyperparameters")


def test_profile_budget_with_a_hyperparameter_key(tmp_path, spec):
    text = edit(PARAMS_YAML, "    budget: {epochs: 1}\n", "    budget: {epochs: 1, gamma: 0.5}\n")
    expect(tmp_path, spec, text, "profiles.smoke.budget", "gamma: 0.5", "same keys")


def test_seeds_not_in_profile(tmp_path, spec):
    text = edit(PARAMS_YAML, "seeds: [1, 2]\n", "seeds: [1, 7]\n")
    expect(tmp_path, spec, text, "seeds", "seeds: [1, 7]", r"not all in profiles\.paper\.seeds")


@pytest.mark.parametrize("seeds", ["[]", "[1, 1]", "[a, b]", "3", "[-1]", "[true]"])
def test_malformed_seeds(tmp_path, spec, seeds):
    text = edit(PARAMS_YAML, "seeds: [1, 2]\n", f"seeds: {seeds}\n")
    expect(tmp_path, spec, text, "seeds", f"seeds: {seeds}")


def test_unknown_profile(tmp_path, spec):
    text = edit(PARAMS_YAML, "profile: paper\n", "profile: fast\n")
    expect(tmp_path, spec, text, "profile", "profile: fast", "unknown profile 'fast'")
    expect(tmp_path, spec, PARAMS_YAML, "profile", "profile: paper", "unknown profile 'turbo'", profile="turbo")


def test_unknown_paper_experiment(tmp_path, spec):
    text = edit(PARAMS_YAML, "    paper_experiment: toy\n", "    paper_experiment: tiny\n")
    expect(tmp_path, spec, text, "experiments.toy_run.paper_experiment", "paper_experiment: tiny",
           "'tiny' is not an experiment of")


@pytest.mark.parametrize("drop", ["profile", "seeds", "profiles", "experiments"])
def test_missing_top_level_key(tmp_path, spec, drop):
    lines = PARAMS_YAML.splitlines(keepends=True)
    start = next(i for i, line in enumerate(lines) if line.startswith(f"{drop}:"))
    end = next((i for i in range(start + 1, len(lines)) if not lines[i].startswith(" ")), len(lines))
    expect(tmp_path, spec, "".join(lines[:start] + lines[end:]), drop, reason="missing required key")


def test_duplicate_yaml_key(tmp_path, spec):
    text = edit(PARAMS_YAML, "      lr: 0.001\n", "      lr: 0.001\n      gamma: 0.99\n")
    with pytest.raises(SpecError) as err:
        load(tmp_path, spec, text)
    assert_spec_error(err, tmp_path / "params.yaml", "<yaml>", line_of(text, "gamma: 0.99"), "duplicate key 'gamma'")


def test_merge_keys_may_be_overridden_but_not_duplicated(tmp_path, spec):
    text = edit(PARAMS_YAML, "    hyperparameters:\n", "    hyperparameters: &base\n") + (
        "  toy_wide:\n    paper_experiment: toy\n    hyperparameters: {<<: *base, width: 128}\n")
    params = load(tmp_path, spec, text)
    assert params.experiment("toy_wide").hyperparameters == {"gamma": 0.98, "lr": 0.001, "width": 128}
    bad = text.replace("{<<: *base, width: 128}", "{<<: *base, width: 128, width: 64}")
    with pytest.raises(SpecError) as err:
        load(tmp_path, spec, bad)
    assert "duplicate key 'width'" in str(err.value)


def test_per_experiment_budget_override(tmp_path, spec):
    text = PARAMS_YAML + "    budget: {smoke: {epochs: 3}}\n"
    assert load(tmp_path, spec, text, profile="smoke").experiment("toy_run").budget == {"epochs": 3}
    assert load(tmp_path, spec, text).experiment("toy_run").budget == {"epochs": 10}
    bad = PARAMS_YAML + "    budget: {smoke: {gamma: 3}}\n"
    expect(tmp_path, spec, bad, "experiments.toy_run.budget.smoke.gamma", "budget: {smoke", "not a budget key")
    bad = PARAMS_YAML + "    budget: {turbo: {epochs: 3}}\n"
    expect(tmp_path, spec, bad, "experiments.toy_run.budget.turbo", "budget: {turbo", "must name a profile")


def test_hyperparameters_not_a_mapping(tmp_path, spec):
    text = edit(PARAMS_YAML, "    hyperparameters:\n      gamma: 0.98\n      lr: 0.001\n      width: 64\n",
                "    hyperparameters: [gamma]\n")
    expect(tmp_path, spec, text, "experiments.toy_run.hyperparameters", "hyperparameters:", "must be a mapping")


# -- the real HER files -----------------------------------------------------------------------------------------------
def test_real_her_files_load(real_paper):
    params = real_paper.params
    assert params.profile == "paper"
    assert set(params.seeds) <= set(params.profile_seeds["paper"])
    assert len(params.profile_seeds["paper"]) >= 5
    assert real_paper.spec.citation["title"] == "Hindsight Experience Replay"
    for claim in real_paper.spec.claims:
        assert claim.experiment in params.experiments
        if claim.other_experiment:
            assert claim.other_experiment in params.experiments
    for cfg in params.experiments.values():
        assert cfg.paper_experiment in real_paper.spec.experiments
        stated = real_paper.spec.experiments[cfg.paper_experiment].budget["epochs"].value
        if stated is None:  # FetchReach is not the paper's task: our epochs are a declared choice
            assert any(cfg.paper_experiment in d.experiments and "epochs" in d.ours for d in real_paper.spec.deviations)
        else:
            assert cfg.budget["epochs"] == stated


def test_real_smoke_profile_changes_only_the_budget():
    from pipelines.registry import load_paper

    paper, smoke = load_paper("her"), load_paper("her", "smoke")
    assert smoke.params.profile == "smoke"
    assert list(smoke.params.experiments) == list(paper.params.experiments)
    for name, cfg in paper.params.experiments.items():
        assert smoke.params.experiments[name].hyperparameters == cfg.hyperparameters
        assert smoke.params.experiments[name].budget["epochs"] < cfg.budget["epochs"]


def test_dvc_matrix_equals_params_experiments(real_paper):
    """Every experiment has exactly one train stage (bit-flipping: ``train``, Fetch: ``train_fetch``), and each stage
    depends on exactly the paper modules its runs import: a code change re-runs those stages and only those."""
    dvc = yaml.safe_load((REPO / "papers" / "her" / "dvc.yaml").read_text())
    listed = []
    for stage, group in (("train", "bitflip"), ("train_fetch", "fetch")):
        matrix = dvc["stages"][stage]["matrix"]
        assert matrix["seed"] == "${seeds}"
        groups = {real_paper.params.experiment(e).paper_experiment.removesuffix("_reach") for e in matrix["exp"]}
        assert groups == {group}
        listed += matrix["exp"]
        deps = sorted(d for d in dvc["stages"][stage]["deps"] if not d.startswith(".."))
        assert deps == modules_imported_by("her", group)
        assert "../../shared/run.py" in dvc["stages"][stage]["deps"]
        out = dvc["stages"][stage]["outs"][-1]["checkpoints/${profile}/${item.exp}/seed${item.seed}"]
        assert out["persist"] is True
    assert sorted(listed) == sorted(real_paper.params.experiments) and len(listed) == len(set(listed))


def test_load_paper_rejects_claim_on_unknown_experiment(tmp_path, monkeypatch):
    folder = tmp_path / "papers" / "her"
    folder.mkdir(parents=True)
    shutil.copy(REPO / "papers" / "her" / "params.yaml", folder / "params.yaml")
    text = (REPO / "papers" / "her" / "paper.yaml").read_text()
    text = text.replace("experiment: bitflip_n13_dqn", "experiment: bitflip_n14_dqn", 1)
    (folder / "paper.yaml").write_text(text)
    import pipelines.registry as registry

    monkeypatch.setattr(registry, "code_root", lambda: tmp_path)
    with pytest.raises(SpecError) as err:
        registry.load_paper("her")
    assert "paper.yaml" in str(err.value) and "claims.dqn_solves_n13.experiment" in str(err.value)
    assert "bitflip_n14_dqn" in str(err.value)
    with pytest.raises(SpecError) as err:
        registry.load_paper("nope")
    assert "unknown paper" in str(err.value) and "nope" in str(err.value)


@pytest.mark.parametrize("old,new,needle", [
    ("      gamma: 0.98\n", '      gamma: "high"\n', 'gamma: "high"'),
    ("      width: 64\n", "      width: [64]\n", "width: [64]"),
    ("      lr: 0.001\n", "      lr: true\n", "lr: true"),
])
def test_hyperparameter_of_the_wrong_type(tmp_path, spec, old, new, needle):
    key = "experiments.toy_run.hyperparameters." + needle.split(":")[0]
    expect(tmp_path, spec, edit(PARAMS_YAML, old, new), key, needle, "must be a")


def test_group_budgets_extend_one_paper_experiments_budget(tmp_path, spec):
    text = edit(PARAMS_YAML, "    budget: {epochs: 1}\n", "    budget: {epochs: 1}\n    group_budgets: {toy: {cycles: 2}}\n")
    text = edit(text, "    budget: {epochs: 10}\n", "    budget: {epochs: 10}\n    group_budgets: {toy: {cycles: 50}}\n")
    assert load(tmp_path, spec, text, profile="smoke").experiment("toy_run").budget == {"epochs": 1, "cycles": 2}
    assert load(tmp_path, spec, text).experiment("toy_run").budget == {"epochs": 10, "cycles": 50}
    override = text + "    budget: {paper: {cycles: 20}}\n"
    assert load(tmp_path, spec, override).experiment("toy_run").budget == {"epochs": 10, "cycles": 20}
    missing = edit(text, "    group_budgets: {toy: {cycles: 2}}\n", "")
    expect(tmp_path, spec, missing, "profiles.smoke.group_budgets", "smoke:", "same paper experiments and keys")
    unknown = edit(text, "{toy: {cycles: 2}}", "{nope: {cycles: 2}}")
    expect(tmp_path, spec, unknown, "profiles.smoke.group_budgets.nope", "nope", "not an experiment")
