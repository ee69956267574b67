"""What a run needs beyond a well-formed spec, checked before Ray starts or anything is written.

Reading a spec is pure (``search.spec``); these checks touch the machine: the model factory
imports, MLflow and OptunaHub are installed (and the hub reachable), the data loads and the
network fits it. Only ``run``, ``validate``, ``submit`` and ``resume`` call them, so a finished
experiment's results read back where none of that is present.
"""

from __future__ import annotations

from typing import Any

from search.errors import SpecError
from search.spec import SweepSpec
from search.spec.data import load_data
from trainables.config import TrainConfig
from trainables.data import Dataset
from trainables.sources import FactorySource


def check_runnable(spec: SweepSpec, *, source: str, data: bool = True) -> Dataset | None:
    """Raise ``SpecError`` naming the field if ``spec`` can't run here; the loaded data set
    when ``data`` (``submit`` leaves it to the cluster, where the data lives)."""
    _check_references(spec, source)
    _check_tracking(spec, source)
    _check_sampler(spec, source)
    if not data:
        return None
    if spec.data.in_trial:
        _check_trial_data(spec, source)
        return None  # each trial opens it
    dataset, _ = load_data(spec.data)  # the test split stays out of the search
    check_model(spec, dataset)
    from trainables.loop import TensorData

    feed = TensorData.from_dataset(dataset, _cpu())
    _check_batch(spec, source, feed, n_inputs=dataset.n_features, n_outputs=dataset.n_outputs)
    return dataset


def _cpu() -> Any:
    import torch

    return torch.device("cpu")


def _baseline_config(spec: SweepSpec) -> TrainConfig:
    return TrainConfig.from_dict({**spec.fixed, **spec.search.baseline})


def _check_references(spec: SweepSpec, source: str) -> None:
    """Every ``package.module:function`` of the spec imports: the model, data, loss, metric
    and step factories."""
    from trainables.factories import load_factory
    from trainables.recipe import is_custom

    recipe = spec.recipe
    named = {
        "model.factory": spec.architecture.factory,
        "train.loss": recipe.loss,
        "train.step": recipe.step,
        "train.eval_step": recipe.eval_step,
        **{f"train.metrics[{i}]": m for i, m in enumerate(recipe.metrics)},
    }
    trial_data = spec.data.trial_data
    if trial_data is not None and isinstance(trial_data.source, FactorySource):
        named["data.factory"] = trial_data.source.factory
    for field, reference in named.items():
        if reference is None or not is_custom(reference):
            continue
        try:
            load_factory(reference)
        except (ImportError, AttributeError, TypeError) as exc:
            raise SpecError(f"{source}: `{field}` {reference!r} can't be loaded: {exc}") from None


def _check_trial_data(spec: SweepSpec, source: str) -> None:
    """Open the data as a trial would (images: the folder; yours: your factory, here once)
    and put one batch through the baseline's model, loss and metrics."""
    from trainables.datasets import DataFactoryError, build_trial_data, network_sizes
    from trainables.feeds import LoaderFeed
    from trainables.image_folder import ImageFolderError, check_folder
    from trainables.sources import ImageSource, LoaderSpec

    trial_data = spec.data.trial_data
    assert trial_data is not None  # in_trial
    config = _baseline_config(spec)
    if isinstance(trial_data.source, ImageSource):
        try:
            check_folder(trial_data.source.root)
        except ImageFolderError as exc:
            raise SpecError(f"{source}: `data.images`: {exc}") from None
        where = "data.images"
    else:
        where = f"data.factory {trial_data.source.factory!r}"
    try:
        opened = build_trial_data(trial_data, config)
        feed = LoaderFeed(
            opened,
            batch_size=config.batch_size,
            seed=0,
            spec=LoaderSpec(),  # no worker processes for one batch
            device=_cpu(),
            task=trial_data.task,
        )
    except (DataFactoryError, ImageFolderError) as exc:
        raise SpecError(f"{source}: {exc}") from None
    except Exception as exc:  # your factory's own error
        raise SpecError(f"{source}: `{where}` failed: {type(exc).__name__}: {exc}") from None
    classification = trial_data.task == "classification"
    n_inputs, n_outputs = network_sizes(opened, trial_data.task)
    if classification and not opened.n_classes and spec.architecture.type != "factory":
        raise SpecError(
            f"{source}: `{where}` gives no n_classes, which the built-in "
            f"{spec.architecture.type} needs; return it with the data sets"
        )
    if feed.steps is None and _per_step_schedule(spec):
        raise SpecError(
            f"{source}: a per-step lr_schedule needs the batches per epoch, but `{where}`'s "
            "training set has no __len__"
        )
    _check_batch(spec, source, feed, n_inputs=n_inputs, n_outputs=n_outputs)


def _per_step_schedule(spec: SweepSpec) -> bool:
    from trainables.config import PER_STEP_SCHEDULES

    schedules = {spec.fixed.get("lr_schedule"), spec.search.baseline.get("lr_schedule")}
    param = spec.space.get("lr_schedule")
    if param is not None and param.choices:
        schedules |= set(param.choices)
    return bool(schedules & set(PER_STEP_SCHEDULES))


def _check_batch(
    spec: SweepSpec, source: str, feed: Any, *, n_inputs: int, n_outputs: int
) -> None:
    """One batch trained and evaluated; the search's metrics are among those it reports."""
    from search.spec.objectives import COST_METRICS
    from trainables.trial_check import TrialCheckError, check_one_batch

    try:
        produced = check_one_batch(
            _baseline_config(spec),
            spec.recipe,
            feed,
            architecture=spec.architecture,
            n_inputs=n_inputs,
            n_outputs=n_outputs,
        )
    except TrialCheckError as exc:
        raise SpecError(f"{source}: one batch of the baseline failed: {exc}") from None
    available = [*produced, *COST_METRICS]
    for objective in spec.objectives:
        if objective.name not in available:
            raise SpecError(
                f"{source}: `metric.name` {objective.name!r} is never reported; "
                f"the trials report {available}"
            )


def _check_tracking(spec: SweepSpec, source: str) -> None:
    if spec.tracking.wandb is not None:
        try:
            import wandb  # noqa: F401
        except ImportError:
            raise SpecError(
                f"{source}: `tracking.wandb` needs wandb: pip install 'raysweep[wandb]'"
            ) from None
    if spec.tracking.mlflow is None:
        return
    try:
        import mlflow  # noqa: F401
    except ImportError:
        raise SpecError(
            f"{source}: `tracking.mlflow` needs MLflow: pip install 'raysweep[tracking]'"
        ) from None


def _check_sampler(spec: SweepSpec, source: str) -> None:
    if spec.search.sampler != "auto":
        return
    from search.sweep.samplers import build_sampler

    try:  # optunahub fetches the sampler's code: fail here, not mid-sweep
        build_sampler("auto", 0, spec.space)
    except ImportError:
        problem = "sampler 'auto' needs optunahub (pip install optunahub) to load AutoSampler"
    except Exception as exc:  # network or hub errors
        problem = f"sampler 'auto' could not be loaded from OptunaHub: {exc}"
    else:
        return
    raise SpecError(f"{source}: `search.sampler`: {problem}")


def check_model(spec: SweepSpec, data: Dataset) -> None:
    """Build the baseline's network once, so a wrong shape or factory fails here."""
    from trainables.model import build_model

    config = _baseline_config(spec)
    try:
        build_model(
            config,
            n_inputs=data.n_features,
            n_outputs=data.n_outputs,
            architecture=spec.architecture,
        )
    except (TypeError, ValueError) as exc:
        raise SpecError(f"model: {exc}") from None
