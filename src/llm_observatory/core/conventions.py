"""Attribute keys that say who and which conversation a record belongs to.

The collector fills `user_id` / `conversation_id` from the first of these a span
carries (collector/processors/genai.py); deletion by user or conversation matches log
records and metric points that carry them only as attributes (storage/deletion.py).
Precedence: OTel semantic conventions first, then OpenLLMetry's association properties.
"""

from __future__ import annotations

CONVERSATION_KEYS: tuple[str, ...] = (
    "gen_ai.conversation.id",
    "session.id",
    "traceloop.association.properties.session_id",
    "traceloop.association.properties.conversation_id",
    "traceloop.association.properties.thread_id",
)
USER_KEYS: tuple[str, ...] = ("user.id", "enduser.id", "traceloop.association.properties.user_id")
