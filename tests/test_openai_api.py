"""The OpenAI-compatible API (/v1) driven by OpenAI's own client: every kind of provider, whole and streamed."""
import json
import logging
import time

import openai
import pytest

from api_client import HELLO, client, content_of, curl_events, new_token, post, revoke
from fake_upstream import OPENAI_CHAT, WORDS, echo_key, openai_steps, stream, upstream, webui  # noqa: F401 (fixtures)
from test_security import serve  # noqa: F401 (a fixture)
from webui.providers.local import bundled_model_path


@pytest.fixture
def api(server):
    """The live server and OpenAI's client with a token of a browser there (no accounts)."""
    token, browser = new_token(server.url)
    return server, client(server.url, token), browser, token


def test_the_models_are_every_usable_model_as_provider_slash_model(api):
    server, api_client, _browser, _token = api
    ids = [model.id for model in api_client.models.list()]
    assert f"local/{bundled_model_path().stem}" in ids
    assert {"testing/echo", "testing/slow", "classic_module/classic-1"} <= set(ids)
    # A module that failed to load cannot be used, so it is not listed.
    assert not any(model_id.startswith("broken_module") for model_id in ids)
    assert api_client.models.retrieve("testing/echo").owned_by == "testing"
    with pytest.raises(openai.NotFoundError):
        api_client.models.retrieve("testing/nothing")


def test_a_drop_in_module_answers_whole_and_streamed(api):
    _server, api_client, _browser, _token = api
    whole = api_client.chat.completions.create(model="testing/echo", messages=[{"role": "user", "content": "one two three"}])
    assert whole.object == "chat.completion" and whole.model == "testing/echo"
    assert whole.choices[0].message.role == "assistant"
    assert whole.choices[0].message.content == "one two three "
    assert whole.choices[0].finish_reason == "stop"
    chunks = list(api_client.chat.completions.create(model="testing/echo", messages=[{"role": "user", "content": "four five"}], stream=True))
    assert chunks[0].choices[0].delta.role == "assistant"
    assert content_of(chunks) == "four five "
    assert chunks[-1].choices[0].finish_reason == "stop"
    assert {chunk.id for chunk in chunks} == {chunks[0].id} and chunks[0].object == "chat.completion.chunk"


def test_a_classic_module_without_streaming_and_content_parts(api):
    _server, api_client, _browser, _token = api
    parts = [{"type": "text", "text": "part one"}, {"type": "text", "text": "part two"}]
    whole = api_client.chat.completions.create(model="classic_module", messages=[{"role": "user", "content": parts}])
    assert whole.model == "classic_module/classic-1"
    assert whole.choices[0].message.content == "classic says: part one\npart two"


def test_the_options_reach_the_provider_and_nothing_else_does(api, testing_provider):
    _server, api_client, _browser, _token = api
    api_client.chat.completions.create(
        model="testing/echo", messages=[{"role": "developer", "content": "be brief"}, *HELLO], temperature=0.5, top_p=0.9,
        max_tokens=7, stop="\n", seed=3, presence_penalty=0.1, frequency_penalty=0.2, user="someone",
        extra_body={"base_url": "http://10.0.0.1/v1", "api_key": "mine"},
    )
    assert testing_provider().seen_kwargs[-1] == {
        "temperature": 0.5, "top_p": 0.9, "max_tokens": 7, "stop": ["\n"], "seed": 3, "presence_penalty": 0.1,
        "frequency_penalty": 0.2,
    }
    assert testing_provider().seen_messages[-1] == [{"role": "system", "content": "be brief"}, *HELLO]


def test_the_bundled_local_model_answers_whole_and_streamed(api):
    _server, api_client, _browser, _token = api
    model = f"local/{bundled_model_path().stem}"
    asked = {"model": model, "messages": [{"role": "user", "content": "Say hello."}], "max_tokens": 4, "seed": 1}
    whole = api_client.chat.completions.create(**asked)
    assert whole.model == model and whole.choices[0].message.content.strip()
    assert whole.choices[0].finish_reason in ("stop", "length")
    # The local model counts both sides with its own tokenizer.
    assert whole.usage.completion_tokens >= 1 and whole.usage.prompt_tokens > 5
    chunks = list(api_client.chat.completions.create(**asked, stream=True, stream_options={"include_usage": True}))
    assert content_of(chunks).strip() and chunks[0].choices[0].delta.role == "assistant"
    assert chunks[-1].usage.completion_tokens >= 1 and chunks[-1].usage.prompt_tokens == whole.usage.prompt_tokens
    assert [chunk.choices[0].finish_reason for chunk in chunks if chunk.choices][-1] in ("stop", "length")


def test_a_configured_server_answers_and_its_key_and_address_never_show(upstream, webui, caplog):
    canary = "sk-canary0xAPI20upstreamKEY77"
    server = webui([{"name": "lab", "type": "openai", "base_url": upstream.url + "/v1", "api_key": canary, "models": ["fake-model"]}])
    token, _browser = new_token(server.url)
    api_client = client(server.url, token)
    seen = []
    with caplog.at_level(logging.DEBUG):
        upstream.on("POST", OPENAI_CHAT, stream(*openai_steps()))
        whole = api_client.chat.completions.create(model="lab/fake-model", messages=HELLO)
        assert whole.choices[0].message.content == "".join(WORDS)
        chunks = list(api_client.chat.completions.create(model="lab/fake-model", messages=HELLO, stream=True))
        assert content_of(chunks) == "".join(WORDS)
        seen += [whole.model_dump_json(), *(chunk.model_dump_json() for chunk in chunks)]
        seen.append(json.dumps([model.model_dump() for model in api_client.models.list()]))
        # A careless server that repeats the key in its error: the caller learns that it failed, never the key.
        upstream.on("POST", OPENAI_CHAT, echo_key(status=401))
        for streamed in (False, True):
            response = post(server.url, token, {"model": "lab/fake-model", "messages": HELLO, "stream": streamed})
            assert response.status_code == 502, response.text
            seen.append(response.text)
    assert upstream.requests_to(OPENAI_CHAT)[0].headers["Authorization"] == f"Bearer {canary}"
    for text in seen:
        assert "canary0x" not in text and upstream.url.removeprefix("http://") not in text, text
    # The log names the server the provider connects to (urllib3 does), never its key.
    assert not [record.getMessage() for record in caplog.records if "canary0x" in record.getMessage()]


def test_a_drop_in_modules_error_that_quotes_a_key_does_not_leak_it(api):
    server, _api_client, _browser, token = api
    response = post(server.url, token, {"model": "testing/fail_with_secret", "messages": HELLO, "stream": True})
    assert response.status_code == 200
    assert "sk-canary" not in response.text and "[redacted]" in response.text


def test_curl_sees_server_sent_events_in_openais_chunk_shape(api):
    server, _api_client, _browser, token = api
    head, events = curl_events(server.url, token, {"model": "testing/numbered", "messages": HELLO, "max_tokens": 3, "stream": True})
    assert head.splitlines()[0].split()[1] == "200"
    assert "content-type: text/event-stream" in head.lower()
    blocks = events.strip().split("\n\n")
    assert all(block.startswith("data: ") and "\n" not in block for block in blocks), events
    assert blocks[-1] == "data: [DONE]"
    chunks = [json.loads(block.removeprefix("data: ")) for block in blocks[:-1]]
    assert chunks[0]["choices"][0]["delta"] == {"role": "assistant", "content": ""}
    assert "".join(c["choices"][0]["delta"].get("content", "") for c in chunks) == "n0 n1 n2 "
    assert [c["choices"][0]["finish_reason"] for c in chunks] == [None] * (len(chunks) - 1) + ["stop"]
    assert {c["object"] for c in chunks} == {"chat.completion.chunk"} and {c["model"] for c in chunks} == {"testing/numbered"}


def test_a_client_that_goes_away_mid_stream_closes_the_providers_generator(api, testing_provider):
    _server, api_client, _browser, _token = api
    answer = api_client.chat.completions.create(model="testing/slow", messages=HELLO, stream=True)
    chunks = iter(answer)
    assert [next(chunks).choices[0].delta.role, next(chunks).choices[0].delta.content] == ["assistant", "tick0 "]
    answer.close()
    assert testing_provider().closed_event.wait(5), "the provider's generator was not closed"
    assert testing_provider().closed == ["slow"]


def test_a_token_revoked_on_the_page_mid_stream_stops_it_within_two_seconds(api, testing_provider):
    server, api_client, browser, token = api
    chunks = iter(api_client.chat.completions.create(model="testing/slow", messages=HELLO, stream=True))
    next(chunks), next(chunks)
    revoked_at = time.monotonic()
    revoke(browser, token)
    with pytest.raises(openai.APIError, match="revoked"):
        for _chunk in chunks:
            pass
    assert time.monotonic() - revoked_at < 2
    assert testing_provider().closed_event.wait(2) and testing_provider().closed == ["slow"]
    with pytest.raises(openai.AuthenticationError):
        api_client.models.list()


def test_answers_are_not_stored_unless_the_setting_says_so(serve):
    for store, count in ((False, 0), (True, 1)):
        server = serve(WEBUI_API_STORE=store)
        token, browser = new_token(server.url)
        whole = client(server.url, token).chat.completions.create(
            model="testing/echo", messages=[{"role": "system", "content": "be brief"}, {"role": "user", "content": "store me"}]
        )
        listed = browser.get("/api/conversations").json()["conversations"]
        assert len(listed) == count
        if store:
            conversation = browser.get(f"/api/conversations/{listed[0]['id']}").json()
            assert conversation["title"] == "store me" and conversation["system_prompt"] == "be brief"
            assert [(m["role"], m["content"], m["status"]) for m in conversation["messages"]] == [
                ("user", "store me", "complete"), ("assistant", whole.choices[0].message.content, "complete"),
            ]


def test_an_answer_cut_at_its_length_finishes_with_length(serve):
    server = serve(WEBUI_MAX_ANSWER_CHARS=20)
    token, _browser = new_token(server.url)
    api_client = client(server.url, token)
    whole = api_client.chat.completions.create(model="testing/slow", messages=HELLO)
    assert whole.choices[0].finish_reason == "length" and len(whole.choices[0].message.content) == 20
    chunks = list(api_client.chat.completions.create(model="testing/slow", messages=HELLO, stream=True))
    assert chunks[-1].choices[0].finish_reason == "length" and len(content_of(chunks)) == 20
