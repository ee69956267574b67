"""The spec's ``model:`` section: which network, checked before Ray starts."""

from __future__ import annotations

from search.errors import SpecError
from search.fields import Section
from trainables.config import TrainConfig
from trainables.data import Dataset
from trainables.model import Architecture, build_model, load_factory


def parse_model(s: Section) -> Architecture:
    """``{type: mlp}`` (default), ``{type: cnn, input_shape: [C, H, W]}`` or
    ``{factory: "package.module:function"}``; a factory must import here, in the driver."""
    factory = s.take("factory", str, None, check=bool, expect="'package.module:function'")
    kind = s.choice("type", ("mlp", "cnn", "factory"), "factory" if factory else "mlp")
    shape = s.take("input_shape", list, None, check=bool, expect="[channels, height, width]")
    s.done()
    if (kind == "factory") != (factory is not None):
        s.fail("`model.factory` names the function for `type: factory` (and only for it)")
    if shape is not None and (
        kind != "cnn" or len(shape) != 3 or not all(isinstance(v, int) and v > 0 for v in shape)
    ):
        s.fail(f"`model.input_shape` must be [channels, height, width] for a cnn, got {shape}")
    if factory is not None:
        try:
            load_factory(factory)
        except (ImportError, AttributeError, TypeError) as exc:
            s.fail(f"`model.factory` {factory!r} can't be loaded: {exc}")
    return Architecture(kind, tuple(shape) if shape else None, factory)


def check_model(architecture: Architecture, config: TrainConfig, data: Dataset) -> None:
    """Build the network once for the baseline, so a wrong shape or factory fails here."""
    try:
        build_model(
            config, n_inputs=data.n_features, n_outputs=data.n_outputs, architecture=architecture
        )
    except (TypeError, ValueError) as exc:
        raise SpecError(f"model: {exc}") from None
