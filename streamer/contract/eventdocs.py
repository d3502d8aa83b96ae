"""The README's event reference, generated from the same source as the schemas."""

from __future__ import annotations

import re
from pathlib import Path
from typing import Any

import msgspec.inspect as mi

from streamer.contract.events import EVENT_SPECS

__all__ = ["render_event_table", "update_readme", "START", "END"]

START = "<!-- events:generated:start (make schemas) -->"
END = "<!-- events:generated:end -->"
_COMMON = {"sequence", "inferred", "rule", "fill", "backfill", "late"}


def _type_name(t: mi.Type) -> str:
    if isinstance(t, mi.UnionType):
        return " \\| ".join(_type_name(x) for x in t.types)
    if isinstance(t, mi.NoneType):
        return "null"
    if isinstance(t, mi.StructType):
        return "{" + ", ".join(f"`{f.encode_name}`" for f in t.fields) + "}"
    if isinstance(t, mi.ListType):
        return f"list of {_type_name(t.item_type)}"
    if isinstance(t, mi.DictType):
        return "object"
    if isinstance(t, mi.LiteralType):
        return " \\| ".join(f"`{v}`" for v in t.values)
    return {mi.StrType: "string", mi.IntType: "int", mi.BoolType: "bool"}.get(type(t), type(t).__name__)


def render_event_table() -> str:
    rows = ["| type | topic | data (besides the common fields) | what |", "|---|---|---|---|"]
    for spec in EVENT_SPECS.values():
        info: Any = mi.type_info(spec.payload)
        fields = ", ".join(
            f"`{f.encode_name}` ({_type_name(f.type)})" for f in info.fields if f.encode_name not in _COMMON
        )
        rows.append(f"| `{spec.type}` | `<prefix>.{spec.topic}` | {fields} | {spec.summary} |")
    return "\n".join(rows)


def update_readme(readme: Path) -> bool:
    """Rewrite the generated block; True if the file changed."""
    text = readme.read_text()
    block = f"{START}\n{render_event_table()}\n{END}"
    new = re.sub(re.escape(START) + r".*?" + re.escape(END), lambda _: block, text, flags=re.S)
    if new != text:
        readme.write_text(new)
        return True
    return False
