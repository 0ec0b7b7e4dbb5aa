"""Cut the text columns clients choose to sizes the database can index and show.

A 3 KB service name or model once failed every write batch it was in (an index row
is at most ~2.7 kB) and made every export of that batch retry forever. The columns
marked `bounded` in core/rows.py are cut to MAX_NAME_LENGTH characters here, before
anything is stored; status messages to the attribute value limit. Each cut is noted
in the record's `llmo.truncated` attribute.
"""

from __future__ import annotations

from typing import Any

from llm_observatory.collector.limits import Limits, note
from llm_observatory.core.signals import Signal


class Bounds:
    def __init__(self, signal: Signal, limits: Limits) -> None:
        self.fields = signal.table.bounded_fields
        self.max_name = limits.max_name_length
        self.max_value = limits.max_attribute_value_length
        self.has_status = hasattr(signal.record_type, "status_message")

    def __call__(self, record: Any) -> None:
        max_name = self.max_name
        for name in self.fields:
            value = getattr(record, name)
            if type(value) is str and len(value) > max_name:
                setattr(record, name, value[:max_name])
                note(record.attributes, "fields", name)
        if self.has_status:
            message = record.status_message
            if message and len(message) > self.max_value:
                record.status_message = message[: self.max_value]
                note(record.attributes, "fields", "status_message")
