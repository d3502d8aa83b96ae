"""What the vendor contract suite (tests/contract/test_vendors.py) needs to know of each
vendor: one :class:`Facade` per vendor, in ``facades/<vendor>.py`` as ``FACADE`` (or, for a
vendor outside ``streamer/vendors``, beside it, registered with :func:`register`)."""

from __future__ import annotations

import importlib
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

from streamer.simulator.faults import Faults
from tests import paths

__all__ = ["Facade", "Verbatim", "facade", "fixture", "register"]


@dataclass(frozen=True)
class Verbatim:
    """A vendor's documented responses, served byte for byte by a plain HTTP stub, and the
    events one poll of each of its endpoints must make of them (the contract suite's
    golden test).

    ``name``: the golden file, ``tests/golden/<vendor>/contract_<name>.events.json``.
    ``at``: the instant of the polls (the runner's clock, and the stub's ``Date``), near
    the example's own times. ``polls``: endpoints polled once each, in this order, by
    one runner. ``bodies``: request path (query left out) -> the response body.
    ``config``: source keys over the facade's ``source()``. ``later_pages``: the body of
    a request whose ``offset`` is past 0 (a vendor that pages until an empty page).
    """

    name: str
    at: str
    polls: tuple[str, ...]
    bodies: dict[str, bytes]
    config: dict[str, Any] = field(default_factory=dict)
    later_pages: bytes | None = None


def fixture(relpath: str, wrap: bytes = b"%s") -> bytes:
    """``tests/fixtures/<relpath>`` exactly as stored, put inside ``wrap`` only where the
    doc prints an example without what a server sends around it (Sinch's lists lack
    their brackets; Vonage's interaction is one item of a page)."""
    return wrap % (paths.FIXTURES / relpath).read_bytes()


@dataclass(frozen=True)
class Facade:
    """How to run one vendor against the simulator.

    ``source(base_url)``: the source's config (a YAML tree) for the simulator at
    ``base_url``; ``env``: the variables its ``${...}`` need. ``produces``: event types a
    few minutes of the simulated world must yield. ``small_pages``: config keys that make
    its reads take several pages (None: it does not page). ``bad_record(faults)``: make the
    simulator serve one unreadable response or record. ``expiring_tokens(base_url)``:
    config keys that make it use tokens from the simulator's token endpoint (None: no
    tokens), and ``token_path``, that endpoint's path. ``verbatim``: the vendor's
    documented examples and the golden events they must give (see :class:`Verbatim`).
    """

    name: str
    source: Callable[[str], dict[str, Any]]
    produces: frozenset[str]
    env: dict[str, str] = field(default_factory=dict)
    small_pages: dict[str, Any] | None = None
    bad_record: Callable[[Faults], None] = lambda faults: faults.update(html_200=1)
    expiring_tokens: Callable[[str], dict[str, Any]] | None = None
    token_path: str | None = None
    verbatim: tuple[Verbatim, ...] = ()


_extra: dict[str, Facade] = {}


def register(f: Facade) -> None:
    """Make a facade known for a vendor this package does not hold (a test's own vendor)."""
    _extra[f.name] = f


def facade(vendor: str) -> Facade:
    """The facade of ``vendor``: registered, else ``facades/<vendor>.py``'s ``FACADE``."""
    if vendor in _extra:
        return _extra[vendor]
    return importlib.import_module(f"{__name__}.{vendor}").FACADE  # type: ignore[no-any-return]
