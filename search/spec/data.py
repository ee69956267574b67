"""The spec's ``data:`` section: which built-in data set, how it is split, what it produces."""

from __future__ import annotations

import math
from dataclasses import dataclass, replace

from search.errors import SpecError
from search.spec.fields import Section
from trainables.data import DATASETS, Dataset, SyntheticOptions, TestSet, load_builtin
from trainables.image_folder import (
    ImageFolderError,
    channel_stats,
    check_folder,
    training_paths,
)
from trainables.sources import FactorySource, ImageSource, LoaderSpec, TrialDataSpec
from trainables.tabular import TASKS, DataError, TableSource, infer_task, load_table, read_schema


@dataclass(frozen=True)
class DataSpec:
    dataset: str  # a built-in name, or the file's name for `path:` data
    val_fraction: float = 0.2
    seed: int = 0
    synthetic: SyntheticOptions | None = None
    table: TableSource | None = None  # `path:` data: the user's Parquet or CSV table
    test_fraction: float = 0.0  # held out from the search; only `raysweep evaluate` reads it
    task: str = "classification"
    # `images:` or `factory:` data, opened inside each trial (never in the driver)
    trial_data: TrialDataSpec | None = None

    @property
    def is_classification(self) -> bool:
        return self.task == "classification"

    @property
    def in_trial(self) -> bool:
        """Built inside each trial rather than read once in the driver."""
        return self.trial_data is not None


def load_data(data: DataSpec) -> tuple[Dataset, TestSet | None]:
    """The prepared arrays (in the driver, before Ray starts): bad data is a ``SpecError``.
    Only for tables and built-in data sets (``in_trial`` data is opened by each trial)."""
    if data.trial_data is not None:
        raise ValueError("images and factory data are opened inside the trials")
    try:
        if data.table is not None:
            return load_table(
                data.table,
                val_fraction=data.val_fraction,
                test_fraction=data.test_fraction,
                seed=data.seed,
            )
        return load_builtin(
            data.dataset,
            val_fraction=data.val_fraction,
            test_fraction=data.test_fraction,
            seed=data.seed,
            synthetic=data.synthetic,
        )
    except DataError as exc:
        raise SpecError(str(exc)) from None


def parse_data(s: Section) -> DataSpec:
    val_fraction = s.take(
        "val_fraction", float, 0.2, check=lambda v: 0 < v < 1, expect="in (0, 1)"
    )
    test_fraction = s.take(
        "test_fraction",
        float,
        0.0,
        check=lambda v: 0 <= v < 1 - val_fraction,
        expect=f"in [0, 1 - val_fraction = {1 - val_fraction:g})",
    )
    seed = s.take("seed", int, 0, check=lambda v: 0 <= v < 2**32, expect="in [0, 2**32)")
    given = [k for k in SOURCES if k in s.raw]
    if len(given) > 1:
        s.fail(
            "`data` takes either `dataset` (built-in), `path` (your table), `images` (a "
            f"folder) or `factory` (your data sets), not several; got {given}"
        )
    if given and given[0] != "dataset":
        loader = parse_loader(s.sub("loader"))
        if given[0] == "path":
            if "loader" in s.raw:
                s.fail("`data.loader` is for images and factory data; a table is in memory")
            return _parse_table(s, val_fraction, test_fraction, seed)
        if given[0] == "images":
            return _parse_images(s, val_fraction, test_fraction, seed, loader)
        return _parse_factory(s, val_fraction, test_fraction, seed, loader)
    dataset = s.choice("dataset", DATASETS)
    synthetic = None
    if dataset == "synthetic":
        defaults = SyntheticOptions()
        synthetic = SyntheticOptions(
            n_samples=s.take(
                "n_samples", int, defaults.n_samples, check=lambda v: v >= 10, expect=">= 10"
            ),
            n_features=s.take(
                "n_features", int, defaults.n_features, check=lambda v: v >= 2, expect=">= 2"
            ),
            n_classes=s.take(
                "n_classes",
                int,
                defaults.n_classes,
                check=lambda v: v == 0 or v >= 2,
                expect="0 (regression) or >= 2",
            ),
        )
    s.done()
    if synthetic is not None and synthetic.n_classes > 0:
        informative = max(2, synthetic.n_features // 2)
        if synthetic.n_classes > 2**informative:
            s.fail(
                f"`data.n_classes` {synthetic.n_classes} needs n_features >= "
                f"{2 * math.ceil(math.log2(synthetic.n_classes))}, but got {synthetic.n_features}"
            )
    regression = synthetic is not None and synthetic.n_classes == 0
    task = "regression" if regression else "classification"
    return DataSpec(dataset, val_fraction, seed, synthetic, None, test_fraction, task)


SOURCES = ("dataset", "path", "images", "factory")


def parse_loader(s: Section) -> LoaderSpec:
    loader = LoaderSpec(
        num_workers=s.take("num_workers", int, 0, check=lambda v: v >= 0, expect=">= 0"),
        pin_memory=s.take("pin_memory", bool, None),
        persistent_workers=s.take("persistent_workers", bool, None),
        prefetch_factor=s.take(
            "prefetch_factor", int, None, check=lambda v: v >= 1, expect=">= 1"
        ),
    )
    s.done()
    if loader.num_workers == 0 and loader.prefetch_factor is not None:
        s.fail("`data.loader.prefetch_factor` needs num_workers >= 1 (PyTorch's rule)")
    return loader


def _parse_images(
    s: Section, val_fraction: float, test_fraction: float, seed: int, loader: LoaderSpec
) -> DataSpec:
    from pathlib import Path

    root = s.take("images", str, check=bool, expect="a folder of class folders")
    size = s.take("image_size", int, check=lambda v: v >= 1, expect=">= 1")
    channels = s.take("channels", int, 3, check=lambda v: v in (1, 3), expect="1 or 3")
    classes = s.take("classes", list, None, check=bool, expect="a non-empty list of folders")
    normalize = s.claim("normalize")
    augment = s.sub("augment")
    crop = augment.take("crop_padding", int, 0, check=lambda v: v >= 0, expect=">= 0")
    flip = augment.take("flip", bool, False)
    augment.done()
    s.take(
        "task",
        str,
        "classification",
        check=lambda v: v == "classification",
        expect="'classification' (one class per folder)",
    )
    s.done()
    # Absolute: trials run in their own folders, and a resume may start from anywhere.
    root = str(Path(root).expanduser().absolute()) if "://" not in root else root
    split_folders = (Path(root) / "train").is_dir() and (Path(root) / "val").is_dir()
    try:  # read only when the spec doesn't already say (a saved spec always does)
        found = tuple(classes) if classes else check_folder(root)
    except ImageFolderError as exc:
        s.fail(f"`data.images`: {exc}")
    if len(found) < 2 or not all(isinstance(c, str) and c for c in found):
        s.fail(f"`data.classes` must name at least 2 class folders, but got {list(found)}")
    source = ImageSource(root, size, channels, found, (0.0,), (1.0,), split_folders, crop, flip)
    spec = TrialDataSpec(source, val_fraction, test_fraction, seed, "classification", loader)
    mean, std = _normalization(s, normalize, spec, source)
    source = replace(source, mean=mean, std=std)
    return DataSpec(
        Path(root).name or root,
        val_fraction,
        seed,
        None,
        None,
        test_fraction,
        "classification",
        replace(spec, source=source),
    )


def _normalization(
    s: Section, raw: object, spec: TrialDataSpec, source: ImageSource
) -> tuple[tuple[float, ...], tuple[float, ...]]:
    """``normalize: auto`` (default: the training split's channel statistics), ``none``, or
    ``{mean: [...], std: [...]}`` with one value per channel."""
    channels = source.channels
    if raw in (None, "auto"):
        try:
            paths = training_paths(spec, source)
            return channel_stats(paths, size=source.image_size, channels=channels, seed=spec.seed)
        except (OSError, ValueError) as exc:
            s.fail(f"`data.images`: the images can't be read: {exc}")
    if raw == "none":
        return (0.0,) * channels, (1.0,) * channels
    given = Section(raw, "data.normalize", s.source)
    mean = given.take(
        "mean", list, check=lambda v: len(v) == channels, expect=f"{channels} values"
    )
    std = given.take("std", list, check=lambda v: len(v) == channels, expect=f"{channels} values")
    given.done()
    if not all(isinstance(v, (int, float)) for v in mean) or not all(
        isinstance(v, (int, float)) and v > 0 for v in std
    ):
        s.fail(f"`data.normalize` must be numbers (std > 0), but got mean={mean}, std={std}")
    return tuple(float(v) for v in mean), tuple(float(v) for v in std)


def _parse_factory(
    s: Section, val_fraction: float, test_fraction: float, seed: int, loader: LoaderSpec
) -> DataSpec:
    factory = s.take("factory", str, check=bool, expect="'package.module:function'")
    if ":" not in factory or factory.startswith(":") or factory.endswith(":"):
        s.fail(f"`data.factory` must be 'package.module:function', but got {factory!r}")
    task = s.choice("task", ("classification", "regression"), "classification")
    s.done()
    spec = TrialDataSpec(FactorySource(factory), val_fraction, test_fraction, seed, task, loader)
    name = factory.rsplit(":", 1)[1]
    return DataSpec(name, val_fraction, seed, None, None, test_fraction, task, spec)


def _parse_table(s: Section, val_fraction: float, test_fraction: float, seed: int) -> DataSpec:
    path = s.take("path", str, check=bool, expect="a file path or URI")
    target = s.take("target", str, check=bool, expect="a column name")
    features = s.take("features", list, None, check=bool, expect="a non-empty list of columns")
    task = s.choice("task", TASKS, "auto")
    s.done()
    source = TableSource(path, target, tuple(features) if features else None, task)
    if task == "auto":  # resolved once, here, and saved with the experiment's spec
        try:
            schema = read_schema(path)
            task = infer_task(source, schema)
        except DataError as exc:
            s.fail(str(exc))
        source = TableSource(path, target, source.features, task)
    name = path.rstrip("/").rsplit("/", 1)[-1]
    return DataSpec(name, val_fraction, seed, None, source, test_fraction, task)
