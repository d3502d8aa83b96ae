"""Several daemons share a config's sources through Kafka group membership (DESIGN rule 9)."""
