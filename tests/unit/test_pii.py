"""PII redaction: each kind found and replaced, look-alikes left alone, nothing leaks."""

from __future__ import annotations

import dataclasses
import json
import random
import string
import sys
from concurrent.futures import ThreadPoolExecutor

import pytest

from llm_observatory.collector.processors.pii import (
    CACHE_MAX_CHARS,
    KINDS,
    UNSCANNED,
    Redactor,
    redact_log,
    redact_metric_point,
    redact_span,
    redact_text,
)
from llm_observatory.core.records import LogRecordRow, MetricPointRecord, SpanRecord
from tests.support import pii_reference

# (kind, text with {} where the value goes, a value of that kind)
VALID = [
    ("email", "write to {} today", "jane.doe+tag@example.co.uk"),
    ("email", "cc: {}.", "J_Smith99@mail.corp-net.io"),
    ("phone", "call {} now", "+14155552671"),
    ("phone", "call {} now", "+44 20 7946 0958"),
    ("phone", "office {}.", "(555) 123-4567"),
    ("phone", "cell {}", "555-123-4567"),
    ("phone", "cell {}", "555.123.4567"),
    ("credit_card", "card {} exp 12/27", "4111 1111 1111 1111"),
    ("credit_card", "card {}", "4111-1111-1111-1111"),
    ("credit_card", "card {}", "5500005555555559"),
    ("credit_card", "amex {}", "3782 822463 10005"),
    ("credit_card", "card {}.", "4111 1111 1111 1111 003"),
    ("credit_card", "amex {}", "3782-822463-10005"),
    ("us_ssn", "SSN {} on file", "123-45-6789"),
    ("iban", "IBAN {} please", "DE89 3704 0044 0532 0130 00"),
    ("iban", "pay {}", "GB82WEST12345698765432"),
    ("iban", "{} THEN done", "BE68 5390 0754 7034"),
    ("ip_address", "from {}:8080", "192.168.1.20"),
    ("ip_address", "host {}.", "1.2.3.4"),
    ("ip_address", "v6 {} ok", "2001:db8:85a3::8a2e:370:7334"),
    ("ip_address", "full {}", "2001:0db8:0000:0000:0000:ff00:0042:8329"),
    ("api_key", "key {}", "sk-proj-abc123DEF456ghi789JKL012mno"),
    ("api_key", "key={}", "sk-ant-api03-AbCdEf1234567890AbCdEf"),
    ("api_key", "aws {}", "AKIAIOSFODNN7EXAMPLE"),
    ("api_key", "gh {}", "ghp_1234567890abcdefghijklmnopqrstuvwxyz"),
    ("api_key", "pat {}", "github_pat_11ABCDEFG0123456789_abcdefghij"),
    ("api_key", "slack {}", "xoxb-1234567890-abcdefghij"),
    ("api_key", "google {}", "AIzaSyA1234567890abcdefghijklmnopqrstuv"),
    ("api_key", "Authorization: Bearer {}", "abcdef1234567890abcdef"),
]

# Look-alikes that must stay: (why, text)
INVALID = [
    ("Luhn fails", "card 4111 1111 1111 1112"),
    ("Luhn fails, unbroken", "card 4111111111111112"),
    ("SSN area 000", "id 000-12-3456"),
    ("SSN area 666", "id 666-12-3456"),
    ("SSN area 9xx", "id 900-12-3456"),
    ("SSN group 00", "id 123-00-4567"),
    ("SSN serial 0000", "id 123-45-0000"),
    ("IBAN checksum", "IBAN DE89 3704 0044 0532 0130 01"),
    ("IBAN checksum, unbroken", "GB82WEST12345698765433"),
    ("IPv4 octet > 255", "addr 256.1.1.1"),
    ("five-part version", "build 1.2.3.4.5"),
    ("short E.164", "ext +1234567"),
    ("bare 10 digits", "order 5551234567"),
    ("sk-learn", "we use sk-learn and task-123 daily"),
    ("prose Bearer", "Bearer tokens; Bearer authorization-header-value"),
    ("time", "at 12:30:45 sharp"),
    ("MAC address", "nic 00:1A:2B:3C:4D:5E"),
    ("C++ scope", "std::vector and Foo::Bar"),
    ("no TLD", "ssh user@localhost"),
]


@pytest.mark.parametrize(("kind", "template", "value"), VALID)
def test_each_kind_detected_and_redacted(kind: str, template: str, value: str) -> None:
    redacted, kinds = redact_text(template.replace("{}", value))
    assert kinds == {kind}
    assert value not in redacted
    # Only the value goes: the text around it stays.
    assert redacted == template.replace("{}", f"[REDACTED:{kind}]")


@pytest.mark.parametrize(("why", "text"), INVALID)
def test_invalid_look_alikes_not_redacted(why: str, text: str) -> None:
    assert redact_text(text) == (text, set()), why


def test_bearer_keeps_the_scheme_word() -> None:
    redacted, _ = redact_text("Authorization: Bearer abcdef1234567890abcdef")
    assert redacted == "Authorization: Bearer [REDACTED:api_key]"


def test_ordinary_prose_unchanged() -> None:
    prose = (
        "Release v2.0.1 shipped on 2024-01-15 at 10:30:00Z (build 1.4.2, see RFC 3339). "
        "Order 12345 cost $1,234.56, or 19.99 EUR per month for 3 months; 15% off until "
        "31/12/2024. Request 550e8400-e29b-41d4-a716-446655440000 in trace "
        "4bf92f3577b34da6a3ce929d0e0e4736 span 00f067aa0ba902b7 took 1705312345678 ms "
        "(epoch ns 1705312345678901234). The 16-digit reference 1234567890123456 and "
        "pi 3.14159265358979 are fine. We trained it with sk-learn; task-123 is done. "
        "Python 3.11.7, numpy==1.26.4, gpt-4o-2024-08-06, claude-3-5-sonnet@20240620. "
        "Meet at 9:30, room B-12, floor 3. Call me maybe.\n"
        "def f(x): return x @ y  # matrix product, 2 x 3\n"
    )
    assert redact_text(prose) == (prose, set())


def test_long_text_uses_the_same_rules() -> None:
    filler = "Lorem ipsum dolor sit amet, 2024 consectetur adipiscing elit. " * 50
    text = filler + "mail jane@example.com card 4111111111111111 " + filler
    redacted, kinds = redact_text(text)
    assert kinds == {"email", "credit_card"}
    assert redacted == filler + "mail [REDACTED:email] card [REDACTED:credit_card] " + filler


def test_several_kinds_in_one_text() -> None:
    text = "Jane (jane@example.com, 555-123-4567, SSN 123-45-6789) from 10.0.0.7"
    redacted, kinds = redact_text(text)
    assert kinds == {"email", "phone", "us_ssn", "ip_address"}
    assert redacted == (
        "Jane ([REDACTED:email], [REDACTED:phone], SSN [REDACTED:us_ssn]) "
        "from [REDACTED:ip_address]"
    )


def test_kinds_constant_lists_every_kind() -> None:
    assert set(KINDS) == {kind for kind, _, _ in VALID}


# --- spans and logs ------------------------------------------------------------------------

SECRETS = {
    "email": "alice.secret@example.org",
    "credit_card": "4012 8888 8888 1881",
    "us_ssn": "078-05-1120",
    "api_key": "sk-proj-Zz9Yy8Xx7Ww6Vv5Uu4Tt3Ss2",
    "phone": "+33 6 12 34 56 78",
    "ip_address": "203.0.113.9",
    "iban": "FR14 2004 1010 0505 0001 3M02 606",
}


def make_span() -> SpanRecord:
    span = SpanRecord(
        trace_id="4bf92f3577b34da6a3ce929d0e0e4736",
        span_id="1234567890123452",  # all digits, passes Luhn: safe key, must survive
        parent_span_id=None,
        name="chat gpt-4o",
        kind="client",
        start_time_unix_nano=1,
        end_time_unix_nano=2,
        status_message=f"upstream rejected key {SECRETS['api_key']}",
        attributes={
            "gen_ai.request.model": "gpt-4o",
            "gen_ai.response.id": "4012888888881881",  # looks like a card; a safe key
            "user.id": SECRETS["email"],
            "http.request.header.x-forwarded-for": [SECRETS["ip_address"], "10.0.0.1"],
            "app.note": ("call", SECRETS["phone"]),
            "gen_ai.usage.input_tokens": 12,
        },
        events=[
            {
                "name": "exception",
                "time_unix_nano": 1,
                "attributes": {"exception.message": f"bad ssn {SECRETS['us_ssn']}"},
            }
        ],
        links=[
            {"trace_id": "0" * 32, "span_id": "0" * 16, "attributes": {"note": SECRETS["iban"]}}
        ],
    )
    span.input_messages = [
        {
            "role": "user",
            "parts": [
                {"type": "text", "content": f"My card is {SECRETS['credit_card']}."},
                {"type": "tool_call", "arguments": {"nested": [[f"iban {SECRETS['iban']}"]]}},
            ],
        }
    ]
    span.output_messages = f"Noted, {SECRETS['email']}."
    return span


def test_redact_span_everywhere_and_nothing_leaks() -> None:
    span = make_span()
    redact_span(span)
    dumped = json.dumps(dataclasses.asdict(span), default=str)
    for kind, secret in SECRETS.items():
        assert secret not in dumped, kind
        assert f"[REDACTED:{kind}]" in dumped, kind
    assert span.pii_types == sorted(SECRETS)


def test_redact_span_keeps_structure_and_safe_values() -> None:
    span = make_span()
    redact_span(span)
    assert span.span_id == "1234567890123452"
    assert span.attributes["gen_ai.response.id"] == "4012888888881881"
    assert span.attributes["gen_ai.request.model"] == "gpt-4o"
    assert span.attributes["gen_ai.usage.input_tokens"] == 12
    assert span.attributes["http.request.header.x-forwarded-for"] == [
        "[REDACTED:ip_address]",
        "[REDACTED:ip_address]",
    ]
    assert span.attributes["app.note"] == ("call", "[REDACTED:phone]")
    assert span.input_messages[0]["parts"][0]["content"] == "My card is [REDACTED:credit_card]."
    assert span.input_messages[0]["parts"][1]["arguments"] == {"nested": [["iban [REDACTED:iban]"]]}
    assert span.output_messages == "Noted, [REDACTED:email]."
    assert span.name == "chat gpt-4o"


def test_clean_span_unchanged_and_no_pii_types() -> None:
    attributes = {"gen_ai.request.model": "gpt-4o", "http.route": "/v1/chat", "count": 3}
    span = SpanRecord(
        trace_id="a" * 32,
        span_id="b" * 16,
        parent_span_id=None,
        name="chat gpt-4o",
        kind="client",
        start_time_unix_nano=1,
        end_time_unix_nano=2,
        attributes=dict(attributes),
    )
    span.input_messages = [{"role": "user", "content": "What changed in v2.0.1 on 2024-01-15?"}]
    redact_span(span)
    assert span.attributes == attributes
    assert span.input_messages == [
        {"role": "user", "content": "What changed in v2.0.1 on 2024-01-15?"}
    ]
    assert span.pii_types == []


def test_redact_log() -> None:
    row = LogRecordRow(
        time_unix_nano=1,
        body={"message": {"content": f"reach me at {SECRETS['phone']}"}},
        attributes={"client.address": SECRETS["ip_address"], "retries": 2},
    )
    redact_log(row)
    dumped = json.dumps(dataclasses.asdict(row))
    assert SECRETS["phone"] not in dumped and SECRETS["ip_address"] not in dumped
    assert row.body == {"message": {"content": "reach me at [REDACTED:phone]"}}
    assert row.attributes == {"client.address": "[REDACTED:ip_address]", "retries": 2}
    assert row.pii_types == ["ip_address", "phone"]


def test_redact_log_string_body() -> None:
    row = LogRecordRow(time_unix_nano=1, body=f"login by {SECRETS['email']}")
    redact_log(row)
    assert row.body == "login by [REDACTED:email]"
    assert row.pii_types == ["email"]


def test_deeply_nested_structure_redacted_without_recursion_error() -> None:
    value: list = ["555-123-4567"]
    for _ in range(5000):
        value = [{"x": value}]
    span = make_span()
    span.input_messages = value
    redact_span(span)
    node = span.input_messages
    for _ in range(5000):
        node = node[0]["x"]
    assert node == ["[REDACTED:phone]"]


# --- the candidate scan gives exactly the full-text result ----------------------------
# pii_reference is the implementation that ran each pattern over the whole text with
# re.sub: what is detected must not change, on any engine.

ENGINES = ("re2", "hyperscan", "re")

# PII, near misses and look-alikes; the generator glues them with and without separators,
# so context rules (what may touch a value) are exercised as much as the values.
FRAGMENTS = [
    *(value for _, _, value in VALID),
    *(text.split(" ", 1)[-1] for _, text in INVALID),
    *SECRETS.values(),
    "a@b.co", "x@y", "@", "@@", "a@", "@b.com", "+1 2 3 4 5 6 7 8", "1-555-123-4567",
    "1 555.123.4567", "4012888888881881", "1705312345678", "1705312345678901234",
    "NO9386011117947", "01.02.03.04", "10.0.0.7", "v2.0.1", "3.14159", "19.99", "$1,234.56",
    "::1", "fe80::1%eth0", "1:2:3:4:5:6:1.2.3.4", "a:b:c:d:e:f:1:2", "sk-abcdefghijklmnopqrstu",
    "ASIAABCDEFGHIJKLMNOP", "ghp_abcdefghijklmnopqrstuvwxyzabcdefghij",
    "eyJhbGciOiJIUzI1NiJ9.eyJzdWIiOiIxMjM0In0.abcdefgh123", "bearer  xyz1234567890abcdefg==",
    "BEARER tokenwith1digit12345", "bEaReR abcdef1234567890abcdef", "Authorization:",
    "550e8400-e29b-41d4-a716-446655440000", "4bf92f3577b34da6a3ce929d0e0e4736", "2024-01-15",
    "10:30:00Z", "31/12/2024", "gpt-4o-2024-08-06", "claude-3-5-sonnet@20240620",
    "numpy==1.26.4", "Python 3.11.7", "B-12", "12345", "9:30", "é", "ß1", "日本", "\u00a0", "٣",
    "4111 1111 1111 1111 111", "4111-1111-1111-1111-111", "3782-822463-10005", "3782 822463 1000",
    "4111 1111 1111 1111 1111", "2223 0031 2200 3222", "6011-0009-9013-9424",
]  # fmt: skip
SEPARATORS = ["", "", " ", " ", "  ", "\n", ".", ",", "-", "_", "+", "@", ":", "(", ")", "/", "é"]
ALPHABET = string.ascii_letters + string.digits + " .-+@:()_%/=\néß"


def _chunk(rng: random.Random) -> str:
    roll = rng.random()
    if roll < 0.55:
        return rng.choice(FRAGMENTS)
    if roll < 0.7:
        return "".join(rng.choice(ALPHABET) for _ in range(rng.randint(1, 12)))
    if roll < 0.85:
        return "".join(rng.choice(string.digits + " .-") for _ in range(rng.randint(1, 25)))
    if roll < 0.93:  # a value with a few characters changed
        chars = list(rng.choice(FRAGMENTS))
        for _ in range(rng.randint(1, 3)):
            chars[rng.randrange(len(chars))] = rng.choice(ALPHABET)
        return "".join(chars)
    return rng.choice(["Lorem ipsum dolor sit amet ", "Order 12345 cost 19.99 EUR. ", "x" * 300])


def random_text(rng: random.Random) -> str:
    parts = []
    for _ in range(rng.choice([1, 2, 3, 5, 8, 20, 60])):  # short values and long texts
        parts += [_chunk(rng), rng.choice(SEPARATORS)]
    return "".join(parts)


@pytest.fixture(params=ENGINES)
def redactor(request: pytest.FixtureRequest) -> Redactor:
    if request.param == "hyperscan":
        pytest.importorskip("hyperscan")  # a development dependency, where it has wheels
    return Redactor(engine=request.param, cache_size=0)


def test_random_texts_redacted_exactly_as_the_full_text_patterns_did(redactor: Redactor) -> None:
    rng = random.Random(20251)
    differ = []
    detected = 0
    for _ in range(4000):
        text = random_text(rng)
        found: set[str] = set()
        got = redactor.text(text, found)
        want = pii_reference.redact_text(text)
        detected += bool(want[1])
        if (got, found) != want:
            differ.append(text)
    assert not differ, differ[:3]
    assert 1000 < detected < 4000  # the texts hold PII and look-alikes, not one or the other


def test_engine_forced_by_environment(monkeypatch: pytest.MonkeyPatch) -> None:
    pytest.importorskip("hyperscan")
    for name in ENGINES:
        monkeypatch.setenv("LLMO_PII_ENGINE", name)
        assert Redactor().engine.name == name
    monkeypatch.setenv("LLMO_PII_ENGINE", "pcre")
    with pytest.raises(ValueError, match="unknown PII engine"):
        Redactor()


def test_engine_falls_back_when_the_best_does_not_import(monkeypatch: pytest.MonkeyPatch) -> None:
    pytest.importorskip("hyperscan")
    monkeypatch.delenv("LLMO_PII_ENGINE", raising=False)
    assert Redactor().engine.name == "re2"
    monkeypatch.setitem(sys.modules, "re2", None)  # import raises ImportError
    assert Redactor().engine.name == "hyperscan"
    monkeypatch.setitem(sys.modules, "hyperscan", None)
    assert Redactor().engine.name == "re"


# --- hostile values: correct here, fast in tests/performance/pii_benchmark.py ---------

SIZE = 64 * 1024


def _fill(unit: str) -> str:
    return (unit * (SIZE // len(unit) + 1))[:SIZE]


@pytest.mark.parametrize(
    "unit",
    [
        "@",
        "8203651749",
        ".",
        "+",
        "1.1.1.1.",
        "a:1:",
        "::",
        "sk-",
        "1 2 3 45 678 ",
        "Bearer ",
        "a@",
        "4111 ",
        "(555) ",
    ],
)
def test_hostile_value_without_pii_unchanged(redactor: Redactor, unit: str) -> None:
    text = _fill(unit)
    assert redactor.text(text, found := set()) == text
    assert found == set()


@pytest.mark.parametrize(
    ("unit", "kind"),
    [("1.1.1.1 ", "ip_address"), ("a@b.co ", "email"), ("555-123-4567 ", "phone")],
)
def test_hostile_value_of_back_to_back_pii_all_redacted(
    redactor: Redactor, unit: str, kind: str
) -> None:
    text = unit * (SIZE // len(unit))
    assert redactor.text(text, found := set()) == f"[REDACTED:{kind}] " * (SIZE // len(unit))
    assert found == {kind}


def test_hostile_digits_with_one_card_at_the_start(redactor: Redactor) -> None:
    # Only the first position may start a card; everything after it is one long number.
    text = "4111111111111111 " + "7" * SIZE
    assert redactor.text(text, set()) == "[REDACTED:credit_card] " + "7" * SIZE


# --- cache -----------------------------------------------------------------------------


def test_cache_returns_the_kinds_again_and_stays_bounded() -> None:
    redactor = Redactor(cache_size=3)
    for _ in range(2):  # the second round is answered from the cache
        found: set[str] = set()
        assert redactor.text("mail jane@example.com", found) == "mail [REDACTED:email]"
        assert found == {"email"}
        assert redactor.text("production", found) == "production"
    assert "production" in redactor._cache
    for index in range(10):
        redactor.text(f"value {index}", set())
    assert len(redactor._cache) <= 3


def test_cache_only_for_short_strings() -> None:
    redactor = Redactor()
    long_text = "x" * (CACHE_MAX_CHARS + 1)
    redactor.text(long_text, set())
    redactor.text("gpt-4o", set())
    assert long_text not in redactor._cache
    assert "gpt-4o" in redactor._cache
    uncached = Redactor(cache_size=0)
    assert uncached.text("gpt-4o", set()) == "gpt-4o"
    assert not uncached._cache


# --- cap on what one string may cost --------------------------------------------------


def test_text_over_the_cap_is_scanned_up_to_it_and_the_rest_replaced() -> None:
    redactor = Redactor(max_scan_bytes=4096)
    head = "mail jane@example.com, " + ("word, " * 1000)[: 4096 - 23]
    tail = "call 555-123-4567 " * 300
    assert len(head) == 4096
    redacted = redactor.text(head + tail, found := set())
    # Cut at the last space before the cap, the rest replaced: no phone number is kept.
    assert redacted == "mail [REDACTED:email], " + head[23:-1] + UNSCANNED
    assert found == {"email"}
    # Exactly at the cap: scanned whole, nothing cut.
    at_cap = ("a" * 4070) + " 555-123-4567 ok"
    assert len(at_cap) <= 4096
    assert redactor.text(at_cap, set()) == ("a" * 4070) + " [REDACTED:phone] ok"


def test_cap_never_keeps_the_first_half_of_a_value() -> None:
    redactor = Redactor(max_scan_bytes=4096)
    for offset in range(4060, 4100):  # the card straddles the cap at every position
        text = "x" * offset + " 4111 1111 1111 1111 and more text after it"
        redacted = redactor.text(text, set())
        assert "4111" not in redacted, offset
        assert redacted.endswith(UNSCANNED) or "[REDACTED:credit_card]" in redacted, offset


def test_cap_below_the_cut_window_is_refused() -> None:
    with pytest.raises(ValueError, match="max_scan_bytes"):
        Redactor(max_scan_bytes=100)


# --- places the collector stored unredacted before -----------------------------------


def test_span_resource_attributes_and_scope_name_redacted() -> None:
    span = make_span()
    span.resource_attributes = {"host.ip": "10.1.2.3", "service.name": "4012888888881881"}
    span.scope_name = "tenant jane@example.com"
    Redactor().span(span)
    assert span.resource_attributes == {
        "host.ip": "[REDACTED:ip_address]",
        "service.name": "4012888888881881",  # a safe key
    }
    assert span.scope_name == "tenant [REDACTED:email]"


def test_span_resource_left_alone_when_redacted_once_per_resource() -> None:
    span = make_span()
    span.resource_attributes = {"host.ip": "10.1.2.3"}
    Redactor().span(span, resource=False)
    assert span.resource_attributes == {"host.ip": "10.1.2.3"}


def test_log_resource_attributes_and_scope_name_redacted() -> None:
    row = LogRecordRow(
        time_unix_nano=1,
        body="ok",
        scope_name="lib 10.0.0.1",
        resource_attributes={"owner": "jane@example.com"},
    )
    Redactor().log(row)
    assert row.scope_name == "lib [REDACTED:ip_address]"
    assert row.resource_attributes == {"owner": "[REDACTED:email]"}
    assert row.pii_types == ["email", "ip_address"]


def test_metric_point_attributes_resource_and_scope_redacted() -> None:
    point = MetricPointRecord(
        metric_name="http.server.duration",
        metric_type="histogram",
        time_unix_nano=1,
        scope_name="meter for jane@example.com",
        attributes={"client.address": "203.0.113.9", "http.route": "/v1/chat", "n": 3},
        resource_attributes={"host.ip": "2001:db8::1"},
    )
    kinds = redact_metric_point(point)
    assert point.attributes == {
        "client.address": "[REDACTED:ip_address]",
        "http.route": "/v1/chat",
        "n": 3,
    }
    assert point.resource_attributes == {"host.ip": "[REDACTED:ip_address]"}
    assert point.scope_name == "meter for [REDACTED:email]"
    assert kinds == {"email", "ip_address"}


def test_attributes_idempotent_so_a_shared_resource_may_be_redacted_again() -> None:
    redactor = Redactor()
    attrs = {"a": "jane@example.com 10.0.0.1", "b": ["+14155552671"]}
    redactor.attributes(attrs, first := set())
    once = dict(attrs)
    redactor.attributes(attrs, second := set())
    assert attrs == once and first == {"email", "ip_address", "phone"} and second == set()


def test_one_redactor_shared_by_threads(redactor: Redactor) -> None:
    # Hyperscan's scan space may not be shared by two scans at once: one per thread.
    text = "x " * 200 + "mail jane@example.com"
    with ThreadPoolExecutor(2) as pool:
        results = list(pool.map(lambda _: redactor.text(text, set()), range(50)))
    assert set(results) == {"x " * 200 + "mail [REDACTED:email]"}
