"""`auto`: config order then local, falling back only before the first chunk, and saying who answered."""
import pytest

from conftest import chat
from fake_upstream import (  # noqa: F401 (upstream and webui are fixtures)
    CUT,
    HELLO,
    OPENAI_CHAT,
    FakeUpstream,
    answer,
    closed_port,
    collect,
    openai_event,
    openai_steps,
    silence,
    stream,
    text_of,
    upstream,
    webui,
)
from webui import create_app
from webui.chat.markers import Ending, Via
from webui.errors import ProviderError
from webui.providers.auto import AutoProvider
from webui.providers.local import bundled_model_path
from webui.providers.openai import OpenAIProvider



def entry(name, url, **settings):
    """An openai [[providers]] entry with test-sized timeouts."""
    return {"name": name, "type": "openai", "base_url": url + "/v1", "timeout": 1, "read_timeout": 0.5, **settings}


@pytest.fixture
def second():
    """Another fake server, the fallback."""
    server = FakeUpstream()
    server.on("POST", OPENAI_CHAT, stream(*openai_steps(["from ", "the second"])))
    yield server
    server.close()


@pytest.fixture
def in_request(tmp_path):
    """A request context, so messages can be put into words."""
    app = create_app({"TESTING": True, "WEBUI_DATA_DIR": str(tmp_path)})
    with app.test_request_context():
        yield


def test_falls_back_when_the_first_cannot_be_reached(second, webui):
    dead = f"http://127.0.0.1:{closed_port()}"
    ws = webui([entry("dead", dead), entry("second", second.url)]).connect()
    ws.send(chat("a", provider="auto", model=None))
    frames = ws.until_final("a")
    assert frames[0] == {
        "type": "start", "request_id": "a", "provider": "second", "model": "fake-model",
        "context": {"limit": None, "used": None, "dropped_messages": 0},
    }
    assert text_of(frames) == "from the second" and frames[-1]["reason"] == "complete"


@pytest.mark.parametrize(
    "failure",
    [
        answer(401, {"error": {"message": "no"}}),
        answer(429, {}, headers={"Retry-After": "60"}),
        answer(500, b"boom", content_type="text/plain"),
        silence(5),
        stream(b"data: {broken\n\n"),
        stream(b": only a comment\n\n", CUT),
    ],
    ids=["401", "429", "500", "timeout", "malformed", "cut-before-text"],
)
def test_falls_back_on_any_failure_before_the_first_chunk(upstream, second, webui, failure):
    upstream.on("POST", OPENAI_CHAT, failure)
    ws = webui([entry("first", upstream.url), entry("second", second.url)]).connect()
    ws.send(chat("f", provider="auto", model=None))
    frames = ws.until_final("f")
    assert frames[0]["provider"] == "second"
    assert text_of(frames) == "from the second" and frames[-1]["type"] == "done"
    assert len(upstream.requests_to(OPENAI_CHAT)) == 1


def test_a_failure_after_the_first_chunk_is_reported_not_retried(upstream, second, webui):
    upstream.on("POST", OPENAI_CHAT, stream(openai_event("Hello"), CUT))
    ws = webui([entry("first", upstream.url), entry("second", second.url)]).connect()
    ws.send(chat("n", provider="auto", model=None))
    frames = ws.until_final("n")
    assert frames[0]["provider"] == "first" and text_of(frames) == "Hello"
    assert frames[-1]["type"] == "error" and frames[-1]["code"] == "interrupted"
    assert second.seen == []


def test_an_empty_answer_is_an_answer(upstream, second, in_request):
    upstream.on("POST", OPENAI_CHAT, stream(openai_event(finish="stop")))
    auto = AutoProvider([OpenAIProvider("first", upstream.url + "/v1", models=["m"]), OpenAIProvider("second", second.url + "/v1")])
    assert list(auto.complete("default", HELLO)) == [Via("first", "m"), Ending()]
    assert second.seen == []


def test_via_comes_before_the_first_chunk_and_options_pass_through(upstream, in_request):
    auto = AutoProvider([OpenAIProvider("lab", upstream.url + "/v1")])
    assert list(auto.complete("default", HELLO, max_tokens=3)) == [Via("lab", "fake-model"), "Hello", ",", " world", Ending()]
    assert upstream.requests_to(OPENAI_CHAT)[0].body["max_tokens"] == 3


def test_when_all_fail_each_failure_is_reported(in_request):
    providers = [OpenAIProvider(name, f"http://127.0.0.1:{closed_port()}/v1", models=["m"]) for name in ("one", "two")]
    texts, error = collect(AutoProvider(providers).complete("default", HELLO))
    assert texts == []
    assert isinstance(error, ProviderError) and error.code == "all_failed"
    assert "Cannot connect to one" in error.message and "Cannot connect to two" in error.message


def test_a_provider_that_needs_a_key_is_skipped(second, in_request):
    keyless = OpenAIProvider("keyless", second.url + "/v1", api_key_env="UNSET_KEY_VARIABLE")
    texts, error = collect(AutoProvider([keyless, OpenAIProvider("second", second.url + "/v1")]).complete("default", HELLO))
    assert error is None and texts[0] == Via("second", "fake-model")
    assert len(second.requests_to(OPENAI_CHAT)) == 1


def test_closing_auto_hangs_up_on_the_provider_that_answers(upstream, in_request):
    upstream.on("POST", OPENAI_CHAT, stream(*openai_steps([f"tick{n} " for n in range(100)], pause=0.05)))
    chunks = AutoProvider([OpenAIProvider("lab", upstream.url + "/v1")]).complete("default", HELLO)
    assert [next(chunks), next(chunks)] == [Via("lab", "fake-model"), "tick0 "]
    chunks.close()
    assert upstream.disconnected.wait(3)


def test_order_is_the_config_order_then_local(tmp_path, upstream):
    entries = [entry("b", upstream.url), {"name": "bad", "type": "x"}, entry("a", upstream.url, type="ollama")]
    app = create_app({"TESTING": True, "WEBUI_DATA_DIR": str(tmp_path), "WEBUI_PROVIDERS": entries})
    auto = app.extensions["webui.registry"].get("auto")
    assert [p.name for p in auto.candidates] == ["b", "a", "local"]


def test_local_answers_when_every_server_is_down(webui):
    dead = f"http://127.0.0.1:{closed_port()}"
    ws = webui([entry("dead", dead)]).connect()
    ws.send(chat("l", "Say hi.", provider="auto", model=None, options={"max_tokens": 4}))
    frames = ws.until_final("l")
    assert frames[0]["provider"] == "local" and frames[0]["model"] == bundled_model_path().stem
    assert frames[-1]["type"] == "done"
