"""What both example hosts share, so each host's own files are framework glue only.

* :mod:`.db`: the host's own tables (tenants, contacts, companies, settings).
* :mod:`.directory`: the ``client_portal_find_recipient`` and
  ``client_portal_list_subjects`` plugin over them.
* :mod:`.content`: the ``client_portal_portal_items`` plugin (invoices,
  proposals, tasks); :mod:`.pages`: the host's own invoice page behind the portal.
* :mod:`.seed`: demo data; :mod:`.demo`: what ``serve --demo`` prints.
* :mod:`.runtime`: one engine for host and library, the secret key, the portal.
* :mod:`.cli`: the ``serve`` / ``seed`` / ``add-webhook`` / ``invite-bulk`` /
  ``configure`` / ``set-token-expiry`` command line: :mod:`.cli_parser` (with
  the option types of :mod:`.cli_options`) parses it, :mod:`.cli_serve`,
  :mod:`.cli_bulk`, :mod:`.cli_commands` and :mod:`.cli_portal` run the commands.
"""

from __future__ import annotations

from .cli import CliError, HostApp, main
from .directory import HostDirectory
from .runtime import HostRuntime, PortalOptions, open_runtime

__all__ = [
    "CliError",
    "HostApp",
    "HostDirectory",
    "HostRuntime",
    "PortalOptions",
    "main",
    "open_runtime",
]
