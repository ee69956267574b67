"""The ``raysweep`` command line. Each command parses, calls one library function and prints."""

from __future__ import annotations

import argparse
import json
import os
import shlex
import sys
from collections.abc import Sequence
from typing import TYPE_CHECKING, Any

from search.errors import RaysweepError, StorageRefusedError

if TYPE_CHECKING:
    from search.spec import SweepSpec
    from search.sweep.run import SweepSummary

EXIT_OK, EXIT_FAILED, EXIT_BAD_INPUT, EXIT_INTERRUPTED = 0, 1, 2, 130


EXPERIMENT_HELP = "the experiment: a directory (runs/NAME) or a URI (s3://BUCKET/sweeps/NAME)"


def _add_set_arg(p: argparse.ArgumentParser, help: str) -> None:
    p.add_argument(
        "--set", dest="overrides", action="append", default=[], metavar="KEY=VALUE", help=help
    )


def _add_verbose_arg(p: argparse.ArgumentParser) -> None:
    p.add_argument(
        "--verbose",
        action="store_true",
        help="show Tune's progress tables and Ray's log lines instead of raysweep's view",
    )


def _add_spec_args(p: argparse.ArgumentParser) -> None:
    p.add_argument("spec", help="the sweep spec (YAML)")
    _add_set_arg(p, "override a spec value by dotted key, e.g. --set search.num_samples=8")


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="raysweep",
        description="Hyperparameter sweeps of PyTorch models on Ray Tune + Optuna.",
    )
    from search.version import __version__

    parser.add_argument("--version", action="version", version=f"raysweep {__version__}")
    commands = parser.add_subparsers(dest="command", required=True)
    _add_sweep_commands(commands)
    _add_results_commands(commands)
    _add_cluster_commands(commands)
    return parser


def _add_sweep_commands(commands: Any) -> None:
    run = commands.add_parser("run", help="run a sweep")
    _add_spec_args(run)
    run.add_argument("--name", help="experiment name (default: the spec's name)")
    run.add_argument(
        "--storage", help="where experiments live: a path or s3://, gs:// URI (default: ./runs)"
    )
    run.add_argument("--address", help="join a running Ray cluster (e.g. auto or HOST:6379)")
    run.add_argument(
        "--baselines-from",
        metavar="EXPORT.parquet",
        help="evaluate the best configs of an earlier export first (they become the baselines)",
    )
    run.add_argument("--top", type=int, help="with --baselines-from: only its K best configs")
    _add_take_over_arg(run)
    _add_verbose_arg(run)

    validate = commands.add_parser("validate", help="check a spec without running it")
    _add_spec_args(validate)

    resume = commands.add_parser("resume", help="continue an interrupted sweep")
    resume.add_argument("experiment", help=EXPERIMENT_HELP)
    resume.add_argument("--address", help="join a running Ray cluster (e.g. auto or HOST:6379)")
    _add_set_arg(resume, "change resources.* for the rest of the sweep; the search can't change")
    _add_take_over_arg(resume)
    _add_verbose_arg(resume)


def _add_take_over_arg(p: argparse.ArgumentParser) -> None:
    p.add_argument(
        "--take-over",
        action="store_true",
        help="take the experiment's lease from the driver holding it (one you know is dead; "
        "a live one stops within seconds)",
    )


def _add_results_commands(commands: Any) -> None:
    status = commands.add_parser("status", help="trials of an experiment, without starting Ray")
    status.add_argument("experiment", help=EXPERIMENT_HELP)
    shown = status.add_mutually_exclusive_group()
    shown.add_argument("--all", action="store_true", help="every trial, not only the first 20")
    shown.add_argument("--limit", type=int, default=20, help="the first N trials (default 20)")
    status.add_argument(
        "--sort",
        default="rank",
        metavar="METRIC_OR_COLUMN",
        help="order by a metric (best first), a hyperparameter, or rank, trial (creation "
        "order), status, epochs, vs_base; a leading - reverses it (--sort=-lr). Default: rank",
    )

    export = commands.add_parser("export", help="trials, best configs or curves as Parquet")
    export.add_argument("experiment", help=EXPERIMENT_HELP)
    export.add_argument("-o", "--output", required=True, help="the Parquet file to write")
    export.add_argument("--top", type=int, help="only the K best trials, ranked 1..K")
    export.add_argument(
        "--curves", action="store_true", help="per-epoch learning curves (long format)"
    )
    export.add_argument(
        "--no-models", action="store_true", help="don't write named model files beside it"
    )
    evaluate = commands.add_parser("evaluate", help="best trials on the held-out test split")
    evaluate.add_argument("experiment", help=EXPERIMENT_HELP)
    evaluate.add_argument("--top", type=int, default=1, help="the K best trials (default 1)")
    evaluate.add_argument("-o", "--output", help="also write the test metrics as Parquet")
    report = commands.add_parser("report", help="plots and a results page (HTML + PNG)")
    report.add_argument("experiment", help=EXPERIMENT_HELP)
    report.add_argument("-o", "--output", required=True, help="the folder to write into")
    dashboard = commands.add_parser(
        "dashboard", help="optuna-dashboard of an experiment (running or not) in the browser"
    )
    dashboard.add_argument("experiment", help=EXPERIMENT_HELP)
    dashboard.add_argument("--port", type=int, default=8080, help="default 8080")
    dashboard.add_argument(
        "--host",
        default="127.0.0.1",
        help="the address to listen on (default 127.0.0.1; the page has no authentication)",
    )


def _add_cluster_commands(commands: Any) -> None:
    submit = commands.add_parser("submit", help="run a sweep on a cluster as a Ray Job")
    _add_spec_args(submit)
    submit.add_argument("--address", required=True, help="the Jobs API, e.g. http://HEAD:8265")
    submit.add_argument("--name", help="experiment name (default: the spec's name)")
    submit.add_argument("--storage", help="storage on the cluster (shared path or s3:// URI)")

    jobs = commands.add_parser("jobs", help="raysweep's jobs on a cluster and their state")
    jobs.add_argument("--address", required=True, help="the Jobs API, e.g. http://HEAD:8265")


def _load_runnable(args: argparse.Namespace, *, data: bool = True) -> SweepSpec:
    """The spec, parsed and then checked runnable here (factory, MLflow, data, model)."""
    from search.spec import load_spec
    from search.sweep.preflight import check_runnable

    spec = load_spec(args.spec, args.overrides)
    check_runnable(spec, source=args.spec, data=data)
    return spec


def _cmd_validate(args: argparse.Namespace) -> int:
    spec = _load_runnable(args)
    print(
        f"ok: {args.spec}: {len(spec.space)} searched, {len(spec.fixed)} fixed, "
        f"{spec.search.num_samples} trials, {spec.scheduler.type}, metric "
        f"{spec.metric.name} ({spec.metric.mode})"
    )
    return EXIT_OK


def _print_summary(summary: SweepSummary) -> int:
    from search.views.progress import shown_path

    print()
    print(f"experiment: {summary.path}")
    print(f"trials: {summary.num_trials} ({summary.num_errors} errored)")
    if summary.baseline is not None:
        print(
            f"baseline {summary.metric}: {summary.baseline.metric:.4f} "
            f"config {json.dumps(summary.baseline.config)}"
        )
    if summary.best is not None:
        delta = ""
        if summary.baseline is not None:
            delta = f" ({summary.best.metric - summary.baseline.metric:+.4f} vs baseline)"
        # Its trial and epochs are in the "recommended:" note below.
        print(f"best {summary.metric} ({summary.mode}): {summary.best.metric:.4f}{delta}")
        print(f"best config: {json.dumps(summary.best.config)}")
    for note in summary.notes:
        print(note)
    if summary.budget_spent is not None:
        print(f"budget: {summary.budget_spent}; no new trials were started after that")
    if summary.log_file is not None:
        print(f"Ray/Tune/Optuna log: {shown_path(summary.log_file)}")
    print(f"in the browser:  raysweep dashboard {shlex.quote(shown_path(summary.path))}")
    if summary.interrupted:
        print(f"interrupted: continue with  raysweep resume {shlex.quote(str(summary.path))}")
        return EXIT_INTERRUPTED
    if summary.best is None:
        print("best: no trial reported a finite metric")
        return EXIT_FAILED
    return EXIT_OK if summary.num_errors == 0 else EXIT_FAILED


def _cmd_run(args: argparse.Namespace) -> int:
    from search.spec import load_spec, with_baselines
    from search.sweep.run import run_sweep

    spec = load_spec(args.spec, args.overrides)
    if args.baselines_from is not None:
        from search.results.baselines import read_baselines

        found = read_baselines(args.baselines_from, sorted(spec.space), top=args.top)
        spec = with_baselines(spec, found, source=args.spec)
    summary = run_sweep(
        spec,
        name=args.name,
        storage=args.storage,
        address=args.address,
        source=args.spec,
        take_over=args.take_over,
        verbose=args.verbose,
    )
    return _print_summary(summary)


def _cmd_resume(args: argparse.Namespace) -> int:
    from search.sweep.resume import resume_sweep

    return _print_summary(
        resume_sweep(
            args.experiment,
            overrides=args.overrides,
            address=args.address,
            take_over=args.take_over,
            verbose=args.verbose,
        )
    )


def _cmd_status(args: argparse.Namespace) -> int:
    from search.results.status import experiment_status

    limit = None if args.all else args.limit
    print("\n".join(experiment_status(args.experiment, limit=limit, sort=args.sort)))
    return EXIT_OK


def _cmd_export(args: argparse.Namespace) -> int:
    from search.results.export import export_experiment

    summary = export_experiment(
        args.experiment,
        args.output,
        top=args.top,
        curves=args.curves,
        models=not args.no_models,
    )
    print(f"wrote {summary.rows} rows to {summary.out}")
    if summary.model_dir is not None and summary.models:
        print(f"wrote {summary.models} named model files to {summary.model_dir}")
    return EXIT_OK


def _cmd_submit(args: argparse.Namespace) -> int:
    from search.sweep.jobs import submit_sweep

    # The data and its location are the cluster's: only the rest is checked here.
    spec = _load_runnable(args, data=False)
    job_id = submit_sweep(spec, address=args.address, storage=args.storage, name=args.name)
    print(
        f"submitted {job_id}: follow it with  ray job logs --follow {job_id} "
        f"--address {args.address}"
    )
    return EXIT_OK


def _cmd_jobs(args: argparse.Namespace) -> int:
    from search.sweep.jobs import list_sweeps

    print(f"{'job':<28} {'status':<10} experiment")
    for row in list_sweeps(args.address):
        print(f"{row.job_id:<28} {row.status:<10} {row.experiment}")
    return EXIT_OK


def _cmd_evaluate(args: argparse.Namespace) -> int:
    from search.results.evaluate import evaluate_experiment, write_evaluation

    score_name, rows, table = evaluate_experiment(args.experiment, top=args.top)
    print(f"{'rank':>4} {'trial':<12} {'metric_best':>11} {'test_loss':>9} {score_name:>13}")
    for r in rows:
        best = "-" if r.val_metric is None else f"{r.val_metric:.4f}"
        print(f"{r.rank:>4} {r.trial_id:<12} {best:>11} {r.test_loss:>9.4f} {r.test_score:>13.4f}")
    if args.output:
        print(f"wrote {table.num_rows} rows to {write_evaluation(table, args.output)}")
    return EXIT_OK


def _cmd_report(args: argparse.Namespace) -> int:
    from search.results.report import write_report

    summary = write_report(args.experiment, args.output)
    print(
        f"wrote {len(summary.files)} files to {summary.out_dir}: "
        + ", ".join(p.name for p in summary.files)
    )
    return EXIT_OK


def _cmd_dashboard(args: argparse.Namespace) -> int:
    from search.views.dashboard import dashboard_url, is_loopback, start_dashboard

    server, _, stop = start_dashboard(args.experiment, host=args.host, port=args.port)
    if not is_loopback(args.host):
        print(
            f"warning: listening on {args.host}: the dashboard has no authentication, and "
            "anyone who can reach this port can read the study",
            file=sys.stderr,
        )
    print(f"optuna-dashboard of {args.experiment}: {dashboard_url(server, args.host)}", flush=True)
    print("(it follows the experiment's records; Ctrl-C stops it)", flush=True)
    try:
        server.serve_forever()
    except KeyboardInterrupt:
        pass
    finally:
        stop.set()
        server.server_close()
    return EXIT_OK


COMMANDS = {
    "run": _cmd_run,
    "validate": _cmd_validate,
    "resume": _cmd_resume,
    "status": _cmd_status,
    "export": _cmd_export,
    "report": _cmd_report,
    "dashboard": _cmd_dashboard,
    "evaluate": _cmd_evaluate,
    "submit": _cmd_submit,
    "jobs": _cmd_jobs,
}


def main(argv: Sequence[str] | None = None) -> int:
    args = build_parser().parse_args(argv)
    # Your factories and steps (`package.module:function`) import from the folder you run
    # in, as with `python -m`; appended, so nothing there shadows an installed package.
    if os.getcwd() not in sys.path:
        sys.path.append(os.getcwd())
    try:
        return COMMANDS[args.command](args)
    except StorageRefusedError as exc:  # not bad input: a sweep that could not go on
        print(f"error: {exc}", file=sys.stderr)
        return EXIT_FAILED
    except RaysweepError as exc:
        print(f"error: {exc}", file=sys.stderr)
        return EXIT_BAD_INPUT
    except BrokenPipeError:  # `raysweep status | head`: the reader has what it wanted
        os.dup2(os.open(os.devnull, os.O_WRONLY), sys.stdout.fileno())
        return EXIT_OK


if __name__ == "__main__":
    sys.exit(main())
