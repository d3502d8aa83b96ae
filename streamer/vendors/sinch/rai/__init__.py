"""Sinch Contact Center RAI (Restful Analytics Interface): agent status history and snapshot, quarter-hour statistics."""
