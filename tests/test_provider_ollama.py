"""The Ollama provider against a fake server speaking /api/chat NDJSON and /api/tags, directly and through the bridge."""
import time

import pytest

from conftest import chat
from fake_upstream import (  # noqa: F401 (upstream and webui are fixtures)
    CUT,
    HELLO,
    WORDS,
    answer,
    collect,
    ollama_line,
    ollama_steps,
    silence,
    stream,
    text_of,
    upstream,
    webui,
)
from webui.errors import ProviderError
from webui.providers.ollama import OllamaProvider

CHAT = "/api/chat"
NDJSON = "application/x-ndjson"


def ollama(upstream, **settings):
    """A provider for the fake server, with test-sized timeouts."""
    return OllamaProvider("box", upstream.url, **{"timeout": 1.0, "read_timeout": 0.5, **settings})


def test_streams_the_lines_and_maps_the_options(upstream):
    options = {"temperature": 0.2, "max_tokens": 9, "top_k": 40, "repeat_penalty": 1.1, "seed": 3, "stop": ["\n"]}
    texts, error = collect(ollama(upstream).complete("fake-model", HELLO, **options, base_url="http://10.0.0.1"))
    assert error is None and texts == WORDS
    [request] = upstream.requests_to(CHAT)
    assert request.body == {
        "model": "fake-model",
        "messages": HELLO,
        "stream": True,
        "options": {"temperature": 0.2, "num_predict": 9, "top_k": 40, "repeat_penalty": 1.1, "seed": 3, "stop": ["\n"]},
    }
    assert "Authorization" not in request.headers


def test_a_key_is_sent_when_one_is_configured(upstream):
    collect(ollama(upstream, api_key="behind-a-proxy-123").complete("fake-model", HELLO))
    assert upstream.requests_to(CHAT)[0].headers["Authorization"] == "Bearer behind-a-proxy-123"


def test_models_come_from_the_tags_and_are_cached(upstream):
    provider = ollama(upstream)
    assert provider.models() == ["fake-model", "other-model"]
    assert provider.default_model() == "fake-model"
    assert len(upstream.requests_to("/api/tags")) == 1


def test_multibyte_characters_split_across_network_reads(upstream):
    line = ollama_line("ёжик 🦔")
    hedgehog = line.index("🦔".encode())
    upstream.on("POST", CHAT, stream(line[: hedgehog + 1], line[hedgehog + 1 :], ollama_line(done=True), content_type=NDJSON))
    texts, error = collect(ollama(upstream).complete("fake-model", HELLO))
    assert error is None and texts == ["ёжик 🦔"]


def test_a_line_split_across_reads_and_blank_lines_are_fine(upstream):
    line = ollama_line("joined")
    upstream.on("POST", CHAT, stream(line[:10], line[10:], b"\n", ollama_line(done=True), content_type=NDJSON))
    texts, error = collect(ollama(upstream).complete("fake-model", HELLO))
    assert error is None and texts == ["joined"]


def test_a_stall_times_out_after_the_partial_text(upstream):
    upstream.on("POST", CHAT, stream(ollama_line("Hi"), 5, *ollama_steps(["late"]), content_type=NDJSON))
    started = time.monotonic()
    texts, error = collect(ollama(upstream).complete("fake-model", HELLO))
    assert texts == ["Hi"] and error.code == "timeout"
    assert time.monotonic() - started < 3


def test_a_cut_stream_is_an_error_after_the_partial_text(upstream):
    upstream.on("POST", CHAT, stream(ollama_line("Hi"), ollama_line("half")[:20], CUT, content_type=NDJSON))
    texts, error = collect(ollama(upstream).complete("fake-model", HELLO))
    assert texts == ["Hi"] and error.code == "interrupted"


def test_a_malformed_line_is_a_bad_stream(upstream):
    upstream.on("POST", CHAT, stream(ollama_line("Hi"), b"<html>oops</html>\n", content_type=NDJSON))
    texts, error = collect(ollama(upstream).complete("fake-model", HELLO))
    assert texts == ["Hi"] and error.code == "bad_stream" and "<html>oops</html>" in error.message


def test_an_error_line_mid_stream_is_reported(upstream):
    upstream.on("POST", CHAT, stream(ollama_line("Hi"), b'{"error": "out of memory"}\n', content_type=NDJSON))
    texts, error = collect(ollama(upstream).complete("fake-model", HELLO))
    assert texts == ["Hi"] and error.code == "upstream_error" and "out of memory" in error.message


def test_an_unknown_model_says_what_ollama_said(upstream):
    upstream.on("POST", CHAT, answer(404, {"error": "model 'llama9' not found, try pulling it first"}))
    _, error = collect(ollama(upstream).complete("llama9", HELLO))
    assert isinstance(error, ProviderError) and error.code == "unknown_model"
    assert "llama9" in error.message and "try pulling it first" in error.message


def test_a_non_streamed_answer_is_used(upstream):
    upstream.on("POST", CHAT, answer(body={"model": "fake-model", "message": {"role": "assistant", "content": "whole"}, "done": True}))
    texts, error = collect(ollama(upstream).complete("fake-model", HELLO))
    assert error is None and texts == ["whole"]


def test_a_dead_tags_endpoint_fails_fast_and_is_not_asked_again_at_once(upstream):
    upstream.on("GET", "/api/tags", silence(10))
    provider = ollama(upstream, timeout=0.5)
    for _ in range(2):
        started = time.monotonic()
        with pytest.raises(ProviderError) as info:
            provider.models()
        assert info.value.code == "timeout" and time.monotonic() - started < 2
    assert len(upstream.requests_to("/api/tags")) == 1


def test_end_to_end_through_the_websocket_bridge(upstream, webui):
    ws = webui([{"name": "box", "type": "ollama", "base_url": upstream.url}]).connect()
    ws.send(chat("o", provider="box", model=None, options={"max_tokens": 4}))
    frames = ws.until_final("o")
    assert frames[0] == {
        "type": "start", "request_id": "o", "provider": "box", "model": "fake-model",
        "context": {"limit": None, "used": None, "dropped_messages": 0},
    }
    assert text_of(frames) == "Hello, world" and frames[-1]["reason"] == "complete"
    assert upstream.requests_to(CHAT)[0].body["options"] == {"num_predict": 4}


def test_two_servers_of_the_same_type_side_by_side(upstream, webui):
    other = type(upstream)()
    try:
        other.on("POST", CHAT, stream(*ollama_steps(["from the other one"]), content_type=NDJSON))
        ws = webui(
            [
                {"name": "box", "type": "ollama", "base_url": upstream.url},
                {"name": "box2", "type": "ollama", "base_url": other.url + "/"},
            ]
        ).connect()
        ws.send(chat("a", provider="box", model="fake-model"))
        assert text_of(ws.until_final("a")) == "Hello, world"
        ws.send(chat("b", provider="box2", model="fake-model"))
        assert text_of(ws.until_final("b")) == "from the other one"
        assert len(upstream.requests_to(CHAT)) == len(other.requests_to(CHAT)) == 1
    finally:
        other.close()
