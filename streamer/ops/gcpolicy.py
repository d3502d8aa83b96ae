"""The daemon's settings for CPython's cycle collector.

Reference counting frees almost everything the daemon makes (a poll's rows, drafts and
records); the cycle collector only finds reference cycles, and the daemon makes few (a
few hundred objects a second at the default load). With CPython's defaults the
collector still took 39 % of the daemon's CPU at that load (`make bench` stress, timed
with the collector's own callbacks): every 700 new container objects it scanned the
young ones, and about once a second the whole heap, 0.28 s of CPU each time with the
records waiting for Kafka in it. With the two measures below it takes 5 %.

- Data-only msgspec Structs made by the thousand (vendor records, drafts, events,
  records, ledger entries) are declared ``gc=False``: they hold plain data, never a
  cycle, so the collector need not track them (``tests/unit/ops/test_gcpolicy.py``).
- :func:`tune_collector`, called once by ``streamer run`` after start-up: what the
  imports and the config built lives as long as the process and is frozen out of every
  scan, and the young generation is collected every :data:`YOUNG_THRESHOLD` objects.
"""

from __future__ import annotations

import gc

__all__ = ["YOUNG_THRESHOLD", "OLDER_THRESHOLDS", "tune_collector"]

YOUNG_THRESHOLD = 10_000
"""New container objects between two young collections (CPython's default: 700). Not
higher: garbage in cycles waits this long, and a traceback in one may hold a response body."""
OLDER_THRESHOLDS = (20, 10)
"""Young collections per middle one, middle ones per full one (defaults: 10, 10)."""


def tune_collector() -> None:
    """Freeze what start-up built out of the collector's scans and collect less often.

    The full scans this saves were most of the collector's cost; the cyclic garbage it
    lets wait is a few hundred objects (measured at the default load)."""
    gc.collect()
    gc.freeze()
    gc.set_threshold(YOUNG_THRESHOLD, *OLDER_THRESHOLDS)
