"""Test kit for plugin authors and hosts: contracts to run against your
mailer or token store, and a portal for your own tests.

Needs pytest (``pip install pytest``); nothing in the library imports this
package. Two ways in:

* **Contracts**: subclass :class:`MailerContract` (define a
  ``mailer_harness`` fixture) or :class:`TokenStoreContract` (define
  ``token_store_plugin``) in a ``Test*`` class; pytest then runs every check
  of the contract against your implementation.
* **Fixtures** for a host's own tests: add
  ``pytest_plugins = ["client_portal_core.testing.fixtures"]`` to your
  ``conftest.py`` for ``cp_portal`` (a portal on a temporary SQLite file),
  ``cp_mailer`` (its :class:`~client_portal_core.MemoryMailer`) and
  ``cp_directory`` (its :class:`MemoryDirectory`); or call
  :func:`make_test_portal` yourself.

``docs/plugins.md`` ("The conformance kit") shows both.
"""

from __future__ import annotations

try:
    import pytest  # noqa: F401  (the contracts are pytest test classes)
except ImportError as exc:  # pragma: no cover - depends on the environment
    raise ImportError("client_portal_core.testing needs pytest: pip install pytest") from exc

from ._mailer_contract import DeliveredEmail, MailerContract, MailerHarness, send_with
from ._portal import TEST_SECRET_KEY, MemoryDirectory, make_test_portal, outbox_events
from ._store_contract import TokenStoreContract

__all__ = [
    "TEST_SECRET_KEY",
    "DeliveredEmail",
    "MailerContract",
    "MailerHarness",
    "MemoryDirectory",
    "TokenStoreContract",
    "make_test_portal",
    "outbox_events",
    "send_with",
]
