"""Sweep orchestration: the spec, the search space, samplers, schedulers, runs and the CLI."""
