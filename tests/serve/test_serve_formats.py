"""LMI's request and response formats, and streamed lines cut anywhere."""

from __future__ import annotations

import json

import pytest

from llmdeploy.serve.formats import (
    ChatCompletions,
    FormatError,
    LineDecoder,
    Prompt,
    TextGeneration,
)


def test_text_generation_request_puts_the_system_text_first():
    body = TextGeneration().request(Prompt("Hi", "Be brief."), max_tokens=8, stream=True)
    assert body == {
        "inputs": "Be brief.\n\nHi",
        "parameters": {"max_new_tokens": 8},
        "stream": True,
    }


def test_chat_request_has_messages():
    body = ChatCompletions().request(Prompt("Hi", "Be brief."), max_tokens=8, stream=False)
    assert body == {
        "messages": [
            {"role": "system", "content": "Be brief."},
            {"role": "user", "content": "Hi"},
        ],
        "max_tokens": 8,
    }


def test_answers_of_both_formats():
    tg = TextGeneration().answer({"generated_text": "ok", "details": {"generated_tokens": 1}})
    assert (tg.text, tg.tokens) == ("ok", 1)
    assert TextGeneration().answer([{"generated_text": "tgi"}]).text == "tgi"
    chat = ChatCompletions().answer(
        {"choices": [{"message": {"content": "yes"}}], "usage": {"completion_tokens": 1}}
    )
    assert (chat.text, chat.tokens) == ("yes", 1)


def test_a_chat_answer_read_as_text_generation_names_the_fix():
    with pytest.raises(FormatError, match="requestFormat: chat-completions"):
        TextGeneration().answer({"choices": [{"message": {"content": "x"}}]})
    with pytest.raises(FormatError, match="requestFormat: text-generation"):
        ChatCompletions().stream_text({"token": {"text": "x"}})


def test_stream_lines_give_token_text():
    tg = TextGeneration()
    assert tg.stream_text({"token": {"id": 1, "text": " a", "log_prob": -1}}) == " a"
    assert tg.stream_text({"token": {"text": "", "special": True}}) is None
    assert tg.stream_text({"generated_text": "done", "details": {}}) is None
    chat = ChatCompletions()
    assert chat.stream_text({"choices": [{"delta": {"role": "assistant"}}]}) is None
    assert chat.stream_text({"choices": [{"delta": {"content": " b"}}]}) == " b"
    assert chat.stream_text({"choices": [], "usage": {}}) is None


def test_lines_cut_across_payload_parts_and_server_sent_events():
    lines = [{"token": {"text": str(i)}} for i in range(3)]
    data = "".join(json.dumps(x) + "\n" for x in lines).encode()
    decoder = LineDecoder()
    out = []
    for i in range(0, len(data), 7):
        out.extend(decoder.feed(data[i : i + 7]))
    assert out == lines
    sse = LineDecoder()
    assert list(sse.feed(b'data: {"a": 1}\n\ndata: [DONE]\n')) == [{"a": 1}]
    tail = LineDecoder()
    assert list(tail.feed(b'{"a": 2}')) == []
    assert list(tail.close()) == [{"a": 2}]


def test_a_line_that_is_not_json_is_an_error_saying_what_came():
    with pytest.raises(FormatError, match="not JSON: 'hello'"):
        list(LineDecoder().feed(b"hello\n"))
