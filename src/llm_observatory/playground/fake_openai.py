"""A fake OpenAI-compatible provider: real HTTP, canned answers, no key, no network.

The official `openai` client and its OpenTelemetry instrumentation run against it
unchanged (`base_url=http://127.0.0.1:PORT/v1`), so tests and the playground produce
the spans a real application would, offline. Supports chat completions (plain and
streamed), embeddings, and failures chosen by model name: a model containing
`rate-limit` answers 429, one containing `timeout` answers after `timeout_seconds`.

Answers read like a support assistant's: chosen by the topic of the last user
message, quoting retrieved notes when the system prompt carries some; offered tools
are called with arguments taken from the question (an order number), and a tool's
result is turned into the final answer.
"""

from __future__ import annotations

import json
import re
import sys
import threading
import time
import uuid
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any

# Dated snapshot the fake reports for an alias, as the real API does.
RESPONSE_MODELS = {
    "gpt-4o": "gpt-4o-2024-08-06",
    "gpt-4o-mini": "gpt-4o-mini-2024-07-18",
    "text-embedding-3-small": "text-embedding-3-small",
}


# (words in the question, answer): the first match answers.
ANSWERS = (
    (
        ("password", "log in", "login"),
        "Open Settings > Security and choose Reset password. We email you a link that "
        "stays valid for 30 minutes; check your spam folder if it does not arrive.",
    ),
    (
        ("order", "parcel", "package"),
        "I can look that up: orders are tracked from the Orders page with their number, "
        "and you get an email at every step of the delivery.",
    ),
    (
        ("address", "delivery"),
        "You can change the delivery address from the order's page until the parcel "
        "ships. After that, the carrier can redirect it for a small fee.",
    ),
    (
        ("premium", "plan", "price"),
        "Premium adds priority support, data export and five extra seats. It costs "
        "$12 a month, and you can switch back at the end of any billing period.",
    ),
    (
        ("export", "download", "data"),
        "Go to Settings > Data and choose Export. You will get a ZIP file with your "
        "history as CSV and JSON within a few minutes.",
    ),
)
FALLBACK_ANSWER = "Happy to help. Could you tell me a little more about what you need?"


def answer_for(question: str) -> str:
    """A plausible support answer to a question (also used for simulated providers)."""
    lowered = question.lower()
    for words, answer in ANSWERS:
        if any(word in lowered for word in words):
            return answer
    return FALLBACK_ANSWER


def _text(content: Any) -> str:
    if isinstance(content, str):
        return content
    if isinstance(content, list):  # [{"type": "text", "text": ...}]
        return " ".join(str(part.get("text", "")) for part in content if isinstance(part, dict))
    return ""


def _last(messages: list[dict[str, Any]], role: str) -> dict[str, Any] | None:
    return next((m for m in reversed(messages) if m.get("role") == role), None)


class _QuietServer(ThreadingHTTPServer):
    daemon_threads = True

    def handle_error(self, request: Any, client_address: Any) -> None:
        # A client that gave up (the timeout scenario) closes its socket before the
        # slow answer is written: expected, not worth a traceback.
        if isinstance(sys.exc_info()[1], ConnectionError):
            return
        super().handle_error(request, client_address)


class FakeOpenAI:
    def __init__(
        self,
        host: str = "127.0.0.1",
        port: int = 0,
        prompt_tokens: int = 321,
        completion_tokens: int = 45,
        reply: str | None = None,  # set: every answer is this text
        timeout_seconds: float = 5.0,
    ) -> None:
        self.prompt_tokens = prompt_tokens
        self.completion_tokens = completion_tokens
        self.reply = reply
        self.timeout_seconds = timeout_seconds
        self.requests: list[dict[str, Any]] = []
        self._server = _QuietServer((host, port), self._handler())
        self._thread: threading.Thread | None = None

    @property
    def base_url(self) -> str:
        host, port = self._server.server_address[:2]
        return f"http://{host}:{port}/v1"

    def start(self) -> FakeOpenAI:
        self._thread = threading.Thread(target=self._server.serve_forever, daemon=True)
        self._thread.start()
        return self

    def stop(self) -> None:
        if self._thread is not None:  # shutdown() waits for a loop that must be running
            self._server.shutdown()
            self._thread = None
        self._server.server_close()

    def __enter__(self) -> FakeOpenAI:
        return self.start()

    def __exit__(self, *exc: object) -> None:
        self.stop()

    # ------------------------------------------------------------------ answers

    def answer(self, messages: list[dict[str, Any]]) -> str:
        if self.reply is not None:
            return self.reply
        last = messages[-1] if messages else {}
        if last.get("role") == "tool":
            try:
                result = json.loads(_text(last.get("content")) or "{}")
            except ValueError:
                result = {}
            if isinstance(result, dict) and "order" in result:
                return (
                    f"Order {result['order']} is {result.get('status', 'on its way')}"
                    f"{' with ' + result['carrier'] if result.get('carrier') else ''}. "
                    "You can follow it from the Orders page."
                )
            return "Done: the tool finished, and everything looks fine."
        system = _last(messages, "system")
        notes = _text(system.get("content")) if system else ""
        user = _last(messages, "user")
        question = _text(user.get("content")) if user else ""
        if "notes:" in notes:
            # Retrieval-augmented: quote the note sharing most words with the question.
            asked = set(re.findall(r"\w+", question.lower()))
            found = [n for n in notes.split("notes:", 1)[1].strip().splitlines() if n]
            best = max(found, key=lambda n: len(asked & set(re.findall(r"\w+", n.lower()))))
            return f"According to our help centre: {best}"
        return answer_for(question)

    def chat(self, request: dict[str, Any]) -> dict[str, Any]:
        model = request.get("model", "gpt-4o")
        tools = request.get("tools") or []
        messages = request.get("messages") or [{}]
        last = messages[-1]
        message: dict[str, Any] = {"role": "assistant", "content": self.answer(messages)}
        finish = "stop"
        # An agent's first turn: call the first tool offered with what the question
        # names (an order number); after the tool's result, answer.
        if tools and last.get("role") != "tool":
            function = tools[0].get("function", {})
            name = function.get("name", "tool")
            parameters = list((function.get("parameters") or {}).get("properties") or {})
            number = re.search(r"\d{3,}", _text(last.get("content")))
            arguments = {parameters[0] if parameters else "query": number[0] if number else ""}
            message = {
                "role": "assistant",
                "content": None,
                "tool_calls": [
                    {
                        "id": f"call_{uuid.uuid4().hex[:12]}",
                        "type": "function",
                        "function": {"name": name, "arguments": json.dumps(arguments)},
                    }
                ],
            }
            finish = "tool_calls"
        return {
            "id": f"chatcmpl-{uuid.uuid4().hex[:24]}",
            "object": "chat.completion",
            "created": int(time.time()),
            "model": RESPONSE_MODELS.get(model, model),
            "choices": [{"index": 0, "message": message, "finish_reason": finish}],
            "usage": self._usage(),
        }

    def _usage(self) -> dict[str, int]:
        return {
            "prompt_tokens": self.prompt_tokens,
            "completion_tokens": self.completion_tokens,
            "total_tokens": self.prompt_tokens + self.completion_tokens,
        }

    def chat_chunks(self, request: dict[str, Any]) -> list[dict[str, Any]]:
        full = self.chat(request)
        base = {k: full[k] for k in ("id", "created", "model")} | {
            "object": "chat.completion.chunk"
        }
        words = (full["choices"][0]["message"]["content"] or "").split(" ")
        chunks = [base | {"choices": [{"index": 0, "delta": {"role": "assistant", "content": ""}}]}]
        for i, word in enumerate(words):
            text = word if i == 0 else f" {word}"
            chunks.append(base | {"choices": [{"index": 0, "delta": {"content": text}}]})
        chunks.append(base | {"choices": [{"index": 0, "delta": {}, "finish_reason": "stop"}]})
        if (request.get("stream_options") or {}).get("include_usage"):
            chunks.append(base | {"choices": [], "usage": self._usage()})
        return chunks

    def embeddings(self, request: dict[str, Any]) -> dict[str, Any]:
        inputs = request.get("input")
        items = inputs if isinstance(inputs, list) else [inputs]
        return {
            "object": "list",
            "model": request.get("model", "text-embedding-3-small"),
            "data": [
                {"object": "embedding", "index": i, "embedding": [0.01 * (i + 1)] * 8}
                for i in range(len(items))
            ],
            "usage": {"prompt_tokens": self.prompt_tokens, "total_tokens": self.prompt_tokens},
        }

    def _handler(self) -> type[BaseHTTPRequestHandler]:
        fake = self

        class Handler(BaseHTTPRequestHandler):
            protocol_version = "HTTP/1.1"

            def log_message(self, *args: Any) -> None:  # quiet: tests read their own output
                return

            def _send(self, status: int, body: dict[str, Any]) -> None:
                data = json.dumps(body).encode()
                self.send_response(status)
                self.send_header("content-type", "application/json")
                self.send_header("content-length", str(len(data)))
                self.end_headers()
                self.wfile.write(data)

            def do_POST(self) -> None:
                length = int(self.headers.get("content-length") or 0)
                request = json.loads(self.rfile.read(length) or b"{}")
                fake.requests.append({"path": self.path, "body": request})
                model = str(request.get("model", ""))
                if "rate-limit" in model:
                    self._send(
                        429,
                        {"error": {"message": "Rate limit reached", "type": "rate_limit_error"}},
                    )
                    return
                if "timeout" in model:
                    time.sleep(fake.timeout_seconds)
                if self.path.endswith("/chat/completions"):
                    if request.get("stream"):
                        self._stream(fake.chat_chunks(request))
                    else:
                        self._send(200, fake.chat(request))
                elif self.path.endswith("/embeddings"):
                    self._send(200, fake.embeddings(request))
                else:
                    self._send(404, {"error": {"message": f"no route {self.path}"}})

            def _stream(self, chunks: list[dict[str, Any]]) -> None:
                self.send_response(200)
                self.send_header("content-type", "text/event-stream")
                self.send_header("transfer-encoding", "chunked")
                self.end_headers()
                for chunk in [*map(json.dumps, chunks), "[DONE]"]:
                    data = f"data: {chunk}\n\n".encode()
                    self.wfile.write(f"{len(data):x}\r\n".encode() + data + b"\r\n")
                self.wfile.write(b"0\r\n\r\n")

        return Handler
