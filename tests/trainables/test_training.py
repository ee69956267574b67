"""The training loop on your model, data and loss: no Ray, real torch, real DataLoaders."""

from __future__ import annotations

import math
from dataclasses import replace

import numpy as np
import pytest
import torch
from sklearn.metrics import f1_score

from trainables.architecture import Architecture
from trainables.checkpoint import load_checkpoint, save_checkpoint
from trainables.config import TrainConfig
from trainables.datasets import TrialData, build_trial_data
from trainables.feeds import LoaderFeed
from trainables.loop import TensorData, build_state, run_epoch
from trainables.metrics import build_metric
from trainables.recipe import Recipe
from trainables.sources import FactorySource, LoaderSpec, TrialDataSpec

CPU = torch.device("cpu")


def loader_feed(config: TrainConfig, *, workers: int = 0, data: TrialData | None = None):
    spec = TrialDataSpec(FactorySource("tests.user_code:tensor_data"))
    opened = data or build_trial_data(spec, config)
    return LoaderFeed(
        opened,
        batch_size=config.batch_size,
        seed=5,
        spec=LoaderSpec(num_workers=workers),
        device=CPU,
        task="classification",
    )


def new_state(config, recipe=Recipe(), *, steps=1, architecture=Architecture(), n_inputs=6):
    return build_state(
        config,
        n_inputs=n_inputs,
        n_outputs=3,
        seed=3,
        device=CPU,
        architecture=architecture,
        recipe=recipe,
        steps_per_epoch=steps,
    )


def train(config, feed, epochs, recipe=Recipe(), **kwargs):
    state = new_state(config, recipe, steps=feed.steps or 1, **kwargs)
    return state, [run_epoch(state, feed) for _ in range(epochs)]


CONFIG = TrainConfig(lr=0.01, batch_size=32, epochs=4, dropout=0.2)


def test_pytorchs_mnist_recipe_log_softmax_nll_and_adadelta_trains():
    config = TrainConfig.from_dict(
        {"optimizer": "adadelta", "lr": 1.0, "opt_rho": 0.9, "batch_size": 32, "epochs": 6}
    )
    state, history = train(
        config,
        loader_feed(config),
        6,
        Recipe(loss="nll"),
        architecture=Architecture("factory", None, "tests.user_code:log_softmax_net"),
    )
    assert isinstance(state.optimizer, torch.optim.Adadelta)
    assert state.optimizer.param_groups[0]["rho"] == 0.9
    assert history[-1]["val_loss"] < history[0]["val_loss"]
    assert history[-1]["val_accuracy"] > 0.7


def test_metrics_are_exact_over_batches_not_means_of_batch_means():
    g = torch.Generator().manual_seed(0)
    outputs = torch.randn(103, 4, generator=g)
    targets = torch.randint(0, 4, (103,), generator=g)
    chunks = list(zip(outputs.split(10), targets.split(10)))  # uneven last batch
    whole = {}
    for name in ("accuracy", "top_k", "f1_macro", "rmse", "mae"):
        metric = build_metric(name, top_k=2)
        for o, t in chunks:
            if name in ("rmse", "mae"):
                metric.update(o[:, 0], t.float())
            else:
                metric.update(o, t)
        whole[name] = metric.compute()
    predicted = outputs.argmax(1)
    assert whole["accuracy"] == pytest.approx(float((predicted == targets).float().mean()))
    top2 = outputs.topk(2, 1).indices
    assert whole["top_k"] == pytest.approx(float((top2 == targets[:, None]).any(1).float().mean()))
    assert whole["f1_macro"] == pytest.approx(f1_score(targets, predicted, average="macro"))
    error = outputs[:, 0] - targets.float()
    assert whole["rmse"] == pytest.approx(float(error.square().mean().sqrt()), rel=1e-6)
    assert whole["mae"] == pytest.approx(float(error.abs().mean()), rel=1e-6)
    batch_means = np.mean([float((o[:, 0] - t.float()).square().mean().sqrt()) for o, t in chunks])
    assert whole["rmse"] != pytest.approx(batch_means, rel=1e-6)


def test_every_metric_can_be_reported_and_yours_too():
    recipe = Recipe(
        metrics=("accuracy", "top_k", "f1_macro", "tests.user_code:mean_abs_logit"), top_k=2
    )
    _, history = train(CONFIG, loader_feed(CONFIG), 2, recipe)
    assert {"val_accuracy", "val_top2", "val_f1_macro", "val_mean_abs_logit"} <= set(history[-1])
    assert history[-1]["val_top2"] >= history[-1]["val_accuracy"]


def test_bf16_autocast_trains_on_the_cpu():
    _, fp32 = train(CONFIG, loader_feed(CONFIG), 3)
    _, bf16 = train(CONFIG, loader_feed(CONFIG), 3, Recipe(precision="bf16"))
    assert all(math.isfinite(m["val_loss"]) for m in bf16)
    assert bf16[-1]["val_loss"] < bf16[0]["val_loss"] + 0.05
    assert bf16[-1]["val_loss"] != fp32[-1]["val_loss"]  # it really ran in bf16
    assert bf16[-1]["val_loss"] == pytest.approx(fp32[-1]["val_loss"], abs=0.1)


def test_fp16_uses_the_grad_scaler_and_resumes_it_exactly(tmp_path):
    recipe = Recipe(precision="fp16", grad_clip=1.0)
    feed = loader_feed(CONFIG)
    straight, history = train(CONFIG, feed, 4, recipe)
    assert straight.scaler is not None and straight.scaler.get_scale() > 0
    first = new_state(CONFIG, recipe, steps=feed.steps)
    part = [run_epoch(first, feed) for _ in range(2)]
    save_checkpoint(first, tmp_path)
    resumed = new_state(CONFIG, recipe, steps=feed.steps)
    load_checkpoint(resumed, tmp_path)
    assert resumed.scaler.state_dict() == first.scaler.state_dict()
    part += [run_epoch(resumed, feed) for _ in range(2)]
    assert [m["val_loss"] for m in part] == [m["val_loss"] for m in history]


def test_accumulating_two_half_batches_is_one_full_batch(tiny):
    config = TrainConfig(lr=0.05, optimizer="sgd", batch_size=18, epochs=1)  # 90 rows: 5 steps
    full = new_state(config, n_inputs=tiny.n_features)
    run_epoch(full, TensorData.from_dataset(tiny, CPU))
    halves = new_state(replace(config, batch_size=9), Recipe(accumulate=2), n_inputs=6)
    run_epoch(halves, TensorData.from_dataset(tiny, CPU))
    for p, q in zip(full.model.parameters(), halves.model.parameters()):
        assert torch.allclose(p, q, atol=1e-6)


def test_grad_clip_bounds_each_step(tiny):
    config = TrainConfig(lr=1.0, optimizer="sgd", batch_size=90, epochs=1)
    state = new_state(config, Recipe(grad_clip=0.01), n_inputs=tiny.n_features)
    before = torch.cat([p.detach().flatten().clone() for p in state.model.parameters()])
    run_epoch(state, TensorData.from_dataset(tiny, CPU))  # one step: 90 rows, batch 90
    after = torch.cat([p.detach().flatten() for p in state.model.parameters()])
    assert float((after - before).norm()) <= 0.01 + 1e-6


@pytest.mark.parametrize("schedule", ["onecycle", "warmup", "warmup_cosine"])
def test_per_step_schedules_move_every_optimizer_step(tiny, schedule):
    config = TrainConfig(lr=0.1, batch_size=10, epochs=3, lr_schedule=schedule, warmup_epochs=1)
    feed = TensorData.from_dataset(tiny, CPU)
    feed.batch_size = config.batch_size
    state = new_state(config, steps=feed.steps, n_inputs=tiny.n_features)
    lrs = [m["lr"] for m in (run_epoch(state, feed) for _ in range(3))]
    assert state.lr_scheduler.last_epoch == 3 * feed.steps
    if schedule == "warmup":  # warmed up over the first epoch, then constant
        assert lrs[0] < 0.02 and lrs[1] == lrs[2] == pytest.approx(0.1)
    else:
        assert len(set(lrs)) == 3  # the rate at each epoch's start differs


def test_an_unknown_optimizer_argument_names_itself():
    config = TrainConfig.from_dict({"optimizer": "adam", "opt_rho": 0.9})
    with pytest.raises(TypeError, match=r"`opt_rho`: Adam takes no argument 'rho'"):
        new_state(config)


@pytest.mark.parametrize("workers", [0, 2])
def test_a_loader_trial_resumes_exactly_at_an_epoch_and_mid_epoch(tmp_path, workers):
    feed = loader_feed(CONFIG, workers=workers)
    _, straight = train(CONFIG, feed, 3)

    # killed after epoch 1 + 3 batches: the in-epoch checkpoint carries the position
    first = new_state(CONFIG, steps=feed.steps)
    run_epoch(first, feed)
    saved = []

    def save_at_third_step(state):
        if state.position == 3 and not saved:
            save_checkpoint(state, tmp_path)
            saved.append(state.position)

    run_epoch(first, feed, on_step=save_at_third_step)
    resumed = new_state(CONFIG, steps=feed.steps)
    load_checkpoint(resumed, tmp_path)
    assert (resumed.next_epoch, resumed.position) == (1, 3)
    history = list(resumed.history)
    history += [run_epoch(resumed, feed) for _ in range(2)]
    assert [m["train_loss"] for m in history] == [m["train_loss"] for m in straight]
    assert [m["val_loss"] for m in history] == [m["val_loss"] for m in straight]


def test_a_table_trial_resumes_exactly_mid_epoch(tiny, tmp_path):
    config = replace(CONFIG, batch_size=10)
    feed = TensorData.from_dataset(tiny, CPU)
    _, straight = train(config, feed, 2, n_inputs=tiny.n_features)
    first = new_state(config, n_inputs=tiny.n_features)
    saved = []

    def save_at_fourth_step(state):
        if state.position == 4 and not saved:
            save_checkpoint(state, tmp_path)
            saved.append(True)

    run_epoch(first, feed, on_step=save_at_fourth_step)
    resumed = new_state(config, n_inputs=tiny.n_features)
    load_checkpoint(resumed, tmp_path)
    history = [run_epoch(resumed, feed) for _ in range(2)]
    assert [m["val_loss"] for m in history] == [m["val_loss"] for m in straight]


def test_dict_batches_train_through_your_step():
    spec = TrialDataSpec(FactorySource("tests.user_code:dict_data"))
    config = TrainConfig(width=16, lr=0.02, batch_size=32)
    recipe = Recipe(step="tests.user_code:pair_step", eval_step="tests.user_code:pair_eval_step")
    feed = LoaderFeed(
        build_trial_data(spec, config),
        batch_size=32,
        seed=0,
        spec=LoaderSpec(),
        device=CPU,
        task="classification",
    )
    arch = Architecture("factory", None, "tests.user_code:two_inputs")
    _, history = train(config, feed, 4, recipe, architecture=arch)
    assert {"val_loss", "val_margin", "train_loss"} <= set(history[-1])
    assert "val_accuracy" not in history[-1]  # no metrics asked for: only what the step gives
    assert history[-1]["val_loss"] < history[0]["val_loss"]


def test_an_iterable_data_set_trains_in_its_own_order():
    config = TrainConfig(lr=0.01, batch_size=32)
    spec = TrialDataSpec(FactorySource("tests.user_code:iterable_data"))
    data = build_trial_data(spec, config)
    feed = loader_feed(config, data=data)
    assert feed.steps is None
    _, history = train(config, feed, 3)
    assert history[-1]["val_loss"] < history[0]["val_loss"]


def test_compile_runs_the_same_model(tiny):
    config = TrainConfig(lr=0.01, batch_size=45, epochs=1)
    state, history = train(
        config, TensorData.from_dataset(tiny, CPU), 1, Recipe(compile=True), n_inputs=6
    )
    assert state.forward is not state.model  # compiled for running, saved unwrapped
    assert math.isfinite(history[0]["val_loss"])
    assert set(state.model.state_dict()) == set(new_state(config).model.state_dict())
