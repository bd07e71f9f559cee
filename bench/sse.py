"""A lean asyncio client for /v1/chat/completions: one kept-alive HTTP/1.1 connection, as OpenAI's clients keep one,
its chunked body and server-sent events parsed as they come, a timestamp per read.

Each answer fills a client.Stream as a WebSocket answer does (deltas with their arrival time, then a final frame), so
measure.analyse reads both paths alike.
"""
import asyncio
import json
import time

from . import client
from .providers.synthetic import read_stamps

READ_BYTES = client.READ_BYTES
HEAD_END = b"\r\n\r\n"
_decode = json.JSONDecoder().decode


# Where the parser is in a response: its head, a chunk's size line, a chunk's data, the CRLF after it, the body's end.
HEAD, SIZE, DATA, DATA_END, BODY_END = range(5)


class Connection(asyncio.BufferedProtocol):
    """One HTTP connection carrying one request at a time."""

    def __init__(self, host, port, token):
        """Nothing sent yet."""
        self.host, self.port, self.token = host, port, token
        self.transport = None
        self.stream = None
        self.buffer = bytearray(READ_BYTES)
        self.view = memoryview(self.buffer)
        self.raw = bytearray()
        self.state = HEAD
        self.left = 0
        self.events = b""
        self.finish_reason = None

    def connection_made(self, transport):
        """Keep the transport."""
        self.transport = transport

    def get_buffer(self, sizehint):
        """Where asyncio reads into."""
        return self.buffer

    def buffer_updated(self, nbytes):
        """Parse what was just read; everything from one read shares its arrival time."""
        self.raw += self.view[:nbytes]
        self.parse(time.time_ns())

    def chat(self, body):
        """Send a streamed chat completion request and return its Stream."""
        stream = self.stream = client.Stream("api", asyncio.get_running_loop())
        self.events, self.finish_reason = b"", None
        data = json.dumps({**body, "stream": True}).encode()
        head = (f"POST /v1/chat/completions HTTP/1.1\r\nHost: {self.host}:{self.port}\r\nAuthorization: Bearer {self.token}"
                f"\r\nContent-Type: application/json\r\nContent-Length: {len(data)}\r\n\r\n")
        stream.sent_ns = time.time_ns()
        self.transport.write(head.encode() + data)
        return stream

    def parse(self, now):
        """Step through the response as far as the bytes read so far go."""
        raw = self.raw
        while True:
            if self.state == HEAD:
                end = raw.find(HEAD_END)
                if end < 0:
                    return
                head = bytes(raw[:end])
                del raw[: end + len(HEAD_END)]
                if head.split(b" ", 2)[1] != b"200" or b"chunked" not in head.lower():
                    # A refusal: the benchmark stops here, so the connection is not read further.
                    self.stream.end({"type": "error", "code": "http", "message": head.decode(errors="replace")})
                    self.close()
                    return
                self.state = SIZE
            elif self.state == SIZE:
                end = raw.find(b"\r\n")
                if end < 0:
                    return
                self.left = int(raw[:end], 16)
                del raw[: end + 2]
                self.state = DATA if self.left else BODY_END
            elif self.state == DATA:
                if not raw:
                    return
                piece = bytes(raw[: self.left])
                del raw[: len(piece)]
                self.left -= len(piece)
                self.sse(piece, now)
                if not self.left:
                    self.state = DATA_END
            elif len(raw) < 2:
                return
            else:
                # The CRLF after a chunk, or after the last (empty) one: then the next response may come.
                del raw[:2]
                self.state = SIZE if self.state == DATA_END else HEAD

    def sse(self, data, now):
        """Split the body into events and hand each to the stream."""
        *events, self.events = (self.events + data).split(b"\n\n")
        for event in events:
            if not event.startswith(b"data: "):
                continue
            payload = event[6:]
            if payload == b"[DONE]":
                self.stream.end({"type": "done", "reason": "complete" if self.finish_reason == "stop" else self.finish_reason})
                continue
            message = _decode(payload.decode())
            if "error" in message:
                self.stream.end({"type": "error", **message["error"]})
                continue
            choice = message["choices"][0]
            text = choice["delta"].get("content")
            if text:
                self.stream.deltas.append((now, None, text))
            self.finish_reason = choice["finish_reason"] or self.finish_reason

    def connection_lost(self, exc):
        """An unfinished stream ends with an error."""
        if self.stream is not None:
            self.stream.end({"type": "error", "code": "connection_lost", "message": str(exc)})

    def close(self):
        """Close the connection."""
        if self.transport and not self.transport.is_closing():
            self.transport.close()


def numbered(stream):
    """Give each delta the number of the last chunk it holds, as a WebSocket delta's seq says (see measure)."""
    stream.deltas = [(now, read_stamps(text)[1][-1][1] + 1, text) for now, _, text in stream.deltas]
    return stream


async def connect(port, token, timeout=10.0):
    """Open a connection to 127.0.0.1:port for requests with `token`."""
    loop = asyncio.get_running_loop()
    _, connection = await asyncio.wait_for(
        loop.create_connection(lambda: Connection(client.HOST, port, token), client.HOST, port), timeout
    )
    return connection
