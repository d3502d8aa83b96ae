"""`make bench`: run the benchmarks, write bench/results.json and print a table.

``python -m bench`` runs all of them; ``python -m bench poll_cost publish`` runs some and
merges their figures into the existing results. Every figure is a ratio against a
baseline measured in the same run, or a distribution, so it holds on a noisy machine.
"""

from __future__ import annotations

import argparse
import importlib
import json
import os
import platform
import subprocess
import time
from pathlib import Path
from typing import Any

OUT = Path(__file__).with_name("results.json")
BENCHES = ("poll_cost", "http_get", "publish", "latency", "replay", "memory", "restart", "restore", "catchup", "scaleout",
           "isolation")


def _commit() -> str:
    try:
        return subprocess.run(["git", "rev-parse", "--short", "HEAD"], capture_output=True, text=True,
                              cwd=Path(__file__).parent, check=True).stdout.strip()
    except (OSError, subprocess.CalledProcessError):
        return "unknown"


def table(results: dict[str, Any]) -> str:
    rows = [("benchmark", "figure", "value", "target", "met")]
    for name in BENCHES:
        for f in results.get(name, {}).get("figures", []):
            value = f["value"]
            shown = f"{value:,.0f}" if abs(value) >= 100 else f"{value:,.3g}"
            met = {True: "yes", False: "NO", None: ""}[f.get("met")]
            rows.append((name, f["name"], f"{shown} {f['unit']}", f.get("target") or "", met))
    widths = [max(len(r[i]) for r in rows) for i in range(5)]
    lines = ["  ".join(c.ljust(w) for c, w in zip(r, widths)).rstrip() for r in rows]
    lines.insert(1, "  ".join("-" * w for w in widths))
    return "\n".join(lines)


def main() -> None:
    parser = argparse.ArgumentParser(prog="python -m bench", description=__doc__)
    parser.add_argument("names", nargs="*", metavar="NAME", help=f"benchmarks to run: {', '.join(BENCHES)} (default: all)")
    args = parser.parse_args()
    unknown = sorted(set(args.names) - set(BENCHES))
    if unknown:
        parser.error(f"unknown benchmark {', '.join(unknown)}; choose from {', '.join(BENCHES)}")
    names = args.names or list(BENCHES)
    results: dict[str, Any] = json.loads(OUT.read_text()) if args.names and OUT.exists() else {}
    results["meta"] = {
        "machine": platform.machine(), "cpus": os.cpu_count(), "python": platform.python_version(),
        "commit": _commit(), "date": time.strftime("%Y-%m-%dT%H:%M:%S%z"), "command": "make bench",
    }
    for name in names:
        started = time.monotonic()
        print(f"== {name}", flush=True)
        module = importlib.import_module(f"bench.{name}")
        results[name] = module.run()
        results[name]["seconds"] = round(time.monotonic() - started, 1)
        OUT.write_text(json.dumps(results, indent=2) + "\n")
    print()
    print(table(results))
    print(f"\nwrote {OUT}")
    for name in names:
        profile = results[name].get("profile") if isinstance(results[name], dict) else None
        if profile:
            print(f"{name} profile: {profile}")


if __name__ == "__main__":
    main()
