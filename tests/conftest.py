"""Suite-wide settings: hypothesis profiles (`CCSTREAM_SOAK=1` runs the long ones)."""

import os

from hypothesis import HealthCheck, settings

settings.register_profile("default", deadline=None, suppress_health_check=[HealthCheck.too_slow])
settings.register_profile("soak", max_examples=10_000, deadline=None, suppress_health_check=list(HealthCheck))
settings.load_profile("soak" if os.environ.get("CCSTREAM_SOAK") == "1" else "default")
