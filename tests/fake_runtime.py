"""A local SageMaker Runtime for `invoke`, `bench` and `probe`: InvokeEndpoint and
InvokeEndpointWithResponseStream on 127.0.0.1, speaking LMI's request and response formats
with a configured time to first token and time per output token.

    .venv/bin/python tests/fake_runtime.py --port 8080 --ttft-ms 150 --tpot-ms 25 --tokens 64
    export AWS_ENDPOINT_URL_SAGEMAKER_RUNTIME=http://127.0.0.1:8080
    export AWS_ACCESS_KEY_ID=testing AWS_SECRET_ACCESS_KEY=testing

What it serves (docs/serving.md says where each shape comes from):
- a request with ``messages`` is a chat completion: a ``chat.completion`` object, or streamed
  ``chat.completion.chunk`` JSON lines; anything else is LMI's text generation: a
  ``{"generated_text"}`` object, or streamed ``{"token": {"id", "text", "log_prob"}}`` JSON
  lines, the last one carrying ``generated_text`` too.
- streamed answers are AWS event-stream ``PayloadPart`` messages, one token each, in HTTP
  chunks sent as the token is due: the first ``ttft`` after the request arrived, then one every
  ``tpot`` (against the clock, so sleeps do not add up their overshoot).
- ``--error-rate R`` fails that share of requests before any token, half as
  ``ThrottlingException`` (HTTP 400, as SageMaker throttles) and half as ``ModelError`` (HTTP
  424, the container answered 5xx), both parsed by botocore as ClientErrors with those codes.
- ``--behaviour``: ``filler`` answers ``--tokens`` words whatever was asked; ``echo`` repeats
  the prompt (system and user text) and so follows every injected instruction and leaks every
  secret, as the worst model would; ``refuse`` answers a fixed refusal and never repeats the
  prompt. The probe suite fails against ``echo`` and passes against ``refuse``.

Timing is by sleeps in one thread per connection (ThreadingHTTPServer): it stays accurate to a
fraction of a millisecond at tens of concurrent requests on an idle machine.
"""

from __future__ import annotations

import argparse
import binascii
import contextlib
import json
import random
import re
import socket
import struct
import threading
import time
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

_FILLER_TEXT = (
    "the quick brown fox jumps over the lazy dog while a model streams its answer one "
    "token at a time to a benchmark that measures every gap"
)
FILLER = tuple(_FILLER_TEXT.split())
REFUSAL = "I can't help with that request, but I'm happy to help with something else."


# --- AWS event-stream encoding (botocore has the parser only: botocore.eventstream) ----------


def _header(name: str, value: str) -> bytes:
    raw_name, raw_value = name.encode(), value.encode()
    # name length (1 byte), name, type 7 = string, value length (2 bytes), value
    return (
        struct.pack("!B", len(raw_name))
        + raw_name
        + b"\x07"
        + struct.pack("!H", len(raw_value))
        + raw_value
    )


def encode_message(headers: dict[str, str], payload: bytes) -> bytes:
    """One event-stream message: prelude (total length, headers length), the prelude's CRC32,
    headers, payload, and the CRC32 of everything before it."""
    raw_headers = b"".join(_header(k, v) for k, v in headers.items())
    total = 12 + len(raw_headers) + len(payload) + 4
    prelude = struct.pack("!II", total, len(raw_headers))
    head = prelude + struct.pack("!I", binascii.crc32(prelude) & 0xFFFFFFFF)
    body = head + raw_headers + payload
    return body + struct.pack("!I", binascii.crc32(body) & 0xFFFFFFFF)


def payload_part(data: bytes) -> bytes:
    return encode_message(
        {
            ":event-type": "PayloadPart",
            ":content-type": "application/octet-stream",
            ":message-type": "event",
        },
        data,
    )


def stream_exception(kind: str, message: str) -> bytes:
    return encode_message(
        {
            ":exception-type": kind,
            ":content-type": "application/json",
            ":message-type": "exception",
        },
        json.dumps({"Message": message}).encode(),
    )


# --- Behaviour --------------------------------------------------------------------------------


@dataclass
class Settings:
    ttft_ms: float = 50.0
    tpot_ms: float = 10.0
    tokens: int = 16
    error_rate: float = 0.0
    behaviour: str = "filler"  # filler | echo | refuse
    seed: int | None = None


@dataclass
class Seen:
    """What the server received, for tests: endpoint, component header, body."""

    requests: list[dict] = field(default_factory=list)
    lock: threading.Lock = field(default_factory=threading.Lock)

    def add(self, item: dict) -> None:
        with self.lock:
            self.requests.append(item)


def _prompt_text(body: dict) -> str:
    if "messages" in body:
        parts = []
        for m in body.get("messages") or []:
            content = m.get("content") if isinstance(m, dict) else None
            if isinstance(content, str):
                parts.append(content)
        return "\n".join(parts)
    inputs = body.get("inputs")
    return inputs if isinstance(inputs, str) else json.dumps(inputs)


def _max_tokens(body: dict) -> int | None:
    if "messages" in body:
        value = body.get("max_tokens")
    else:
        value = (body.get("parameters") or {}).get("max_new_tokens")
    return value if isinstance(value, int) and value > 0 else None


def answer_tokens(settings: Settings, body: dict) -> list[str]:
    """The answer, as tokens (words with their leading space)."""
    limit = _max_tokens(body)
    if settings.behaviour == "echo":
        words = re.findall(r"\S+", _prompt_text(body)) or ["(empty)"]
        return [(" " if i else "") + w for i, w in enumerate(words)]  # all of it, uncapped
    if settings.behaviour == "refuse":
        words = REFUSAL.split()
    else:
        n = settings.tokens if limit is None else min(settings.tokens, limit)
        words = [FILLER[i % len(FILLER)] for i in range(max(n, 1))]
    return [(" " if i else "") + w for i, w in enumerate(words)]


# --- HTTP -------------------------------------------------------------------------------------

_PATH = re.compile(r"^/endpoints/([^/]+)/(invocations|invocations-response-stream)$")


class Handler(BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.1"  # keep-alive: a benchmark reuses its connections
    server: FakeRuntime

    def setup(self):
        super().setup()
        # Small writes go out at once, as a real server's do: with Nagle's algorithm a token
        # written soon after the headers would wait for the client's delayed ACK (~40 ms).
        self.connection.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)

    def log_message(self, format, *args):  # quiet: tests read the output
        pass

    def do_POST(self):
        start = time.perf_counter()
        length = int(self.headers.get("Content-Length") or 0)
        raw = self.rfile.read(length)
        match = _PATH.match(self.path.split("?", 1)[0])
        if not match:
            return self._error(404, "UnknownOperationException", f"no route {self.path}")
        endpoint, op = match.group(1), match.group(2)
        component = self.headers.get("X-Amzn-SageMaker-Inference-Component")
        try:
            body = json.loads(raw or b"{}")
            assert isinstance(body, dict)
        except (ValueError, AssertionError):
            return self._error(
                424,
                "ModelError",
                "Received client error (400) from primary with message "
                '"{"error": "Input is not valid JSON"}"',
            )
        self.server.seen.add(
            {"endpoint": endpoint, "component": component, "operation": op, "body": body}
        )
        settings = self.server.settings
        if self.server.known and endpoint not in self.server.known:
            return self._error(
                400,
                "ValidationError",
                f"Endpoint {endpoint} of account 123456789012 not found.",
            )
        failure = self.server.draw_failure()
        if failure == "throttle":
            return self._error(400, "ThrottlingException", "Rate exceeded")
        if failure == "model":
            return self._error(
                424,
                "ModelError",
                "Received server error (500) from primary with message "
                '"{"error": "CUDA out of memory"}"',
                original=500,
            )
        tokens = answer_tokens(settings, body)
        chat = "messages" in body
        if op == "invocations":
            due = start + (settings.ttft_ms + settings.tpot_ms * (len(tokens) - 1)) / 1000
            _sleep_until(due)
            text = "".join(tokens)
            if chat:
                out = _chat_completion(text, len(tokens), body)
            else:
                out = {"generated_text": text, "details": {"generated_tokens": len(tokens)}}
            data = json.dumps(out).encode()
            self.send_response(200)
            self.send_header("Content-Type", "application/json")
            self.send_header("Content-Length", str(len(data)))
            self.end_headers()
            self.wfile.write(data)
            return None
        self.send_response(200)
        self.send_header("Content-Type", "application/vnd.amazon.eventstream")
        self.send_header("X-Amzn-SageMaker-Content-Type", "application/jsonlines")
        self.send_header("Transfer-Encoding", "chunked")
        self.end_headers()
        for i, token in enumerate(tokens):
            last = i == len(tokens) - 1
            if chat:
                line = _chat_chunk(token, i, last)
            else:
                line = {"token": {"id": 1000 + i, "text": token, "log_prob": -0.5}}
                if last:
                    line["generated_text"] = "".join(tokens)
                    line["details"] = {"generated_tokens": len(tokens), "finish_reason": "length"}
            _sleep_until(start + (settings.ttft_ms + settings.tpot_ms * i) / 1000)
            self._chunk(payload_part((json.dumps(line) + "\n").encode()))
        self._chunk(b"")
        return None

    def _chunk(self, data: bytes) -> None:
        self.wfile.write(f"{len(data):x}\r\n".encode() + data + b"\r\n")
        self.wfile.flush()

    def _error(self, status: int, code: str, message: str, original: int | None = None) -> None:
        out: dict = {"message": message}
        if original is not None:
            out |= {"OriginalStatusCode": original, "OriginalMessage": message}
        data = json.dumps(out).encode()
        self.send_response(status)
        self.send_header("x-amzn-ErrorType", f"{code}:http://internal.amazon.com/coral/")
        self.send_header("Content-Type", "application/json")
        self.send_header("Content-Length", str(len(data)))
        self.end_headers()
        self.wfile.write(data)


def _chat_completion(text: str, n: int, body: dict) -> dict:
    return {
        "id": "chatcmpl-0",
        "object": "chat.completion",
        "created": int(time.time()),
        "choices": [
            {
                "index": 0,
                "message": {"role": "assistant", "content": text},
                "logprobs": None,
                "finish_reason": "length",
            }
        ],
        "usage": {
            "prompt_tokens": len(_prompt_text(body).split()),
            "completion_tokens": n,
            "total_tokens": len(_prompt_text(body).split()) + n,
        },
    }


def _chat_chunk(token: str, i: int, last: bool) -> dict:
    delta = {"content": token} | ({"role": "assistant"} if i == 0 else {})
    return {
        "id": "chatcmpl-0",
        "object": "chat.completion.chunk",
        "created": int(time.time()),
        "choices": [
            {
                "index": 0,
                "delta": delta,
                "logprobs": None,
                "finish_reason": "length" if last else None,
            }
        ],
    }


def _sleep_until(due: float) -> None:
    left = due - time.perf_counter()
    if left > 0:
        time.sleep(left)


class FakeRuntime(ThreadingHTTPServer):
    daemon_threads = True
    request_queue_size = 256  # concurrency 32 and more connect at once

    def __init__(self, port: int, settings: Settings, known: set[str] | None = None):
        super().__init__(("127.0.0.1", port), Handler)
        self.settings = settings
        self.known = known
        self.seen = Seen()
        self._random = random.Random(settings.seed)
        self._lock = threading.Lock()

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.server_address[1]}"

    def draw_failure(self) -> str | None:
        with self._lock:
            if self._random.random() >= self.settings.error_rate:
                return None
            return self._random.choice(("throttle", "model"))


def start(settings: Settings | None = None, port: int = 0, **kw) -> FakeRuntime:
    """A fake runtime serving in a daemon thread (port 0: a free one); ``.shutdown()`` it."""
    server = FakeRuntime(port, settings or Settings(), **kw)
    threading.Thread(target=server.serve_forever, daemon=True).start()
    return server


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--port", type=int, default=8080)
    parser.add_argument("--ttft-ms", type=float, default=50.0, help="time to first token")
    parser.add_argument("--tpot-ms", type=float, default=10.0, help="time per output token")
    parser.add_argument("--tokens", type=int, default=16, help="output tokens per answer")
    parser.add_argument(
        "--error-rate", type=float, default=0.0, help="share of requests failed, 0 to 1"
    )
    parser.add_argument("--behaviour", choices=("filler", "echo", "refuse"), default="filler")
    parser.add_argument("--seed", type=int, default=None)
    args = parser.parse_args()
    if not 0 <= args.error_rate <= 1:
        parser.error("--error-rate is a share between 0 and 1 (0.05 is 5%)")
    settings = Settings(
        args.ttft_ms, args.tpot_ms, args.tokens, args.error_rate, args.behaviour, args.seed
    )
    server = FakeRuntime(args.port, settings)
    print(f"fake SageMaker Runtime on {server.url}", flush=True)
    with contextlib.suppress(KeyboardInterrupt):
        server.serve_forever()


if __name__ == "__main__":
    main()
