"""The WebSocket wire format (RFC 6455), only as much as the benchmark client and stub server need."""
import base64
import hashlib
import os
import struct

CONTINUATION, TEXT, CLOSE, PING, PONG = 0x0, 0x1, 0x8, 0x9, 0xA
GUID = b"258EAFA5-E914-47DA-95CA-C5AB0DC85B11"
HEAD_END = b"\r\n\r\n"


def new_key():
    """A random Sec-WebSocket-Key."""
    return base64.b64encode(os.urandom(16))


def accept_key(key):
    """The Sec-WebSocket-Accept that answers `key`."""
    return base64.b64encode(hashlib.sha1(key + GUID).digest())


def client_request(host, port, path, key, cookie=None):
    """The HTTP upgrade request a client sends, with a Cookie header when `cookie` is given."""
    cookie_line = f"Cookie: {cookie}\r\n" if cookie else ""
    return (
        f"GET {path} HTTP/1.1\r\nHost: {host}:{port}\r\nUpgrade: websocket\r\nConnection: Upgrade\r\n"
        f"Sec-WebSocket-Key: {key.decode()}\r\nSec-WebSocket-Version: 13\r\n{cookie_line}\r\n"
    ).encode()


def header(head, name):
    """The value of header `name` (lower case bytes) in a raw HTTP head, or None."""
    for line in head.split(b"\r\n")[1:]:
        key, _, value = line.partition(b":")
        if key.strip().lower() == name:
            return value.strip()
    return None


def check_response(head, key):
    """Raise ConnectionError unless `head` accepts the upgrade requested with `key`."""
    status = head.split(b"\r\n", 1)[0]
    if b" 101 " not in status + b" " or header(head, b"sec-websocket-accept") != accept_key(key):
        raise ConnectionError(f"the server refused the WebSocket: {status.decode(errors='replace')}")


def server_response(head):
    """The 101 answer to a client's upgrade request."""
    key = header(head, b"sec-websocket-key") or b""
    return (
        b"HTTP/1.1 101 Switching Protocols\r\nUpgrade: websocket\r\nConnection: Upgrade\r\n"
        b"Sec-WebSocket-Accept: " + accept_key(key) + HEAD_END
    )


def apply_mask(data, key):
    """XOR `data` with the repeated 4-byte `key`, as one big-integer operation."""
    size = len(data)
    pad = (key * (size // 4 + 1))[:size]
    return (int.from_bytes(data, "big") ^ int.from_bytes(pad, "big")).to_bytes(size, "big")


def encode(opcode, payload, mask):
    """One final frame; a client must mask its frames, a server must not."""
    size = len(payload)
    first = 0x80 | opcode
    bit = 0x80 if mask else 0
    if size < 126:
        head = struct.pack("!BB", first, bit | size)
    elif size < 1 << 16:
        head = struct.pack("!BBH", first, bit | 126, size)
    else:
        head = struct.pack("!BBQ", first, bit | 127, size)
    if not mask:
        return head + payload
    key = os.urandom(4)
    return head + key + apply_mask(payload, key)


class Parser:
    """Turns received bytes into whole messages, as (opcode, payload) pairs."""

    def __init__(self):
        """Start with nothing buffered."""
        self.buffer = bytearray()
        self.fragments = None

    def feed(self, data):
        """Add bytes and return the messages they complete."""
        buf = self.buffer
        buf += data
        messages = []
        pos, end = 0, len(buf)
        while end - pos >= 2:
            first, second = buf[pos], buf[pos + 1]
            size, head = second & 0x7F, 2
            if size == 126:
                if end - pos < 4:
                    break
                size, head = int.from_bytes(buf[pos + 2 : pos + 4], "big"), 4
            elif size == 127:
                if end - pos < 10:
                    break
                size, head = int.from_bytes(buf[pos + 2 : pos + 10], "big"), 10
            key = None
            if second & 0x80:
                if end - pos < head + 4:
                    break
                key = bytes(buf[pos + head : pos + head + 4])
                head += 4
            if end - pos < head + size:
                break
            payload = bytes(buf[pos + head : pos + head + size])
            pos += head + size
            self._collect(first & 0x80, first & 0x0F, apply_mask(payload, key) if key else payload, messages)
        del buf[:pos]
        return messages

    def _collect(self, final, opcode, payload, messages):
        """Join fragmented messages; control frames may arrive between fragments."""
        if opcode >= CLOSE:
            messages.append((opcode, payload))
            return
        if opcode != CONTINUATION:
            self.fragments = (opcode, [payload])
        elif self.fragments is None:
            raise ConnectionError("a continuation frame arrived without a message to continue")
        else:
            self.fragments[1].append(payload)
        if final:
            opcode, parts = self.fragments
            self.fragments = None
            messages.append((opcode, b"".join(parts)))
