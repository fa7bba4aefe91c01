"""In-process signals (blinker).

Each signal is sent with the :class:`~client_portal_core.ClientPortal` as
sender, after the change it reports has been committed. A receiver that
raises is logged and skipped: it never breaks the request, and the webhook
outbox row was already written in the change's own transaction.

Connect with ``@invitation_sent.connect_via(portal)`` to hear one portal
only, or ``@invitation_sent.connect`` for all of them.
"""

from __future__ import annotations

import logging
from typing import Any

from blinker import NamedSignal, Namespace

__all__ = [
    "invitation_failed",
    "invitation_sent",
    "send_safely",
    "token_accessed",
    "token_created",
    "token_revoked",
]

logger = logging.getLogger("client_portal_core.signals")

_signals = Namespace()

#: An invitation email was accepted by the mailer. Keyword arguments:
#: ``tenant_id``, ``invitation_id``, ``subject_type``, ``subject_id``,
#: ``email``, ``token_id``, ``sent_at``.
invitation_sent: NamedSignal = _signals.signal("invitation-sent")

#: A portal token was created. Keyword arguments: ``tenant_id``,
#: ``token_id``, ``subject_type``, ``subject_id``, ``created_at``,
#: ``expires_at``. The token itself is never sent.
token_created: NamedSignal = _signals.signal("token-created")

#: A portal token opened the portal. Keyword arguments: ``tenant_id``,
#: ``token_id``, ``subject_type``, ``subject_id``, ``accessed_at``,
#: ``ip``, ``user_agent``.
token_accessed: NamedSignal = _signals.signal("token-accessed")

#: A portal token was revoked (``POST /token/revoke``, regeneration, or
#: :meth:`~client_portal_core.ClientPortal.revoke_subject_tokens`); sent once
#: per token. Keyword arguments: ``tenant_id``, ``token_id``,
#: ``subject_type``, ``subject_id``, ``revoked_at``.
token_revoked: NamedSignal = _signals.signal("token-revoked")

#: An invitation (first, resent, retried, bulk or renewal) could not be sent
#: and is recorded ``failed``. Keyword arguments: ``tenant_id``,
#: ``invitation_id``, ``subject_type``, ``subject_id``, ``error``,
#: ``failed_at``. Not sent for ``unknown`` outcomes (they may have been delivered).
invitation_failed: NamedSignal = _signals.signal("invitation-failed")


def send_safely(signal: NamedSignal, sender: Any, **kwargs: Any) -> None:
    """Call every receiver of ``signal``; log and swallow a receiver's exception."""
    if not signal.receivers:
        return
    for receiver in signal.receivers_for(sender):
        try:
            receiver(sender, **kwargs)
        except Exception:
            logger.exception("receiver %r of signal %r raised; ignored", receiver, signal.name)
