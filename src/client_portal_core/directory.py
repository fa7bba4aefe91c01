"""The host's directory: its contacts and companies, found through the plugin hooks.

The library never stores who a subject is: every use asks the host again,
so a contact the host deleted loses its portal at once, not at expiry.
"""

from __future__ import annotations

from typing import Any

from .errors import SubjectNotFound
from .schemas import Recipient, SubjectType
from .validation import subject_id_or_none

__all__ = ["Directory"]


class Directory:
    """Looks subjects up through ``client_portal_find_recipient`` and
    ``client_portal_list_subjects``.

    :param hook: the portal's ``plugin_manager.hook``.
    """

    def __init__(self, hook: Any) -> None:
        self._hook = hook

    def find(
        self, tenant_id: str, subject_type: SubjectType, subject_id: str | int
    ) -> Recipient | None:
        """The tenant's contact or company, or ``None`` when the host has none.

        The hook receives ``subject_id`` exactly as given; an id the library
        refuses (see :mod:`.validation`: whitespace at either end, control
        characters, more than 64 characters) is never looked up, and is
        ``None`` here.
        """
        checked = subject_id_or_none(subject_id)
        if checked is None:
            return None
        recipient: Recipient | None = self._hook.client_portal_find_recipient(
            tenant_id=tenant_id, subject_type=subject_type, subject_id=checked
        )
        return recipient

    def require(
        self, tenant_id: str, subject_type: SubjectType, subject_id: str | int
    ) -> Recipient:
        """The tenant's contact or company.

        :raises SubjectNotFound: the directory has none in this tenant.
        """
        recipient = self.find(tenant_id, subject_type, subject_id)
        if recipient is None:
            raise SubjectNotFound(subject_type.value, str(subject_id))
        return recipient

    def list_subjects(self, tenant_id: str, subject_type: SubjectType) -> list[str] | None:
        """Every id of the tenant's contacts or companies, or ``None`` when no
        plugin implements ``client_portal_list_subjects``."""
        ids = self._hook.client_portal_list_subjects(tenant_id=tenant_id, subject_type=subject_type)
        return None if ids is None else [str(subject_id) for subject_id in ids]
