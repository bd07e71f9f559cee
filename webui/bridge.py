"""The streaming bridge: chat frames in, start/delta/done or error frames out."""
import json
import logging
import threading
import time
from dataclasses import dataclass

from flask_babel import force_locale
from flask_babel import gettext as _

from .errors import UserError, redact

log = logging.getLogger(__name__)

ROLES = ("system", "user", "assistant")
# Only these options reach a provider: a browser must not be able to pass arbitrary
# keyword arguments (a proxy, a base URL, a key) into provider code.
NUMERIC_OPTIONS = {
    "temperature": (float, 0.0, 2.0),
    "top_p": (float, 0.0, 1.0),
    "min_p": (float, 0.0, 1.0),
    "top_k": (int, 0, 1000),
    "max_tokens": (int, 1, 32768),
    "presence_penalty": (float, -2.0, 2.0),
    "frequency_penalty": (float, -2.0, 2.0),
    "repeat_penalty": (float, 0.5, 2.0),
    "seed": (int, 0, 2**32 - 1),
}
MAX_STOP_SEQUENCES = 4


@dataclass
class ChatRequest:
    """A validated chat frame."""

    request_id: object
    provider: str | None
    model: str | None
    messages: list
    options: dict


@dataclass(frozen=True)
class Via:
    """Yielded by a provider that hands the request to another (auto) before its first chunk."""

    provider: str
    model: str


def bad_request(message):
    """A UserError with the bad_request code."""
    return UserError(message, code="bad_request")


def parse_frame(raw, max_bytes):
    """Decode one client frame into a dict, refusing binary, oversized and malformed frames."""
    if not isinstance(raw, str):
        raise bad_request(_("Frames must be JSON text."))
    if len(raw) > max_bytes or len(raw.encode()) > max_bytes:
        raise UserError(_("The request is too large (the limit is %(kib)d KiB).", kib=max_bytes // 1024), code="too_large")
    try:
        frame = json.loads(raw)
    except ValueError:
        raise bad_request(_("The request is not valid JSON.")) from None
    if not isinstance(frame, dict):
        raise bad_request(_("The request must be a JSON object."))
    return frame


def valid_request_id(value):
    """A request id is a short string or an integer."""
    if isinstance(value, bool):
        return False
    return isinstance(value, int) or (isinstance(value, str) and 0 < len(value) <= 128)


def parse_messages(messages):
    """Check a list of {"role", "content"} messages."""
    if not isinstance(messages, list) or not messages:
        raise bad_request(_("“messages” must be a non-empty list."))
    for message in messages:
        if not isinstance(message, dict) or message.get("role") not in ROLES or not isinstance(message.get("content"), str):
            raise bad_request(_("Each message needs a role (system, user or assistant) and text content."))
    return [{"role": m["role"], "content": m["content"]} for m in messages]


def parse_options(options):
    """Check the generation options against their types and ranges."""
    if options is None:
        return {}
    if not isinstance(options, dict):
        raise bad_request(_("“options” must be an object."))
    parsed = {}
    for key, value in options.items():
        if key == "stop":
            if not (isinstance(value, list) and len(value) <= MAX_STOP_SEQUENCES and all(isinstance(s, str) and s for s in value)):
                raise bad_request(_("“stop” must be a list of at most %(n)d strings.", n=MAX_STOP_SEQUENCES))
            parsed[key] = value
            continue
        if key not in NUMERIC_OPTIONS:
            raise bad_request(_("Unknown option “%(name)s”.", name=key))
        kind, low, high = NUMERIC_OPTIONS[key]
        ok_type = isinstance(value, (int, float)) and not isinstance(value, bool)
        if kind is int:
            ok_type = ok_type and float(value).is_integer()
        if not ok_type or not low <= value <= high:
            raise bad_request(_("Option “%(name)s” must be a number from %(low)s to %(high)s.", name=key, low=low, high=high))
        parsed[key] = kind(value)
    return parsed


def parse_chat(frame):
    """Validate a chat frame."""
    if not valid_request_id(frame.get("request_id")):
        raise bad_request(_("“request_id” is missing or invalid."))
    for key in ("provider", "model"):
        if frame.get(key) is not None and not isinstance(frame[key], str):
            raise bad_request(_("“%(name)s” must be a string.", name=key))
    return ChatRequest(
        request_id=frame["request_id"],
        provider=frame.get("provider"),
        model=frame.get("model"),
        messages=parse_messages(frame.get("messages")),
        options=parse_options(frame.get("options")),
    )


def resolve(chat, registry):
    """Find the provider and model a chat request names, or the defaults."""
    provider = registry.get(chat.provider)
    provider.check()
    models = provider.models()
    model = chat.model or provider.default_model()
    if not model or (models and model not in models):
        raise UserError(
            _("%(provider)s has no model called “%(model)s”.", provider=provider.name, model=model or ""),
            code="unknown_model",
        )
    return provider, model


class Stream:
    """One request in flight: its counters, and the promise of exactly one final frame."""

    def __init__(self, request_id, send, provider, model, clock=time.monotonic):
        """`send(frame)` returns False once the client is gone."""
        self.request_id = request_id
        self.provider = provider
        self.model = model
        self._send = send
        self._clock = clock
        self._lock = threading.Lock()
        self.started_at = clock()
        self.first_chunk_at = None
        self.announced = False
        self.finished = False
        self.chunks = 0
        self.chars = 0

    def _emit(self, frame):
        """Send under the lock held by the caller; a gone client finishes the stream."""
        if not self.announced:
            self.announced = True
            start = {"type": "start", "request_id": self.request_id, "provider": self.provider, "model": self.model}
            if not self._send(start):
                self.finished = True
                return False
        if not self._send(frame):
            self.finished = True
        return not self.finished

    def via(self, provider, model):
        """Record which provider really answers, before the first chunk."""
        with self._lock:
            if not self.announced:
                self.provider, self.model = provider, model

    def delta(self, text):
        """Send one chunk; False means stop generating."""
        with self._lock:
            if self.finished:
                return False
            if self.first_chunk_at is None:
                self.first_chunk_at = self._clock()
            self.chunks += 1
            self.chars += len(text)
            return self._emit({"type": "delta", "request_id": self.request_id, "seq": self.chunks, "text": text})

    def stats(self):
        """Timing and size of the answer so far."""
        now = self._clock()
        first = self.first_chunk_at
        return {
            "ttft_ms": None if first is None else round((first - self.started_at) * 1000, 1),
            "chunks": self.chunks,
            "chars": self.chars,
            "duration_ms": round((now - self.started_at) * 1000, 1),
        }

    def _final(self, frame):
        """Send the one final frame, unless the stream already ended."""
        with self._lock:
            if self.finished:
                return False
            self._emit(frame)
            self.finished = True
            return True

    def finish(self, reason):
        """End with a done frame."""
        return self._final({"type": "done", "request_id": self.request_id, "reason": reason, "stats": self.stats()})

    def fail(self, code, message):
        """End with an error frame."""
        return self._final({"type": "error", "request_id": self.request_id, "code": code, "message": message})

    def abandon(self):
        """End silently: nobody is listening any more."""
        with self._lock:
            self.finished = True


def run(stream, provider, model, messages, options):
    """Stream one answer into `stream`, closing the provider's generator however it ends."""
    chunks = None
    try:
        chunks = iter(provider.complete(model, messages, stream=True, **options))
        for text in chunks:
            if isinstance(text, Via):
                stream.via(text.provider, text.model)
            elif text and not stream.delta(text):
                return
        stream.finish("complete")
    except UserError as e:
        stream.fail(e.code, e.message)
    except Exception as e:
        log.warning("provider %s failed: %s", provider.name, redact(repr(e)))
        stream.fail("provider_error", _("The provider failed: %(error)s", error=redact(f"{type(e).__name__}: {e}")))
    finally:
        close = getattr(chunks, "close", None)
        if close:
            try:
                close()
            except Exception as e:
                log.warning("provider %s failed while closing: %s", provider.name, redact(repr(e)))


class Connection:
    """One WebSocket: reads frames, runs each chat request in its own thread, answers stop."""

    def __init__(self, app, registry, send, locale):
        """`send(frame)` writes a frame and returns False once the socket is closed."""
        self.app = app
        self.registry = registry
        self.send = send
        self.locale = locale
        self.max_bytes = app.config["WEBUI_MAX_REQUEST_BYTES"]
        self.max_streams = app.config["WEBUI_MAX_STREAMS_PER_SOCKET"]
        self.streams = {}
        self.threads = []

    def handle(self, raw):
        """Act on one frame; bad input is answered with an error frame and changes nothing."""
        request_id = None
        try:
            frame = parse_frame(raw, self.max_bytes)
            if valid_request_id(frame.get("request_id")):
                request_id = frame["request_id"]
            kind = frame.get("type")
            if kind == "chat":
                self.chat(frame)
            elif kind == "stop":
                self.stop(request_id)
            else:
                raise bad_request(_("Unknown frame type “%(type)s”.", type=str(kind)[:40]))
        except UserError as e:
            self.send({"type": "error", "request_id": request_id, "code": e.code, "message": e.message})

    def chat(self, frame):
        """Validate a chat request and start streaming it."""
        chat = parse_chat(frame)
        if chat.request_id in self.streams:
            raise bad_request(_("A request with this id is already running."))
        if len(self.streams) >= self.max_streams:
            raise UserError(_("Too many answers at once on this connection; wait for one to finish."), code="rate_limited")
        provider, model = resolve(chat, self.registry)
        stream = Stream(chat.request_id, self.send, provider.name, model)
        self.streams[chat.request_id] = stream
        thread = threading.Thread(
            target=self._run, args=(stream, provider, chat), name=f"webui-stream-{chat.request_id}", daemon=True
        )
        self.threads = [t for t in self.threads if t.is_alive()] + [thread]
        thread.start()

    def _run(self, stream, provider, chat):
        """Thread body: stream in the connection's language, then forget the request."""
        try:
            with self.app.app_context(), force_locale(self.locale):
                run(stream, provider, stream.model, chat.messages, chat.options)
        finally:
            self.streams.pop(chat.request_id, None)

    def stop(self, request_id):
        """Stop a running request: the text sent stays, a done frame says it was stopped."""
        stream = self.streams.get(request_id)
        if stream is None:
            raise UserError(_("No request with this id is running."), code="unknown_request")
        stream.finish("stopped")

    def close(self):
        """The socket is gone: every running request stops generating."""
        for stream in list(self.streams.values()):
            stream.abandon()
