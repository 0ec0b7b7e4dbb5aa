"""The playground's made-up end users and their conversations (sessions).

Each scenario run belongs to a user and a conversation: a conversation goes on for a
few turns (one trace each, the history sent again with every chat call, as chat
applications do), then that user starts a new one. `SessionTagger` writes the
conversation and user ids onto every span started while a run is in progress, the
instrumentation's own chat spans included, with the attribute names the collector
reads (gen_ai.conversation.id, user.id), so sessions and users fill up in the UI.
"""

from __future__ import annotations

import contextvars
import random
import threading
import uuid
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from typing import Any

from opentelemetry.sdk.trace import ReadableSpan, Span, SpanProcessor

USERS = (
    "user-ana.silva",
    "user-ben.okafor",
    "user-chen.li",
    "user-dara.novak",
    "user-emil.berg",
    "user-farah.haddad",
    "user-gus.moreau",
    "user-hana.sato",
)
MAX_TURNS = 4  # a conversation ends after at most this many traces
MAX_HISTORY = 12  # messages of history sent with the next turn

_current: contextvars.ContextVar[Conversation | None] = contextvars.ContextVar(
    "llm_observatory_playground_conversation", default=None
)


@dataclass
class Conversation:
    session_id: str
    user_id: str
    turns_left: int
    history: list[dict[str, Any]] = field(default_factory=list)

    def remember(self, *messages: dict[str, Any]) -> None:
        self.history = [*self.history, *messages][-MAX_HISTORY:]


class Conversations:
    """Hands out a conversation per run; one run at a time per conversation."""

    def __init__(self, rng: random.Random) -> None:
        self.random = rng
        self._open: dict[str, Conversation] = {}  # user -> conversation not in use
        self._lock = threading.Lock()

    def _new(self, user: str) -> Conversation:
        return Conversation(
            session_id=f"conv-{uuid.UUID(int=self.random.getrandbits(128)).hex[:16]}",
            user_id=user,
            turns_left=self.random.randint(1, MAX_TURNS),
        )

    def checkout(self) -> Conversation:
        with self._lock:
            user = self.random.choice(USERS)
            return self._open.pop(user, None) or self._new(user)

    def checkin(self, conversation: Conversation) -> None:
        conversation.turns_left -= 1
        with self._lock:
            if conversation.turns_left > 0 and conversation.user_id not in self._open:
                self._open[conversation.user_id] = conversation

    @contextmanager
    def turn(self) -> Iterator[Conversation]:
        """One run in a conversation: its spans carry the conversation's ids."""
        conversation = self.checkout()
        token = _current.set(conversation)
        try:
            yield conversation
        finally:
            _current.reset(token)
            self.checkin(conversation)


class SessionTagger(SpanProcessor):
    """Sets gen_ai.conversation.id and user.id on spans started during a run."""

    def on_start(self, span: Span, parent_context: Any = None) -> None:
        conversation = _current.get()
        if conversation is not None:
            span.set_attribute("gen_ai.conversation.id", conversation.session_id)
            span.set_attribute("user.id", conversation.user_id)

    def on_end(self, span: ReadableSpan) -> None:
        return

    def shutdown(self) -> None:
        return

    def force_flush(self, timeout_millis: int = 30000) -> bool:
        return True


def tag_sessions(tracer_provider: Any) -> None:
    """Add the tagger to an SDK tracer provider, once."""
    if getattr(tracer_provider, "_llmo_session_tagger", False):
        return
    add = getattr(tracer_provider, "add_span_processor", None)
    if add is not None:
        add(SessionTagger())
        tracer_provider._llmo_session_tagger = True
