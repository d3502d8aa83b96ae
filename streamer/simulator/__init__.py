"""Vendor API simulator: a seeded ground-truth world rendered as each vendor's API.

Modules: ``world`` (ground truth), ``truth`` (its record types), ``faults`` (fault
injection), ``vonage``/``vonage_render`` (Insights Stats API), ``app`` (the server).
Import the submodules directly; the web stack is only needed by ``app`` and vendors.
"""
