"""raysweep benchmarks (issue #5): ``python -m bench`` or ``make bench``.

Every measurement is a ratio taken in one run on the same spec and data, so that a shared,
noisy machine moves both sides of it alike. Results: a printed table and
``bench/results/latest.json``.
"""
