"""The OpenAI-compatible provider against a fake server over real sockets: streams, model lists, and the bridge."""
import time

import pytest
import requests

from conftest import chat
from fake_upstream import (  # noqa: F401 (upstream and webui are fixtures)
    CUT,
    HELLO,
    OPENAI_CHAT,
    DONE,
    WORDS,
    answer,
    collect,
    openai_event,
    openai_steps,
    silence,
    stream,
    text_of,
    upstream,
    webui,
)
from webui.errors import ProviderError
from webui.chat.markers import Ending
from webui.providers.openai import OpenAIProvider


def lab(upstream, **settings):
    """A provider for the fake server, with test-sized timeouts."""
    return OpenAIProvider("lab", upstream.url + "/v1", **{"timeout": 1.0, "read_timeout": 0.5, **settings})


def entry(upstream, **settings):
    """A [[providers]] entry for the fake server."""
    return {"name": "lab", "type": "openai", "base_url": upstream.url + "/v1", "timeout": 1, "read_timeout": 0.5, **settings}


def test_streams_the_chunks_and_sends_only_whitelisted_options(upstream):
    options = {"temperature": 0.3, "top_p": 0.9, "max_tokens": 7, "stop": ["\n"], "top_k": 40, "seed": 1}
    texts, error = collect(lab(upstream, api_key="sk-test1234567890").complete("fake-model", HELLO, **options, base_url="http://10.0.0.1"))
    assert error is None and texts == WORDS
    [request] = upstream.requests_to(OPENAI_CHAT)
    assert request.body == {"model": "fake-model", "messages": HELLO, "stream": True, "stream_options": {"include_usage": True}, **options}
    assert request.headers["Authorization"] == "Bearer sk-test1234567890"


@pytest.mark.parametrize("chunked", [True, False], ids=["chunked", "until-close"])
def test_chunks_are_yielded_as_they_arrive(upstream, chunked):
    upstream.on("POST", OPENAI_CHAT, stream(openai_event("first"), 1.0, *openai_steps(["second"]), chunked=chunked))
    chunks = lab(upstream, read_timeout=5).complete("fake-model", HELLO)
    started = time.monotonic()
    assert next(chunks) == "first"
    assert time.monotonic() - started < 0.6, "the first chunk waited for the rest of the body"
    assert list(chunks) == ["second", Ending()]


def test_multibyte_characters_split_across_network_reads(upstream):
    event = openai_event("привет 👋 мир")
    emoji = event.index("👋".encode())
    cyrillic = event.index("и".encode())
    parts = [event[: cyrillic + 1], event[cyrillic + 1 : emoji + 2], event[emoji + 2 :]]
    upstream.on("POST", OPENAI_CHAT, stream(*parts, openai_event(finish="stop"), DONE))
    texts, error = collect(lab(upstream).complete("fake-model", HELLO))
    assert error is None and texts == ["привет 👋 мир"]


def test_comments_keepalives_fields_and_crlf_are_understood(upstream):
    upstream.on(
        "POST",
        OPENAI_CHAT,
        stream(
            b": keep-alive\n\n",
            b"retry: 1000\nid: 1\nevent: message\n" + openai_event("one"),
            # One event in two data lines, with its "\r\n" split across two reads.
            b'data: {"choices": [{"delta":\r',
            b'\ndata: {"content": "two"}}]}\r\n\r\n',
            b": ping\r\n\r\n",
            b"data: {\"choices\": [{\"delta\": {\"content\": \"thr\"",
            b"}}]}\n\ndata: {\"choices\": []}\n\n",
            openai_event("ee"),
            DONE,
        ),
    )
    texts, error = collect(lab(upstream).complete("fake-model", HELLO))
    assert error is None and "".join(texts) == "onetwothree"


def test_a_plain_json_answer_is_used_when_the_server_does_not_stream(upstream):
    upstream.on("POST", OPENAI_CHAT, answer(body={"choices": [{"message": {"role": "assistant", "content": "all at once"}, "finish_reason": "stop"}]}))
    texts, error = collect(lab(upstream).complete("fake-model", HELLO))
    assert error is None and texts == ["all at once"]


@pytest.mark.parametrize(
    "ending",
    [[openai_event(finish="length")], [DONE]],
    ids=["finish_reason-without-done", "done-without-finish_reason"],
)
def test_either_end_marker_completes_the_answer(upstream, ending):
    upstream.on("POST", OPENAI_CHAT, stream(openai_event("Hi"), *ending))
    texts, error = collect(lab(upstream).complete("fake-model", HELLO))
    assert error is None and texts == ["Hi"]


def test_models_are_listed_by_the_server_and_cached(upstream):
    provider = lab(upstream)
    assert provider.models() == ["fake-model", "other-model"]
    assert provider.default_model() == "fake-model"
    assert len(upstream.requests_to("/v1/models")) == 1


def test_the_model_cache_expires(upstream):
    provider = lab(upstream, models_ttl=0.2)
    provider.models()
    time.sleep(0.3)
    provider.models()
    assert len(upstream.requests_to("/v1/models")) == 2


def test_configured_models_need_no_listing(upstream):
    assert lab(upstream, models=["a", "b"]).models() == ["a", "b"]
    assert upstream.requests_to("/v1/models") == []


def test_a_dead_server_does_not_stall_the_provider_listing(upstream, webui):
    upstream.on("GET", "/v1/models", silence(10))
    server = webui([entry(upstream, timeout=0.5)])
    for _ in range(3):
        started = time.monotonic()
        listing = requests.get(server.url + "/api/providers", timeout=10).json()
        assert time.monotonic() - started < 2
    lab_info = {p["name"]: p for p in listing["providers"]}["lab"]
    assert lab_info["available"] is False and "No answer from lab" in lab_info["error"]
    assert len(upstream.requests_to("/v1/models")) == 1, "a failed listing is cached too"


def test_a_listing_at_the_wrong_address_says_so(upstream):
    provider = OpenAIProvider("lab", upstream.url + "/wrong", timeout=1)
    with pytest.raises(ProviderError) as info:
        provider.models()
    assert info.value.code == "not_found" and "/wrong/models" in info.value.message


def test_closing_the_generator_hangs_up_on_the_server(upstream):
    upstream.on("POST", OPENAI_CHAT, stream(*openai_steps([f"tick{n} " for n in range(100)], pause=0.05)))
    chunks = lab(upstream).complete("fake-model", HELLO)
    assert [next(chunks), next(chunks)] == ["tick0 ", "tick1 "]
    chunks.close()
    assert upstream.disconnected.wait(3), "the upstream connection stayed open"


def test_end_to_end_through_the_websocket_bridge(upstream, webui):
    upstream.on("POST", OPENAI_CHAT, stream(*openai_steps(["Hel", "lo"]), openai_event("ignored after finish")))
    ws = webui([entry(upstream)]).connect()
    ws.send(chat("o1", provider="lab", model="other-model", options={"max_tokens": 5}))
    frames = ws.until_final("o1")
    assert frames[0] == {
        "type": "start", "request_id": "o1", "provider": "lab", "model": "other-model",
        "context": {"limit": None, "used": None, "dropped_messages": 0},
    }
    assert text_of(frames) == "Hello" and frames[-1]["reason"] == "complete"
    assert upstream.requests_to(OPENAI_CHAT)[0].body["max_tokens"] == 5


def test_a_cut_reply_reaches_the_page_as_an_error_after_its_text(upstream, webui):
    upstream.on("POST", OPENAI_CHAT, stream(openai_event("partial "), openai_event("text"), CUT))
    ws = webui([entry(upstream)]).connect()
    ws.send(chat("c1", provider="lab", model="fake-model"))
    frames = ws.until_final("c1")
    assert text_of(frames) == "partial text"
    assert frames[-1]["type"] == "error" and frames[-1]["code"] == "interrupted"


def test_stop_on_the_page_hangs_up_on_the_server(upstream, webui):
    upstream.on("POST", OPENAI_CHAT, stream(*openai_steps([f"tick{n} " for n in range(200)], pause=0.05)))
    ws = webui([entry(upstream)]).connect()
    ws.send(chat("s1", provider="lab", model="fake-model"))
    ws.recv()
    ws.recv()
    ws.send({"type": "stop", "request_id": "s1"})
    assert ws.until_final("s1")[-1]["reason"] == "stopped"
    assert upstream.disconnected.wait(5), "the upstream kept streaming for nobody"
