"""Vendor implementations; one folder each, listed in :mod:`streamer.vendors.registry`."""
