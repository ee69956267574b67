from __future__ import annotations

import pytest

from search.errors import SpecError
from search.spec.overrides import apply_overrides


def test_overrides_set_nested_values_with_yaml_types_and_leave_input_alone():
    raw = {"search": {"num_samples": 32}, "fixed": None}
    out = apply_overrides(
        raw, ["search.num_samples=8", "fixed.epochs=5", "search.baseline.lr=1e-3", "name=x"], "s"
    )
    assert out == {
        "search": {"num_samples": 8, "baseline": {"lr": 1e-3}},
        "fixed": {"epochs": 5},
        "name": "x",
    }
    assert raw == {"search": {"num_samples": 32}, "fixed": None}


@pytest.mark.parametrize(
    "item, message",
    [
        ("search.num_samples", r"expected dotted.key=value"),
        ("search..x=1", r"expected dotted.key=value"),
        ("fixed.epochs=[1", r"the value is not valid YAML"),
        ("search.num_samples.x=1", r"`search.num_samples` is 32, not a mapping"),
    ],
)
def test_overrides_reject_malformed_items(item, message):
    with pytest.raises(SpecError, match=message):
        apply_overrides({"search": {"num_samples": 32}}, [item], "s")
