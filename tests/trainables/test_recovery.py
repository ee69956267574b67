from __future__ import annotations

import logging

import torch

from trainables.checkpoint import CHECKPOINT_FILE, save_checkpoint, write_placeholder
from trainables.config import TrainConfig
from trainables.loop import build_state, run_epoch
from trainables.recovery import (
    Ledger,
    candidates,
    read_ledger,
    record_trial_dir,
    restore_newest,
    trial_dirs_for,
)
from trainables.storage import Location


def upload(local, target: Location) -> None:
    import pyarrow.fs as pafs

    pafs.copy_files(str(local), target.path, destination_filesystem=target.fs)


def fresh(data):
    config = TrainConfig(epochs=4, batch_size=16)
    return build_state(
        config,
        n_inputs=data.n_features,
        n_outputs=data.n_outputs,
        seed=1,
        device=torch.device("cpu"),
    )


def test_newest_checkpoint_wins_and_a_corrupt_one_falls_back_with_a_warning(
    tiny, tiny_tensors, tmp_path, caplog
):
    trial = tmp_path / "trial_a"
    state = fresh(tiny)
    for epoch in (1, 2):
        run_epoch(state, tiny_tensors)
        directory = trial / f"checkpoint_00000{epoch}"
        directory.mkdir(parents=True)
        save_checkpoint(state, directory, key="k")
    points = candidates([trial], key="k")
    assert [p.next_epoch for p in points] == [2, 1]

    restored = fresh(tiny)
    assert restore_newest(restored, points).next_epoch == 2 and restored.next_epoch == 2

    newest = trial / "checkpoint_000002" / CHECKPOINT_FILE
    newest.write_bytes(newest.read_bytes()[:64])
    restored = fresh(tiny)
    with caplog.at_level(logging.WARNING):
        point = restore_newest(restored, candidates([trial], key="k"))
    assert point.next_epoch == 1 and restored.next_epoch == 1
    assert "checksum mismatch" in caplog.text and "falling back" in caplog.text


def test_checkpoints_of_another_trial_key_are_never_candidates(tiny, tmp_path):
    trial = tmp_path / "trial_a"
    (trial / "checkpoint_000001").mkdir(parents=True)
    save_checkpoint(fresh(tiny), trial / "checkpoint_000001", key="other")
    assert candidates([trial], key="k") == []
    assert [p.next_epoch for p in candidates([trial], key="other")] == [0]


def test_nothing_usable_means_a_fresh_start(tiny, tmp_path):
    trial = tmp_path / "trial_a"
    write_placeholder(trial / "checkpoint_000003", 3)  # Tune's view only, no state
    assert candidates([trial, tmp_path / "missing"], key="k") == []
    assert restore_newest(fresh(tiny), []) is None


def test_index_maps_a_trial_key_to_its_directories(storage):
    record_trial_dir(storage, "k1", storage / "trial_a")
    record_trial_dir(storage, "k1", storage / "trial_a")
    record_trial_dir(storage, "k1", storage / "trial_b")
    assert trial_dirs_for(storage, "k1") == [storage / "trial_a", storage / "trial_b"]
    assert trial_dirs_for(storage, "k2") == []


def test_ledger_keeps_every_trained_epoch_in_order_across_runs(storage):
    first, second = Ledger(storage, "k1", "a"), Ledger(storage, "k1", "a")
    for epoch in (1, 2):
        first.record(epoch)
    for epoch in (2, 3):  # a restarted run trains epoch 2 again: visible as such
        second.record(epoch)
    Ledger(storage, "k2", "b").record(1)
    ledger = read_ledger(storage)
    assert [e["epoch"] for e in ledger["k1"]] == [1, 2, 2, 3]
    assert [e["epoch"] for e in ledger["k2"]] == [1]
    assert read_ledger(storage / "missing") == {}


def test_checkpoints_in_object_storage_are_found_and_loaded(tiny, tiny_tensors, tmp_path, storage):
    local = tmp_path / "trial_a"
    state = fresh(tiny)
    for epoch in (1, 2):
        run_epoch(state, tiny_tensors)
        (local / f"checkpoint_00000{epoch}").mkdir(parents=True)
        save_checkpoint(state, local / f"checkpoint_00000{epoch}", key="k")
    upload(local, storage / "trial_a")
    record_trial_dir(storage, "k", storage / "trial_a")

    points = candidates(trial_dirs_for(storage, "k"), key="k")
    assert [p.next_epoch for p in points] == [2, 1]
    restored = fresh(tiny)
    assert restore_newest(restored, points).next_epoch == 2
    for name, tensor in state.model.state_dict().items():
        assert restored.model.state_dict()[name].equal(tensor)
