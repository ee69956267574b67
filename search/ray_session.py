"""Starting or joining Ray: an embedded local instance bound to localhost, or a cluster."""

from __future__ import annotations

import logging
import os

logger = logging.getLogger(__name__)


def ensure_ray(address: str | None = None) -> None:
    """Join ``address`` (``auto`` or host:port), or start a local Ray on 127.0.0.1 only."""
    import ray

    # Snapshotting the experiment at every checkpoint is what we want (a killed driver loses
    # less), so Tune's warning that it happens often is noise.
    os.environ.setdefault("TUNE_WARN_EXCESSIVE_EXPERIMENT_CHECKPOINT_SYNC_THRESHOLD_S", "0")
    if ray.is_initialized():
        return
    if address:
        ray.init(address=address, logging_level=logging.WARNING)
        return
    ray.init(
        include_dashboard=False,
        _node_ip_address="127.0.0.1",  # nothing listens beyond this machine by default
        logging_level=logging.WARNING,
    )
