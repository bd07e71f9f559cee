"""Model servers over HTTP: requests with timeouts, the model list cache, and upstream failures put into words."""
import email.utils
import json
import logging
import math
import threading
import time

import requests
from flask_babel import gettext as _
from urllib3.exceptions import HTTPError, ReadTimeoutError

from ..errors import NeedsKeyError, ProviderError, excerpt, redact
from ..registry import Provider
from .streams import MalformedStream, text_lines

log = logging.getLogger(__name__)

DEFAULT_TIMEOUT = 3.0
# Generous: a long prompt on a CPU-only server can take minutes before its first token.
DEFAULT_READ_TIMEOUT = 120.0
DEFAULT_MODELS_TTL = 60.0
# A server that could not list its models is asked again soon, whatever models_ttl says.
FAILED_LISTING_TTL = 5.0
READ_SIZE = 64 * 1024
MAX_ANSWER_BYTES = 8 * 1024 * 1024
MAX_ERROR_BYTES = 64 * 1024
MAX_DETAIL = 300


class Failure(Exception):
    """What went wrong upstream, kept apart from its wording so each reader gets it in their language."""

    def __init__(self, code, **params):
        """Keep the error code and the facts its message needs."""
        super().__init__(code)
        self.code = code
        self.params = params


MESSAGES = {
    "auth_failed": lambda p: _("%(name)s rejected the key (HTTP %(status)d): %(detail)s", **p),
    "unknown_model": lambda p: _("%(name)s does not know the model “%(model)s” (HTTP 404): %(detail)s", **p),
    "not_found": lambda p: _(
        "%(name)s has nothing at %(path)s (HTTP 404): check its base_url, or list its models in the config file.", **p
    ),
    "rate_limited": lambda p: (
        _("%(name)s is limiting requests: try again in %(seconds)d s.", **p)
        if p.get("seconds") is not None
        else _("%(name)s is limiting requests: try again later.", **p)
    ),
    "upstream_error": lambda p: (
        _("%(name)s failed (HTTP %(status)d): %(detail)s", **p) if p.get("status") else _("%(name)s failed: %(detail)s", **p)
    ),
    "upstream_rejected": lambda p: _("%(name)s refused the request (HTTP %(status)d): %(detail)s", **p),
    "unreachable": lambda p: _("Cannot connect to %(name)s: is the server running, and is its base_url right?", **p),
    "timeout": lambda p: _("No answer from %(name)s for %(seconds)s s.", **p),
    "bad_stream": lambda p: _("%(name)s sent an answer that cannot be read: %(detail)s", **p),
    "interrupted": lambda p: _("The answer from %(name)s was cut off before it finished.", **p),
}


def retry_after(value):
    """Seconds to wait from a Retry-After header (seconds or an HTTP date); None when absent or unreadable."""
    value = (value or "").strip()
    if value.isdigit():
        return int(value)
    try:
        when = email.utils.parsedate_to_datetime(value)
    except (TypeError, ValueError):
        return None
    return max(0, math.ceil(when.timestamp() - time.time()))


def error_message(data):
    """The message of an error object in the OpenAI, Ollama or FastAPI shape; None when it holds none."""
    for key in ("error", "detail", "message"):
        value = data.get(key)
        if isinstance(value, dict):
            value = value.get("message") or json.dumps(value)
        if value:
            return str(value)
    return None


def error_text(body):
    """What an error body says: the message of a JSON error object, or the text itself."""
    text = body.decode("utf-8", "replace").strip()
    try:
        data = json.loads(text)
    except ValueError:
        return text
    return (error_message(data) if isinstance(data, dict) else None) or text


def json_object(text):
    """Parse one JSON object of an answer; anything else makes the answer unreadable."""
    try:
        data = json.loads(text)
    except ValueError:
        data = None
    if not isinstance(data, dict):
        raise Failure("bad_stream", detail=text if isinstance(text, str) else text.decode("utf-8", "replace"))
    return data


def raise_if_error(event):
    """An error object inside a stream or answer fails the request with the server's message."""
    if event.get("error"):
        raise Failure("upstream_error", detail=error_message(event))


def is_json(response):
    """Whether the server answered with one JSON document instead of a stream."""
    kind = response.headers.get("Content-Type", "").split(";")[0].strip().lower()
    return kind == "application/json" or kind.endswith("+json")


class UpstreamProvider(Provider):
    """A model server reached over HTTP; subclasses speak its dialect."""

    chat_path = None
    models_path = None

    def __init__(
        self,
        name,
        base_url,
        api_key=None,
        api_key_env=None,
        models=None,
        timeout=DEFAULT_TIMEOUT,
        read_timeout=DEFAULT_READ_TIMEOUT,
        models_ttl=DEFAULT_MODELS_TTL,
    ):
        """Remember where the server is and how long to wait for it; nothing is sent yet."""
        super().__init__(name)
        self.base_url = base_url.rstrip("/")
        self.api_key = api_key
        self.api_key_env = api_key_env
        self.needs_auth = bool(api_key or api_key_env)
        self.configured_models = list(models or [])
        self.timeout = timeout
        self.read_timeout = read_timeout
        self.models_ttl = models_ttl
        self._lock = threading.Lock()
        self._listing = None

    def chat_body(self, model, messages, stream, options):
        """The JSON body of a chat request."""
        raise NotImplementedError

    def parse_models(self, data):
        """The model names in the server's listing."""
        raise NotImplementedError

    def stream_texts(self, lines):
        """Yield text from the streamed lines, then the markers.Ending; return True once the stream says the answer
        is finished."""
        raise NotImplementedError

    def whole_answer(self, data):
        """Yield the text of an answer sent as one JSON document, then its markers.Ending."""
        raise NotImplementedError

    def check(self):
        """Unusable while the environment variable meant to hold its key is empty."""
        if self.api_key_env and not self.api_key:
            raise NeedsKeyError(
                _("%(name)s needs a key: set the environment variable %(variable)s.", name=self.name, variable=self.api_key_env)
            )

    def models(self):
        """The configured models, or else the server's list, cached: a dead server is not asked on every page load."""
        if self.configured_models:
            return list(self.configured_models)
        with self._lock:
            if self._listing is None or time.monotonic() >= self._listing[0]:
                try:
                    result, ttl = self._fetch_models(), self.models_ttl
                except Failure as failure:
                    log.warning("provider %s could not list its models: %s", self.name, failure.code)
                    result, ttl = failure, min(self.models_ttl, FAILED_LISTING_TTL)
                self._listing = (time.monotonic() + ttl, result)
            result = self._listing[1]
        if isinstance(result, Failure):
            raise self.user_error(result)
        return list(result)

    def complete(self, model, messages, stream=True, **options):
        """Yield the answer as it streams in; an answer that stops early is an error after its text."""
        self.check()
        try:
            response = self._send(
                "POST",
                self.chat_path,
                (self.timeout, self.read_timeout),
                model=model,
                json=self.chat_body(model, messages, stream, options),
            )
            # Closing here is what hangs up on the server when the reader presses Stop.
            try:
                if is_json(response):
                    yield from self.whole_answer(json_object(self._read_body(response, MAX_ANSWER_BYTES, self.read_timeout)))
                else:
                    finished = yield from self.stream_texts(text_lines(self._chunks(response, self.read_timeout)))
                    if not finished:
                        raise Failure("interrupted")
            finally:
                response.close()
        except (Failure, MalformedStream) as e:
            failure = e if isinstance(e, Failure) else Failure("bad_stream", detail=str(e))
            log.warning("provider %s failed: %s", self.name, failure.code)
            raise self.user_error(failure) from None

    def user_error(self, failure):
        """Put a failure into words in the current language, with anything like a key redacted from upstream text."""
        params = {"name": self.name, **failure.params}
        if "detail" in params:
            params["detail"] = excerpt(params["detail"] or "", [self.api_key], MAX_DETAIL)
        details = {"retry_after": params.get("seconds")} if failure.code == "rate_limited" else {}
        return ProviderError(MESSAGES[failure.code](params), code=failure.code, **details)

    def _fetch_models(self):
        """Ask the server for its models, waiting no longer than `timeout`."""
        response = self._send("GET", self.models_path, (self.timeout, self.timeout))
        try:
            return self.parse_models(json_object(self._read_body(response, MAX_ANSWER_BYTES, self.timeout)))
        finally:
            response.close()

    def _send(self, method, path, timeout, model=None, **kwargs):
        """Make one request, streamed; an HTTP error answer becomes a Failure."""
        # A compressed stream would be held back by the decompressor; redirects could carry the key elsewhere.
        headers = {"Accept-Encoding": "identity"}
        if self.api_key:
            headers["Authorization"] = f"Bearer {self.api_key}"
        try:
            response = requests.request(
                method, self.base_url + path, headers=headers, timeout=timeout, stream=True, allow_redirects=False, **kwargs
            )
        except requests.ConnectTimeout:
            raise Failure("timeout", seconds=f"{timeout[0]:g}") from None
        except requests.Timeout:
            raise Failure("timeout", seconds=f"{timeout[1]:g}") from None
        except requests.RequestException as e:
            log.warning("cannot connect to provider %s: %s", self.name, redact(str(e), [self.api_key]))
            raise Failure("unreachable") from None
        if response.status_code < 300:
            return response
        try:
            failure = self._status_failure(response, model)
        finally:
            response.close()
        raise failure

    def _status_failure(self, response, model):
        """The Failure an HTTP error answer stands for, with what its body says."""
        status = response.status_code
        try:
            body = self._read_body(response, MAX_ERROR_BYTES, self.timeout)
        except Failure:
            body = b""
        detail = error_text(body) or response.reason or ""
        if status in (401, 403):
            return Failure("auth_failed", status=status, detail=detail)
        if status == 404 and model:
            return Failure("unknown_model", model=model, detail=detail)
        if status == 404:
            return Failure("not_found", path=response.request.path_url)
        if status == 429:
            return Failure("rate_limited", seconds=retry_after(response.headers.get("Retry-After")))
        if status >= 500:
            return Failure("upstream_error", status=status, detail=detail)
        return Failure("upstream_rejected", status=status, detail=detail)

    def _read_body(self, response, limit, seconds):
        """Read the body up to `limit` bytes."""
        body = bytearray()
        for chunk in self._chunks(response, seconds):
            body += chunk
            if len(body) >= limit:
                break
        return bytes(body[:limit])

    def _chunks(self, response, seconds):
        """Yield the body's bytes as they arrive: read1 returns what one network read brings, without waiting."""
        while True:
            try:
                data = response.raw.read1(READ_SIZE, decode_content=True)
            except ReadTimeoutError:
                raise Failure("timeout", seconds=f"{seconds:g}") from None
            except (HTTPError, OSError):
                raise Failure("interrupted") from None
            if not data:
                return
            yield data
