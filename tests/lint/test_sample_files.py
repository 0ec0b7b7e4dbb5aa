"""examples/otlp: the sample files, send.py's placeholders and ids, the README's commands.

Checked without a stack (and on the host: the test image carries no examples/); that
each sample lands with its rows is tests/smoke/test_otlp_samples.py.
"""

from __future__ import annotations

import importlib.util
import re
from pathlib import Path

SAMPLES = Path(__file__).resolve().parents[2] / "examples" / "otlp"
_spec = importlib.util.spec_from_file_location("otlp_sample_sender", SAMPLES / "send.py")
send = importlib.util.module_from_spec(_spec)
_spec.loader.exec_module(send)


def test_the_samples_name_no_time_but_placeholders():
    # Literal times would fall out of every time-filtered view within hours.
    for name in send.SIGNALS:
        text = (SAMPLES / name).read_text()
        times = re.findall(r'"\w*[tT]imeUnixNano":\s*("[^"]*"|\d+)', text)
        assert times and all(send.PLACEHOLDER.fullmatch(t.strip('"')) for t in times), name


def test_placeholders_are_relative_to_now():
    now = 1_800_000_000_123_456_789
    assert send.fill_times('"{{now}}"', now) == f'"{now}"'
    assert send.fill_times('"{{now-8.950s}}"', now) == f'"{now - 8_950_000_000}"'
    assert send.fill_times('"{{now+250ms}}"', now) == f'"{now + 250_000_000}"'
    assert send.fill_times('"{{now-10m}}"', now) == f'"{now - 600_000_000_000}"'
    assert send.fill_times('"{{now-0.000000001s}}"', now) == f'"{now - 1}"'


def test_fresh_ids_are_consistent_across_files():
    texts = [(SAMPLES / name).read_text() for name in send.SIGNALS]
    renamed, mapping = send.fresh_ids(texts)
    literal_ids = {m[1] for text in texts for m in send.ID_FIELD.findall(text)}
    assert set(mapping) == literal_ids
    for old, new in mapping.items():
        assert len(new) == len(old) and new != old
        assert not any(old in text for text in renamed)
    # A span id used in two files maps to one new id in both.
    logs_span_ids = {m[1] for m in send.ID_FIELD.findall(renamed[2]) if m[0] == "spanId"}
    trace_span_ids = {m[1] for m in send.ID_FIELD.findall(renamed[0]) if m[0] == "spanId"}
    assert logs_span_ids and logs_span_ids <= trace_span_ids


def test_readme_shows_one_curl_per_file():
    lines = [line for line in (SAMPLES / "README.md").read_text().splitlines() if "| curl " in line]
    for name, path in send.SIGNALS.items():
        [line] = [line for line in lines if f"--print {name} " in line]
        assert line.endswith(f"http://localhost:4318{path}"), line
