"""Running a sweep on Ray Tune: the Ray session, the Tuner (searcher, scheduler, callbacks),
run, resume, budgets and Ray Jobs. Every private Ray attribute it needs is in
``search._tune_compat``."""
