"""Several daemons share a config's sources through Kafka group membership (DESIGN rule 9).

:mod:`.assign` decides who runs which source (pure), :mod:`.membership` keeps this daemon
in the group and holds the lease that fences its writes, :mod:`.status` answers
``streamer status`` and :mod:`.workers` supervises ``streamer run --workers N``. The
daemon (``streamer.engine.daemon.Daemon``) starts and stops its sources on the group's assignments.
"""
