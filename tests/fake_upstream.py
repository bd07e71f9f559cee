"""A scriptable model server for the tests: real HTTP on 127.0.0.1 speaking OpenAI's SSE and Ollama's NDJSON.

A route answers with a behaviour. `stream(*steps)` writes a body step by step: bytes are sent at
once (one HTTP chunk each), a number pauses that many seconds, a function is called (to change what
the server holds at that point), CUT hangs up mid-body. Every request is recorded in `upstream.seen`
(its JSON body is also the handler's `body`), and `upstream.disconnected` is set when a client hangs
up mid-answer. Ollama's own models (pull, delete, show) are in fake_ollama.py.
"""
import json
import socket
import threading
from dataclasses import dataclass
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

import pytest

from conftest import LiveServer
from webui import create_app
from webui.chat.markers import Ending

MODELS = ["fake-model", "other-model"]
WORDS = ["Hello", ",", " world"]
HELLO = [{"role": "user", "content": "hello"}]
OPENAI_CHAT = "/v1/chat/completions"
CUT = object()
DONE = b"data: [DONE]\n\n"


def openai_event(text=None, finish=None):
    """One chat.completion.chunk event; UTF-8 kept raw so characters can be split across writes."""
    delta = {} if text is None else {"content": text}
    chunk = {"object": "chat.completion.chunk", "choices": [{"index": 0, "delta": delta, "finish_reason": finish}]}
    return b"data: " + json.dumps(chunk, ensure_ascii=False).encode() + b"\n\n"


def openai_usage(completion_tokens, prompt_tokens=9):
    """The chunk a stream asked to include its usage sends after the finish_reason: no choices, the token counts."""
    usage = {"prompt_tokens": prompt_tokens, "completion_tokens": completion_tokens, "total_tokens": prompt_tokens + completion_tokens}
    return b"data: " + json.dumps({"object": "chat.completion.chunk", "choices": [], "usage": usage}).encode() + b"\n\n"


def openai_steps(texts=WORDS, pause=0.0):
    """The events of a complete OpenAI answer, with an optional pause after each text."""
    steps = []
    for text in texts:
        steps += [openai_event(text), pause] if pause else [openai_event(text)]
    return steps + [openai_event(finish="stop"), DONE]


def ollama_line(text="", done=False, **final):
    """One line of an Ollama /api/chat stream; `final` adds what the last line says (done_reason, eval_count…)."""
    event = {"model": "fake-model", "message": {"role": "assistant", "content": text}, "done": done, **final}
    return json.dumps(event, ensure_ascii=False).encode() + b"\n"


def ollama_steps(texts=WORDS, pause=0.0):
    """The lines of a complete Ollama answer, with an optional pause after each text."""
    steps = []
    for text in texts:
        steps += [ollama_line(text), pause] if pause else [ollama_line(text)]
    return steps + [ollama_line(done=True)]


def stream(*steps, content_type="text/event-stream", chunked=True, status=200):
    """Answer with a body written step by step; unchunked bodies end when the connection closes."""

    def reply(handler):
        """Write the head, then each step."""
        handler.send_response(status)
        handler.send_header("Content-Type", content_type)
        if chunked:
            handler.send_header("Transfer-Encoding", "chunked")
        else:
            handler.send_header("Connection", "close")
            handler.close_connection = True
        handler.end_headers()
        for step in steps:
            if step is CUT:
                handler.connection.shutdown(socket.SHUT_RDWR)
                handler.close_connection = True
                return
            if isinstance(step, (int, float)):
                handler.server.upstream.stopping.wait(step)
            elif callable(step):
                step()
            else:
                handler.wfile.write(b"%x\r\n%s\r\n" % (len(step), step) if chunked else step)
        if chunked:
            handler.wfile.write(b"0\r\n\r\n")

    return reply


def answer(status=200, body=b"", content_type="application/json", headers=None):
    """Answer with a whole body and a Content-Length."""
    body = body if isinstance(body, bytes) else json.dumps(body).encode()

    def reply(handler):
        """Write the whole response."""
        handler.send_response(status)
        handler.send_header("Content-Type", content_type)
        handler.send_header("Content-Length", str(len(body)))
        for name, value in (headers or {}).items():
            handler.send_header(name, value)
        handler.end_headers()
        handler.wfile.write(body)

    return reply


def echo_key(status=401, spelling=None):
    """Answer with an error that repeats the Authorization header and the bare key, as careless servers do;
    `spelling(key)`, when given, is how it writes the key instead (encoded, upper-cased, split…)."""

    def reply(handler):
        """Put the caller's credentials into the error body."""
        authorization = handler.headers.get("Authorization", "")
        key = authorization.removeprefix("Bearer ")
        if spelling:
            key = spelling(key)
            authorization = "Bearer " + key
        message = f"Incorrect API key provided: {key}. You sent Authorization: {authorization}"
        answer(status, {"error": {"message": message, "type": "invalid_request_error"}})(handler)

    return reply


def silence(seconds):
    """Accept the request and say nothing for `seconds`, then hang up."""

    def reply(handler):
        """Wait without answering."""
        handler.server.upstream.stopping.wait(seconds)
        handler.close_connection = True

    return reply


@dataclass
class Seen:
    """One request the server received."""

    method: str
    path: str
    headers: dict
    body: object


class Handler(BaseHTTPRequestHandler):
    """Records each request and lets the route's behaviour answer it."""

    protocol_version = "HTTP/1.1"

    def do_GET(self):
        """Answer a GET."""
        self.dispatch()

    def do_POST(self):
        """Answer a POST."""
        self.dispatch()

    def do_DELETE(self):
        """Answer a DELETE."""
        self.dispatch()

    def dispatch(self):
        """Record the request, then run its behaviour; a client that hangs up is noted."""
        upstream = self.server.upstream
        length = int(self.headers.get("Content-Length") or 0)
        raw = self.rfile.read(length) if length else b""
        self.body = json.loads(raw) if raw else None
        upstream.seen.append(Seen(self.command, self.path, dict(self.headers), self.body))
        behaviour = upstream.routes.get((self.command, self.path), answer(404, {"error": "no such route"}))
        try:
            behaviour(self)
        except (BrokenPipeError, ConnectionResetError):
            upstream.disconnected.set()
            self.close_connection = True

    def log_message(self, format, *args):
        """Keep the test output quiet."""


class FakeUpstream:
    """The server and its script; the default routes answer like a healthy OpenAI and Ollama server."""

    def __init__(self):
        """Listen on a free loopback port and serve in a thread."""
        self.seen = []
        self.disconnected = threading.Event()
        self.stopping = threading.Event()
        self.routes = {
            ("GET", "/v1/models"): answer(body={"object": "list", "data": [{"id": m, "object": "model"} for m in MODELS]}),
            ("POST", "/v1/chat/completions"): stream(*openai_steps()),
            ("GET", "/api/tags"): answer(body={"models": [{"name": m, "model": m} for m in MODELS]}),
            ("POST", "/api/chat"): stream(*ollama_steps(), content_type="application/x-ndjson"),
        }
        self.httpd = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.httpd.upstream = self
        self.url = f"http://127.0.0.1:{self.httpd.server_port}"
        # A short poll interval keeps shutdown (once per test) quick.
        self.thread = threading.Thread(target=self.httpd.serve_forever, kwargs={"poll_interval": 0.05}, daemon=True)
        self.thread.start()

    def on(self, method, path, behaviour):
        """Answer `method path` with `behaviour` from now on."""
        self.routes[(method, path)] = behaviour

    def requests_to(self, path):
        """The requests received for `path`."""
        return [seen for seen in self.seen if seen.path == path]

    def close(self):
        """End every pause and stop serving."""
        self.stopping.set()
        self.httpd.shutdown()
        self.httpd.server_close()


def closed_port():
    """A loopback port nothing listens on."""
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


@pytest.fixture
def upstream():
    """A fake model server for one test."""
    server = FakeUpstream()
    yield server
    server.close()


@pytest.fixture
def webui(tmp_path, database_url):
    """start(providers, **settings): an app with these [[providers]] entries, served on loopback until the test ends."""
    servers = []

    def start(providers, **settings):
        """Create and serve the app."""
        app = create_app(
            {
                "TESTING": True,
                "WEBUI_DATA_DIR": str(tmp_path / "data"),
                "WEBUI_DATABASE_URL": database_url,
                "WEBUI_PING_INTERVAL": 0,
                "WEBUI_PROVIDERS": providers,
                # As in conftest's app_config: a title request would be one more request to the fake server.
                "WEBUI_TITLES": False,
                **settings,
            }
        )
        servers.append(LiveServer(app))
        return servers[-1]

    yield start
    for live in servers:
        live.stop()


def text_of(frames):
    """Concatenate the delta frames' text."""
    return "".join(f["text"] for f in frames if f["type"] == "delta")


def collect(chunks):
    """Drain a provider's generator: what it yielded but its Ending (texts, and auto's Via), and the error it ended
    with (or None)."""
    texts = []
    try:
        for text in chunks:
            if not isinstance(text, Ending):
                texts.append(text)
    except Exception as e:
        return texts, e
    return texts, None
