from __future__ import annotations

from pathlib import Path

import optuna.distributions as od
import pytest
import yaml

from search.errors import SpecError
from search.spec import load_spec, parse_spec
from search.spec.space import to_distributions
from tests.helpers import DELETE, spec_dict

ROOT = Path(__file__).resolve().parents[3]


def test_example_spec_parses_into_typed_objects():
    spec = load_spec(ROOT / "examples" / "digits.yaml")
    assert spec.name == "digits-mlp"
    assert spec.metric.name == "val_accuracy" and spec.metric.mode == "max"
    assert spec.search.num_samples == 32 and spec.search.sampler == "tpe"
    assert spec.scheduler.type == "asha" and spec.scheduler.max_t == 27
    assert spec.fixed == {"batch_size": 64, "epochs": 27, "lr_schedule": "plateau"}
    assert spec.search.baseline["optimizer"] == "adam"
    dists = to_distributions(dict(spec.space))
    assert isinstance(dists["lr"], od.FloatDistribution) and dists["lr"].log
    assert isinstance(dists["depth"], od.IntDistribution) and dists["depth"].high == 6
    assert isinstance(dists["width"], od.CategoricalDistribution)


def test_load_spec_applies_set_overrides_with_yaml_types():
    spec = load_spec(
        ROOT / "examples" / "digits.yaml",
        ["search.num_samples=8", "fixed.epochs=5", "scheduler.reduction_factor=2.5"],
    )
    assert spec.search.num_samples == 8
    assert spec.fixed["epochs"] == 5 and spec.scheduler.max_t == 5
    assert spec.scheduler.reduction_factor == 2.5


def test_name_defaults_to_file_stem(tmp_path):
    raw = spec_dict({"name": DELETE})
    path = tmp_path / "my-sweep.yaml"
    path.write_text(yaml.safe_dump(raw))
    assert load_spec(path).name == "my-sweep"


def test_baseline_defaults_to_trainable_defaults_that_fit_the_space():
    spec = parse_spec(spec_dict({"search.baseline": DELETE}))
    # lr 1e-3, depth 2, optimizer adam are TrainConfig defaults; width 64 isn't a choice.
    assert spec.search.baseline == {"lr": 1e-3, "depth": 2, "width": 16, "optimizer": "adam"}


def test_max_epochs_comes_from_searched_epochs():
    spec = parse_spec(
        spec_dict({"fixed.epochs": DELETE, "space.epochs": {"type": "int", "low": 2, "high": 9}})
    )
    assert spec.max_epochs == 9 and spec.scheduler.max_t == 9


def test_fixed_floats_are_coerced():
    spec = parse_spec(spec_dict({"fixed.weight_decay": 0}))
    assert spec.fixed["weight_decay"] == 0.0 and isinstance(spec.fixed["weight_decay"], float)


def test_regression_task_accepts_val_mae():
    spec = parse_spec(
        spec_dict(
            {
                "data": {
                    "dataset": "synthetic",
                    "n_samples": 200,
                    "n_features": 8,
                    "n_classes": 0,
                },
                "metric": {"name": "val_mae", "mode": "min"},
            }
        )
    )
    assert not spec.data.is_classification


BAD_SPECS = [
    ({"data": 5}, r"`data` must be a mapping, but got 5"),
    ({"data.dataset": DELETE}, r"`data.dataset` is required"),
    (
        {"data.dataset": "mnist"},
        r"unknown data.dataset 'mnist'; expected one of \['breast_cancer'",
    ),
    ({"data.val_fraction": 1.5}, r"`data.val_fraction` must be in \(0, 1\), but got 1.5"),
    ({"data.seed": "zero"}, r"`data.seed` must be an integer, but got 'zero'"),
    (
        {"data": {"dataset": "synthetic", "n_classes": 1}},
        r"`data.n_classes` must be 0 \(regression\) or >= 2, but got 1",
    ),
    ({"data.n_samples": 100}, r"unknown keys \['n_samples'\] in `data`"),
    ({"foo": 1}, r"unknown keys \['foo'\] in the spec; expected \["),
    ({"name": "bad name!"}, r"`name` must be letters, digits"),
    ({"metric.name": "val_mae"}, r"'val_mae' is not produced by classification on 'digits'"),
    (
        {"metric.mode": "maximize"},
        r"unknown metric.mode 'maximize'; expected one of \['max', 'min'\]",
    ),
    (
        {
            "data": {"dataset": "synthetic", "n_classes": 0},
            "metric": {"name": "val_accuracy", "mode": "max"},
        },
        r"'val_accuracy' is not produced by regression",
    ),
    ({"space": {}}, r"`space` must declare at least one hyperparameter"),
    (
        {"space.colour": {"type": "categorical", "choices": ["red"]}},
        r"unknown hyperparameter `space.colour`",
    ),
    ({"space.lr.type": "double"}, r"unknown space.lr.type 'double'; expected one of"),
    ({"space.lr.low": 0.5}, r"`space.lr.low` must be <= `high`, but got low=0.5, high=0.1"),
    ({"space.lr.low": 0.0}, r"`space.lr.low` must be > 0 when log is true"),
    ({"space.lr.step": 0.01}, r"`space.lr.step` can't be combined with log"),
    ({"space.lr.high": "big"}, r"`space.lr.high` must be a number, but got 'big'"),
    ({"space.lr.mean": 0.1}, r"unknown keys \['mean'\] in `space.lr`"),
    ({"space.depth.high": 100}, r"`space.depth.low/high` for `depth` must be a int in \[0, 64\]"),
    ({"space.depth.type": "float"}, r"must be int or categorical for `depth`"),
    (
        {"space.optimizer.type": "int"},
        r"`space.optimizer.type` must be categorical for `optimizer`",
    ),
    ({"space.optimizer.choices": []}, r"`space.optimizer.choices` must be a non-empty list"),
    (
        {"space.optimizer.choices": ["adam", "lion"]},
        r"`space.optimizer.choices` for `optimizer` must be one of \['sgd', 'momentum'",
    ),
    (
        {"space.activation": {"type": "categorical", "choices": ["swish"]}},
        r"for `activation` must be one of \['relu', 'leaky_relu'",
    ),
    (
        {"space.init": {"type": "categorical", "choices": ["he"]}},
        r"for `init` must be one of \['default', 'xavier_uniform'",
    ),
    ({"fixed.activation": "swish"}, r"`fixed.activation` must be one of \["),
    ({"fixed.colour": "red"}, r"unknown hyperparameter `fixed.colour`"),
    ({"fixed.lr": 0.1}, r"`fixed.lr` is also in `space`"),
    ({"fixed.epochs": 0}, r"`fixed.epochs` must be a int in \[1, inf\], but got 0"),
    ({"search.sampler": "bayes"}, r"unknown search.sampler 'bayes'; expected one of"),
    ({"search.num_samples": 0}, r"`search.num_samples` must be >= 1, but got 0"),
    ({"search.max_concurrent": 1.5}, r"`search.max_concurrent` must be an integer"),
    ({"search.baseline.epochs": 3}, r"`search.baseline.epochs` is fixed to 3"),
    ({"search.baseline.dropout": 0.1}, r"`search.baseline.dropout` is not in `space`"),
    ({"search.baseline.width": 48}, r"`search.baseline.width` must be one of \[16, 32\]"),
    ({"search.baseline.lr": 1.0}, r"`search.baseline.lr` must be float in \[0.0001, 0.1\]"),
    ({"scheduler.type": "pbt2"}, r"unknown scheduler.type 'pbt2'; expected one of"),
    (
        {"scheduler.grace_period": 5},
        r"`scheduler.grace_period` must be <= epochs, but got "
        r"grace_period=5, epochs=3",
    ),
    ({"scheduler.reduction_factor": 1}, r"`scheduler.reduction_factor` must be > 1"),
    ({"scheduler.max_t": 10}, r"unknown keys \['max_t'\] in `scheduler`"),
    ({"checkpoint.every": 0}, r"`checkpoint.every` must be >= 1, but got 0"),
    ({"checkpoint.keep": -1}, r"`checkpoint.keep` must be >= 1"),
    ({"resources.cpus_per_trial": 0}, r"`resources.cpus_per_trial` must be > 0"),
    ({"resources.gpus_per_trial": -1}, r"`resources.gpus_per_trial` must be >= 0"),
    ({"failure.max_retries": -1}, r"`failure.max_retries` must be >= 0"),
]


@pytest.mark.parametrize("changes, message", BAD_SPECS, ids=[m for _, m in BAD_SPECS])
def test_parse_spec_rejects_bad_input_naming_the_field(changes, message):
    with pytest.raises(SpecError, match=message) as info:
        parse_spec(spec_dict(changes), source="s.yaml")
    text = str(info.value)
    assert text.startswith("s.yaml: ") and "\n" not in text


def test_load_spec_rejects_missing_file(tmp_path):
    with pytest.raises(SpecError, match=r"cannot read spec"):
        load_spec(tmp_path / "nope.yaml")


def test_load_spec_rejects_invalid_yaml(tmp_path):
    path = tmp_path / "bad.yaml"
    path.write_text("space: [unclosed\n")
    with pytest.raises(SpecError, match=r"bad.yaml: not valid YAML"):
        load_spec(path)


def test_load_spec_rejects_a_non_mapping(tmp_path):
    path = tmp_path / "list.yaml"
    path.write_text("- 1\n- 2\n")
    with pytest.raises(SpecError, match=r"the spec must be a mapping, but got list"):
        load_spec(path)


def test_load_spec_never_executes_yaml_tags(tmp_path):
    path = tmp_path / "evil.yaml"
    path.write_text("name: !!python/object/apply:os.system ['echo pwned']\n")
    with pytest.raises(SpecError, match=r"not valid YAML"):
        load_spec(path)


def test_spec_yaml_reads_exponent_floats_without_a_dot(tmp_path):
    path = tmp_path / "s.yaml"
    text = yaml.safe_dump(spec_dict()).replace("0.0001", "1e-4")
    assert "1e-4" in text
    path.write_text(text)
    assert load_spec(path).space["lr"].low == 1e-4
