"""The spec's ``model:`` section: which network. Whether a factory imports and the network
fits the data is checked before a run (``search.sweep.preflight``), not when reading."""

from __future__ import annotations

from search.spec.fields import Section
from trainables.architecture import MODEL_TYPES, Architecture


def parse_model(s: Section) -> Architecture:
    """``{type: mlp}`` (default), ``{type: cnn, input_shape: [C, H, W]}`` or
    ``{factory: "package.module:function"}``."""
    factory = s.take("factory", str, None, check=bool, expect="'package.module:function'")
    kind = s.choice("type", MODEL_TYPES, "factory" if factory else "mlp")
    shape = s.take("input_shape", list, None, check=bool, expect="[channels, height, width]")
    s.done()
    if (kind == "factory") != (factory is not None):
        s.fail("`model.factory` names the function for `type: factory` (and only for it)")
    if factory is not None and (":" not in factory or factory.startswith(":")):
        s.fail(f"`model.factory` must be 'package.module:function', but got {factory!r}")
    if shape is not None and (
        kind != "cnn" or len(shape) != 3 or not all(isinstance(v, int) and v > 0 for v in shape)
    ):
        s.fail(f"`model.input_shape` must be [channels, height, width] for a cnn, got {shape}")
    return Architecture(kind, tuple(shape) if shape else None, factory)
