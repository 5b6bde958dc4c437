from __future__ import annotations

from collections.abc import Iterator

import pytest

from cdp_assets_tests.alerts.receivers import Listener, Mailbox, http_listener, smtp_server


@pytest.fixture
def mailbox() -> Iterator[Mailbox]:
    with smtp_server() as box:
        yield box


@pytest.fixture
def listener() -> Iterator[Listener]:
    with http_listener() as receiver:
        yield receiver
