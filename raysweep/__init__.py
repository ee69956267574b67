"""raysweep: distributed hyperparameter search for PyTorch models on Ray Tune and Optuna.

The public Python API; the CLI (``raysweep``) is a thin layer over the same functions.
"""

from __future__ import annotations

__version__ = "0.1.0"

__all__ = ["__version__"]
