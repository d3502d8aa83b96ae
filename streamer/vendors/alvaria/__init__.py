"""Alvaria Cloud (formerly Aspect Via) Reporting API v2: client, models, source."""
