"""Every benchmark module imports: `make bench` is not part of `make test`, so a module
moved in streamer/ would otherwise break it unnoticed."""

from __future__ import annotations

import importlib
import pkgutil

import pytest

import bench


@pytest.mark.parametrize("name", sorted(m.name for m in pkgutil.iter_modules(bench.__path__)))
def test_the_benchmark_module_imports(name: str) -> None:
    importlib.import_module(f"bench.{name}")
