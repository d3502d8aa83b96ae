"""The lock is the install: ``pyproject.toml`` and ``uv.lock`` agree, and this environment
holds exactly the locked versions (what ``make install`` promises on any machine)."""

from __future__ import annotations

import tomllib
from importlib import metadata
from pathlib import Path
from typing import Any

from packaging.requirements import Requirement
from packaging.utils import canonicalize_name
from packaging.version import Version

ROOT = Path(__file__).resolve().parents[2]
PYPROJECT = tomllib.loads((ROOT / "pyproject.toml").read_text())
LOCK = tomllib.loads((ROOT / "uv.lock").read_text())
PROJECT = canonicalize_name(PYPROJECT["project"]["name"])

Dep = tuple[str, str, tuple[str, ...], str]


def _dep(name: str, specifier: str, extras: list[str] | tuple[str, ...], marker: str | None) -> Dep:
    spec = ",".join(sorted(s.strip() for s in specifier.split(",") if s.strip()))
    return canonicalize_name(name), spec, tuple(sorted(extras)), (marker or "").replace('"', "'")


def _declared() -> set[Dep]:
    out: set[Dep] = set()
    groups: list[tuple[str | None, list[str]]] = [(None, PYPROJECT["project"]["dependencies"])]
    groups += list(PYPROJECT["project"].get("optional-dependencies", {}).items())
    for extra, lines in groups:
        for line in lines:
            req = Requirement(line)
            marker = f"extra == '{extra}'" if extra else (str(req.marker) if req.marker else None)
            out.add(_dep(req.name, str(req.specifier), tuple(req.extras), marker))
    return out


def _locked_project() -> dict[str, Any]:
    return next(p for p in LOCK["package"] if canonicalize_name(p["name"]) == PROJECT)


def _locked() -> set[Dep]:
    return {
        _dep(r["name"], r.get("specifier", ""), r.get("extras", ()), r.get("marker"))
        for r in _locked_project()["metadata"]["requires-dist"]
    }


def test_pyproject_and_the_lock_declare_the_same_dependencies() -> None:
    declared, locked = _declared(), _locked()
    assert declared == locked, (
        "pyproject.toml and uv.lock disagree; run `make lock` and commit uv.lock.\n"
        f"  only in pyproject.toml: {sorted(declared - locked)}\n  only in uv.lock: {sorted(locked - declared)}"
    )
    assert LOCK["requires-python"] == PYPROJECT["project"]["requires-python"]
    assert set(_locked_project()["metadata"].get("provides-extras", [])) == set(
        PYPROJECT["project"].get("optional-dependencies", {})
    )


def test_every_locked_package_has_hashes() -> None:
    missing = [
        p["name"] for p in LOCK["package"]
        if canonicalize_name(p["name"]) != PROJECT
        and not all("hash" in f for f in [p.get("sdist", {}), *p.get("wheels", [])] if f)
    ]
    assert missing == []


def test_this_environment_is_exactly_the_lock() -> None:
    """Every locked package installed here is at its locked version, and every direct
    dependency is installed: `make install` installed the lock, not the newest release."""
    locked = {canonicalize_name(p["name"]): p["version"] for p in LOCK["package"] if canonicalize_name(p["name"]) != PROJECT}
    wrong, absent = [], []
    for name, version in locked.items():
        try:
            have = metadata.version(name)
        except metadata.PackageNotFoundError:
            absent.append(name)
            continue
        if Version(have) != Version(version):
            wrong.append(f"{name} {have} (locked {version})")
    assert wrong == [], f"installed versions differ from uv.lock: {wrong}; run `make install`"
    direct = {d[0] for d in _declared()} - {PROJECT}
    assert not direct & set(absent), f"direct dependencies not installed: {sorted(direct & set(absent))}"
