"""The events schema's compatibility rules, and the real check: the generated schema
against the snapshot of the same SCHEMA_VERSION (a breaking change fails `make test`
until SCHEMA_VERSION is bumped and `make schemas` writes the new snapshot)."""

from __future__ import annotations

import copy
import json
from pathlib import Path
from typing import Any

import pytest

from streamer.contract.compat import FIX_HINT, breaking_changes, snapshot_name
from streamer.contract.events import SCHEMA_VERSION
from streamer.contract.files import write_all
from streamer.contract.schemas import COMPAT_DIR, events_schema
from tests import paths

SCHEMAS = paths.SCHEMAS


def _schema() -> dict[str, Any]:
    """A miniature events.schema.json with the generator's shapes: envelopes in oneOf,
    payloads and nested types in $defs, nullable refs, an enum, a map, a list and a
    standalone payload type."""
    return {
        "oneOf": [{"$ref": "#/$defs/CloudEvent_Moved_"}, {"$ref": "#/$defs/CloudEvent_Ping_"}],
        "$defs": {
            "CloudEvent_Moved_": {
                "type": "object",
                "properties": {"id": {"type": "string"}, "type": {"const": "cc.thing.moved"},
                               "data": {"$ref": "#/$defs/Moved"}},
                "required": ["id", "type", "data"],
            },
            "Moved": {
                "type": "object",
                "properties": {
                    "thing_id": {"type": "string"},
                    "previous": {"anyOf": [{"$ref": "#/$defs/Place"}, {"type": "null"}]},
                    "current": {"$ref": "#/$defs/Place"},
                    "kind": {"enum": ["blind", "consult"]},
                    "note": {"anyOf": [{"type": "string"}, {"type": "null"}], "default": None},
                    "tags": {"type": "array", "items": {"type": "string"}},
                    "changes": {"type": "object", "additionalProperties": {"type": "array"}},
                },
                "required": ["thing_id", "previous", "current", "kind"],
            },
            "Place": {
                "type": "object",
                "properties": {"name": {"type": "string"}, "floor": {"type": "integer", "default": 0}},
                "required": ["name"],
            },
            "CloudEvent_Ping_": {
                "type": "object",
                "properties": {"id": {"type": "string"}, "type": {"const": "cc.thing.ping"},
                               "data": {"$ref": "#/$defs/Ping"}},
                "required": ["id", "type", "data"],
            },
            "Ping": {"type": "object", "properties": {"at": {"type": "string"}}, "required": ["at"]},
            "Current": {"type": "object", "properties": {"thing_id": {"type": "string"}}, "required": ["thing_id"]},
        },
    }


def _edit(**paths: Any) -> dict[str, Any]:
    """A copy of the mini schema with ``$defs`` entries replaced (``Moved__note=...``
    sets a property, ``Moved__note=None`` deletes it)."""
    s = copy.deepcopy(_schema())
    for path, value in paths.items():
        name, _, prop = path.partition("__")
        target = s["$defs"][name]["properties"] if prop else s["$defs"]
        key = prop or name
        if value is None:
            del target[key]
        else:
            target[key] = value
    return s


def test_identical_schemas_are_compatible() -> None:
    assert breaking_changes(_schema(), _schema()) == []


def test_removed_event_type_breaks_added_does_not() -> None:
    fewer = _schema()
    fewer["oneOf"] = fewer["oneOf"][:1]
    del fewer["$defs"]["CloudEvent_Ping_"], fewer["$defs"]["Ping"]
    assert breaking_changes(_schema(), fewer) == ["cc.thing.ping: event type removed"]
    assert breaking_changes(fewer, _schema()) == []


def test_removed_standalone_payload_type_breaks_added_does_not() -> None:
    fewer = _edit(Current=None)
    assert breaking_changes(_schema(), fewer) == ["Current: payload type removed"]
    assert breaking_changes(fewer, _schema()) == []


def test_renaming_a_defs_entry_is_not_a_change() -> None:
    s = _schema()
    text = json.dumps(s).replace('"#/$defs/Place"', '"#/$defs/Location"')
    renamed = json.loads(text)
    renamed["$defs"]["Location"] = renamed["$defs"].pop("Place")
    assert breaking_changes(s, renamed) == []


def test_removed_property_breaks_added_optional_does_not() -> None:
    without = _edit(Moved__note=None)
    assert breaking_changes(_schema(), without) == ["cc.thing.moved: data.note: property removed or renamed"]
    assert breaking_changes(without, _schema()) == []


def test_renamed_property_breaks_both_ways() -> None:
    s = _schema()
    renamed = copy.deepcopy(s)
    renamed["$defs"]["Place"]["properties"]["label"] = renamed["$defs"]["Place"]["properties"].pop("name")
    renamed["$defs"]["Place"]["required"] = ["label"]
    changes = breaking_changes(s, renamed)
    assert "cc.thing.moved: data.current.name: property removed or renamed" in changes
    assert "cc.thing.moved: data.previous.name: property removed or renamed" in changes
    assert "cc.thing.moved: data.current.label: required property added (old values lack it)" in changes
    assert "cc.thing.moved: data.current.label: property removed or renamed" in breaking_changes(renamed, s)


def test_nested_and_envelope_properties_are_checked() -> None:
    s = _schema()
    s2 = copy.deepcopy(s)
    del s2["$defs"]["Place"]["properties"]["floor"]
    del s2["$defs"]["CloudEvent_Ping_"]["properties"]["id"]
    s2["$defs"]["CloudEvent_Ping_"]["required"].remove("id")
    assert breaking_changes(s, s2) == [
        "cc.thing.moved: data.previous.floor: property removed or renamed",
        "cc.thing.moved: data.current.floor: property removed or renamed",
        "cc.thing.ping: id: property removed or renamed",
    ]


@pytest.mark.parametrize(
    ("old", "new", "message"),
    [
        ({"type": "string"}, {"type": "integer"}, "type changed from string to integer"),
        ({"type": "integer"}, {"type": "number"}, "type changed from integer to number"),
        ({"type": "string"}, {"anyOf": [{"type": "string"}, {"type": "null"}]}, "type changed from string to null | string"),
        ({"anyOf": [{"type": "string"}, {"type": "null"}]}, {"type": "string"}, "type changed from null | string to string"),
        ({"type": "string"}, {"type": "array", "items": {"type": "string"}}, "type changed from string to array"),
    ],
)
def test_changed_type_breaks_in_both_directions(old: dict[str, Any], new: dict[str, Any], message: str) -> None:
    assert breaking_changes(_edit(Ping__at=old), _edit(Ping__at=new)) == [f"cc.thing.ping: data.at: {message}"]
    assert breaking_changes(_edit(Ping__at=new), _edit(Ping__at=old)) != []


def test_changed_item_and_map_value_types_break() -> None:
    items = _edit(Moved__tags={"type": "array", "items": {"type": "integer"}})
    assert breaking_changes(_schema(), items) == ["cc.thing.moved: data.tags[]: type changed from string to integer"]
    values = _edit(Moved__changes={"type": "object", "additionalProperties": {"type": "string"}})
    assert breaking_changes(_schema(), values) == ["cc.thing.moved: data.changes.*: type changed from array to string"]


def test_property_becoming_required_breaks_the_reverse_does_not() -> None:
    s = _schema()
    stricter = copy.deepcopy(s)
    stricter["$defs"]["Place"]["required"] = ["name", "floor"]
    assert breaking_changes(s, stricter) == [
        "cc.thing.moved: data.previous.floor: property became required",
        "cc.thing.moved: data.current.floor: property became required",
    ]
    assert breaking_changes(stricter, s) == []


def test_added_required_property_breaks_added_optional_does_not() -> None:
    s = _schema()
    added = copy.deepcopy(s)
    added["$defs"]["Ping"]["properties"]["seq"] = {"type": "integer", "default": 0}
    assert breaking_changes(s, added) == []
    added["$defs"]["Ping"]["required"].append("seq")
    assert breaking_changes(s, added) == ["cc.thing.ping: data.seq: required property added (old values lack it)"]


def test_narrowed_enum_breaks_widened_does_not() -> None:
    narrower = _edit(Moved__kind={"enum": ["consult"]})
    assert breaking_changes(_schema(), narrower) == [
        'cc.thing.moved: data.kind: allowed values narrowed ("blind" no longer allowed)'
    ]
    wider = _edit(Moved__kind={"enum": ["blind", "consult", "conference"]})
    assert breaking_changes(_schema(), wider) == []
    assert breaking_changes(wider, _schema()) == [
        'cc.thing.moved: data.kind: allowed values narrowed ("conference" no longer allowed)'
    ]


def test_narrowed_const_breaks() -> None:
    s = _schema()
    other = copy.deepcopy(s)
    other["$defs"]["Place"]["properties"]["name"] = {"const": "lobby"}
    assert "cc.thing.moved: data.current.name: allowed values narrowed (other values no longer allowed)" in (
        breaking_changes(s, other)
    )
    assert breaking_changes(other, s) == []  # a constant that becomes free is a widening
    nullable_enum = _edit(Moved__note={"anyOf": [{"enum": ["a", "b"]}, {"type": "null"}]})
    assert breaking_changes(_schema(), nullable_enum) == [
        "cc.thing.moved: data.note: allowed values narrowed (other values no longer allowed)"
    ]
    assert breaking_changes(nullable_enum, _edit(Moved__note={"anyOf": [{"enum": ["a"]}, {"type": "null"}]})) == [
        'cc.thing.moved: data.note: allowed values narrowed ("b" no longer allowed)'
    ]


def test_descriptions_and_defaults_are_not_changes() -> None:
    s = _schema()
    doc = copy.deepcopy(s)
    doc["$defs"]["Place"]["description"] = "where a thing is"
    doc["$defs"]["Place"]["properties"]["floor"]["default"] = 1
    assert breaking_changes(s, doc) == []


def test_write_all_freezes_the_snapshot_once(tmp_path: Path) -> None:
    write_all(tmp_path)
    snap = tmp_path / COMPAT_DIR / snapshot_name(SCHEMA_VERSION)
    assert snap.read_bytes() == (tmp_path / "events.schema.json").read_bytes()
    snap.write_text('{"frozen": true}')
    write_all(tmp_path)
    assert snap.read_text() == '{"frozen": true}'


# --- the real check ----------------------------------------------------------------


def test_every_snapshot_is_named_for_its_version() -> None:
    for path in sorted((SCHEMAS / COMPAT_DIR).glob("events.v*.schema.json")):
        version = json.loads(path.read_text()).get("x-schema-version")
        assert path.name == snapshot_name(version), f"{path.name} holds x-schema-version {version}"


def test_generated_events_schema_is_compatible_with_its_versions_snapshot() -> None:
    snap = SCHEMAS / COMPAT_DIR / snapshot_name(SCHEMA_VERSION)
    assert snap.exists(), (
        f"schemas/{COMPAT_DIR}/{snap.name} is missing: run make schemas (it freezes the schema of "
        f"SCHEMA_VERSION {SCHEMA_VERSION}) and commit it"
    )
    changes = breaking_changes(json.loads(snap.read_text()), events_schema())
    assert not changes, (
        f"the events schema breaks compatibility with schemas/{COMPAT_DIR}/{snap.name}:\n  "
        + "\n  ".join(changes)
        + f"\n{FIX_HINT}"
    )
