"""Showing a sweep: raysweep's terminal view of a running sweep (its Ray, Tune and Optuna
chatter kept in a log file), and optuna-dashboard over an experiment's records."""
