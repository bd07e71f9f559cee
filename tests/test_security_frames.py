"""WebSocket frames crafted by hand over a plain socket to 127.0.0.1: fragments, oversize, malformed, ping/pong."""
import json
import os
import time

import pytest
import requests

from conftest import LiveServer, chat, raw_handshake
from webui import create_app

TEXT, BINARY, CLOSE, PING, PONG, CONTINUATION = 0x1, 0x2, 0x8, 0x9, 0xA, 0x0


def frame(opcode, payload=b"", fin=True, masked=True, rsv=0):
    """One client frame; clients must mask theirs, so `masked=False` makes a malformed one."""
    size = len(payload)
    head = bytes([(0x80 if fin else 0) | rsv | opcode])
    mask_bit = 0x80 if masked else 0
    if size < 126:
        head += bytes([mask_bit | size])
    elif size < 65536:
        head += bytes([mask_bit | 126]) + size.to_bytes(2, "big")
    else:
        head += bytes([mask_bit | 127]) + size.to_bytes(8, "big")
    if not masked:
        return head + payload
    key = os.urandom(4)
    mask = (key * (size // 4 + 1))[:size]
    return head + key + (int.from_bytes(payload, "big") ^ int.from_bytes(mask, "big")).to_bytes(size, "big")


def recv_exact(sock, size):
    """Exactly `size` bytes; EOFError when the server hangs up first."""
    data = b""
    while len(data) < size:
        chunk = sock.recv(size - len(data))
        if not chunk:
            raise EOFError
        data += chunk
    return data


class NotAFrame(Exception):
    """Bytes after the WebSocket ended: werkzeug's dev server writes an HTTP response once the handler returns."""


def read_frame(sock):
    """(opcode, payload) of the next server frame (servers do not mask, and use no reserved bits)."""
    first, second = recv_exact(sock, 2)
    if first & 0x70:
        raise NotAFrame
    size = second & 0x7F
    if size == 126:
        size = int.from_bytes(recv_exact(sock, 2), "big")
    elif size == 127:
        size = int.from_bytes(recv_exact(sock, 8), "big")
    return first & 0x0F, recv_exact(sock, size)


def close_code(sock, frames=1000):
    """Read until the server closes: the code of its close frame, or None when it hung up without one."""
    try:
        for _ in range(frames):
            opcode, payload = read_frame(sock)
            if opcode == CLOSE:
                return int.from_bytes(payload[:2], "big") if payload else None
    except (EOFError, ConnectionResetError, NotAFrame):
        return None
    raise AssertionError("the server kept sending frames")


@pytest.fixture
def live(app_config):
    """A server with a socket timeout on every read: a test fails rather than hangs."""
    server = LiveServer(create_app({**app_config, "WEBUI_PING_INTERVAL": 1}))
    yield server
    server.stop()


def open_socket(server):
    """A raw socket that has completed the WebSocket handshake."""
    status, sock = raw_handshake(server.url)
    assert status == 101
    sock.settimeout(5)
    return sock


def answer(sock, request_id):
    """The JSON frames of one request up to its final frame, answering pings on the way."""
    frames = []
    for _ in range(1000):
        opcode, payload = read_frame(sock)
        if opcode == PING:
            sock.sendall(frame(PONG, payload))
        elif opcode == TEXT:
            frames.append(json.loads(payload))
            if frames[-1].get("request_id") == request_id and frames[-1]["type"] in ("done", "error"):
                return frames
    raise AssertionError("no final frame")


def test_fragmented_frames_are_reassembled(live):
    sock = open_socket(live)
    data = json.dumps(chat("frag", "one two three")).encode()
    # A control frame may come between the fragments of a message.
    sock.sendall(frame(TEXT, data[:10], fin=False) + frame(PING, b"hi") + frame(CONTINUATION, data[10:20], fin=False))
    sock.sendall(frame(CONTINUATION, data[20:]))
    frames = answer(sock, "frag")
    assert "".join(f["text"] for f in frames if f["type"] == "delta") == "one two three "
    sock.sendall(frame(CLOSE, (1000).to_bytes(2, "big")))
    assert close_code(sock) in (1000, None)
    sock.close()


@pytest.mark.parametrize("fragments", [1, 3], ids=["one frame", "fragments"])
def test_a_message_over_the_limit_closes_with_1009(live, fragments):
    sock = open_socket(live)
    limit = live.app.config["WEBUI_MAX_FRAME_BYTES"]
    piece = b"x" * (limit // fragments + 1)
    for n in range(fragments):
        sock.sendall(frame(TEXT if n == 0 else CONTINUATION, piece, fin=n == fragments - 1))
    assert close_code(sock) == 1009
    sock.close()


PROTOCOL_ERROR, NOT_UTF8 = 1002, 1007
MALFORMED = {
    "unmasked": (frame(TEXT, b'{"type": "stop"}', masked=False), PROTOCOL_ERROR),
    "reserved opcode": (frame(0x3, b"x"), PROTOCOL_ERROR),
    "reserved bit without an extension": (frame(TEXT, b"x", rsv=0x40), PROTOCOL_ERROR),
    "continuation with nothing to continue": (frame(CONTINUATION, b"x"), PROTOCOL_ERROR),
    "fragmented ping": (frame(PING, b"x", fin=False), PROTOCOL_ERROR),
    "ping over 125 bytes": (frame(PING, b"x" * 200), PROTOCOL_ERROR),
    "text that is not UTF-8": (frame(TEXT, b"\xff\xfe\xfd"), NOT_UTF8),
    "garbage": (b"\xff" * 16, PROTOCOL_ERROR),
}


def test_malformed_frames_close_the_socket_and_the_server_carries_on(live):
    for name, (data, code) in MALFORMED.items():
        sock = open_socket(live)
        sock.sendall(data)
        # The close frame races the dev server's trailing response; when it comes first it carries the code.
        assert close_code(sock) in (code, None), name
        sock.close()
        assert requests.get(live.url + "/", timeout=5).status_code == 200, name
    sock = open_socket(live)
    sock.sendall(frame(TEXT, json.dumps(chat("after")).encode()))
    assert answer(sock, "after")[-1]["type"] == "done"
    sock.close()


def test_pings_keep_an_answering_socket_and_reap_a_silent_one(live):
    silent, answering = open_socket(live), open_socket(live)
    # Two intervals of answering every ping at once; the silent socket's frames wait in its buffer.
    deadline = time.monotonic() + 2.5
    while time.monotonic() < deadline:
        opcode, payload = read_frame(answering)
        assert opcode == PING
        answering.sendall(frame(PONG, payload))
    answering.sendall(frame(TEXT, json.dumps(chat("alive")).encode()))
    assert answer(answering, "alive")[-1]["type"] == "done"
    answering.close()
    assert read_frame(silent)[0] == PING, "a ping came within the interval"
    # One interval later, with no pong, the server gave up on the silent client.
    assert close_code(silent) == 1008
    silent.close()
