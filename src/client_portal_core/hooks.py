"""Pluggy hook specifications: how plugins and hosts extend the library.

Every hook here picks one provider: it is ``firstresult=True`` and stops at
the first non-None result. Plugins registered later are called first, so a
host's plugin wins over the library's defaults (which are ``trylast``).

A plugin is any object or module with functions decorated by
:data:`hookimpl`. Pass plugins to :class:`~client_portal_core.ClientPortal`,
or publish them in the ``client_portal`` entry-point group. The portal builds
a fresh plugin manager per portal (:func:`client_portal_core.plugins.load_plugins`),
refuses unknown ``client_portal_*`` names, and checks what the provider hooks
return at start-up; ``docs/plugins.md`` is the guide.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

import pluggy

from .schemas import Recipient, SubjectType

if TYPE_CHECKING:
    from .mail import Mailer
    from .portal_models import PortalItem
    from .scopes import ApiPrincipal
    from .settings import Settings
    from .storage import EventSink, SqlTokenStore, TokenStore

__all__ = [
    "ENTRY_POINT_GROUP",
    "PROJECT_NAME",
    "ClientPortalSpec",
    "hookimpl",
    "hookspec",
]

#: pluggy project name; hook names all start with ``client_portal_``.
PROJECT_NAME = "client_portal"
#: Entry-point group searched for plugins.
ENTRY_POINT_GROUP = "client_portal"

hookspec = pluggy.HookspecMarker(PROJECT_NAME)
#: Decorate a plugin's functions with this to implement a hook.
hookimpl = pluggy.HookimplMarker(PROJECT_NAME)


class ClientPortalSpec:
    """The hook specifications."""

    @hookspec(firstresult=True)
    def client_portal_find_recipient(
        self, tenant_id: str, subject_type: SubjectType, subject_id: str
    ) -> Recipient | None:
        """Find a host contact or company within a tenant (the directory).

        Stops at the first non-None result.

        :param tenant_id: the tenant of the API token used.
        :param subject_type: ``SubjectType.CONTACT`` or ``SubjectType.COMPANY``.
        :param subject_id: the host's id as a string (convert it yourself;
            return ``None`` for an id that does not parse).
        :return: the recipient, or ``None`` when the tenant has no such
            subject; never return another tenant's subject.
        """

    @hookspec(firstresult=True)
    def client_portal_authenticate(self, api_key: str) -> str | ApiPrincipal | None:
        """Map an API key (the Bearer credential) to a tenant id and its scopes.

        Stops at the first non-None result. The default implementation checks
        library-managed API tokens; a host can map its own keys instead.

        :param api_key: the credential exactly as sent.
        :return: the tenant id (a string: the key has every scope), an
            :class:`~client_portal_core.scopes.ApiPrincipal` naming the tenant
            and the key's scopes (``read``, ``invite``, ``admin``), or ``None``
            to let the next plugin decide (401 when no plugin accepts it).
        """

    @hookspec(firstresult=True)
    def client_portal_mailer(self, settings: Settings) -> Mailer | None:
        """Provide the mailer that sends invitations.

        Stops at the first non-None result. Called once, when the portal
        starts; the result must have ``send(email)`` (plain or ``async def``;
        an async one runs on the portal's own event loop thread). The default
        is SMTP when ``settings.smtp_url`` is set, else the console mailer.

        :param settings: the portal's settings; read your plugin's own with
            :meth:`~client_portal_core.plugins.PluginSettings.from_settings`.
        :return: a :class:`~client_portal_core.Mailer`, or ``None`` to leave
            the choice to the next plugin.
        """

    @hookspec(firstresult=True)
    def client_portal_token_store(
        self, settings: Settings, sql_store: SqlTokenStore, event_sink: EventSink
    ) -> TokenStore | None:
        """Provide where portal tokens are stored.

        Stops at the first non-None result. Called once, when the portal
        starts; the result must have every method of
        :class:`~client_portal_core.token_store.TokenStore`. The default is
        ``sql_store``.

        :param settings: the portal's settings (and your plugin's own).
        :param sql_store: the library's SQL store, to wrap or delegate to.
        :param event_sink: where a store outside the library's database
            publishes the events of its changes (the webhook outbox).
        :return: the store, or ``None`` to leave the choice to the next plugin.
        """

    @hookspec(firstresult=True)
    def client_portal_list_subjects(
        self, tenant_id: str, subject_type: SubjectType
    ) -> list[str] | None:
        """List the ids of all of a tenant's contacts or companies (optional).

        Stops at the first non-None result. Used by bulk invitations to
        invite "all of a tenant's contacts"; without an implementation the
        caller passes the ids itself.

        :param tenant_id: the tenant whose subjects to list.
        :param subject_type: ``SubjectType.CONTACT`` or ``SubjectType.COMPANY``.
        :return: the host ids as strings (with or without an email address;
            those without one are reported as failures), or ``None`` to let
            the next plugin answer. Never another tenant's subjects.

        Example::

            @hookimpl
            def client_portal_list_subjects(tenant_id, subject_type):
                model = Contact if subject_type is SubjectType.CONTACT else Company
                return [str(row.id) for row in model.query.filter_by(tenant_id=tenant_id)]
        """

    @hookspec(firstresult=True)
    def client_portal_portal_items(
        self, tenant_id: str, subject_type: SubjectType, subject_id: str, module: str
    ) -> list[PortalItem] | None:
        """The host's items a signed-in client sees on one module page of the portal.

        Stops at the first non-None result. Called for each enabled module
        (``invoices``, ``proposals``, ``tasks``...), for ``files`` when the
        tenant allows file sharing, and for ``activity`` (entries added to
        the library's own activity feed) when it shows the feed.

        :param tenant_id: the tenant of the signed-in client's session.
        :param subject_type: ``SubjectType.CONTACT`` or ``SubjectType.COMPANY``.
        :param subject_id: the host's id of the signed-in contact or company.
        :param module: the module whose page is shown.
        :return: the items (shown in this order), ``[]`` for none, or ``None``
            to let the next plugin answer. Only this tenant's and this
            subject's items: the portal shows whatever is returned.

        Example::

            @hookimpl
            def client_portal_portal_items(tenant_id, subject_type, subject_id, module):
                if module != "invoices":
                    return None
                return [
                    PortalItem(title=f"Invoice {row.number}", amount=row.total, currency="EUR")
                    for row in Invoice.query.filter_by(tenant_id=tenant_id, contact_id=subject_id)
                ]
        """
