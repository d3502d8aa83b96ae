"""``streamer`` command line: run | status | check-config | simulate | tail | backfill | verify | schemas."""

from __future__ import annotations

import argparse
import sys
from collections.abc import Sequence

from streamer import __version__

__all__ = ["main"]


def _cmd_run(args: argparse.Namespace) -> int:
    import anyio
    import msgspec

    from streamer.cluster.workers import Supervisor, exit_with_parent, worker_port
    from streamer.config.load import load_config
    from streamer.engine.daemon import Daemon
    from streamer.errors import ConfigError
    from streamer.ops.gcpolicy import tune_collector
    from streamer.ops.logs import configure_logging

    try:
        cfg = load_config(args.config)
    except ConfigError as e:
        print(f"config error: {e}", file=sys.stderr)
        return 2
    configure_logging(cfg.log_level, cfg.log_format)
    if args.workers < 1:
        print("run: --workers must be at least 1", file=sys.stderr)
        return 2
    if args.workers > 1:
        return Supervisor(args.config, args.workers).run()
    if args.worker_index is not None:
        exit_with_parent()
        metrics = msgspec.structs.replace(cfg.metrics, port=worker_port(cfg.metrics.port, args.worker_index))
        cfg = msgspec.structs.replace(cfg, metrics=metrics)
    daemon = Daemon(cfg)
    tune_collector()
    anyio.run(daemon.run)
    return 1 if daemon.refused else 0


def _cmd_status(args: argparse.Namespace) -> int:
    import anyio

    from streamer.cluster.status import group_status, render_status
    from streamer.config.load import load_config
    from streamer.errors import ConfigError, StreamerError

    try:
        cfg = load_config(args.config)
        status = anyio.run(group_status, cfg)
    except ConfigError as e:
        print(f"config error: {e}", file=sys.stderr)
        return 2
    except StreamerError as e:
        print(f"status: {e}", file=sys.stderr)
        return 2
    print(render_status(status, as_json=args.json))
    return 0 if not status.unowned else 1


def _cmd_check(args: argparse.Namespace) -> int:
    from streamer.config.load import load_config
    from streamer.errors import ConfigError

    try:
        cfg = load_config(args.config)
    except ConfigError as e:
        print(f"config error: {e}", file=sys.stderr)
        return 2
    print(f"{args.config}: OK ({len(cfg.sources)} sources: {', '.join(f'{s.id} ({s.vendor})' for s in cfg.sources)})")
    if not args.connect:
        return 0
    import anyio

    from streamer.cli.check_connect import check_connectivity
    from streamer.ops.logs import configure_logging

    configure_logging("error", "console")
    lines: list[str] = []
    ok = anyio.run(check_connectivity, cfg, lines)
    for line in lines:
        print(line)
    return 0 if ok else 1


def _cmd_simulate(args: argparse.Namespace) -> int:
    from streamer.simulator.app import serve

    serve(port=args.port, seed=args.seed, agents=args.agents, host=args.host, history=args.history)
    return 0


def _cmd_tail(args: argparse.Namespace) -> int:
    import anyio

    from streamer.cli.tail import tail
    from streamer.errors import ConfigError, StreamerError

    try:
        anyio.run(tail, args)
    except KeyboardInterrupt:  # pragma: no cover - interactive
        pass
    except ConfigError as e:
        print(f"config error: {e}", file=sys.stderr)
        return 2
    except StreamerError as e:
        print(f"tail: {e}", file=sys.stderr)
        return 1
    return 0


def _cmd_backfill(args: argparse.Namespace) -> int:
    import anyio

    from streamer.cli.backfill import backfill, parse_when
    from streamer.config.load import load_config
    from streamer.errors import ConfigError
    from streamer.ops.logs import configure_logging

    try:
        cfg = load_config(args.config)
        start, end = parse_when(args.from_), parse_when(args.to)
        configure_logging("warning", cfg.log_format)
        anyio.run(lambda: backfill(cfg, args.source, start, end, endpoints=args.endpoint or None))
    except ConfigError as e:
        print(f"backfill: {e}", file=sys.stderr)
        return 2
    return 0


def _cmd_verify(args: argparse.Namespace) -> int:
    import anyio

    from streamer.cli.backfill import parse_when
    from streamer.cli.verify import verify
    from streamer.cli.verify_report import render_json, render_text
    from streamer.config.load import load_config
    from streamer.errors import StreamerError
    from streamer.ops.logs import configure_logging

    try:
        cfg = load_config(args.config)
        start, end = parse_when(args.from_), parse_when(args.to)
        configure_logging("warning", cfg.log_format)
        progress = sys.stderr if sys.stderr.isatty() else None
        report = anyio.run(lambda: verify(cfg, args.source, start, end, endpoints=args.endpoint or None,
                                          progress=progress))
    except StreamerError as e:  # a bad argument or key, or the vendor or broker unreachable
        print(f"verify: {e}", file=sys.stderr)
        return 2
    if args.json:
        sys.stdout.write(render_json(report).decode() + "\n")
    else:
        sys.stdout.write(render_text(report, args.config))
    return 0 if report.ok else 1


def _cmd_schemas(args: argparse.Namespace) -> int:
    from streamer.contract.files import render_all, write_all

    if args.readme:
        from pathlib import Path

        from streamer.contract.eventdocs import update_readme

        if update_readme(Path(args.readme)):
            print(f"updated the event reference in {args.readme}")
    if args.write:
        for p in write_all(args.write):
            print(f"wrote {p}")
    elif args.readme:
        return 0
    else:
        for name, content in render_all().items():
            sys.stdout.write(f"--- {name}\n{content.decode()}")
    return 0


def build_parser() -> argparse.ArgumentParser:
    p = argparse.ArgumentParser(prog="streamer", description="Contact-center change events on Kafka.")
    p.add_argument("--version", action="version", version=f"streamer {__version__}")
    common = argparse.ArgumentParser(add_help=False)
    common.add_argument("--version", action="version", version=f"streamer {__version__}")
    sub = p.add_subparsers(dest="command", required=True)

    r = sub.add_parser("run", parents=[common], help="run the daemon")
    r.add_argument("--config", default="config.yaml")
    r.add_argument("--workers", type=int, default=1,
                   help="run N daemon processes that share the sources through the group (metrics on port + i)")
    r.add_argument("--worker-index", type=int, help=argparse.SUPPRESS)  # set by the --workers supervisor
    r.set_defaults(func=_cmd_run)

    st = sub.add_parser("status", parents=[common], help="the group's members and the sources each one owns")
    st.add_argument("--config", default="config.yaml")
    st.add_argument("--json", action="store_true", help="one JSON object")
    st.set_defaults(func=_cmd_status)

    c = sub.add_parser("check-config", parents=[common], help="validate a config file (env vars resolved)")
    c.add_argument("--config", default="config.yaml")
    c.add_argument("--connect", action="store_true", help="also reach the broker and poll every endpoint once")
    c.set_defaults(func=_cmd_check)

    s = sub.add_parser("simulate", parents=[common], help="serve the simulated vendors over HTTP")
    s.add_argument("--port", type=int, default=8700)
    s.add_argument("--host", default="127.0.0.1")
    s.add_argument("--seed", type=int, default=1)
    s.add_argument("--agents", type=int, default=20)
    s.add_argument("--history", type=float, default=0.0, help="seconds of simulated past before now (for backfill)")
    s.set_defaults(func=_cmd_simulate)

    t = sub.add_parser("tail", parents=[common], help="a live, readable view of the event topics")
    t.add_argument("--bootstrap", default="127.0.0.1:9092")
    t.add_argument("--config", help="take the broker, prefix and security settings from this config file")
    t.add_argument("--prefix", default="cc")
    t.add_argument("--type", action="append", default=[], help="only these event types (prefix match)")
    t.add_argument("--source", action="append", default=[], help="only these source ids")
    t.add_argument("--entity", action="append", default=[], help="only these entity ids (subject)")
    t.add_argument("--json", action="store_true", help="print the raw CloudEvents JSON")
    t.add_argument("--from-beginning", action="store_true")
    t.add_argument("--max", type=int, default=0, help="stop after this many events (0: never)")
    t.set_defaults(func=_cmd_tail)

    b = sub.add_parser("backfill", parents=[common], help="publish a past range from a source's history endpoints (resumable)")
    b.add_argument("--config", default="config.yaml")
    b.add_argument("--source", required=True, help="the source id")
    b.add_argument("--from", dest="from_", required=True, help="start, e.g. 2026-11-21T08:00:00Z")
    b.add_argument("--to", required=True, help="end (exclusive)")
    b.add_argument("--endpoint", action="append", default=[], help="only these history endpoints")
    b.set_defaults(func=_cmd_backfill)

    v = sub.add_parser("verify", parents=[common],
                       help="check that a past range of a source is on Kafka, each event once (reads only)")
    v.add_argument("--config", default="config.yaml")
    v.add_argument("--source", required=True, help="the source id")
    v.add_argument("--from", dest="from_", metavar="T", required=True, help="start, e.g. 2026-11-21T08:00:00Z")
    v.add_argument("--to", metavar="T", required=True, help="end (exclusive)")
    v.add_argument("--endpoint", metavar="E", action="append", default=[], help="only these endpoints")
    v.add_argument("--json", action="store_true", help="print one JSON object")
    v.set_defaults(func=_cmd_verify)

    sc = sub.add_parser("schemas", parents=[common], help="print or write the JSON schemas")
    sc.add_argument("--write", metavar="DIR", help="write into DIR instead of printing")
    sc.add_argument("--readme", metavar="FILE", help="also regenerate the event reference in this README")
    sc.set_defaults(func=_cmd_schemas)
    return p


def main(argv: Sequence[str] | None = None) -> int:
    args = build_parser().parse_args(argv)
    return int(args.func(args))


if __name__ == "__main__":  # pragma: no cover
    sys.exit(main())
