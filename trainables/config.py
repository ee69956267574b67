"""What one trial consumes: the typed ``TrainConfig`` and the hyperparameters it understands."""

from __future__ import annotations

import dataclasses
import hashlib
import json
import math
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

# Metric names are defined once; the trainable reports them and the spec validates against them.
EPOCH = "epoch"
TRAIN_LOSS = "train_loss"
VAL_LOSS = "val_loss"
VAL_ACCURACY = "val_accuracy"
VAL_MAE = "val_mae"
LR = "lr"
EPOCH_TIME_S = "epoch_time_s"
N_PARAMS = "n_params"
DIVERGED = "diverged"

CLASSIFICATION_METRICS = (TRAIN_LOSS, VAL_LOSS, VAL_ACCURACY)
REGRESSION_METRICS = (TRAIN_LOSS, VAL_LOSS, VAL_MAE)

ACTIVATION_NAMES = ("relu", "leaky_relu", "tanh", "gelu", "elu", "selu")
INIT_NAMES = (
    "default",
    "xavier_uniform",
    "xavier_normal",
    "kaiming_uniform",
    "kaiming_normal",
    "orthogonal",
)
# raysweep's own presets (sgd with momentum, nesterov; fused Adam), then the rest of
# torch.optim by its lower-cased class name. LBFGS needs a closure and SparseAdam sparse
# gradients, so neither trains in a plain step.
PRESET_OPTIMIZERS = ("sgd", "momentum", "nesterov", "adagrad", "rmsprop", "adam", "adamw")
TORCH_OPTIMIZERS = ("adadelta", "adamax", "asgd", "nadam", "radam", "rprop")
OPTIMIZER_NAMES = PRESET_OPTIMIZERS + TORCH_OPTIMIZERS
# onecycle, warmup and warmup_cosine change the rate every optimizer step; the others once
# an epoch.
PER_STEP_SCHEDULES = ("onecycle", "warmup", "warmup_cosine")
LR_SCHEDULE_NAMES = ("none", "step", "plateau", "cosine", *PER_STEP_SCHEDULES)
# Hyperparameters by prefix: `opt_<name>` is a keyword argument of the optimizer
# (`opt_rho` for Adadelta); `user_<name>` is yours, read by your factories and step.
OPTIMIZER_ARG_PREFIX = "opt_"
USER_PREFIX = "user_"


@dataclass(frozen=True)
class Hyperparameter:
    """One knob of the trainable: its value type, default and the values it accepts."""

    kind: type  # float, int, str, or object: any scalar (defaults live on ``TrainConfig``)
    choices: tuple[str, ...] | None = None
    minimum: float | None = None
    maximum: float | None = None
    exclusive_minimum: bool = False
    exclusive_maximum: bool = False

    def describe(self) -> str:
        if self.kind is object:
            return "a number, bool or string"
        if self.choices is not None:
            return f"one of {list(self.choices)}"
        lo = "(" if self.exclusive_minimum else "["
        hi = ")" if self.exclusive_maximum else "]"
        low = "-inf" if self.minimum is None else repr(self.minimum)
        high = "inf" if self.maximum is None else repr(self.maximum)
        return f"a {self.kind.__name__} in {lo}{low}, {high}{hi}"

    def accepts(self, value: Any) -> bool:
        if self.choices is not None:
            return isinstance(value, str) and value in self.choices
        if self.kind is object:
            return isinstance(value, (bool, int, str)) or (
                isinstance(value, float) and math.isfinite(value)
            )
        if isinstance(value, bool):
            return False
        if self.kind is int and not isinstance(value, int):
            return False
        if self.kind is float and not (isinstance(value, (int, float)) and math.isfinite(value)):
            return False
        if self.minimum is not None:
            if value < self.minimum or (self.exclusive_minimum and value == self.minimum):
                return False
        if self.maximum is not None:
            if value > self.maximum or (self.exclusive_maximum and value == self.maximum):
                return False
        return True


def _unit() -> Hyperparameter:
    return Hyperparameter(float, minimum=0.0, maximum=1.0, exclusive_maximum=True)


HYPERPARAMETERS: dict[str, Hyperparameter] = {
    "lr": Hyperparameter(float, minimum=0.0, exclusive_minimum=True),
    "depth": Hyperparameter(int, minimum=0, maximum=64),
    "width": Hyperparameter(int, minimum=1, maximum=65536),
    "activation": Hyperparameter(str, choices=ACTIVATION_NAMES),
    "init": Hyperparameter(str, choices=INIT_NAMES),
    "optimizer": Hyperparameter(str, choices=OPTIMIZER_NAMES),
    "momentum": _unit(),
    "weight_decay": Hyperparameter(float, minimum=0.0),
    "beta1": _unit(),
    "beta2": _unit(),
    "lr_schedule": Hyperparameter(str, choices=LR_SCHEDULE_NAMES),
    "lr_factor": Hyperparameter(
        float, minimum=0.0, maximum=1.0, exclusive_minimum=True, exclusive_maximum=True
    ),
    "lr_patience": Hyperparameter(int, minimum=0),
    "lr_step_size": Hyperparameter(int, minimum=1),
    "batch_size": Hyperparameter(int, minimum=1),
    "epochs": Hyperparameter(int, minimum=1),
    "dropout": _unit(),
    "warmup_epochs": Hyperparameter(float, minimum=0.0),
}
ANY_SCALAR = Hyperparameter(object)


def lookup_hyperparameter(name: str) -> Hyperparameter | None:
    """The registry's entry, any scalar for `opt_*`/`user_*` names, else ``None``."""
    if name in HYPERPARAMETERS:
        return HYPERPARAMETERS[name]
    for prefix in (OPTIMIZER_ARG_PREFIX, USER_PREFIX):
        if name.startswith(prefix) and len(name) > len(prefix) and name.isidentifier():
            return ANY_SCALAR
    return None


def known_names() -> str:
    """The accepted hyperparameter names, for error messages."""
    return f"one of {sorted(HYPERPARAMETERS)}, or opt_<optimizer argument>, or user_<yours>"


@dataclass(frozen=True)
class TrainConfig:
    """A trial's hyperparameters, typed. Built once from Tune's ``config`` dict."""

    lr: float = 1e-3
    depth: int = 2
    width: int = 64
    activation: str = "relu"
    init: str = "default"
    optimizer: str = "adam"
    momentum: float = 0.9
    weight_decay: float = 0.0
    beta1: float = 0.9
    beta2: float = 0.999
    lr_schedule: str = "none"
    lr_factor: float = 0.5
    lr_patience: int = 2
    lr_step_size: int = 10
    batch_size: int = 64
    epochs: int = 10
    dropout: float = 0.0
    warmup_epochs: float = 0.0
    # `opt_<name>` and `user_<name>` hyperparameters, by their full names
    optimizer_args: Mapping[str, Any] = dataclasses.field(default_factory=dict)
    user: Mapping[str, Any] = dataclasses.field(default_factory=dict)

    @classmethod
    def from_dict(cls, config: Mapping[str, Any]) -> TrainConfig:
        """Build from a Tune config; unknown keys or out-of-range values raise ``ValueError``."""
        unknown = sorted(k for k in config if lookup_hyperparameter(k) is None)
        if unknown:
            raise ValueError(f"unknown hyperparameters {unknown}; expected {known_names()}")
        values: dict[str, Any] = {}
        prefixed: dict[str, dict[str, Any]] = {"optimizer_args": {}, "user": {}}
        for name, value in config.items():
            hp = lookup_hyperparameter(name)
            assert hp is not None  # checked above
            if not hp.accepts(value):
                raise ValueError(f"`{name}` must be {hp.describe()}, but got {value!r}")
            if name in HYPERPARAMETERS:
                values[name] = float(value) if hp.kind is float else value
            else:
                group = "user" if name.startswith(USER_PREFIX) else "optimizer_args"
                prefixed[group][name] = value
        return cls(
            **values,
            optimizer_args=dict(sorted(prefixed["optimizer_args"].items())),
            user=dict(sorted(prefixed["user"].items())),
        )

    def to_dict(self) -> dict[str, Any]:
        """Flat, as Tune's config: ``from_dict(c.to_dict()) == c``."""
        flat = {f.name: getattr(self, f.name) for f in dataclasses.fields(self)}
        del flat["optimizer_args"], flat["user"]
        return {**flat, **self.optimizer_args, **self.user}

    def optimizer_kwargs(self) -> dict[str, Any]:
        """The `opt_*` hyperparameters as the optimizer's keyword arguments."""
        return {k.removeprefix(OPTIMIZER_ARG_PREFIX): v for k, v in self.optimizer_args.items()}


def trial_key(config: Mapping[str, Any], sweep_seed: int) -> str:
    """A trial's identity: a hash of its hyperparameters and the sweep seed.

    Hashing the config (not the trial id) makes a trial reproducible across runs, restores and
    actor reuse, whatever order the trials happened to start in.
    """
    payload = json.dumps({"config": dict(config), "seed": sweep_seed}, sort_keys=True, default=str)
    return hashlib.sha256(payload.encode()).hexdigest()[:32]


def trial_seed(config: Mapping[str, Any], sweep_seed: int) -> int:
    """The seed of every RNG in a trial, derived from ``trial_key``."""
    return seed_of_key(trial_key(config, sweep_seed))


def seed_of_key(key: str) -> int:
    return int(key[:8], 16) & 0x7FFFFFFF


@dataclass(frozen=True)
class DataParallel:
    """A data-parallel trial: a Ray Train run of ``workers`` ranks with these resources each."""

    workers: int
    cpus_per_worker: float = 1.0
    gpus_per_worker: float = 0.0
