"""Send one LLM trace to LLM Observatory with the SDK (no API key, no network needed).

    invoke up                                   # the stack: collector on localhost:4317
    uv run python examples/sdk_quickstart.py    # or: python examples/sdk_quickstart.py

Where to send is read from the standard variables when set, e.g.
OTEL_EXPORTER_OTLP_ENDPOINT=http://localhost:4318 OTEL_EXPORTER_OTLP_PROTOCOL=http/protobuf.
The call below is simulated; in your app the block wraps the real client call.
"""

from __future__ import annotations

import time

from llm_observatory.sdk import agent, configure, llm_call, tool_call


def main() -> None:
    # OTLP to localhost:4317 unless OTEL_EXPORTER_OTLP_* say otherwise.
    telemetry = configure(service_name="sdk-quickstart")

    with agent("support-agent") as run:  # the trace's root span
        with llm_call(
            provider="anthropic",
            model="claude-3-5-sonnet-20241022",
            input_messages=[{"role": "user", "content": "Where is my order 4417?"}],
            max_tokens=512,
        ) as call:
            time.sleep(0.05)  # your client call goes here
            call.set_usage(input_tokens=1200, output_tokens=80, cache_read_tokens=1000)
            call.set_response(
                model="claude-3-5-sonnet-20241022", id="msg_01Example", finish_reasons=["tool_use"]
            )
        with tool_call("get_order_status", call_id="toolu_01Example") as tool:
            tool.set_result({"order": "4417", "status": "shipped"})

    trace_id = format(run.span.get_span_context().trace_id, "032x")
    telemetry.shutdown()  # sends what is still buffered; always call it before exiting
    print(f"sent trace {trace_id} as service sdk-quickstart")


if __name__ == "__main__":
    main()
