"""The OpenAI-compatible provider when things go wrong: cut or stalled streams, bad data, HTTP errors and dead servers
each become an error of their own, after any text that came."""
import time
from email.utils import formatdate

import pytest

from fake_upstream import CUT, DONE, HELLO, OPENAI_CHAT, answer, closed_port, collect, openai_event, openai_steps, silence, stream
from fake_upstream import upstream  # noqa: F401 (a fixture)
from test_provider_openai import lab
from webui.errors import ProviderError
from webui.providers.openai import OpenAIProvider


@pytest.mark.parametrize("chunked", [True, False], ids=["chunked", "until-close"])
def test_a_stream_cut_before_its_end_is_an_error_after_the_partial_text(upstream, chunked):
    cut_short = openai_event("never arrives")[:30]
    upstream.on("POST", OPENAI_CHAT, stream(openai_event("Hello"), cut_short, CUT, chunked=chunked))
    texts, error = collect(lab(upstream).complete("fake-model", HELLO))
    assert texts == ["Hello"]
    assert isinstance(error, ProviderError) and error.code == "interrupted"
    assert "cut off" in error.message


def test_a_stream_that_ends_without_an_end_marker_is_interrupted(upstream):
    upstream.on("POST", OPENAI_CHAT, stream(openai_event("Hello")))
    texts, error = collect(lab(upstream).complete("fake-model", HELLO))
    assert texts == ["Hello"] and error.code == "interrupted"


def test_a_stall_between_chunks_times_out_after_the_partial_text(upstream):
    upstream.on("POST", OPENAI_CHAT, stream(openai_event("Hello"), 5, *openai_steps(["late"])))
    started = time.monotonic()
    texts, error = collect(lab(upstream, read_timeout=0.5).complete("fake-model", HELLO))
    assert texts == ["Hello"]
    assert error.code == "timeout" and "0.5 s" in error.message
    assert time.monotonic() - started < 3


def test_a_server_that_never_answers_times_out(upstream):
    upstream.on("POST", OPENAI_CHAT, silence(5))
    started = time.monotonic()
    texts, error = collect(lab(upstream, read_timeout=0.5).complete("fake-model", HELLO))
    assert texts == [] and error.code == "timeout"
    assert time.monotonic() - started < 3


def test_malformed_data_is_a_bad_stream(upstream):
    upstream.on("POST", OPENAI_CHAT, stream(openai_event("Hi"), b"data: {not json at all\n\n", DONE))
    texts, error = collect(lab(upstream).complete("fake-model", HELLO))
    assert texts == ["Hi"] and error.code == "bad_stream"
    assert "{not json at all" in error.message


def test_a_web_page_where_the_api_should_answer_says_the_base_url_is_wrong(upstream):
    upstream.on("POST", OPENAI_CHAT, answer(body=b"<!doctype html><h1>Welcome to nginx!</h1>", content_type="text/html"))
    texts, error = collect(lab(upstream).complete("fake-model", HELLO))
    assert (texts, error.code) == ([], "not_api")
    assert "answered /chat/completions with a web page" in error.message and "/v1" in error.message


def test_a_line_that_never_ends_is_refused_before_it_exhausts_memory(upstream):
    upstream.on("POST", OPENAI_CHAT, stream(openai_event("Hi"), b"data: " + b"x" * (1024 * 1024 + 16)))
    texts, error = collect(lab(upstream).complete("fake-model", HELLO))
    assert texts == ["Hi"] and error.code == "bad_stream"


def test_a_redirect_is_not_followed_so_the_key_stays_home(upstream):
    elsewhere = type(upstream)()
    try:
        target = elsewhere.url + "/v1/chat/completions"
        upstream.on("POST", OPENAI_CHAT, answer(307, b"", content_type="text/plain", headers={"Location": target}))
        _, error = collect(lab(upstream, api_key="sk-stayshome12345").complete("fake-model", HELLO))
        assert error.code == "upstream_rejected" and "307" in error.message
        assert elsewhere.seen == []
    finally:
        elsewhere.close()


def test_an_error_event_mid_stream_is_reported(upstream):
    upstream.on("POST", OPENAI_CHAT, stream(openai_event("Hi"), b'data: {"error": {"message": "the model crashed"}}\n\n'))
    texts, error = collect(lab(upstream).complete("fake-model", HELLO))
    assert texts == ["Hi"] and error.code == "upstream_error" and "the model crashed" in error.message


@pytest.mark.parametrize(
    "status, headers, code, words",
    [
        (401, {}, "auth_failed", ["rejected the key", "401", "bad key"]),
        (403, {}, "auth_failed", ["rejected the key", "403"]),
        (404, {}, "unknown_model", ["fake-model", "bad key"]),
        (429, {"Retry-After": "7"}, "rate_limited", ["7 s"]),
        (429, {}, "rate_limited", ["later"]),
        (500, {}, "upstream_error", ["500", "bad key"]),
        (400, {}, "upstream_rejected", ["400", "bad key"]),
    ],
)
def test_http_errors_become_distinct_codes(upstream, status, headers, code, words):
    upstream.on("POST", OPENAI_CHAT, answer(status, {"error": {"message": "bad key or whatever"}}, headers=headers))
    texts, error = collect(lab(upstream).complete("fake-model", HELLO))
    assert texts == [] and isinstance(error, ProviderError) and error.code == code
    for word in words:
        assert word in error.message


def test_retry_after_as_a_date_is_turned_into_seconds(upstream):
    later = formatdate(time.time() + 120, usegmt=True)
    upstream.on("POST", OPENAI_CHAT, answer(429, b"slow down", content_type="text/plain", headers={"Retry-After": later}))
    _, error = collect(lab(upstream).complete("fake-model", HELLO))
    assert error.code == "rate_limited" and 115 <= error.details["retry_after"] <= 121


def test_retry_after_is_in_the_details(upstream):
    upstream.on("POST", OPENAI_CHAT, answer(429, {}, headers={"Retry-After": "30"}))
    _, error = collect(lab(upstream).complete("fake-model", HELLO))
    assert error.details == {"retry_after": 30}


def test_a_server_that_is_not_running_is_unreachable():
    provider = OpenAIProvider("gone", f"http://127.0.0.1:{closed_port()}/v1", timeout=1)
    _, error = collect(provider.complete("m", HELLO))
    assert error.code == "unreachable" and "gone" in error.message
