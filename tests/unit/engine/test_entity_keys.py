"""Entity keys are one string per entity where interning lets strings go again."""

from __future__ import annotations

import sys
import sysconfig

import pytest

from streamer.engine.emit import entity_key, mortal_interning


@pytest.mark.parametrize(("version", "free_threaded", "mortal"), [
    ((3, 11, 0), False, True),
    ((3, 11, 9), False, True),
    ((3, 12, 0), False, False),  # gh-113993: interned strings immortal ...
    ((3, 12, 3), False, False),  # (Ubuntu 24.04's python3)
    ((3, 12, 6), False, False),
    ((3, 12, 7), False, True),  # ... until the fix's backport
    ((3, 13, 0), False, True),
    ((3, 14, 1), False, True),
    ((3, 13, 0), True, False),  # free-threaded: interned strings stay
])
def test_interning_is_used_only_where_it_lets_strings_go(version: tuple[int, int, int], free_threaded: bool,
                                                         mortal: bool) -> None:
    assert mortal_interning(version, free_threaded) is mortal


def test_equal_keys_are_one_string_here_when_interning_is_safe() -> None:
    guid = "".join(["4f0c", "-", "a1"])  # built at run time, not a constant the compiler shares
    a = entity_key("cc.interaction.state.changed", guid)
    b = entity_key("cc.interaction.transferred", guid[:4] + guid[4:])
    assert a == b == "interaction/4f0c-a1"
    safe = mortal_interning(sys.version_info[:3], bool(sysconfig.get_config_var("Py_GIL_DISABLED")))
    assert (a is b) is safe
