"""What a run needs beyond a well-formed spec, checked before Ray starts or anything is written.

Reading a spec is pure (``search.spec``); these checks touch the machine: the model factory
imports, MLflow and OptunaHub are installed (and the hub reachable), the data loads and the
network fits it. Only ``run``, ``validate``, ``submit`` and ``resume`` call them, so a finished
experiment's results read back where none of that is present.
"""

from __future__ import annotations

from search.errors import SpecError
from search.spec import SweepSpec
from search.spec.data import load_data
from trainables.config import TrainConfig
from trainables.data import Dataset


def check_runnable(spec: SweepSpec, *, source: str, data: bool = True) -> Dataset | None:
    """Raise ``SpecError`` naming the field if ``spec`` can't run here; the loaded data set
    when ``data`` (``submit`` leaves it to the cluster, where the data lives)."""
    _check_factory(spec, source)
    _check_tracking(spec, source)
    _check_sampler(spec, source)
    if not data:
        return None
    dataset, _ = load_data(spec.data)  # the test split stays out of the search
    check_model(spec, dataset)
    return dataset


def _check_factory(spec: SweepSpec, source: str) -> None:
    factory = spec.architecture.factory
    if factory is None:
        return
    from trainables.model import load_factory

    try:
        load_factory(factory)
    except (ImportError, AttributeError, TypeError) as exc:
        raise SpecError(f"{source}: `model.factory` {factory!r} can't be loaded: {exc}") from None


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

    config = TrainConfig.from_dict({**spec.fixed, **spec.search.baseline})
    try:
        build_model(
            config,
            n_inputs=data.n_features,
            n_outputs=data.n_outputs,
            architecture=spec.architecture,
        )
    except (TypeError, ValueError) as exc:
        raise SpecError(f"model: {exc}") from None
