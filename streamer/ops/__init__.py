"""Running it: Prometheus metrics, the probe server (/metrics, /healthz, /readyz), logging
and the crash points the chaos tests use."""
