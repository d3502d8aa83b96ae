"""Sinch Contact Center RMI (Restful Monitoring Interface): agents, contacts, queue statistics."""
