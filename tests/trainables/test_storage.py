"""Location: one API over a local directory and an object store (a real moto S3 server)."""

from __future__ import annotations

import pytest

from trainables.recovery import read_ledger
from trainables.storage import Location


def test_a_uri_keeps_its_options_and_a_bare_scheme_is_refused(s3_server):
    exp = Location.of(f"s3://bucket/sweeps/a?endpoint_override={s3_server.endpoint}")
    assert exp.path == "bucket/sweeps/a" and not exp.is_local
    assert (exp / "b").uri == f"s3://bucket/sweeps/a/b?endpoint_override={s3_server.endpoint}"
    assert Location.of("gs://bucket/x").uri == "gs://bucket/x"
    with pytest.raises(ValueError, match="names no bucket"):
        Location.of("s3://")


def test_local_paths_are_absolute_and_read_as_written(tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)
    exp = Location.of("runs/x")
    assert exp.is_local and exp.path == str(tmp_path / "runs" / "x") and exp.uri == exp.path
    (exp / "a" / "b.txt").write_text("hi")
    assert (exp / "a" / "b.txt").read_text() == "hi" and (exp / "a").is_dir()
    assert [c.name for c in exp.children()] == ["a"] and (exp / "nothing").children() == []


def test_objects_round_trip_and_missing_folders_are_empty(storage, tmp_path):
    (storage / "d" / "f.bin").write_bytes(b"\x00\x01")
    assert (storage / "d" / "f.bin").read_bytes() == b"\x00\x01"
    assert (storage / "d").is_dir() and (storage / "d" / "f.bin").is_file()
    assert (storage / "missing").children() == [] and not (storage / "missing").exists()
    (storage / "d").download(tmp_path / "copy")
    assert (tmp_path / "copy" / "f.bin").read_bytes() == b"\x00\x01"
    with (storage / "d").local_dir() as local:
        assert (local / "f.bin").read_bytes() == b"\x00\x01"


def test_the_ledger_skips_torn_writes_and_reads_the_older_single_file_layout(tmp_path):
    ledger = tmp_path / ".raysweep" / "ledger"
    (ledger / "k1").mkdir(parents=True)
    (ledger / "k1" / "a-1234.jsonl").write_text('{"trial_id": "a", "epoch": 1, "t": 1.0}\n')
    (ledger / "k1" / ".a-1234.jsonl.tmp").write_text('{"trial_id": "a", "epo')  # killed
    (ledger / "k2.jsonl").write_text(
        '{"trial_id": "b", "epoch": 1, "t": 2.0}\n{"trial_id": "b", "epoch": 2, "t": 3.0}\n{"tr'
    )
    found = read_ledger(tmp_path)
    assert {k: [e["epoch"] for e in v] for k, v in found.items()} == {"k1": [1], "k2": [1, 2]}
