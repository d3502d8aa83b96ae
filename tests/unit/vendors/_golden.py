"""Golden files: compare produced events with ``tests/golden/<vendor>/<name>.events.json``.

``UPDATE_GOLDEN=1 pytest tests/unit/vendors/vonage/test_golden.py`` rewrites them; review the diff
before committing.
"""

from __future__ import annotations

import json
import os
from typing import Any

import pytest

from tests import paths

GOLDEN = paths.GOLDEN


def render(events: list[dict[str, Any]]) -> str:
    """Stable text: events in emission order, keys sorted, two-space indent."""
    return json.dumps(events, indent=2, sort_keys=True, ensure_ascii=False) + "\n"


def check_golden(relpath: str, events: list[dict[str, Any]]) -> None:
    path = GOLDEN / relpath
    text = render(events)
    if os.environ.get("UPDATE_GOLDEN") == "1":
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text(text)
        return
    if not path.exists():
        pytest.fail(f"golden file {path} is missing; run the test again with UPDATE_GOLDEN=1 and read what it wrote")
    expected = path.read_text()
    if text != expected:
        assert json.loads(text) == json.loads(expected), f"events differ from {path} (UPDATE_GOLDEN=1 to regenerate)"
        pytest.fail(f"{path}: same events, different formatting (UPDATE_GOLDEN=1 to regenerate)")
