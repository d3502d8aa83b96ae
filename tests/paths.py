"""Where the tests find the repository's files, wherever a test module sits."""

from pathlib import Path

TESTS = Path(__file__).resolve().parent
ROOT = TESTS.parent
FIXTURES = TESTS / "fixtures"
GOLDEN = TESTS / "golden"
SCHEMAS = ROOT / "schemas"
SEEDS = ROOT.parent / "shared" / "seeds"
"""The vendors' documents, beside the repository (as the team's workspace lays them out)."""
