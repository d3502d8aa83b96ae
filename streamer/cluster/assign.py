"""Which member of the group runs which source: pure, sticky and balanced.

The group leader runs :func:`assign` over what every member declared when it joined:
the sources its config has and the sources it owned until now. Rules, in order:

1. Every source some member has in its config goes to exactly one member that has it.
   (While a rolling change runs two versions of a config, a source that only the new
   version has goes only to members that run the new version.)
2. Sticky: a source stays with its owner unless that owner holds more than its share.
   Two members claiming one source (a stale member) is settled by member id.
3. Balanced: with the same config everywhere, member loads differ by at most one; the
   members that already hold the most keep the larger shares, so a membership change
   moves only the sources that must move.
"""

from __future__ import annotations

from collections.abc import Mapping

import msgspec

__all__ = ["MemberInfo", "assign", "moves"]


class MemberInfo(msgspec.Struct, frozen=True):
    """What a member declares when it joins (carried in the group protocol's user data)."""

    sources: frozenset[str]
    """Source ids of its config."""
    owned: frozenset[str] = frozenset()
    """Sources it ran in the previous generation."""


def assign(members: Mapping[str, MemberInfo]) -> dict[str, set[str]]:
    """member id -> the sources it runs in the next generation."""
    order = sorted(members)
    out: dict[str, set[str]] = {m: set() for m in order}
    if not order:
        return out
    universe = set().union(*(members[m].sources for m in order))
    taken: set[str] = set()
    for m in order:  # 2. sticky, first claim by member id wins
        keep = (members[m].owned & members[m].sources & universe) - taken
        out[m] |= keep
        taken |= keep

    # 3. targets: floor or ceil of the mean; the larger shares to those holding most
    base, extra = divmod(len(universe), len(order))
    by_holding = sorted(order, key=lambda m: (-len(out[m]), m))
    target = {m: base + (1 if i < extra else 0) for i, m in enumerate(by_holding)}
    released: set[str] = set()
    for m in order:
        surplus = len(out[m]) - target[m]
        if surplus > 0:
            drop = sorted(out[m])[-surplus:]
            out[m] -= set(drop)
            released |= set(drop)

    # 1. everything not held goes to the least loaded member that has it in its config
    for source in sorted((universe - taken) | released):
        capable = [m for m in order if source in members[m].sources]
        under = [m for m in capable if len(out[m]) < target[m]]
        pick = min(under or capable, key=lambda m: (len(out[m]), m))
        out[pick].add(source)
    return out


def moves(before: Mapping[str, set[str]], after: Mapping[str, set[str]]) -> int:
    """How many sources changed owner between two assignments (a new source counts once)."""
    owner = {s: m for m, ss in before.items() for s in ss}
    return sum(1 for m, ss in after.items() for s in ss if owner.get(s) != m)
