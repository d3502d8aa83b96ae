"""Suite-wide settings: hypothesis profiles (`CCSTREAM_SOAK=1` runs the long ones), the broker,
the throw-away PKI of the TLS tests."""

import os
from collections.abc import Iterator

import pytest
import structlog
from hypothesis import HealthCheck, settings

from streamer.kafka.broker import EmbeddedBroker
from tests.pki import Pki, make_pki

settings.register_profile("default", deadline=None, suppress_health_check=[HealthCheck.too_slow])
settings.register_profile("soak", max_examples=10_000, deadline=None, suppress_health_check=list(HealthCheck))
settings.load_profile("soak" if os.environ.get("CCSTREAM_SOAK") == "1" else "default")


@pytest.fixture(scope="session")
def broker(tmp_path_factory: pytest.TempPathFactory) -> Iterator[EmbeddedBroker]:
    """One embedded Kafka-protocol broker for the session; tests use unique topic prefixes."""
    log = tmp_path_factory.mktemp("broker") / "broker.log"
    with EmbeddedBroker(log_file=log) as b:
        yield b


@pytest.fixture(scope="session")
def pki(tmp_path_factory: pytest.TempPathFactory) -> Pki:
    """A CA, certificates for 127.0.0.1 and a client, and an unrelated CA (``tests/pki.py``)."""
    return make_pki(tmp_path_factory.mktemp("pki"))


@pytest.fixture(autouse=True)
def _logging_as_it_was() -> Iterator[None]:
    """A test that runs a command configures structlog with the stream pytest captured for
    it; later tests must not log to that stream once it is closed."""
    config = structlog.get_config()
    yield
    structlog.configure(**config)


@pytest.fixture(autouse=True)
def _no_daemon_outlives_its_test() -> Iterator[None]:
    yield
    from tests.integration.harness import kill_leftovers  # only tests that start daemons need it

    kill_leftovers()
