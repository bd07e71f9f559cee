"""The OpenAI-compatible provider against a fake server over real sockets, through the bridge, and against llama.cpp's server."""
import base64
import json
import logging
import socket
import subprocess
import sys
import textwrap
import time
from email.utils import formatdate
from urllib.parse import quote

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
    closed_port,
    collect,
    echo_key,
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
from webui.providers.local import bundled_model_path
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


CANARY = "canaryKEY0x5fZq81Wm"


def test_the_key_never_reaches_the_page_frames_or_logs(upstream, webui, monkeypatch, caplog):
    caplog.set_level(logging.DEBUG)
    monkeypatch.setenv("LAB_API_KEY", CANARY)
    upstream.on("GET", "/v1/models", echo_key(401))
    upstream.on("POST", OPENAI_CHAT, echo_key(401))
    server = webui([entry(upstream, api_key_env="LAB_API_KEY"), {**entry(upstream, api_key=CANARY), "name": "pinned", "models": ["m"]}])
    page = requests.get(server.url + "/", timeout=10).text
    listing = requests.get(server.url + "/api/providers", timeout=10).text
    ws = server.connect()
    ws.send(chat("k", provider="pinned", model="m"))
    frames = ws.until_final("k")
    assert frames[-1]["code"] == "auth_failed" and "[redacted]" in frames[-1]["message"]
    assert "Incorrect API key provided" in frames[-1]["message"]
    assert "auth_failed" in listing or "rejected the key" in listing
    assert all(r.headers["Authorization"] == f"Bearer {CANARY}" for r in upstream.seen), "the key was not even sent"
    for text in (page, listing, json.dumps(frames), caplog.text, *(r.getMessage() for r in caplog.records)):
        assert CANARY not in text


ODD_KEY = "canary+KEY/0x5f=Zq81Wm~tail"
SPELLINGS = {
    "url-encoded": lambda key: quote(key, safe=""),
    "all percent-encoded": lambda key: "".join(f"%{b:02X}" for b in key.encode()),
    "upper case": str.upper,
    "lower case": str.lower,
    "split across lines": lambda key: key[:9] + "\n" + key[9:18] + "\r\n  " + key[18:],
    "escaped line breaks": lambda key: key[:9] + "\\n" + key[9:],
    "base64": lambda key: base64.b64encode(key.encode()).decode(),
    "url-safe base64": lambda key: base64.urlsafe_b64encode(key.encode()).decode(),
    "basic auth": lambda key: "Basic " + base64.b64encode(b"user:" + key.encode()).decode(),
    "basic auth, shorter user": lambda key: base64.b64encode(b"me:" + key.encode()).decode(),
    "basic auth, no user": lambda key: base64.b64encode(b":" + key.encode()).decode(),
    "base64 in lines": lambda key: "\n".join(textwrap.wrap(base64.b64encode(b"u:" + key.encode()).decode(), 12)),
}


def traces(spelled, texts):
    """The pieces of eight characters of a spelled key (whitespace collapsed) found in any of `texts`, in any case."""
    spelled = " ".join(spelled.split()).lower()
    pieces = {spelled[i : i + 8] for i in range(len(spelled) - 7)}
    return sorted(piece for piece in pieces if any(piece in text.lower() for text in texts))


@pytest.mark.parametrize("spelling", SPELLINGS.values(), ids=SPELLINGS.keys())
def test_a_key_echoed_in_another_spelling_never_reaches_the_page_or_the_log(upstream, webui, caplog, spelling):
    caplog.set_level(logging.DEBUG)
    upstream.on("POST", OPENAI_CHAT, echo_key(401, spelling))
    server = webui([entry(upstream, api_key=ODD_KEY, models=["m"])])
    ws = server.connect()
    ws.send(chat("k", provider="lab", model="m"))
    frames = ws.until_final("k")
    assert frames[-1]["code"] == "auth_failed" and "Incorrect API key provided: " in frames[-1]["message"]
    assert "[redacted]" in frames[-1]["message"]
    check = requests.post(server.url + "/api/check", json={"providers": ["lab"]}, timeout=30)
    assert check.json()["results"][0]["error"]["code"] == "auth_failed"
    texts = [json.dumps(frames, ensure_ascii=False), check.text, caplog.text, *(r.getMessage() for r in caplog.records)]
    assert traces(spelling(ODD_KEY), texts) == [] and traces(ODD_KEY, texts) == []


def test_nothing_a_browser_sends_changes_where_the_server_connects(upstream, webui):
    elsewhere = type(upstream)()
    try:
        ws = webui([entry(upstream)]).connect()
        target = elsewhere.url + "/v1"
        ws.send(chat("b1", provider="lab", model="fake-model", options={"base_url": target}))
        assert ws.recv()["code"] == "bad_request"
        ws.send(chat("b2", provider=target, model="fake-model"))
        assert ws.recv()["code"] == "unknown_provider"
        ws.send(chat("b3", provider="lab", model=target))
        assert ws.recv()["code"] == "unknown_model"
        ws.send(chat("b4", provider="lab", model="fake-model", base_url=target, api_key="x", headers={"Host": "evil"}))
        assert text_of(ws.until_final("b4")) == "Hello, world"
        assert elsewhere.seen == []
        assert [r.body["model"] for r in upstream.requests_to(OPENAI_CHAT)] == ["fake-model"]
    finally:
        elsewhere.close()


@pytest.fixture(scope="module")
def llama_server(tmp_path_factory):
    """llama-cpp-python's own OpenAI-compatible server with the bundled model, on a free loopback port."""
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]
    log = open(tmp_path_factory.mktemp("llama") / "server.log", "wb")
    command = [sys.executable, "-m", "llama_cpp.server", "--model", str(bundled_model_path())]
    process = subprocess.Popen(command + ["--host", "127.0.0.1", "--port", str(port), "--n_ctx", "512"], stdout=log, stderr=log)
    try:
        base_url = f"http://127.0.0.1:{port}/v1"
        for _ in range(100):
            try:
                requests.get(base_url + "/models", timeout=1).raise_for_status()
                break
            except requests.RequestException:
                assert process.poll() is None, "llama_cpp.server exited"
                time.sleep(0.2)
        else:
            pytest.fail("llama_cpp.server did not start within 20 s")
        yield base_url
    finally:
        process.terminate()
        try:
            process.wait(10)
        except subprocess.TimeoutExpired:
            process.kill()
            process.wait(10)
        log.close()


def test_a_real_llama_cpp_server_streams_through_the_provider(llama_server):
    provider = OpenAIProvider("llama", llama_server, timeout=2, read_timeout=20)
    [model] = provider.models()
    assert model.endswith(".gguf")
    texts, error = collect(provider.complete(model, [{"role": "user", "content": "Say hello."}], max_tokens=8, temperature=0))
    assert error is None, error
    assert texts and "".join(texts).strip()


def test_a_real_llama_cpp_server_answers_the_page(llama_server, webui):
    ws = webui([{"name": "llama", "type": "openai", "base_url": llama_server, "read_timeout": 20}]).connect()
    ws.send(chat("r", "Say hello.", provider="llama", model=None, options={"max_tokens": 8}))
    frames = ws.until_final("r")
    assert frames[0]["provider"] == "llama" and frames[0]["model"].endswith(".gguf")
    assert frames[-1]["type"] == "done" and text_of(frames).strip()
