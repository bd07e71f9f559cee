"""The OpenAI-compatible provider's key and address: the key reaches neither the page nor the log in any spelling, and
nothing a browser sends changes where the server connects."""
import base64
import json
import logging
import textwrap
from urllib.parse import quote

import pytest
import requests

from conftest import chat
from fake_upstream import OPENAI_CHAT, echo_key, text_of, upstream, webui  # noqa: F401 (upstream and webui are fixtures)
from test_provider_openai import entry


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
