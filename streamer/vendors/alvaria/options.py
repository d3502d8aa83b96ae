"""Alvaria's own keys of a source, written beside the common ones in the config file."""

from __future__ import annotations

import msgspec

from streamer.config.model import SourceConfig
from streamer.secrets import Secret
from streamer.vendors.kit.helpers import options_of

__all__ = ["AlvariaOptions", "alvaria_options"]


class AlvariaOptions(msgspec.Struct, kw_only=True, forbid_unknown_fields=True):
    """The organization, the key, and what to read (nothing is discovered)."""

    api_key: Secret | None = None
    """Sent as ``x-api-key`` on every request (required)."""
    org_id: str | None = None
    """Alvaria organization id (the ``{orgId}`` in every path and the token realm); required."""
    team_ids: list[str] = []
    """Alvaria teams to read (userActivity, teamActivity); empty: both off. Nothing is
    discovered: the provisioning API that lists teams has no documented response."""
    work_type_ids: list[str] = []
    """Alvaria work types to read (channelActivity); empty: channelActivity off. Not
    discovered either; presenceUsers never filters by work type (it asks for all)."""
    contact_lists: list[str] = []
    """Alvaria contact lists to read (listActivity); empty: listActivity off."""


def alvaria_options(cfg: SourceConfig) -> AlvariaOptions:
    """The source's Alvaria options."""
    return options_of(cfg, AlvariaOptions)
