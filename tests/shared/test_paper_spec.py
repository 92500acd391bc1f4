"""The strict ``paper.yaml`` loader: every rejection names the file, the dotted key and (where known) the line."""
from __future__ import annotations

import pytest
import yaml

from shared.errors import SpecError
from shared.paper_spec import load_paper_spec
from tests.helpers import REPO
from tests.shared.specs import PAPER_YAML, assert_spec_error, edit, line_of, write


def load(tmp_path, text):
    return load_paper_spec(write(tmp_path, "paper.yaml", text))


def test_minimal_spec_loads(tmp_path):
    spec = load(tmp_path, PAPER_YAML)
    assert list(spec.experiments) == ["toy"]
    toy = spec.experiments["toy"]
    assert toy.hyperparameters["gamma"].value == 0.98 and toy.hyperparameters["gamma"].source == "App. A"
    assert toy.hyperparameters["width"].allows(128) and not toy.hyperparameters["width"].allows(256)
    assert toy.budget["epochs"].value == 10
    (claim,) = spec.claims
    assert (claim.id, claim.comparison, claim.threshold, claim.delta) == ("solves", "at_least", 0.5, 0.0)
    assert claim.band() == (0.5, float("inf"))
    assert spec.deviation_for("toy", "lr", 0.01).id == "dev-lr"
    assert spec.deviation_for("toy", "lr", 0.02) is None


@pytest.mark.parametrize("old,new,key,needle", [
    ('  year: 2017\n', '  year: 2017\n  publisher: "x"\n', "citation.publisher", "publisher"),
    ('    source: "§1"\n', '    source: "§1"\n    pages: 3\n', "experiments.toy.pages", "pages: 3"),
    ('        values: [64, 128]\n', '        values: [64, 128]\n        unit: neurons\n',
     "experiments.toy.hyperparameters.width.unit", "unit: neurons"),
    ('    tolerance_reason: "lenient"\n', '    tolerance_reason: "lenient"\n    colour: red\n',
     "claims[0].colour", "colour: red"),
    ('    reason: "because"\n', '    reason: "because"\n    severity: high\n', "deviations[0].severity",
     "severity: high"),
])
def test_unknown_key(tmp_path, old, new, key, needle):
    text = edit(PAPER_YAML, old, new)
    with pytest.raises(SpecError) as err:
        load(tmp_path, text)
    assert_spec_error(err, tmp_path / "paper.yaml", key, line_of(text, needle), "unknown key")


def test_unknown_top_level_key(tmp_path):
    text = PAPER_YAML + "notes: hello\n"
    with pytest.raises(SpecError) as err:
        load(tmp_path, text)
    assert_spec_error(err, tmp_path / "paper.yaml", "notes", line_of(text, "notes: hello"), "unknown key")


def test_claim_without_source(tmp_path):
    text = edit(PAPER_YAML, '    source: "Table 1"\n', "")
    with pytest.raises(SpecError) as err:
        load(tmp_path, text)
    assert_spec_error(err, tmp_path / "paper.yaml", "claims[0].source", reason="missing required key")


def test_claim_with_empty_source(tmp_path):
    text = edit(PAPER_YAML, '    source: "Table 1"\n', '    source: ""\n')
    with pytest.raises(SpecError) as err:
        load(tmp_path, text)
    assert_spec_error(err, tmp_path / "paper.yaml", "claims.solves.source", line_of(text, 'source: ""'),
                      "non-empty string")


def test_hyperparameter_without_source(tmp_path):
    text = edit(PAPER_YAML, '        value: 0.98\n        source: "App. A"\n', '        value: 0.98\n')
    with pytest.raises(SpecError) as err:
        load(tmp_path, text)
    assert_spec_error(err, tmp_path / "paper.yaml", "experiments.toy.hyperparameters.gamma.source",
                      reason="missing required key")


@pytest.mark.parametrize("old,key", [
    ('  venue: "NIPS 2017"\n', "citation.venue"),
    ('    statement: "it solves the task"\n', "claims[0].statement"),
    ('    tolerance_reason: "lenient"\n', "claims[0].tolerance_reason"),
    ('    description: "a toy experiment"\n', "experiments.toy.description"),
])
def test_missing_required_key(tmp_path, old, key):
    with pytest.raises(SpecError) as err:
        load(tmp_path, edit(PAPER_YAML, old, ""))
    assert_spec_error(err, tmp_path / "paper.yaml", key, reason="missing required key")


def test_missing_top_level_claims(tmp_path):
    text = PAPER_YAML.split("claims:\n")[0]
    with pytest.raises(SpecError) as err:
        load(tmp_path, text)
    assert_spec_error(err, tmp_path / "paper.yaml", "claims", reason="missing required key")


def test_threshold_not_a_number(tmp_path):
    text = edit(PAPER_YAML, "    threshold: 0.5\n", '    threshold: "half"\n')
    with pytest.raises(SpecError) as err:
        load(tmp_path, text)
    assert_spec_error(err, tmp_path / "paper.yaml", "claims.solves.threshold", line_of(text, "threshold:"),
                      "must be a number")


def test_threshold_boolean_is_not_a_number(tmp_path):
    text = edit(PAPER_YAML, "    threshold: 0.5\n", "    threshold: true\n")
    with pytest.raises(SpecError) as err:
        load(tmp_path, text)
    assert_spec_error(err, tmp_path / "paper.yaml", "claims.solves.threshold", line_of(text, "threshold:"))


def test_bad_comparison(tmp_path):
    text = edit(PAPER_YAML, "    comparison: at_least\n", "    comparison: roughly\n")
    with pytest.raises(SpecError) as err:
        load(tmp_path, text)
    assert_spec_error(err, tmp_path / "paper.yaml", "claims.solves.comparison", line_of(text, "comparison:"),
                      "must be one of")


@pytest.mark.parametrize("comparison,needed", [("within", "reported"), ("greater_than", "other_experiment")])
def test_comparison_without_its_fields(tmp_path, comparison, needed):
    text = edit(PAPER_YAML, "    comparison: at_least\n", f"    comparison: {comparison}\n")
    with pytest.raises(SpecError) as err:
        load(tmp_path, text)
    assert_spec_error(err, tmp_path / "paper.yaml", f"claims.solves.{needed}", line_of(text, "comparison:"),
                      "required for comparison")


def test_negative_delta(tmp_path):
    text = edit(PAPER_YAML, "    threshold: 0.5\n", "    threshold: 0.5\n    delta: -0.1\n")
    with pytest.raises(SpecError) as err:
        load(tmp_path, text)
    assert_spec_error(err, tmp_path / "paper.yaml", "claims.solves.delta", line_of(text, "delta:"), ">= 0")


def test_duplicate_claim_id(tmp_path):
    claim = PAPER_YAML.split("claims:\n")[1]
    with pytest.raises(SpecError) as err:
        load(tmp_path, PAPER_YAML + claim)
    assert_spec_error(err, tmp_path / "paper.yaml", "claims.solves", reason="duplicate claim id")


def test_duplicate_yaml_key(tmp_path):
    text = edit(PAPER_YAML, '        values: [64, 128]\n', '        values: [64, 128]\n      gamma:\n'
                '        value: 0.9\n        source: "x"\n')
    second = [i + 1 for i, line in enumerate(text.splitlines()) if line.strip() == "gamma:"][1]
    with pytest.raises(SpecError) as err:
        load(tmp_path, text)
    assert_spec_error(err, tmp_path / "paper.yaml", "<yaml>", second, "duplicate key 'gamma'")


def test_value_and_values_together(tmp_path):
    text = edit(PAPER_YAML, "        values: [64, 128]\n", "        values: [64, 128]\n        value: 64\n")
    with pytest.raises(SpecError) as err:
        load(tmp_path, text)
    assert_spec_error(err, tmp_path / "paper.yaml", "experiments.toy.hyperparameters.width",
                      line_of(text, "width:"), "exactly one of")


def test_bad_range(tmp_path):
    text = edit(PAPER_YAML, "        values: [64, 128]\n", "        range: [128, 64]\n")
    with pytest.raises(SpecError) as err:
        load(tmp_path, text)
    assert_spec_error(err, tmp_path / "paper.yaml", "experiments.toy.hyperparameters.width.range",
                      line_of(text, "range:"), "low <= high")


def test_deviation_for_unknown_experiment_and_without_value(tmp_path):
    text = edit(PAPER_YAML, "    experiments: [toy]\n", "    experiments: [tiny]\n")
    with pytest.raises(SpecError) as err:
        load(tmp_path, text)
    assert_spec_error(err, tmp_path / "paper.yaml", "deviations[0].experiments", line_of(text, "[tiny]"), "tiny")
    text = edit(PAPER_YAML, "    value: 0.01\n", "")
    with pytest.raises(SpecError) as err:
        load(tmp_path, text)
    assert_spec_error(err, tmp_path / "paper.yaml", "deviations[0].value", line_of(text, "hyperparameter: lr"))


def test_yaml_syntax_error_and_missing_file(tmp_path):
    text = edit(PAPER_YAML, '  title: "A Toy Paper"\n', '  title: "A Toy Paper\n')
    with pytest.raises(SpecError) as err:
        load(tmp_path, text)
    assert err.value.line is not None and "not valid YAML" in str(err.value)
    with pytest.raises(SpecError, match="file not found"):
        load_paper_spec(tmp_path / "absent.yaml")
    with pytest.raises(SpecError, match="must be a mapping"):
        load(tmp_path, "- a list\n")


def test_real_her_paper_yaml():
    spec = load_paper_spec(REPO / "papers" / "her" / "paper.yaml")
    raw = yaml.safe_load((REPO / "papers" / "her" / "paper.yaml").read_text())
    assert [c.id for c in spec.claims] == [c["id"] for c in raw["claims"]]
    for group in spec.experiments.values():
        for name, hp in {**group.hyperparameters, **group.budget}.items():
            assert hp.source.strip(), name
    for claim in spec.claims:
        assert claim.source and claim.tolerance_reason and claim.metric
    for deviation in spec.deviations:
        assert deviation.reason.strip()
