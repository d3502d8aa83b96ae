"""Adding a vendor is adding its folder: ``echo`` (tests/contract/extra_vendor) is named in
no list. Its folder is put on ``streamer.vendors.__path__`` (where the registry looks) and
its simulator's on ``streamer.simulator.__path__``; then a config naming it parses and it
passes the contract suite every vendor passes (the tests of test_vendors.py, imported)."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest

import streamer.simulator
import streamer.vendors
from streamer.config.load import parse_config
from streamer.errors import ConfigError
from streamer.simulator.app import SimulatorThread
from streamer.vendors import registry
from tests.contract.extra_vendor.facade import FACADE
from tests.contract.facades import Facade, register
from tests.contract.test_vendors import sim as _sim_of_every_vendor
from tests.contract.test_vendors import (  # noqa: F401 - collected here, with this module's fixtures
    # echo neither pages nor uses tokens: the paging and token tests are for vendors that do;
    # nor has it a vendor's documentation: no documented example for the golden test to serve
    test_a_restart_reads_back_and_publishes_nothing_twice,
    test_an_unreadable_response_is_a_dead_letter_and_the_source_goes_on,
    test_publishes_its_event_types_each_once,
)

HERE = Path(__file__).resolve().parent / "extra_vendor"
ECHO = {"sources": [{"id": "e1", "vendor": "echo", "base_url": "http://echo", "auth": {"type": "bearer", "token": "t"}}]}


@pytest.fixture
def vendor(monkeypatch: pytest.MonkeyPatch) -> Iterator[Facade]:
    """Echo's folders on the packages' paths: nothing else tells the build about it."""
    monkeypatch.setattr(streamer.vendors, "__path__", [*streamer.vendors.__path__, str(HERE / "vendors")])
    monkeypatch.setattr(streamer.simulator, "__path__", [*streamer.simulator.__path__, str(HERE / "simulator")])
    registry.reset()
    register(FACADE)
    yield FACADE
    registry.reset()


@pytest.fixture
def sim(vendor: Facade) -> Iterator[SimulatorThread]:
    """The simulator of every vendor, built once echo's folder is on the path (so it has echo)."""
    yield from _sim_of_every_vendor.__wrapped__()  # type: ignore[attr-defined]


def test_without_its_folder_a_config_naming_it_is_refused() -> None:
    registry.reset()
    assert "echo" not in registry.names()
    with pytest.raises(ConfigError, match="'echo' is not a vendor of this build"):
        parse_config(ECHO, env={})


def test_with_its_folder_a_config_naming_it_parses(vendor: Facade) -> None:
    assert "echo" in registry.names()
    cfg = parse_config({"sources": [{**ECHO["sources"][0], "endpoints": {"agents": {"poll_interval": "2s"}}}]}, env={})
    assert cfg.sources[0].vendor == "echo"
    spec = registry.get("echo")
    assert spec is not None and spec.endpoints == ("agents",)
    with pytest.raises(ConfigError, match="unknown endpoint for echo"):
        parse_config({"sources": [{**ECHO["sources"][0], "endpoints": {"nope": {}}}]}, env={})
