from __future__ import annotations

import pytest
import torch
from torch import nn

from trainables.config import (
    ACTIVATION_NAMES,
    HYPERPARAMETERS,
    INIT_NAMES,
    LR_SCHEDULE_NAMES,
    OPTIMIZER_NAMES,
    TrainConfig,
    trial_seed,
)
from trainables.model import ACTIVATIONS, build_model, count_parameters
from trainables.optim import (
    LR_SCHEDULES,
    OPTIMIZERS,
    build_lr_scheduler,
    build_optimizer,
    step_lr_scheduler,
)
from trainables.weight_init import INITS, init_weights


def test_registries_cover_every_accepted_name():
    assert set(ACTIVATIONS) == set(ACTIVATION_NAMES)
    assert set(INITS) == set(INIT_NAMES)
    assert set(OPTIMIZERS) == set(OPTIMIZER_NAMES)
    assert set(LR_SCHEDULES) == set(LR_SCHEDULE_NAMES)
    assert set(HYPERPARAMETERS) == set(TrainConfig().to_dict())


def test_train_config_defaults_are_accepted_by_their_hyperparameters():
    for name, value in TrainConfig().to_dict().items():
        assert HYPERPARAMETERS[name].accepts(value), name


def test_build_model_has_depth_hidden_layers_of_width():
    model = build_model(
        TrainConfig(depth=3, width=16, activation="gelu", dropout=0.1), n_inputs=5, n_outputs=4
    )
    linears = [m for m in model if isinstance(m, nn.Linear)]
    assert [(m.in_features, m.out_features) for m in linears] == [
        (5, 16),
        (16, 16),
        (16, 16),
        (16, 4),
    ]
    assert sum(isinstance(m, nn.GELU) for m in model) == 3
    assert sum(isinstance(m, nn.Dropout) for m in model) == 3
    assert count_parameters(model) == 5 * 16 + 16 + 2 * (16 * 16 + 16) + 16 * 4 + 4


def test_depth_zero_is_a_linear_model():
    model = build_model(TrainConfig(depth=0), n_inputs=5, n_outputs=2)
    assert len(model) == 1 and isinstance(model[0], nn.Linear)


@pytest.mark.parametrize("name", ACTIVATION_NAMES)
def test_every_activation_builds(name):
    model = build_model(TrainConfig(depth=1, width=4, activation=name), n_inputs=3, n_outputs=2)
    assert isinstance(model[1], type(ACTIVATIONS[name]()))


@pytest.mark.parametrize("name", INIT_NAMES)
def test_every_init_is_seeded_and_zeroes_biases(name):
    config = TrainConfig(depth=2, width=32, init=name, activation="relu")

    def weights():
        torch.manual_seed(0)
        model = build_model(config, n_inputs=16, n_outputs=3)
        init_weights(model, config)
        return model

    a, b = weights(), weights()
    for pa, pb in zip(a.parameters(), b.parameters()):
        assert torch.equal(pa, pb)
    if name != "default":
        assert all(torch.count_nonzero(m.bias) == 0 for m in a if isinstance(m, nn.Linear))


def test_orthogonal_init_gives_orthogonal_rows():
    config = TrainConfig(depth=1, width=8, init="orthogonal", activation="tanh")
    model = build_model(config, n_inputs=16, n_outputs=3)
    init_weights(model, config)
    w = model[0].weight / nn.init.calculate_gain("tanh")
    assert torch.allclose(w @ w.T, torch.eye(8), atol=1e-5)


def test_kaiming_normal_has_he_scale():
    config = TrainConfig(depth=1, width=2000, init="kaiming_normal")
    model = build_model(config, n_inputs=500, n_outputs=2)
    init_weights(model, config)
    assert model[0].weight.std().item() == pytest.approx((2 / 500) ** 0.5, rel=0.05)


@pytest.mark.parametrize(
    "name, cls, extra",
    [
        ("sgd", torch.optim.SGD, {"momentum": 0}),
        ("momentum", torch.optim.SGD, {"momentum": 0.8, "nesterov": False}),
        ("nesterov", torch.optim.SGD, {"momentum": 0.8, "nesterov": True}),
        ("adagrad", torch.optim.Adagrad, {}),
        ("rmsprop", torch.optim.RMSprop, {"momentum": 0.8}),
        ("adam", torch.optim.Adam, {"betas": (0.85, 0.99)}),
        ("adamw", torch.optim.AdamW, {"betas": (0.85, 0.99), "weight_decay": 0.01}),
    ],
)
def test_build_optimizer_maps_names_and_hyperparameters(name, cls, extra):
    config = TrainConfig(
        optimizer=name, lr=0.03, momentum=0.8, beta1=0.85, beta2=0.99, weight_decay=0.01
    )
    opt = build_optimizer(nn.Linear(2, 2), config)
    assert type(opt) is cls
    group = opt.param_groups[0]
    assert group["lr"] == 0.03 and group["weight_decay"] == 0.01
    for key, value in extra.items():
        assert group[key] == value, key


def test_lr_schedules_follow_their_rules():
    def lrs(schedule, losses, **kw):
        config = TrainConfig(lr=1.0, optimizer="sgd", lr_schedule=schedule, epochs=4, **kw)
        opt = build_optimizer(nn.Linear(2, 2), config)
        sched = build_lr_scheduler(opt, config)
        out = []
        for loss in losses:
            opt.step()
            step_lr_scheduler(sched, loss)
            out.append(opt.param_groups[0]["lr"])
        return out

    assert lrs("none", [1, 1, 1]) == [1.0, 1.0, 1.0]
    assert lrs("step", [1, 1, 1, 1], lr_step_size=2, lr_factor=0.5) == [1.0, 0.5, 0.5, 0.25]
    # plateau halves the LR once val_loss hasn't improved for lr_patience epochs.
    assert lrs("plateau", [1, 1, 1, 1], lr_patience=1) == [1.0, 1.0, 0.5, 0.5]
    assert lrs("cosine", [1, 1, 1, 1])[-1] == pytest.approx(0.0, abs=1e-12)


def test_trial_seed_depends_on_config_and_sweep_seed_only():
    a = trial_seed({"lr": 0.1, "depth": 2}, 0)
    assert a == trial_seed({"depth": 2, "lr": 0.1}, 0)
    assert a != trial_seed({"lr": 0.1, "depth": 3}, 0)
    assert a != trial_seed({"lr": 0.1, "depth": 2}, 1)


def test_train_config_rejects_unknown_and_invalid_values():
    with pytest.raises(ValueError, match=r"unknown hyperparameters \['colour'\]"):
        TrainConfig.from_dict({"colour": "red"})
    with pytest.raises(ValueError, match=r"`optimizer` must be one of"):
        TrainConfig.from_dict({"optimizer": "lion"})
    assert TrainConfig.from_dict({"lr": 1, "depth": 3}).lr == 1.0
