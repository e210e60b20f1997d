"""The request and response formats LMI speaks, one class per `spec.requestFormat`.

- ``text-generation`` (djl-serving lmi_input_output_schema.md): request
  ``{"inputs", "parameters", "stream"}``; answer ``{"generated_text"}``; streamed, JSON lines
  ``{"token": {"id", "text", "log_prob"}}``, the last line also carrying ``generated_text``.
- ``chat-completions`` (djl-serving chat_input_output_schema.md, OpenAI-compatible): request
  ``{"messages", "max_tokens", "stream"}``; answer a ``chat.completion`` object; streamed,
  ``chat.completion.chunk`` JSON lines whose ``choices[0].delta.content`` is the new text.

Streamed lines may also come as server-sent events (``data: {...}``, LMI's
``option.output_formatter=sse`` or ``OPTION_TGI_COMPAT``): the ``data:`` prefix is stripped
and ``[DONE]`` ignored. SageMaker cuts the stream into PayloadParts wherever it likes, so a
`LineDecoder` joins the bytes and splits them on newlines.
"""

from __future__ import annotations

import json
from collections.abc import Iterator
from dataclasses import dataclass
from typing import Any, Protocol

from llmdeploy.errors import LlmdeployError


class FormatError(LlmdeployError):
    """The answer is not in the format the spec says the model speaks."""


@dataclass(frozen=True)
class Prompt:
    user: str
    system: str | None = None


@dataclass(frozen=True)
class Answer:
    """A whole (non-streamed) answer."""

    text: str
    tokens: int | None  # as the server counts them, where it says


class Format(Protocol):
    name: str

    def request(self, prompt: Prompt, *, max_tokens: int, stream: bool) -> dict[str, Any]: ...

    def answer(self, body: Any) -> Answer: ...

    def stream_text(self, line: Any) -> str | None:
        """The text one streamed JSON line adds; None for a line that carries no token."""
        ...


def _bad(what: str, body: Any) -> FormatError:
    shown = json.dumps(body, ensure_ascii=False)
    shown = shown if len(shown) <= 200 else shown[:200] + "…"
    return FormatError(f"{what}; the model answered {shown}")


class TextGeneration:
    name = "text-generation"

    def request(self, prompt: Prompt, *, max_tokens: int, stream: bool) -> dict[str, Any]:
        # The schema has no system role: the system text leads the prompt.
        inputs = f"{prompt.system}\n\n{prompt.user}" if prompt.system else prompt.user
        body: dict[str, Any] = {"inputs": inputs, "parameters": {"max_new_tokens": max_tokens}}
        if stream:
            body["stream"] = True
        return body

    def answer(self, body: Any) -> Answer:
        if isinstance(body, list) and len(body) == 1:  # TGI-style [{"generated_text": ...}]
            body = body[0]
        if not isinstance(body, dict) or not isinstance(body.get("generated_text"), str):
            raise _bad(
                'no "generated_text" in the answer (requestFormat text-generation); if the '
                "model speaks the chat schema, set spec.requestFormat: chat-completions",
                body,
            )
        details = body.get("details") or {}
        tokens = details.get("generated_tokens") if isinstance(details, dict) else None
        return Answer(body["generated_text"], tokens if isinstance(tokens, int) else None)

    def stream_text(self, line: Any) -> str | None:
        if not isinstance(line, dict):
            raise _bad("a streamed line is not a JSON object", line)
        token = line.get("token")
        if isinstance(token, dict):
            if token.get("special"):
                return None
            text = token.get("text")
            return text if isinstance(text, str) else ""
        if "generated_text" in line or "details" in line:
            return None  # a closing line without a token
        raise _bad(
            'a streamed line has no "token" (requestFormat text-generation); if the model '
            "speaks the chat schema, set spec.requestFormat: chat-completions",
            line,
        )


class ChatCompletions:
    name = "chat-completions"

    def request(self, prompt: Prompt, *, max_tokens: int, stream: bool) -> dict[str, Any]:
        messages = [{"role": "system", "content": prompt.system}] if prompt.system else []
        messages.append({"role": "user", "content": prompt.user})
        body: dict[str, Any] = {"messages": messages, "max_tokens": max_tokens}
        if stream:
            body["stream"] = True
        return body

    def answer(self, body: Any) -> Answer:
        try:
            text = body["choices"][0]["message"]["content"]
        except (KeyError, IndexError, TypeError):
            raise _bad(
                'no "choices[0].message.content" in the answer (requestFormat '
                "chat-completions); if the model speaks LMI's inputs/parameters schema, set "
                "spec.requestFormat: text-generation",
                body,
            ) from None
        usage = body.get("usage") if isinstance(body.get("usage"), dict) else {}
        tokens = usage.get("completion_tokens")
        return Answer(text or "", tokens if isinstance(tokens, int) else None)

    def stream_text(self, line: Any) -> str | None:
        if not isinstance(line, dict) or "choices" not in line:
            raise _bad(
                'a streamed line has no "choices" (requestFormat chat-completions); if the '
                "model speaks LMI's inputs/parameters schema, set spec.requestFormat: "
                "text-generation",
                line,
            )
        choices = line.get("choices") or []
        if not choices:
            return None  # a usage-only closing chunk
        delta = choices[0].get("delta") if isinstance(choices[0], dict) else None
        content = delta.get("content") if isinstance(delta, dict) else None
        return content if isinstance(content, str) and content else None


FORMATS: dict[str, Format] = {f.name: f for f in (TextGeneration(), ChatCompletions())}


def get(name: str) -> Format:
    return FORMATS[name]


class LineDecoder:
    """Bytes in (PayloadParts, cut anywhere), JSON values out, one per complete line."""

    def __init__(self) -> None:
        self._buffer = b""

    def feed(self, data: bytes) -> Iterator[Any]:
        self._buffer += data
        while b"\n" in self._buffer:
            line, self._buffer = self._buffer.split(b"\n", 1)
            value = _parse_line(line)
            if value is not None:
                yield value

    def close(self) -> Iterator[Any]:
        line, self._buffer = self._buffer, b""
        value = _parse_line(line)
        if value is not None:
            yield value


def _parse_line(raw: bytes) -> Any:
    line = raw.strip()
    if line.startswith(b"data:"):
        line = line[5:].strip()
    if not line or line == b"[DONE]" or line.startswith((b"event:", b"id:", b":")):
        return None
    try:
        return json.loads(line)
    except ValueError:
        text = line.decode("utf-8", "replace")
        raise FormatError(
            f"a streamed line is not JSON: {text[:200]!r} (LMI streams JSON lines; "
            "is the container an LMI image?)"
        ) from None
