"""ccstream: normalized contact-center change events on Kafka."""

__version__ = "0.1.0"
