"""Log lines stay whole when several processes share one stderr (``run --workers N``)."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

CHILD = """
import sys
from streamer.ops.logs import configure_logging
import structlog
configure_logging("info", "json")
log = structlog.get_logger("t")
for i in range(3000):
    log.info("line", worker=sys.argv[1], i=i, padding="x" * 60)
"""


def test_processes_sharing_stderr_never_run_their_lines_together(tmp_path: Path) -> None:
    out = tmp_path / "shared.log"
    with open(out, "ab") as shared:  # as the supervisor's children inherit its stderr
        children = [subprocess.Popen([sys.executable, "-c", CHILD, str(w)], stderr=shared) for w in range(3)]
        assert all(c.wait(60) == 0 for c in children)
    lines = out.read_text().splitlines()
    assert len(lines) == 9000
    assert sorted((e["worker"], e["i"]) for e in map(json.loads, lines)) == sorted(
        (str(w), i) for w in range(3) for i in range(3000))
