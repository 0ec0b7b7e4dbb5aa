"""How much one export request may carry: the collector's bounds on hostile or runaway input.

Defaults (core/settings.py, CollectorSettings) stay close to the OpenTelemetry SDK's own
limits, so data an SDK produces passes untouched. What goes over a limit is cut, and
the cut is recorded on the record in the `llmo.truncated` attribute, or the request is
refused with a 4xx that says which limit it broke; it never costs the collector more
than linear work, and never a 5xx.
"""

from __future__ import annotations

from dataclasses import dataclass, fields
from typing import Any

# Attribute recording what the collector cut from a span, log record or data point:
# {"attributes": <dropped count>, "events": <dropped>, "links": <dropped>,
#  "values": [<attribute keys whose value was shortened>], "fields": [<columns shortened>]}
TRUNCATED = "llmo.truncated"


@dataclass(frozen=True, slots=True)
class Limits:
    max_request_bytes: int  # an OTLP body after gunzip
    max_items_per_request: int  # spans, data points or log records in one request
    max_decoded_objects: int  # JSON objects and arrays in one OTLP/JSON body
    max_attributes: int  # attributes of one span, event, link, log record or point
    max_events: int  # events of one span
    max_links: int  # links of one span
    max_attribute_value_length: int  # characters of one string (bytes of a bytes value)
    max_message_depth: int  # nesting of prompt/completion JSON kept as JSON
    max_name_length: int  # characters of an indexed text column (service, model, name...)

    @classmethod
    def from_settings(cls, settings: Any) -> Limits:
        return cls(**{f.name: getattr(settings, f.name) for f in fields(cls)})


def note(attributes: dict[str, Any], kind: str, what: str | int) -> None:
    """Record a cut in `attributes[TRUNCATED]`: a count for kind in {attributes, events,
    links}, a name for kind in {values, fields}."""
    marker = attributes.get(TRUNCATED)
    if not isinstance(marker, dict):
        marker = attributes[TRUNCATED] = {}
    if isinstance(what, int):
        marker[kind] = marker.get(kind, 0) + what
    else:
        names = marker.setdefault(kind, [])
        if what not in names:
            names.append(what)
