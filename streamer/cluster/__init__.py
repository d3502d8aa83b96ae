"""Several daemons share a config's sources through Kafka group membership (DESIGN rule 9).

Groundwork for issue 12, tested on its own: :mod:`.assign` (who runs which source) and
:mod:`.membership` (the group, the lease that fences). The daemon does not use them yet:
``streamer run`` still runs every source of its config.
"""
