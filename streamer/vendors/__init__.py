"""Vendor implementations; one folder each, found by :mod:`streamer.vendors.registry`."""
