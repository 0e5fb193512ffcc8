"""The ``driftd`` command line."""

from __future__ import annotations

import argparse
import sys
from collections.abc import Sequence

from monitor import __version__
from monitor.errors import ConfigError, DriftdError


def _cmd_run(args: argparse.Namespace) -> int:
    from monitor import logs
    from monitor.config_loader import load_config
    from monitor.daemon import Daemon

    try:
        config = load_config(args.config)
    except ConfigError as exc:
        print(exc, file=sys.stderr)
        return 2
    log_cfg = config.logging
    logs.configure(log_cfg.level, args.log_format or log_cfg.format, log_cfg.log_feature_values)
    return Daemon(config).run()


def _cmd_check_config(args: argparse.Namespace) -> int:
    from monitor.config_loader import load_config

    try:
        config = load_config(args.file)
    except ConfigError as exc:
        print(f"{len(exc.problems)} problem(s):", file=sys.stderr)
        for problem in exc.problems:
            print(f"  {problem}", file=sys.stderr)
        return 1
    features = sum(len(m.features) for m in config.models.values())
    print(
        f"{args.file}: OK ({len(config.models)} model(s), {features} feature(s), "
        f"inputs {', '.join(config.topics.inputs)})"
    )
    return 0


def _cmd_demo(args: argparse.Namespace) -> int:
    from monitor.demo.runner import run_demo

    return run_demo(duration=args.duration, view=not args.no_view, rate=args.rate)


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="driftd",
        description="Streaming drift monitor for ML models: reads prediction and feature "
        "streams from Kafka, detects data and concept drift, applies guardrails, sends alerts.",
    )
    parser.add_argument("--version", action="version", version=f"driftd {__version__}")
    sub = parser.add_subparsers(dest="command", required=True, metavar="COMMAND")

    run = sub.add_parser(
        "run",
        help="run the daemon",
        description="Run the monitoring daemon with a config file until SIGTERM/SIGINT. "
        "A first signal shuts down gracefully (flush, checkpoint, commit) within "
        "shutdown_timeout_seconds; a second one exits at once.",
    )
    run.add_argument("-c", "--config", required=True, help="YAML config file")
    run.add_argument(
        "--log-format", choices=["auto", "json", "console"], help="override logging.format"
    )
    run.set_defaults(func=_cmd_run)

    check = sub.add_parser(
        "check-config",
        help="validate a config file",
        description="Validate a config file; print every problem with its key path and line, "
        "exit 1 if there is any. Secrets are never printed.",
    )
    check.add_argument("file", help="YAML config file")
    check.set_defaults(func=_cmd_check_config)

    demo = sub.add_parser(
        "demo",
        help="run a self-contained demo",
        description="Start the embedded Kafka-compatible broker on a free port, generate "
        "synthetic model traffic (with malformed messages and injected drift), run the "
        "daemon on it and show a live terminal view. Ctrl-C stops everything.",
    )
    demo.add_argument("--duration", type=float, default=None, help="stop after this many seconds")
    demo.add_argument("--rate", type=float, default=2000.0, help="events per second to generate")
    demo.add_argument(
        "--no-view", action="store_true", help="print log lines instead of the live view"
    )
    demo.set_defaults(func=_cmd_demo)
    return parser


def main(argv: Sequence[str] | None = None) -> int:
    parser = build_parser()
    args = parser.parse_args(argv)
    try:
        return int(args.func(args))
    except DriftdError as exc:
        print(f"driftd: {exc}", file=sys.stderr)
        return 1


if __name__ == "__main__":  # pragma: no cover
    sys.exit(main())
