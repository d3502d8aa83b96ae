"""Is a new ``events.schema.json`` compatible with an old one?

Consumers of the public topics code against the schema; an incompatible change must
come with a new ``SCHEMA_VERSION``. Compared per event type (the ``type`` const of each
CloudEvent envelope in ``oneOf``, so renaming a ``$defs`` entry is not a change), and per
standalone ``$defs`` entry (``AgentCurrent``) by name.

Breaking:
  * an event type (or standalone payload type) removed;
  * a property removed or renamed;
  * a property whose JSON type changed (any change of the set of allowed types,
    including ``string`` -> ``string | null``: a consumer would get a null);
  * a property that became required (old values may lack it);
  * a ``const`` or ``enum`` narrowed (an old value no longer allowed), including a
    free value that became a ``const``/``enum``.

Not breaking: an added optional property, an added event type, a widened enum, a
required property that became optional, descriptions and defaults.

Snapshots of the schema of each released ``SCHEMA_VERSION`` are kept in
``schemas/compat/events.v<N>.schema.json``; the test suite compares the generated schema
with the snapshot of the current version.
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

__all__ = ["breaking_changes", "load", "snapshot_name", "FIX_HINT"]

FIX_HINT = "bump SCHEMA_VERSION in streamer/contract/events.py and run make schemas"

_MAX_DEPTH = 32
_JSON_TYPES = {bool: "boolean", int: "integer", float: "number", str: "string", type(None): "null",
               list: "array", dict: "object"}


def snapshot_name(version: int) -> str:
    """File name of the snapshot of ``version`` under ``schemas/compat/``."""
    return f"events.v{version}.schema.json"


def load(path: str | Path) -> dict[str, Any]:
    doc: dict[str, Any] = json.loads(Path(path).read_text())
    return doc


class _Doc:
    def __init__(self, doc: dict[str, Any]) -> None:
        self.doc = doc
        self.defs: dict[str, Any] = doc.get("$defs", {})

    def resolve(self, node: Any) -> Any:
        seen: set[str] = set()
        while isinstance(node, dict) and "$ref" in node:
            ref = node["$ref"]
            if ref in seen or not ref.startswith("#/"):
                break
            seen.add(ref)
            target: Any = self.doc
            for part in ref[2:].split("/"):
                part = part.replace("~1", "/").replace("~0", "~")
                if not isinstance(target, dict) or part not in target:
                    raise KeyError(f"unresolvable $ref {ref!r}")
                target = target[part]
            node = target
        return node

    def branches(self, node: Any) -> list[Any]:
        """The alternatives of a node, $refs resolved and anyOf/oneOf flattened."""
        node = self.resolve(node)
        if not isinstance(node, dict):
            return [node]
        for key in ("anyOf", "oneOf"):
            if key in node:
                out = []
                for b in node[key]:
                    out += self.branches(b)
                return out
        return [node]

    def envelopes(self) -> dict[str, Any]:
        """Event type -> its envelope schema (from ``oneOf``)."""
        out = {}
        for b in self.branches({"oneOf": self.doc.get("oneOf", [])}):
            const = b.get("properties", {}).get("type", {}).get("const") if isinstance(b, dict) else None
            if isinstance(const, str):
                out[const] = b
        return out

    def referenced_defs(self) -> set[str]:
        """Names of ``$defs`` reachable from ``oneOf``."""
        names: set[str] = set()

        def walk(node: Any) -> None:
            if isinstance(node, dict):
                ref = node.get("$ref")
                if isinstance(ref, str) and ref.startswith("#/$defs/"):
                    name = ref[len("#/$defs/"):]
                    if name not in names:
                        names.add(name)
                        walk(self.defs.get(name))
                for v in node.values():
                    walk(v)
            elif isinstance(node, list):
                for v in node:
                    walk(v)

        walk(self.doc.get("oneOf", []))
        return names


def _types(branch: Any) -> set[str]:
    if not isinstance(branch, dict):
        return {"any"}  # `true` schema
    t = branch.get("type")
    if isinstance(t, str):
        return {t}
    if isinstance(t, list):
        return set(t)
    if "const" in branch:
        return {_JSON_TYPES.get(type(branch["const"]), "any")}
    if "enum" in branch:
        return {_JSON_TYPES.get(type(v), "any") for v in branch["enum"]}
    if "properties" in branch or "additionalProperties" in branch:
        return {"object"}
    if "items" in branch or "prefixItems" in branch:
        return {"array"}
    return {"any"}


def _allowed_values(branches: list[Any]) -> set[str] | None:
    """The finite set of allowed values (JSON-encoded), or None when any value of a type goes."""
    values: set[str] = set()
    for b in branches:
        if not isinstance(b, dict):
            return None
        if "const" in b:
            values.add(json.dumps(b["const"], sort_keys=True))
        elif "enum" in b:
            values.update(json.dumps(v, sort_keys=True) for v in b["enum"])
        elif _types(b) == {"null"}:
            values.add("null")
        else:
            return None
    return values


class _Comparer:
    def __init__(self, old: dict[str, Any], new: dict[str, Any]) -> None:
        self.old, self.new = _Doc(old), _Doc(new)
        self.out: list[str] = []
        self._seen: set[tuple[int, int, str, str]] = set()

    def _say(self, root: str, path: str, what: str) -> None:
        self.out.append(f"{root}: {path}: {what}" if path else f"{root}: {what}")

    def compare(self, o: Any, n: Any, root: str, path: str = "") -> None:
        key = (id(self.old.resolve(o)), id(self.new.resolve(n)), root, path)
        if key in self._seen or path.count(".") + path.count("[]") > _MAX_DEPTH:  # recursive schemas
            return
        self._seen.add(key)
        ob, nb = self.old.branches(o), self.new.branches(n)
        ot: set[str] = set().union(*(_types(b) for b in ob))
        nt: set[str] = set().union(*(_types(b) for b in nb))
        if ot != nt:
            self._say(root, path, f"type changed from {_fmt(ot)} to {_fmt(nt)}")
            return
        ov, nv = _allowed_values(ob), _allowed_values(nb)
        if nv is not None and (ov is None or ov - nv):
            lost = "other values" if ov is None else ", ".join(sorted(ov - nv))
            self._say(root, path, f"allowed values narrowed ({lost} no longer allowed)")
        objs = [b for b in ob if isinstance(b, dict) and "object" in _types(b)]
        nobjs = [b for b in nb if isinstance(b, dict) and "object" in _types(b)]
        if objs and nobjs:
            self._objects(objs[0], nobjs[0], root, path)
        arrs = [b for b in ob if isinstance(b, dict) and "array" in _types(b)]
        narrs = [b for b in nb if isinstance(b, dict) and "array" in _types(b)]
        if arrs and narrs:
            self.compare(arrs[0].get("items", True), narrs[0].get("items", True), root, f"{path}[]")

    def _objects(self, o: dict[str, Any], n: dict[str, Any], root: str, path: str) -> None:
        op, np_ = o.get("properties", {}), n.get("properties", {})
        oreq, nreq = set(o.get("required", [])), set(n.get("required", []))
        prefix = f"{path}." if path else ""
        for name in op:
            if name not in np_:
                self._say(root, prefix + name, "property removed or renamed")
        for name in sorted(nreq - oreq):
            if name in op:
                self._say(root, prefix + name, "property became required")
            else:
                self._say(root, prefix + name, "required property added (old values lack it)")
        for name, sub in op.items():
            if name in np_:
                self.compare(sub, np_[name], root, prefix + name)
        oa, na = o.get("additionalProperties", True), n.get("additionalProperties", True)
        if oa is not False and na is False:
            self._say(root, prefix + "*", "additional properties no longer allowed")
        elif oa is not False:
            self.compare(oa, na, root, prefix + "*")


def _fmt(types: set[str]) -> str:
    return " | ".join(sorted(types))


def breaking_changes(old: dict[str, Any], new: dict[str, Any]) -> list[str]:
    """Human-readable breaking changes from ``old`` to ``new`` (two events.schema.json
    documents) by the rules in the module docstring; empty when compatible."""
    c = _Comparer(old, new)
    old_env, new_env = c.old.envelopes(), c.new.envelopes()
    for type_, env in old_env.items():
        if type_ not in new_env:
            c.out.append(f"{type_}: event type removed")
        else:
            c.compare(env, new_env[type_], type_)
    # standalone payload types, such as AgentCurrent (the value of <prefix>.agent.current)
    old_used, new_used = c.old.referenced_defs(), c.new.referenced_defs()
    for name, schema in c.old.defs.items():
        if name in old_used:
            continue
        if name not in c.new.defs or name in new_used:
            c.out.append(f"{name}: payload type removed")
        else:
            c.compare(schema, c.new.defs[name], name)
    return c.out
