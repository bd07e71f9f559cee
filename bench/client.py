"""A lean asyncio WebSocket client for the chat protocol: many sockets, one thread, a timestamp per read."""
import asyncio
import itertools
import json
import secrets
import time

from . import frames

HOST = "127.0.0.1"
READ_BYTES = 64 * 1024
# The two ways to ask for an answer: a turn of a conversation the server stores, as the page sends it, and plain
# `messages`, as an API client may. The page's path comes first: it is every figure's headline row.
STORED, MESSAGES = "stored", "messages"
PATHS = (STORED, MESSAGES)
# The browser's identity cookie (webui/access/identity.py); the server accepts any well-formed token as a new person.
OWNER_COOKIE = "webui_owner"
_ids = itertools.count(1)
_decode = json.JSONDecoder().decode


class Stream:
    """What one chat request received: each delta with its arrival time, then the final frame."""

    def __init__(self, request_id, loop, stored=False):
        """Nothing received yet; `stored` says the request was a turn of a stored conversation."""
        self.request_id = request_id
        self.stored = stored
        self.conversation_id = None
        self.sent_ns = None
        self.start = None
        self.deltas = []
        self.final = None
        self.done = loop.create_future()

    def receive(self, frame, now):
        """Record one frame for this request."""
        kind = frame.get("type")
        if kind == "start":
            self.start = frame
            self.conversation_id = frame.get("conversation_id")
        elif kind == "delta":
            self.deltas.append((now, frame.get("seq"), frame.get("text", "")))
        elif kind in ("done", "error"):
            self.end(frame)

    def end(self, frame):
        """Record the final frame, once."""
        if self.final is None:
            self.final = frame
            self.done.set_result(frame)

    @property
    def text(self):
        """The answer so far."""
        return "".join(text for _, _, text in self.deltas)


class Socket(asyncio.BufferedProtocol):
    """One client WebSocket, as one person's browser: its own identity cookie; received frames are routed to their
    stream by request_id."""

    def __init__(self, host, port, path, cookie=None):
        """Prepare the handshake; `cookie` is the person's identity cookie when another socket of theirs made it."""
        self.host, self.port, self.path = host, port, path
        # Stored answers are limited per owner (WEBUI_MAX_STREAMS_PER_SOCKET), so each socket is its own person, as
        # each browser tab of a different person would be.
        self.cookie = cookie or f"{OWNER_COOKIE}={secrets.token_urlsafe(16)}"
        self.key = frames.new_key()
        self.parser = frames.Parser()
        self.head = b""
        self.loop = asyncio.get_running_loop()
        self.opened = self.loop.create_future()
        self.streams = {}
        self.transport = None
        # asyncio's plain Protocol allocates a 256 KiB bytes object per read (an mmap each time);
        # reading into one reused buffer made the client several times cheaper per frame.
        self.buffer = bytearray(READ_BYTES)
        self.view = memoryview(self.buffer)

    def connection_made(self, transport):
        """Send the upgrade request."""
        self.transport = transport
        transport.write(frames.client_request(self.host, self.port, self.path, self.key, self.cookie))

    def get_buffer(self, sizehint):
        """Where asyncio reads into."""
        return self.buffer

    def buffer_updated(self, nbytes):
        """Hand the bytes just read to the parser."""
        self.data_received(self.view[:nbytes].tobytes())

    def data_received(self, data):
        """Parse frames; everything that arrived in one read shares one arrival time."""
        now = time.time_ns()
        if not self.opened.done():
            self.head += data
            if frames.HEAD_END not in self.head:
                return
            head, _, data = self.head.partition(frames.HEAD_END)
            try:
                frames.check_response(head, self.key)
            except ConnectionError as e:
                self.opened.set_exception(e)
                self.transport.close()
                return
            self.opened.set_result(True)
        for opcode, payload in self.parser.feed(data):
            if opcode == frames.TEXT:
                frame = _decode(payload.decode())
                stream = self.streams.get(frame.get("request_id"))
                if stream:
                    stream.receive(frame, now)
            elif opcode == frames.PING:
                self.transport.write(frames.encode(frames.PONG, payload, mask=True))
            elif opcode == frames.CLOSE:
                self.transport.close()

    def connection_lost(self, exc):
        """Every unfinished stream ends with an error."""
        if not self.opened.done():
            self.opened.set_exception(ConnectionError(f"connection lost during the handshake: {exc}"))
        for stream in self.streams.values():
            stream.end({"type": "error", "code": "connection_lost", "message": str(exc)})

    def send(self, frame):
        """Send one JSON frame."""
        self.transport.write(frames.encode(frames.TEXT, json.dumps(frame).encode(), mask=True))

    def chat(self, model, options=None, text="", provider="synthetic", path=MESSAGES, conversation_id=None):
        """Start a chat request on `path` and return its Stream; a stored one continues `conversation_id`, or starts
        a conversation when it is None."""
        stream = Stream(f"b{next(_ids)}", self.loop, stored=path == STORED)
        self.streams[stream.request_id] = stream
        frame = {"type": "chat", "request_id": stream.request_id, "provider": provider, "model": model,
                 "options": options or {}}
        if stream.stored:
            # What the page sends (static/chat.js): the server builds the history from storage.
            frame.update(conversation_id=conversation_id, content=text or "go")
        else:
            frame["messages"] = [{"role": "user", "content": text or "go"}]
        stream.sent_ns = time.time_ns()
        self.send(frame)
        return stream

    def resume(self, message_id, after):
        """Follow a stored answer from the delta after seq `after`, as the page does after a reconnect; its Stream."""
        stream = Stream(f"b{next(_ids)}", self.loop, stored=True)
        self.streams[stream.request_id] = stream
        stream.sent_ns = time.time_ns()
        self.send({"type": "resume", "request_id": stream.request_id, "message_id": message_id, "after": after})
        return stream

    def close(self):
        """Say goodbye and close."""
        if self.transport and not self.transport.is_closing():
            self.transport.write(frames.encode(frames.CLOSE, b"\x03\xe8", mask=True))
            self.transport.close()


class Conversation:
    """One person's turns on one socket along `path`: a stored conversation's later turns continue the one its first
    turn started, as the page does once the start frame has named it; plain messages are each a single question."""

    def __init__(self, socket, path):
        """No turn yet."""
        self.socket = socket
        self.path = path
        self.last = None

    def ask(self, model, options=None, text=""):
        """Send the next turn and return its Stream."""
        conversation_id = self.last.conversation_id if self.last else None
        self.last = self.socket.chat(model, options, text, path=self.path, conversation_id=conversation_id)
        return self.last


async def connect(port, path="/ws", timeout=10.0, cookie=None):
    """Open a WebSocket to 127.0.0.1:port, as a new person or as the one whose identity `cookie` is."""
    loop = asyncio.get_running_loop()
    _, socket = await asyncio.wait_for(loop.create_connection(lambda: Socket(HOST, port, path, cookie), HOST, port), timeout)
    try:
        await asyncio.wait_for(socket.opened, timeout)
    except BaseException:
        socket.close()
        raise
    return socket


async def finish(stream, timeout):
    """Wait for the stream's final frame; a timeout becomes an error frame."""
    try:
        return await asyncio.wait_for(asyncio.shield(stream.done), timeout)
    except asyncio.TimeoutError:
        stream.end({"type": "error", "code": "timeout", "message": f"no final frame within {timeout:.0f} s"})
        return stream.final
