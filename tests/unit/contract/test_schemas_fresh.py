"""schemas/ is generated from the code; this fails when someone forgets `make schemas`."""


from streamer.contract.events import EVENT_SPECS
from streamer.contract.files import render_all
from tests import paths

SCHEMAS = paths.SCHEMAS


def test_committed_schemas_match_the_code() -> None:
    for name, content in render_all().items():
        committed = (SCHEMAS / name).read_bytes()
        assert committed == content, f"schemas/{name} is stale: run `make schemas` and commit it"


def test_every_event_type_is_in_the_schema() -> None:
    text = (SCHEMAS / "events.schema.json").read_text()
    for t in EVENT_SPECS:
        assert f'"const": "{t}"' in text


def test_readme_event_reference_is_generated_from_the_code() -> None:
    from streamer.contract.eventdocs import END, START, render_event_table

    readme = (SCHEMAS.parent / "README.md").read_text()
    block = readme[readme.index(START) + len(START): readme.index(END)].strip()
    assert block == render_event_table(), "README's event reference is stale: run `make schemas`"
