"""The ``driftd`` command line."""

from __future__ import annotations

import argparse
import sys
from collections.abc import Callable, Sequence

from monitor import __version__
from monitor.cli_governance import add_commands as add_governance_commands
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
    return Daemon(config, config_path=args.config).run()


def _cmd_notify(args: argparse.Namespace) -> int:
    from monitor import logs
    from monitor.codecs import check_codecs
    from monitor.config_loader import load_config
    from monitor.notify.service import run_notifier

    try:
        config = load_config(args.config)
    except ConfigError as exc:
        print(exc, file=sys.stderr)
        return 2
    check_codecs()
    log_cfg = config.logging
    logs.configure(log_cfg.level, args.log_format or log_cfg.format, log_cfg.log_feature_values)
    return run_notifier(config, port=args.port)


def _cmd_check_config(args: argparse.Namespace) -> int:
    from monitor.codecs import CODECS, missing_codecs
    from monitor.config_loader import load_config

    try:
        config = load_config(args.file)
    except ConfigError as exc:
        print(f"{len(exc.problems)} problem(s):", file=sys.stderr)
        for problem in exc.problems:
            print(f"  {problem}", file=sys.stderr)
        return 1
    # The file is fine, but this installation could not read compressed topics with it.
    missing = missing_codecs()
    if missing:
        print(f"{len(missing)} problem(s):", file=sys.stderr)
        for codec in missing:
            print(
                f"  compression codec {codec.name} is not installed (package {codec.package}): "
                "topics compressed with it cannot be read",
                file=sys.stderr,
            )
        return 1
    features = sum(len(m.features) for m in config.models.values())
    print(
        f"{args.file}: OK ({len(config.models)} model(s), {features} feature(s), "
        f"inputs {', '.join(config.topics.inputs)}; codecs {', '.join(c.name for c in CODECS)})"
    )
    return 0


def _cmd_demo(args: argparse.Namespace) -> int:
    from monitor.demo.runner import run_demo

    return run_demo(duration=args.duration, view=not args.no_view, rate=args.rate)


def _cmd_traffic(args: argparse.Namespace) -> int:
    from monitor import logs
    from monitor.config_loader import load_config
    from monitor.demo.standalone import run_traffic

    try:
        config = load_config(args.config)
    except ConfigError as exc:
        print(exc, file=sys.stderr)
        return 2
    logs.configure(config.logging.level, args.log_format or config.logging.format)
    return run_traffic(
        config,
        rate=args.rate,
        duration=args.duration,
        drift_after=args.drift_after,
        drift_for=args.drift_for,
        compression=None if args.compression == "none" else args.compression,
        out=lambda line: print(line, flush=True),
    )


def _positive(text: str) -> float:
    try:
        value = float(text)
    except ValueError:
        value = 0.0
    if not value > 0:
        raise argparse.ArgumentTypeError(f"{text!r} is not a positive number")
    return value


def _cmd_baseline(args: argparse.Namespace) -> int:
    from monitor.baseline import build_profile_from_file, input_columns
    from monitor.config_loader import load_config
    from monitor.profile import check_profile, save_profile

    model_config = None
    if args.config is not None:
        try:
            config = load_config(args.config)
        except ConfigError as exc:
            print(f"{len(exc.problems)} problem(s):", file=sys.stderr)
            for problem in exc.problems:
                print(f"  {problem}", file=sys.stderr)
            return 1
        model_config = config.models.get(args.model)
        if model_config is None:
            known = ", ".join(config.models)
            print(
                f"driftd: model {args.model!r} is not in {args.config} ({known})", file=sys.stderr
            )
            return 1
    kinds = None if model_config is None else {n: f.type for n, f in model_config.features.items()}
    score_column = None if args.no_score else args.score_column
    # Without --score-column, a column named "score" (that is not a feature) is the score.
    if score_column is None and not args.no_score and "score" not in (kinds or {}):
        score_column = "score" if "score" in input_columns(args.input) else None
    profile = build_profile_from_file(
        args.input,
        args.model,
        args.version,
        kinds=kinds,
        score_column=score_column,
        sample_size=args.sample_size,
        bins=args.bins,
        seed=args.seed,
    )
    if model_config is not None:
        check_profile(profile, args.model, model_config, args.version)
    save_profile(profile, args.out)
    version = f" version {profile.model_version}" if profile.model_version is not None else ""
    print(f"{args.out}: profile of model {profile.model}{version}")
    print(f"  {profile.source.rows:,} rows of {profile.source.path} ({profile.source.format})")
    for kind in ("numeric", "categorical"):
        names = [name for name, feature in profile.features.items() if feature.kind == kind]
        shown = ", ".join(names[:10]) + (f" and {len(names) - 10} more" if len(names) > 10 else "")
        print(f"  {len(names)} {kind} feature(s){': ' if names else ''}{shown}")
    print(f"  score column: {score_column or 'none'}")
    print(f"  content hash: {profile.content_hash}")
    return 0


def _int_at_least(minimum: int) -> Callable[[str], int]:
    def parse(text: str) -> int:
        try:
            value = int(text)
        except ValueError:
            value = minimum - 1
        if value < minimum:
            raise argparse.ArgumentTypeError(f"{text!r} is not an integer >= {minimum}")
        return value

    return parse


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

    notify = sub.add_parser(
        "notify",
        help="run only the alert notifier",
        description="Deliver alerts from the alerts topic to the sinks of alerts.sinks "
        "(PagerDuty, Slack, signed webhooks) as a member of its own consumer group, at least "
        "once: offsets are committed only after every routed sink accepted an alert or it "
        "was dead-lettered. A first SIGTERM/SIGINT stops gracefully, a second at once.",
    )
    notify.add_argument("-c", "--config", required=True, help="YAML config file")
    notify.add_argument(
        "--log-format", choices=["auto", "json", "console"], help="override logging.format"
    )
    notify.add_argument(
        "--port",
        type=_int_at_least(0),
        help="probe server port (default server.port; 0: any free port), so the notifier "
        "can run next to a daemon with the same config",
    )
    notify.set_defaults(func=_cmd_notify)

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
    demo.add_argument("--rate", type=float, default=1000.0, help="events per second to generate")
    demo.add_argument(
        "--no-view", action="store_true", help="print log lines instead of the live view"
    )
    demo.set_defaults(func=_cmd_demo)

    traffic = sub.add_parser(
        "traffic",
        help="send the demo's synthetic traffic to a Kafka cluster",
        description="Send the demo's synthetic credit-risk traffic (split events, labels a "
        "few seconds late, a few malformed messages, a drift that starts and ends) to the "
        "input topics of a config's Kafka cluster, until --duration or SIGTERM/SIGINT. The "
        "topics must exist; the config must declare the model credit-risk.",
    )
    traffic.add_argument("-c", "--config", required=True, help="YAML config file")
    traffic.add_argument("--rate", type=_positive, default=200.0, help="events per second")
    traffic.add_argument("--duration", type=_positive, help="stop after this many seconds")
    traffic.add_argument(
        "--drift-after", type=float, default=300.0, metavar="SECONDS", help="drift start"
    )
    traffic.add_argument(
        "--drift-for", type=float, default=300.0, metavar="SECONDS", help="drift length"
    )
    traffic.add_argument(
        "--compression",
        choices=["none", "gzip", "snappy", "lz4", "zstd"],
        default="none",
        help="compression of the produced batches (the embedded broker needs none)",
    )
    traffic.add_argument(
        "--log-format", choices=["auto", "json", "console"], help="override logging.format"
    )
    traffic.set_defaults(func=_cmd_traffic)

    baseline = sub.add_parser(
        "baseline",
        help="build a reference profile from a data file",
        description="Profile a training or validation data file (CSV, Parquet or JSONL; CSV and "
        "JSONL may be gzipped) into the reference profile the daemon monitors against. With "
        "-c, only the model's configured features (and the score column) are profiled and the "
        "profile is checked against the config; without, column kinds are inferred.",
    )
    baseline.add_argument("--model", required=True, help="model name")
    baseline.add_argument("--input", required=True, metavar="FILE", help="data file")
    baseline.add_argument("--out", required=True, metavar="PROFILE", help="profile to write")
    baseline.add_argument("-c", "--config", help="YAML config that declares the model")
    baseline.add_argument("--version", help="model version the profile belongs to")
    score = baseline.add_mutually_exclusive_group()
    score.add_argument(
        "--score-column",
        metavar="NAME",
        help="column of prediction scores (default: 'score' if the file has it)",
    )
    score.add_argument("--no-score", action="store_true", help="profile no score column")
    baseline.add_argument(
        "--sample-size", type=_int_at_least(1), default=10_000, help="reservoir sample per column"
    )
    baseline.add_argument(
        "--bins", type=_int_at_least(2), default=10, help="PSI quantile bins (>= 2)"
    )
    baseline.add_argument(
        "--seed", type=_int_at_least(0), default=0, help="seed of the reservoir sample"
    )
    baseline.set_defaults(func=_cmd_baseline)
    add_governance_commands(sub)
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
