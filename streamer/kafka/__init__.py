"""Kafka: the publisher, the state and checkpoint topics with the output read-back, topic
checks, partitioning, shared restore reads and the embedded broker for dev and tests."""
