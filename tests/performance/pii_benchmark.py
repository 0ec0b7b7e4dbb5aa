"""PII redaction speed: the full-text ``re.sub`` implementation against the candidate scan.

    uv run python -m tests.performance.pii_benchmark [--spans 400] [--mib 1]

Prints three tables (CPU time of this process; on a shared machine, rough):

* microseconds per realistic LLM span: a SpanRecord as the collector has it after GenAI
  extraction: a system prompt, a user prompt of 500-2,000 characters of prose with
  order numbers, dates, amounts and versions, a completion of 200-1,000 characters (an
  e-mail address in ~10% of the prompts, a phone number in ~2%), 10-20 ordinary
  attributes, a resource of an SDK's attributes;
* microseconds per KiB of prose with digits and no PII;
* milliseconds per hostile value of ``--mib`` MiB (target: under 50 ms each). The
  reference is timed on 64 KiB and scaled, because it takes seconds per MiB on some.

Every engine's output is checked against the reference's on the spans and on the 64 KiB
hostile values, so a fast wrong engine cannot pass as a fast one.
"""

from __future__ import annotations

import argparse
import copy
import random
import time
from collections.abc import Callable
from typing import Any

from llm_observatory.collector.processors.pii import Redactor
from llm_observatory.core.records import SpanRecord
from tests.support import pii_reference as reference

ENGINES = ("re2", "hyperscan", "re")
KIB = 1024

_SENTENCES = (
    "Order #{n5} was placed on 2025-{m:02d}-{d:02d} for ${n3}.{c:02d} and shipped in {n1} boxes.",
    "Our v{n1}.{n1}.{n2} release fixed {n2} bugs; see ticket PROJ-{n4} and build {n4}.",
    "The invoice INV-{n6} totals €{n3},{c:02d} ({n2}% VAT) and is due by {d:02d}/{m:02d}/2025.",
    "Between {h:02d}:{c:02d} and {h:02d}:30 the p99 latency was {n3} ms over {n5} requests.",
    "Please summarise the attached report of {n3} pages in {n1} bullet points.",
    "Customer {n6} asked whether plan {n2} still costs {n2}.99 per month after March {d}.",
    "The model answered in {n1}.{n2} seconds using {n4} tokens, {n2} of them cached.",
    "Can you rewrite this paragraph so that it reads more clearly and keeps every fact?",
    "We met on floor {n1}, room B-{n2}, and agreed to ship before Q{n1} of next year.",
    "Python 3.12.{n1} with numpy 1.26.{n1} and pandas 2.2.{n1} ran the {n3} test cases.",
)
_SYSTEM = (
    "You are a helpful assistant for an e-commerce company. Answer briefly and politely, "
    "cite order numbers exactly as given, and never invent prices, dates or policies."
)


def _prose(rng: random.Random, low: int, high: int) -> str:
    target = rng.randint(low, high)
    parts: list[str] = []
    size = 0
    while size < target:
        sentence = rng.choice(_SENTENCES).format(
            n1=rng.randint(1, 9),
            n2=rng.randint(10, 99),
            n3=rng.randint(100, 999),
            n4=rng.randint(1000, 9999),
            n5=rng.randint(10000, 99999),
            n6=rng.randint(100000, 999999),
            m=rng.randint(1, 12),
            d=rng.randint(1, 28),
            h=rng.randint(7, 20),
            c=rng.randint(0, 59),
        )
        parts.append(sentence)
        size += len(sentence) + 1
    return " ".join(parts)[:high]


def make_span(rng: random.Random, index: int) -> SpanRecord:
    prompt = _prose(rng, 500, 2000)
    if rng.random() < 0.10:
        prompt += f" My e-mail is jane.doe{rng.randint(1, 99)}@example.com, reply there."
    if rng.random() < 0.02:
        prompt += f" Or call +44 20 7946 {rng.randint(0, 9999):04d}."
    completion = _prose(rng, 200, 1000)
    model = rng.choice(("gpt-4o", "gpt-4o-mini", "claude-3-5-sonnet", "gemini-1.5-pro"))
    attributes: dict[str, Any] = {
        "gen_ai.operation.name": "chat",
        "gen_ai.provider.name": "openai",
        "gen_ai.request.model": model,
        "gen_ai.response.model": f"{model}-2024-08-06",
        "gen_ai.response.id": f"chatcmpl-{rng.getrandbits(64):016x}",
        "gen_ai.usage.input_tokens": rng.randint(100, 900),
        "gen_ai.usage.output_tokens": rng.randint(50, 400),
        "gen_ai.request.temperature": 0.7,
        "gen_ai.response.finish_reasons": ("stop",),
        "gen_ai.conversation.id": f"conv-{rng.getrandbits(32):08x}",
        "user.id": f"user-{rng.randint(1, 5000)}",
        "server.address": "api.openai.com",
        "server.port": 443,
        "http.response.status_code": 200,
    }
    for extra in range(rng.randint(0, 6)):
        attributes[f"app.tag.{extra}"] = rng.choice(("production", "eu-west-1", "beta", "42"))
    span = SpanRecord(
        trace_id=f"{rng.getrandbits(128):032x}",
        span_id=f"{rng.getrandbits(64):016x}",
        parent_span_id=None,
        name=f"chat {model}",
        kind="client",
        start_time_unix_nano=index,
        end_time_unix_nano=index + 1,
        scope_name="opentelemetry.instrumentation.openai_v2",
        attributes=attributes,
        resource_attributes={
            "service.name": "checkout",
            "service.instance.id": "6f1c0e1e-2a53-4c1b-9b2e-0b8e1d2f3a4b",
            "deployment.environment.name": "production",
            "host.name": "ip-10-0-3-17",
            "telemetry.sdk.version": "1.28.2",
        },
    )
    span.input_messages = [
        {"role": "system", "parts": [{"type": "text", "content": _SYSTEM}]},
        {"role": "user", "parts": [{"type": "text", "content": prompt}]},
    ]
    span.output_messages = [
        {
            "role": "assistant",
            "parts": [{"type": "text", "content": completion}],
            "finish_reason": "stop",
        }
    ]
    return span


def _reference_span(span: SpanRecord) -> None:
    """The old collector: redact_span plus the resource, as the old pipeline did."""
    reference.redact_span(span)
    reference.redact_attributes(span.resource_attributes, set())


def _cpu(run: Callable[[], Any], repeat: int = 3) -> float:
    best = float("inf")
    for _ in range(repeat):
        start = time.process_time()
        run()
        best = min(best, time.process_time() - start)
    return best


def bench_spans(count: int) -> list[tuple[str, float]]:
    rng = random.Random(7)
    spans = [make_span(rng, index) for index in range(count)]
    # Spans seen before the timed ones: the cache holds what repeats (attribute values,
    # the system prompt), never the timed prompts and completions themselves.
    warm_rng = random.Random(8)
    warm = [make_span(warm_rng, index) for index in range(200)]
    expected = [copy.deepcopy(span) for span in spans]
    for span in expected:
        _reference_span(span)

    def timed(new_redactor: Callable[[], Callable[[SpanRecord], None]]) -> float:
        best = float("inf")
        for _ in range(3):
            redact_one = new_redactor()
            for span in copy.deepcopy(warm):
                redact_one(span)
            batch = copy.deepcopy(spans)
            start = time.process_time()
            for span in batch:
                redact_one(span)
            best = min(best, time.process_time() - start)
            assert all(
                (got.input_messages, got.output_messages, got.attributes, got.pii_types)
                == (want.input_messages, want.output_messages, want.attributes, want.pii_types)
                for got, want in zip(batch, expected, strict=True)
            ), "output differs from the reference"
        return best / count * 1e6

    rows = [("reference (re.sub over the text)", timed(lambda: _reference_span))]
    for engine in ENGINES:
        rows.append((engine, timed(lambda e=engine: Redactor(engine=e).span)))
    rows.append(("re2, no cache", timed(lambda: Redactor(engine="re2", cache_size=0).span)))
    return rows


def bench_prose() -> list[tuple[str, float]]:
    rng = random.Random(3)
    text = _prose(rng, 64 * KIB, 64 * KIB)
    kib = len(text) / KIB
    rows = [("reference", _cpu(lambda: reference.redact_text(text)) / kib * 1e6)]
    for engine in ENGINES:
        redactor = Redactor(engine=engine)
        assert redactor.text(text, set()) == reference.redact_text(text)[0]
        rows.append((engine, _cpu(lambda r=redactor: r.text(text, set())) / kib * 1e6))
    return rows


# name -> the unit repeated to make the hostile value
HOSTILE: dict[str, str] = {
    "'@' only": "@",
    "digits only": "8203651749",
    "'.' only": ".",
    "'+' only": "+",
    "'1.1.1.1.' repeated": "1.1.1.1.",
    "':' and hex": "a:1:",
    "'::' only": "::",
    "'sk-' repeated": "sk-",
    "spaces and digits": "1 2 3 45 678 ",
    "4-digit groups": "4111 ",
    "'a@' repeated": "a@",
    "e-mails back to back": "a@b.co ",
    "valid IPv4s": "1.1.1.1 ",
    "'Bearer ' repeated": "Bearer ",
    "'AKIA' repeated": "AKIA",
    "'(555) ' repeated": "(555) ",
}


def _fill(unit: str, size: int) -> str:
    return (unit * (size // len(unit) + 1))[:size]


def bench_hostile(mib: float) -> list[tuple[str, float, list[float]]]:
    size = int(mib * KIB * KIB)
    small = 64 * KIB
    rows = []
    redactors = [Redactor(engine=engine, max_scan_bytes=size + 1) for engine in ENGINES]
    for name, unit in HOSTILE.items():
        text = _fill(unit, small)
        want = reference.redact_text(text)[0]
        ref_ms = _cpu(lambda t=text: reference.redact_text(t), 1) * 1e3 * size / small
        times = []
        big = _fill(unit, size)
        for redactor in redactors:
            assert redactor.text(text, set()) == want, (name, redactor.engine.name)
            times.append(_cpu(lambda r=redactor, t=big: r.text(t, set()), 2) * 1e3)
        rows.append((name, ref_ms, times))
    return rows


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--spans", type=int, default=400)
    parser.add_argument("--mib", type=float, default=1.0)
    args = parser.parse_args()

    print(f"µs of CPU per realistic LLM span ({args.spans} spans, best of 3)")
    for name, value in bench_spans(args.spans):
        print(f"  {name:<36} {value:8.1f}")
    print("\nµs per KiB of prose with digits (64 KiB, no PII)")
    for name, value in bench_prose():
        print(f"  {name:<36} {value:8.1f}")
    print(f"\nms per hostile value of {args.mib:g} MiB (reference: 64 KiB, scaled)")
    print(f"  {'value':<24} {'reference':>10} " + " ".join(f"{e:>10}" for e in ENGINES))
    for name, ref_ms, times in bench_hostile(args.mib):
        print(f"  {name:<24} {ref_ms:10.1f} " + " ".join(f"{t:10.1f}" for t in times))


if __name__ == "__main__":
    main()
