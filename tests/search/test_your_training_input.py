"""Bad input for your model, data and loss: one line, exit 2, nothing started or written,
at ``validate`` and ``run`` alike. The preflight puts one batch through on the CPU."""

from __future__ import annotations

from pathlib import Path

import pytest
import yaml

from search.cli import main
from search.errors import SpecError
from search.spec import parse_spec
from tests.helpers import DELETE, spec_dict
from tests.trainables.test_images import write_folder

FACTORY_DATA = {
    "data": {"factory": "tests.user_code:tensor_data"},
    "model": {"factory": "tests.user_code:log_softmax_net"},
    "train": {"loss": "nll"},
}


def write(tmp_path: Path, changes: dict) -> Path:
    path = tmp_path / "spec.yaml"
    path.write_text(yaml.safe_dump(spec_dict(changes)))
    return path


def images(tmp_path: Path) -> str:
    return str(write_folder(tmp_path / "imgs", {"a": 6, "b": 6}))


CASES = {
    "missing image folder": (
        lambda t: {"data": {"images": str(t / "nowhere"), "image_size": 6, "channels": 1}},
        "`data.images`: ",
        "no such directory",
    ),
    "empty image folder": (
        lambda t: {"data": {"images": str((t / "empty").mkdir() or t / "empty"), "image_size": 6}},
        "`data.images`: ",
        "at least 2",
    ),
    "factory that fails to import": (
        lambda t: {**FACTORY_DATA, "data": {"factory": "tests.nowhere:build"}},
        "`data.factory` 'tests.nowhere:build' can't be loaded",
        "No module named",
    ),
    "factory that returns the wrong thing": (
        lambda t: {**FACTORY_DATA, "data": {"factory": "tests.user_code:not_datasets"}},
        "returned list",
        "expected (train, val)",
    ),
    "factory that raises": (
        lambda t: {**FACTORY_DATA, "data": {"factory": "tests.user_code:broken_data"}},
        "failed: FileNotFoundError",
        "missing.csv",
    ),
    "model output that fits neither loss nor labels": (
        lambda t: {**FACTORY_DATA, "model": {"factory": "tests.user_code:wrong_width"}},
        "one batch of the baseline failed",
        "train.loss 'nll'",
    ),
    "unknown loss": (lambda t: {"train": {"loss": "hinge"}}, "unknown train.loss 'hinge'", "nll"),
    "unknown metric": (
        lambda t: {"train": {"metrics": ["accuracy", "auc"]}},
        "unknown train.metrics[1] 'auc'",
        "f1_macro",
    ),
    "unknown optimizer": (
        lambda t: {"space.optimizer": {"type": "categorical", "choices": ["adam", "lamb"]}},
        "'lamb'",
        "adadelta",
    ),
    "a metric the step never produces": (
        lambda t: {
            "data": {"factory": "tests.user_code:dict_data"},
            "model": {"factory": "tests.user_code:two_inputs"},
            "train": {"step": "tests.user_code:pair_step"},
            "metric": {"name": "val_margin", "mode": "max"},
        },
        "`metric.name` 'val_margin' is never reported",
        "val_loss",
    ),
    "a loss that doesn't import": (
        lambda t: {"train": {"loss": "tests.user_code:no_such_loss"}},
        "`train.loss` 'tests.user_code:no_such_loss' can't be loaded",
        "no_such_loss",
    ),
}


@pytest.mark.parametrize("command", ["validate", "run"])
@pytest.mark.parametrize("case", list(CASES))
def test_bad_input_is_one_line_exit_2_and_nothing_written(
    tmp_path, capsys, monkeypatch, command, case
):
    changes, *expected = CASES[case]
    spec = write(tmp_path, changes(tmp_path))
    monkeypatch.chdir(tmp_path)
    before = sorted(p.name for p in tmp_path.rglob("*"))
    assert main([command, str(spec)]) == 2
    err = capsys.readouterr().err
    assert err.count("\n") == 1 and err.startswith("error: "), err
    for part in expected:
        assert part in err, err
    assert sorted(p.name for p in tmp_path.rglob("*")) == before


def test_good_input_of_every_kind_validates(tmp_path, capsys):
    specs = [
        {"data": {"images": images(tmp_path), "image_size": 6, "channels": 1}},
        FACTORY_DATA,
        {
            "data": {"factory": "tests.user_code:dict_data"},
            "model": {"factory": "tests.user_code:two_inputs"},
            "train": {
                "step": "tests.user_code:pair_step",
                "eval_step": "tests.user_code:pair_eval_step",
                "metrics": ["accuracy", "f1_macro"],
            },
            "metric": {"name": "val_margin", "mode": "max"},
        },
        {"train": {"loss": "cross_entropy", "metrics": ["accuracy", "top_k"], "top_k": 3}},
    ]
    for changes in specs:
        assert main(["validate", str(write(tmp_path, changes))]) == 0, capsys.readouterr().err


def test_an_image_spec_is_saved_with_its_classes_and_statistics(tmp_path):
    spec = parse_spec(
        spec_dict({"data": {"images": images(tmp_path), "image_size": 6, "channels": 1}})
    )
    saved = spec.raw["data"]
    assert saved["classes"] == ["a", "b"] and len(saved["normalize"]["mean"]) == 1
    assert Path(saved["images"]).is_absolute()
    assert spec.architecture.type == "cnn" and spec.architecture.input_shape == (1, 6, 6)
    assert parse_spec(dict(spec.raw)).data == spec.data  # reads back without the folder


@pytest.mark.parametrize(
    "changes, message",
    [
        ({"train": {"precision": "fp8"}}, r"unknown train.precision 'fp8'"),
        ({"train": {"accumulate": 0}}, r"`train.accumulate` must be >= 1"),
        ({"train": {"step": "nocolon"}}, r"`train.step` must be 'package.module:function'"),
        (
            {"train": {"step": "a.b:c", "loss": "mse"}},
            r"`train.loss` is unused with `train.step`",
        ),
        ({"train": {"metrics": ["accuracy", "accuracy"]}}, "lists a metric twice"),
        ({"data.loader": {"num_workers": 2}}, r"`data.loader` is for images and factory data"),
        ({"fixed.opt_rho": [1]}, r"`fixed.opt_rho` must be a number, bool or string"),
        ({"space.rho": {"type": "float", "low": 0.1, "high": 0.9}}, r"opt_<optimizer argument>"),
        ({"checkpoint.every_steps": 0}, r"`checkpoint.every_steps` must be >= 1"),
        ({"metric": {"name": "val_f1_macro", "mode": "max"}}, "not produced by classification"),
    ],
)
def test_train_section_errors_name_the_field(changes, message):
    raw = spec_dict(changes)
    if "data.loader" in changes:
        raw["data"] = {"path": "t.csv", "target": "y", "task": "classification", "loader": {}}
    with pytest.raises(SpecError, match=message):
        parse_spec(raw)


def test_user_and_optimizer_hyperparameters_are_searchable():
    spec = parse_spec(
        spec_dict(
            {
                "space.opt_eps": {"type": "float", "low": 1e-8, "high": 1e-6, "log": True},
                "space.user_kernel": {"type": "categorical", "choices": [3, 5]},
                "fixed.opt_amsgrad": True,
                "search.baseline.opt_eps": 1e-7,
                "search.baseline.user_kernel": 3,
                "search.baseline.optimizer": DELETE,
            }
        )
    )
    assert set(spec.space) >= {"opt_eps", "user_kernel"} and spec.fixed["opt_amsgrad"] is True
