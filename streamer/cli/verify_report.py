"""How ``streamer verify`` shows its :class:`~streamer.cli.verify.Report`: a table per event
type, the first missing events with their facts, the command that would publish them,
and the coverage per endpoint; or one JSON object."""

from __future__ import annotations

import shlex

import msgspec

from streamer.cli.verify import Report

__all__ = ["render_text", "render_json", "backfill_command"]

_COLUMNS = ("expected", "found", "missing", "duplicates", "unexpected")


def backfill_command(report: Report, config: str) -> str | None:
    """The ``streamer backfill`` that would publish every missing event, or None."""
    if not report.missing or report.missing_from is None or report.missing_to is None:
        return None
    words = ["streamer", "backfill", "--config", config, "--source", report.source,
             "--from", report.missing_from, "--to", report.missing_to]
    for ep in report.missing_endpoints:
        words += ["--endpoint", ep]
    return shlex.join(words)


def render_json(report: Report) -> bytes:
    """The report as one JSON object (``--json``)."""
    return msgspec.json.encode(report)


def render_text(report: Report, config: str) -> str:
    """The report for a person: counts per type, missing events, coverage, the verdict."""
    lines = [f"verify {report.source} {report.from_} .. {report.to}", ""]
    width = max([len("event type"), *(len(t) for t in report.by_type)])
    lines.append(f"{'event type':<{width}}  " + "  ".join(f"{c:>10}" for c in _COLUMNS))
    for t, c in report.by_type.items():
        if c.verifiable:
            cells = "  ".join(f"{getattr(c, k):>10}" for k in _COLUMNS)
        else:
            cells = "  ".join(f"{(getattr(c, k) if k in ('found', 'duplicates') else '-'):>10}" for k in _COLUMNS)
            cells += f"  not verifiable: {c.note}"
        lines.append(f"{t:<{width}}  {cells}")
    lines.append(f"{'total':<{width}}  " + "  ".join(f"{getattr(report, k):>10}" for k in _COLUMNS))
    if report.missing_events:
        lines += ["", f"missing (first {len(report.missing_events)} of {report.missing}):"]
        lines += [f"  {m.id}  {m.time}  {m.type}  {m.entity_id}  {m.transition}  ({m.endpoint})"
                  for m in report.missing_events]
        command = backfill_command(report, config)
        if command:
            lines += ["", "to publish them:", f"  {command}"]
    lines += ["", "coverage (cc.source.watermark, holes explained by cc.source.gap):"]
    for cov in report.coverage:
        kind = "history" if cov.history else "snapshot"
        lines.append(f"  {cov.endpoint} ({kind}): {cov.status}; complete up to {cov.complete_up_to or 'never'}")
        for h in cov.holes:
            lines.append(f"    hole {h.from_} .. {h.to}{' (in a gap)' if h.explained else ''}")
    lines += ["", "OK: nothing missing, nothing duplicated" if report.ok else
              f"FAILED: {report.missing} missing, {report.duplicates} duplicated"]
    return "\n".join(lines) + "\n"
