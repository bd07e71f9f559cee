"""Model servers over HTTP: requests with timeouts, the model list cache, and a prompt too long sent shorter once."""
import logging
import threading
import time

import requests
from flask_babel import gettext as _
from urllib3.exceptions import HTTPError, ReadTimeoutError

from ..chat.context import retry_window
from ..errors import NeedsKeyError, ProviderError, excerpt, redact
from .base import Provider
from .failures import MESSAGES, Failure, error_text, json_object, overflow, retry_after
from .lines import LineTooLong, text_lines

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


def content_type(response):
    """The response's media type, in lower case, without its parameters."""
    return response.headers.get("Content-Type", "").split(";")[0].strip().lower()


def is_json(response):
    """Whether the server answered with one JSON document instead of a stream."""
    kind = content_type(response)
    return kind == "application/json" or kind.endswith("+json")


def as_failure(error):
    """A Failure, or a line too long for the stream it came in, as the Failure it is."""
    return error if isinstance(error, Failure) else Failure("bad_stream", detail=str(error))


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
        context_length=None,
        vision=False,
    ):
        """Remember where the server is, how long to wait for it and, when given, how many tokens its models' context
        holds and which of them read images (`vision`: True for all, or a list of names); nothing is sent yet."""
        super().__init__(name)
        self.base_url = base_url.rstrip("/")
        self.api_key = api_key
        self.api_key_env = api_key_env
        self.needs_auth = bool(api_key or api_key_env)
        self.configured_models = list(models or [])
        self.timeout = timeout
        self.read_timeout = read_timeout
        self.models_ttl = models_ttl
        self.context_length = context_length
        self.vision = vision
        self._lock = threading.Lock()
        # What the server said when last asked (its models, a model's context), by question: (until when, answer).
        self._answers = {}

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
        result = self.asked("models", self._fetch_models)
        if isinstance(result, Failure):
            raise self.user_error(result)
        return list(result)

    def asked(self, question, fetch):
        """The server's answer to `question`, fetched at most once per models_ttl (a failure, sooner): the result of
        `fetch()`, or the Failure it raised."""
        with self._lock:
            until, result = self._answers.get(question, (0, None))
            if time.monotonic() >= until:
                try:
                    result, ttl = fetch(), self.models_ttl
                except Failure as failure:
                    log.warning("provider %s: asking for its %s failed: %s", self.name, question, failure.code)
                    result, ttl = failure, min(self.models_ttl, FAILED_LISTING_TTL)
                self._answers[question] = (time.monotonic() + ttl, result)
        return result

    def forget(self, question):
        """Ask the server `question` afresh next time (its models once they changed)."""
        with self._lock:
            self._answers.pop(question, None)

    def context_limit(self, model):
        """The connection's context_length; None (unknown) without it."""
        return self.context_length

    def reads_images(self, model):
        """Whether the connection says `model` reads images: `vision = true`, or a list that names it."""
        return self.vision is True or (isinstance(self.vision, list) and model in self.vision)

    def complete(self, model, messages, stream=True, **options):
        """Yield the answer as it streams in; an answer that stops early is an error after its text. A prompt the server
        finds too long for its context is sent once more without its oldest turns (see context.retry_window)."""
        self.check()
        try:
            try:
                response = self._ask(model, messages, stream, options)
            except Failure as failure:
                retry = failure.code == "context_exceeded" and retry_window(
                    messages, options, failure.params["limit"], failure.params["prompt"]
                )
                if not retry:
                    raise
                messages, trimmed = retry
                yield trimmed
                response = self._ask(model, messages, stream, options)
            # Closing here is what hangs up on the server when the reader presses Stop.
            try:
                if is_json(response):
                    yield from self.whole_answer(json_object(self._read_body(response, MAX_ANSWER_BYTES, self.read_timeout)))
                elif content_type(response) == "text/html":
                    # A website, or a proxy's page, where the API was expected: no line of it is an event, and read as
                    # a stream it would end as if cut off.
                    raise Failure("not_api", path=self.chat_path)
                else:
                    finished = yield from self.stream_texts(text_lines(self._chunks(response, self.read_timeout)))
                    if not finished:
                        raise Failure("interrupted")
            finally:
                response.close()
        except (Failure, LineTooLong) as e:
            failure = as_failure(e)
            log.warning("provider %s failed: %s", self.name, failure.code)
            raise self.user_error(failure) from None

    def _ask(self, model, messages, stream, options):
        """Send the chat request; the response, streaming."""
        body = self.chat_body(model, messages, stream, options)
        return self._send("POST", self.chat_path, (self.timeout, self.read_timeout), model=model, json=body)

    def user_error(self, failure, messages=MESSAGES, **facts):
        """Put a failure into words in the current language (`messages`' words for its code, given `facts` besides the
        failure's own), with anything like a key redacted from upstream text."""
        params = {"name": self.name, **facts, **failure.params}
        if "detail" in params:
            params["detail"] = excerpt(params["detail"] or "", [self.api_key], MAX_DETAIL)
        details = {"retry_after": params.get("seconds")} if failure.code == "rate_limited" else {}
        return ProviderError(messages[failure.code](params), code=failure.code, **details)

    def _fetch_models(self):
        """Ask the server for its models, waiting no longer than `timeout`."""
        return self.parse_models(self.fetch_json("GET", self.models_path))

    def fetch_json(self, method, path, **kwargs):
        """A JSON object the server answers with, waiting no longer than `timeout`."""
        response = self._send(method, path, (self.timeout, self.timeout), **kwargs)
        try:
            body = self._read_body(response, MAX_ANSWER_BYTES, self.timeout)
        finally:
            response.close()
        if body.lstrip()[:1] == b"<":
            # A website, or a proxy's page, where the API was expected: the base_url points at the wrong place.
            raise Failure("not_api", path=path)
        return json_object(body)

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
        if status in (400, 413) and (failure := overflow(body)):
            return failure
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
