"""The CNN and user model factories through real sweeps; export and reload unchanged."""

from __future__ import annotations

import pandas as pd
import pytest
import yaml
from torch import nn

from search.cli import main
from search.errors import SpecError
from search.results.export import export_experiment
from search.spec import parse_spec
from search.sweep.preflight import check_runnable
from search.sweep.run import run_sweep
from tests.helpers import spec_dict
from trainables.model_file import load_model

TINY = {
    "fixed.epochs": 4,
    "search.num_samples": 2,
    "scheduler": {"type": "fifo"},
    "search.baseline": {"lr": 0.01, "depth": 2, "width": 32, "optimizer": "adam"},
}


@pytest.mark.usefixtures("ray_session")
@pytest.mark.parametrize(
    "model, layer",
    [({"type": "cnn"}, nn.Conv2d), ({"factory": "tests.factories:tiny_resnet_mlp"}, nn.Linear)],
)
def test_cnn_and_factory_models_train_export_and_reload(tmp_path, model, layer):
    spec = parse_spec(spec_dict({**TINY, "model": model}))
    summary = run_sweep(spec, storage=str(tmp_path))
    assert summary.num_errors == 0 and summary.best.metric > 0.3
    out = export_experiment(str(summary.path), str(tmp_path / "best.parquet"), top=1)
    path = pd.read_parquet(out.out)["model_file"][0]
    net = load_model(path)
    assert any(isinstance(m, layer) for m in net.modules())
    if "factory" in model:
        assert type(net).__name__ == "Net"


@pytest.mark.parametrize(
    "model, message",
    [
        ({"factory": "tests.factories"}, "must be 'package.module:function'"),
        ({"type": "cnn", "input_shape": [1, 8]}, "must be [channels, height, width]"),
        ({"type": "mlp", "factory": "tests.factories:tiny_resnet_mlp"}, "only for it"),
    ],
)
def test_bad_model_sections_are_refused_when_the_spec_is_read(model, message):
    with pytest.raises(SpecError, match=None) as info:
        parse_spec(spec_dict({"model": model}))
    assert message in str(info.value)


@pytest.mark.parametrize(
    "model, message",
    [
        ({"factory": "tests.nowhere:build"}, "can't be loaded: No module named 'tests.nowhere'"),
        ({"factory": "tests.factories:missing"}, "can't be loaded"),
    ],
)
def test_a_factory_that_does_not_import_is_refused_before_a_run_not_when_reading(model, message):
    spec = parse_spec(spec_dict({"model": model}))  # reading a spec imports nothing of it
    with pytest.raises(SpecError, match=None) as info:
        check_runnable(spec, source="<test>")
    assert message in str(info.value) and "`model.factory`" in str(info.value)


@pytest.mark.parametrize(
    "model, message",
    [
        ({"factory": "tests.factories:not_a_module"}, "returned str, not a torch.nn.Module"),
        ({"type": "cnn", "input_shape": [1, 4, 4]}, "doesn't hold 64 features"),
    ],
)
def test_models_that_do_not_fit_the_data_exit_2_before_ray(
    tmp_path, capsys, monkeypatch, model, message
):
    monkeypatch.chdir(tmp_path)
    spec_file = tmp_path / "s.yaml"
    spec_file.write_text(yaml.safe_dump(spec_dict({"model": model})))
    assert main(["run", str(spec_file)]) == 2
    err = capsys.readouterr().err
    assert err.startswith("error: model: ") and message in err
    assert not (tmp_path / "runs").exists()
