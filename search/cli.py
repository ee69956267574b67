"""The ``raysweep`` command line. Each command parses, calls one library function and prints."""

from __future__ import annotations

import argparse
import json
import sys
from collections.abc import Sequence

from search.errors import RaysweepError

EXIT_OK, EXIT_FAILED, EXIT_BAD_INPUT = 0, 1, 2


def _add_spec_args(p: argparse.ArgumentParser) -> None:
    p.add_argument("spec", help="the sweep spec (YAML)")
    p.add_argument(
        "--set",
        dest="overrides",
        action="append",
        default=[],
        metavar="KEY=VALUE",
        help="override a spec value by dotted key, e.g. --set search.num_samples=8",
    )


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="raysweep",
        description="Hyperparameter sweeps of PyTorch models on Ray Tune + Optuna.",
    )
    from raysweep import __version__

    parser.add_argument("--version", action="version", version=f"raysweep {__version__}")
    commands = parser.add_subparsers(dest="command", required=True)

    run = commands.add_parser("run", help="run a sweep")
    _add_spec_args(run)
    run.add_argument("--name", help="experiment name (default: the spec's name)")
    run.add_argument("--storage", help="where experiments live (default: ./runs)")
    run.add_argument("--address", help="join a running Ray cluster (e.g. auto or HOST:6379)")

    validate = commands.add_parser("validate", help="check a spec without running it")
    _add_spec_args(validate)
    return parser


def _cmd_validate(args: argparse.Namespace) -> int:
    from search.spec import load_spec

    spec = load_spec(args.spec, args.overrides)
    print(
        f"ok: {args.spec}: {len(spec.space)} searched, {len(spec.fixed)} fixed, "
        f"{spec.search.num_samples} trials, {spec.scheduler.type}, metric "
        f"{spec.metric.name} ({spec.metric.mode})"
    )
    return EXIT_OK


def _cmd_run(args: argparse.Namespace) -> int:
    from search.run import run_sweep
    from search.spec import load_spec

    spec = load_spec(args.spec, args.overrides)
    summary = run_sweep(spec, name=args.name, storage=args.storage, address=args.address)
    print()
    print(f"experiment: {summary.path}")
    print(f"trials: {summary.num_trials} ({summary.num_errors} errored)")
    if summary.baseline is not None:
        print(
            f"baseline {summary.metric}: {summary.baseline.metric:.4f} "
            f"config {json.dumps(summary.baseline.config)}"
        )
    if summary.best is None:
        print("best: no trial reported a finite metric")
        return EXIT_FAILED
    delta = ""
    if summary.baseline is not None:
        delta = f" ({summary.best.metric - summary.baseline.metric:+.4f} vs baseline)"
    print(
        f"best {summary.metric} ({summary.mode}): {summary.best.metric:.4f}{delta} "
        f"trial {summary.best.trial_id}, {summary.best.epochs} epochs"
    )
    print(f"best config: {json.dumps(summary.best.config)}")
    return EXIT_OK if summary.num_errors == 0 else EXIT_FAILED


COMMANDS = {"run": _cmd_run, "validate": _cmd_validate}


def main(argv: Sequence[str] | None = None) -> int:
    args = build_parser().parse_args(argv)
    try:
        return COMMANDS[args.command](args)
    except RaysweepError as exc:
        print(f"error: {exc}", file=sys.stderr)
        return EXIT_BAD_INPUT


if __name__ == "__main__":
    sys.exit(main())
