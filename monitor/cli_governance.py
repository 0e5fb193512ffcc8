"""Governance commands of the ``driftd`` command line: replay, report, audit verify."""

from __future__ import annotations

import argparse
import sys
from pathlib import Path
from typing import Any

from monitor.errors import ConfigError


def _load(path: str) -> Any:
    from monitor.config_loader import load_config  # noqa: PLC0415

    try:
        return load_config(path)
    except ConfigError as exc:
        print(f"{len(exc.problems)} problem(s):", file=sys.stderr)
        for problem in exc.problems:
            print(f"  {problem}", file=sys.stderr)
        return None


def _source(args: argparse.Namespace, config: Any) -> tuple[Any, str, int | None, Any]:
    """The records to replay, a description, their count if known, and what to close."""
    from monitor.replay import count_rows, records_from_file  # noqa: PLC0415

    if args.input is not None:
        return records_from_file(args.input, config), args.input, count_rows(args.input), None
    from monitor.kafka_io import make_consumer  # noqa: PLC0415
    from monitor.topic_range import parse_position, read_range  # noqa: PLC0415

    topics = args.topic or config.topics.inputs
    consumer = make_consumer(config.kafka, group_id=None, enable_auto_commit=False)
    start, stop = parse_position(args.from_), parse_position(args.to)
    records = read_range(consumer, topics, args.partition, start, stop)
    where = f"{','.join(topics)} [{args.from_ or 'beginning'}, {args.to or 'end'})"
    return records, where, None, consumer


def _replay_once(args: argparse.Namespace, config_path: str, out_dir: Path) -> bool:
    from monitor.replay import replay  # noqa: PLC0415

    config = _load(config_path)
    if config is None:
        return False
    records, where, total, closeable = _source(args, config)
    try:
        summary = replay(config, records, out_dir, where, total, show_progress=sys.stderr.isatty())
    finally:
        if closeable is not None:
            closeable.close()
    outputs = summary["outputs"]
    print(
        f"{config_path}: {summary['records']:,} records from {where} in {summary['seconds']} s -> "
        f"{outputs['alerts']} alerts, {outputs['decisions']} held decisions, "
        f"{outputs['windows']} windows, {outputs['dead_letters']} dead letters ({out_dir})"
    )
    return True


def cmd_replay(args: argparse.Namespace) -> int:
    out = Path(args.out)
    if not _replay_once(args, args.config, out):
        return 1
    if args.compare is None:
        return 0
    from monitor.replay_compare import compare, write_and_print  # noqa: PLC0415

    other = out / "compare"
    if not _replay_once(args, args.compare, other):
        return 1
    write_and_print(compare(out, other), out, args.config, args.compare)
    return 0


def cmd_report(args: argparse.Namespace) -> int:
    from monitor.report import write_report  # noqa: PLC0415

    target = write_report(Path(args.replay_dir), Path(args.out) if args.out else None)
    print(f"{target}: report written")
    return 0


def cmd_audit_verify(args: argparse.Namespace) -> int:
    from monitor.audit_verify import from_file, from_topic, verify  # noqa: PLC0415

    if args.file is not None:
        result = verify(from_file(args.file))
    else:
        config = _load(args.config)
        if config is None:
            return 2
        from monitor.kafka_io import make_consumer  # noqa: PLC0415

        consumer = make_consumer(config.kafka, group_id=None, enable_auto_commit=False)
        try:
            topic = args.topic or config.audit.topic
            stored = from_topic(consumer, topic, args.partition, args.from_, args.to)
            result = verify(stored)
        finally:
            consumer.close()
    print(result.summary())
    return 0 if result.ok else 1


def add_commands(sub: Any) -> None:
    replay = sub.add_parser(
        "replay",
        help="run the pipeline over recorded events (what-if)",
        description="Run the daemon's pipeline over recorded events from a JSONL/Parquet file "
        "or a Kafka topic range, without committing offsets or delivering alerts, and write "
        "the alerts, held decisions, per-window statistics and dead letters it would have "
        "produced to a directory. With --compare, run a second config on the same events "
        "and report alerts gained or lost and decisions that would change.",
    )
    replay.add_argument("-c", "--config", required=True, help="YAML config file")
    source = replay.add_mutually_exclusive_group(required=True)
    source.add_argument("--input", metavar="FILE", help="JSONL (.gz) or Parquet file")
    source.add_argument("--topic", action="append", metavar="T", help="topic to read (repeatable)")
    replay.add_argument("--from", dest="from_", metavar="OFFSET|TIME", help="start (inclusive)")
    replay.add_argument("--to", metavar="OFFSET|TIME", help="end (exclusive)")
    replay.add_argument("--partition", type=int, action="append", help="only this partition")
    replay.add_argument("--out", required=True, metavar="DIR", help="output directory")
    replay.add_argument("--compare", metavar="OTHER_CONFIG", help="second config to compare")
    replay.set_defaults(func=cmd_replay)

    report = sub.add_parser(
        "report",
        help="HTML report of a replay",
        description="Render a replay's output directory as one self-contained HTML page: "
        "reference vs current histograms, drift statistics over time with alert markers, "
        "guardrail hits and fairness metrics.",
    )
    report.add_argument("replay_dir", metavar="DIR", help="output directory of driftd replay")
    report.add_argument("--out", metavar="HTML", help="default: DIR/report.html")
    report.set_defaults(func=cmd_report)

    audit = sub.add_parser("audit", help="audit trail tools")
    audit_sub = audit.add_subparsers(dest="audit_command", required=True, metavar="ACTION")
    verify = audit_sub.add_parser(
        "verify",
        help="check audit hash chains",
        description="Check the hash chains of audit records on the audit topic (or a JSONL "
        "file) and report the first break: a modified, missing or reordered record. "
        "Records re-sent after a crash are recognised and counted, not reported. "
        "Exit 0 when intact, 1 at a break.",
    )
    where = verify.add_mutually_exclusive_group(required=True)
    where.add_argument("-c", "--config", help="YAML config file (broker and audit topic)")
    where.add_argument("--file", metavar="JSONL", help="audit JSONL file")
    verify.add_argument("--topic", help="audit topic (default audit.topic)")
    verify.add_argument("--partition", type=int, action="append", help="only this partition")
    verify.add_argument("--from", dest="from_", type=int, metavar="OFFSET", help="first offset")
    verify.add_argument("--to", type=int, metavar="OFFSET", help="end offset (exclusive)")
    verify.set_defaults(func=cmd_audit_verify)
