"""``streamer status``: the members of a config's group and the sources each one owns."""

from __future__ import annotations

import msgspec
from aiokafka.admin import AIOKafkaAdminClient
from aiokafka.errors import KafkaError

from streamer.cluster.membership import PROTOCOL, MemberRecord, member_view
from streamer.config.model import StreamerConfig, group_id
from streamer.errors import KafkaUnavailableError
from streamer.kafka.checkpoint import ConsumerRecord, partitions, scan
from streamer.kafka.connection import client_kwargs

__all__ = ["GroupStatus", "MemberStatus", "group_status", "render_status"]


class MemberStatus(msgspec.Struct, kw_only=True):
    name: str
    """``host:pid`` of the daemon."""
    member_id: str
    client_host: str
    epoch: int
    owned: list[str]
    config_sources: int
    """How many sources its config has (differs from the others' during a rolling change)."""


class GroupStatus(msgspec.Struct, kw_only=True):
    group: str
    state: str
    members: list[MemberStatus]
    unowned: list[str]
    """Sources of this config no member owns (the group is rebalancing, or has no member)."""


async def group_status(cfg: StreamerConfig) -> GroupStatus:
    """Describe the config's group (the broker's group coordinator answers)."""
    gid = group_id(cfg)
    admin = AIOKafkaAdminClient(**client_kwargs(cfg.kafka, suffix="-status"))
    try:
        await admin.start()
        (response,) = await admin.describe_consumer_groups([gid])
    except KafkaError as e:
        raise KafkaUnavailableError(f"kafka: describing group {gid} failed: {type(e).__name__}: {e}") from None
    finally:
        await admin.close()
    (group,) = [g for g in response.groups if g[1] == gid]
    state, protocol, raw_members = group[2], group[4], group[5]
    members = []
    announced: dict[str, MemberRecord] | None = None
    for member_id, _client_id, client_host, metadata, assignment in raw_members:
        if protocol == PROTOCOL and metadata:
            name, sources, owned, epoch = member_view(metadata, assignment)
            members.append(MemberStatus(name=name, member_id=member_id, client_host=client_host, epoch=epoch,
                                        owned=owned, config_sources=len(sources)))
            continue
        # The broker keeps the protocol's data to itself: take what the member announced.
        if announced is None:
            announced = await _announced(cfg)
        rec = announced.get(member_id)
        if rec is not None:
            members.append(MemberStatus(name=rec.name, member_id=member_id, client_host=client_host,
                                        epoch=rec.epoch, owned=rec.owned, config_sources=rec.config_sources))
    members.sort(key=lambda m: m.name)
    taken = {s for m in members for s in m.owned}
    unowned = sorted(s.id for s in cfg.sources if s.id not in taken)
    return GroupStatus(group=gid, state=state or "Empty", members=members, unowned=unowned)


_dec_record = msgspec.json.Decoder(MemberRecord)


async def _announced(cfg: StreamerConfig) -> dict[str, MemberRecord]:
    """member id -> the latest record each daemon wrote on the group's topic."""
    by_name: dict[str, MemberRecord | None] = {}

    def fold(r: ConsumerRecord) -> None:
        key, value = r.key, r.value
        if key is None:
            return
        try:
            by_name[key.decode(errors="replace")] = None if value is None else _dec_record.decode(value)
        except (msgspec.DecodeError, msgspec.ValidationError):
            pass

    tps = await partitions(cfg.kafka, [f"{cfg.kafka.topic_prefix}.streamer.members"])
    await scan(cfg.kafka, {tp: 0 for tp in tps}, fold)
    return {rec.member_id: rec for rec in by_name.values() if rec is not None}


def render_status(status: GroupStatus, *, as_json: bool = False) -> str:
    if as_json:
        return msgspec.json.encode(status).decode()
    lines = [f"group {status.group}: {status.state}, {len(status.members)} member(s)"]
    for m in status.members:
        lines.append(f"  {m.name} ({m.client_host}) epoch {m.epoch}: {len(m.owned)} source(s): {', '.join(m.owned) or '-'}")
    if status.unowned:
        lines.append(f"  not owned by any member: {', '.join(status.unowned)}")
    return "\n".join(lines)
