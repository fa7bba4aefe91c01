"""pytest fixtures for hosts: ``pytest_plugins = ["client_portal_core.testing.fixtures"]``.

* ``cp_directory``: a :class:`~client_portal_core.testing.MemoryDirectory`
  (tenant ``tenant-a`` has contact ``1`` with an email); add your own subjects.
* ``cp_mailer``: a :class:`~client_portal_core.MemoryMailer`; sent emails are
  in ``cp_mailer.outbox``.
* ``cp_portal``: a :class:`~client_portal_core.ClientPortal` with both, on a
  SQLite file in the test's temporary folder, disposed after the test.
"""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest

from ..mail import MemoryMailer
from ..services import ClientPortal
from ._portal import MemoryDirectory, make_test_portal

__all__ = ["cp_directory", "cp_mailer", "cp_portal"]


@pytest.fixture
def cp_directory() -> MemoryDirectory:
    """The test portal's directory (seeded; see :class:`MemoryDirectory`)."""
    return MemoryDirectory()


@pytest.fixture
def cp_mailer() -> MemoryMailer:
    """The test portal's mailer: sent emails are in ``.outbox``."""
    return MemoryMailer()


@pytest.fixture
def cp_portal(
    tmp_path: Path, cp_directory: MemoryDirectory, cp_mailer: MemoryMailer
) -> Iterator[ClientPortal]:
    """A portal on a SQLite file in ``tmp_path``, with ``cp_directory`` and ``cp_mailer``."""
    portal = make_test_portal(
        f"sqlite:///{tmp_path / 'cp_portal.db'}", mailer=cp_mailer, directory=cp_directory
    )
    try:
        yield portal
    finally:
        portal.engine.dispose()
