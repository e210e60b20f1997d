"""The fake runtime's event-stream encoder, read back by botocore's own parser."""

from __future__ import annotations

import pytest
from botocore.eventstream import ChecksumMismatch, EventStreamBuffer

from fake_runtime import encode_message, payload_part, stream_exception


def _parse(data: bytes):
    buffer = EventStreamBuffer()
    buffer.add_data(data)
    return list(buffer)


def test_payload_parts_round_trip_through_botocore():
    payloads = [b'{"token": {"text": "hi"}}\n', b"", "é…".encode() * 500]
    messages = _parse(b"".join(payload_part(p) for p in payloads))
    assert [m.payload for m in messages] == payloads
    for m in messages:
        assert m.headers == {
            ":event-type": "PayloadPart",
            ":content-type": "application/octet-stream",
            ":message-type": "event",
        }
        assert m.prelude.total_length == len(payload_part(m.payload))


def test_a_message_split_anywhere_is_reassembled():
    data = payload_part(b"abc") + payload_part(b"defgh")
    buffer = EventStreamBuffer()
    out = []
    for i in range(len(data)):  # one byte at a time
        buffer.add_data(data[i : i + 1])
        out.extend(m.payload for m in buffer)
    assert out == [b"abc", b"defgh"]


def test_exception_messages_carry_their_type():
    (message,) = _parse(stream_exception("ModelStreamError", "broken"))
    assert message.headers[":message-type"] == "exception"
    assert message.headers[":exception-type"] == "ModelStreamError"


@pytest.mark.parametrize("where", [9, -2])  # in the prelude's CRC, in the message's CRC
def test_a_corrupted_byte_fails_botocore_s_checksum(where):
    data = bytearray(encode_message({":message-type": "event"}, b"payload"))
    data[where] ^= 0xFF
    with pytest.raises(ChecksumMismatch):
        _parse(bytes(data))
