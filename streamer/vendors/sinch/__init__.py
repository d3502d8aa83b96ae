"""Sinch Contact Center: two vendors sharing one folder. :mod:`.rmi` (real-time monitoring)
and :mod:`.rai` (reporting), with what both read in :mod:`.common`."""
