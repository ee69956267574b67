"""Search quality: how well a search policy finds good configs per epoch spent.

A learning-curve table (``curves``) is built once from real training by raysweep's own loop;
the replay (``replay``) then drives the real Ray Tune and Optuna objects against it on a
simulated clock. ``python -m bench.search_quality [--quick]`` runs the comparison.
"""
