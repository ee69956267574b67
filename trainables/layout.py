"""The experiment directory's layout: every file raysweep keeps beside Tune's own.

Defined once, here, because the trials (ledger, index) and the driver (spec, identity, budget,
baseline) both write into it, and ``trainables`` is the package both of them may import.
"""

from __future__ import annotations

SPEC_FILE = "raysweep_spec.yaml"  # the spec the sweep runs under, with provenance
STATE_DIR = ".raysweep"
IDENTITY_FILE = f"{STATE_DIR}/identity.json"  # what a resume must not change
BUDGET_FILE = f"{STATE_DIR}/budget_spent.json"  # why no more trials were started
BASELINE_FILE = f"{STATE_DIR}/baseline.json"  # which trial is the base camp
INDEX_DIR = f"{STATE_DIR}/trials"  # trial key -> the trial directories holding it
LEDGER_DIR = f"{STATE_DIR}/ledger"  # the epochs each run of a trial trained
LEASE_FILE = f"{STATE_DIR}/lease.json"  # the one live driver: host, pid, last renewal
LOG_FILE = "raysweep.log"  # Ray's, Tune's and Optuna's driver log records
SNAPSHOT_DIR = f"{STATE_DIR}/snapshot"  # the newest readable copy of Tune's snapshot files
TORN_DIR = f"{STATE_DIR}/torn"  # Tune snapshot files found torn on resume, set aside
EARLIER_DIR = f"{STATE_DIR}/earlier"  # trial folders of a sweep rebuilt without Tune's state
PROBE_PREFIX = ".raysweep-probe-"  # a storage write test, deleted at once
TRIAL_DIR_PREFIX = "trial_"


def trial_dir_name(trial_id: str) -> str:
    return f"{TRIAL_DIR_PREFIX}{trial_id}"


def trial_dir_of(trial: object) -> str:
    """Tune's ``trial_dirname_creator``: a module function, so the experiment state that Tune
    pickles refers to this light module, and reading the experiment imports no torch."""
    return trial_dir_name(str(getattr(trial, "trial_id")))
