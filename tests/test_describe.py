"""/api/providers asks every provider at the same time, in the reader's language, and lists them in order."""
import time

import pytest

from fake_upstream import MODELS, FakeUpstream, closed_port
from webui import create_app

DELAY = 1.0
SLOW_SERVERS = 4


def after(seconds, behaviour):
    """Hold the request for `seconds`, then answer with `behaviour`."""

    def reply(handler):
        """Wait, unless the server is stopping, then answer."""
        handler.server.upstream.stopping.wait(seconds)
        behaviour(handler)

    return reply


@pytest.fixture
def slow_upstream():
    """make(): a fake OpenAI server that lists its models DELAY seconds after being asked; all close at the end."""
    servers = []

    def make():
        """Start one more slow server."""
        server = FakeUpstream()
        models = server.routes[("GET", "/v1/models")]
        server.on("GET", "/v1/models", after(DELAY, models))
        servers.append(server)
        return server

    yield make
    for server in servers:
        server.close()


def provider_listing(tmp_path, providers, language="en"):
    """The /api/providers body of a fresh app with these [[providers]], and the seconds the request took."""
    settings = {"TESTING": True, "WEBUI_DATA_DIR": str(tmp_path / "data"), "WEBUI_PING_INTERVAL": 0}
    app = create_app({**settings, "WEBUI_PROVIDERS": providers})
    started = time.monotonic()
    response = app.test_client().get("/api/providers", headers={"Accept-Language": language})
    return response.get_json(), time.monotonic() - started


def openai_entry(name, server):
    """A [[providers]] entry for `server`, patient enough for a loaded machine."""
    return {"name": name, "type": "openai", "base_url": f"{server.url}/v1", "timeout": 10}


def test_slow_servers_are_asked_at_the_same_time(tmp_path, slow_upstream):
    servers = [slow_upstream() for _ in range(SLOW_SERVERS)]
    names = [f"slow{number}" for number in range(SLOW_SERVERS)]
    listing, seconds = provider_listing(tmp_path, [openai_entry(name, server) for name, server in zip(names, servers)])
    by_name = {provider["name"]: provider for provider in listing["providers"]}
    for name, server in zip(names, servers):
        assert by_name[name]["available"] and by_name[name]["models"] == MODELS, by_name[name]
        assert len(server.requests_to("/v1/models")) == 1
    assert seconds >= DELAY, "the servers did not hold their answers"
    # Asked one after another the listing would take SLOW_SERVERS × DELAY; together it takes one DELAY and overhead.
    assert seconds < (SLOW_SERVERS / 2 + 0.5) * DELAY, f"{seconds:.2f} s for {SLOW_SERVERS} servers of {DELAY} s each"


def test_the_listing_keeps_the_registry_order_and_the_readers_language(tmp_path, slow_upstream):
    slow = slow_upstream()
    dead = {"name": "dead", "type": "openai", "base_url": f"http://127.0.0.1:{closed_port()}/v1", "timeout": 10}
    listed = {"name": "listed", "type": "ollama", "base_url": "http://127.0.0.1:9", "models": ["fixed"]}
    listing, _ = provider_listing(tmp_path, [openai_entry("slow", slow), dead, listed], language="ru")
    # The slow server answers last, yet keeps its place in the registry's order.
    assert [provider["name"] for provider in listing["providers"]] == ["local", "slow", "dead", "listed", "auto"]
    by_name = {provider["name"]: provider for provider in listing["providers"]}
    assert by_name["slow"]["models"] == MODELS
    assert by_name["listed"]["models"] == ["fixed"]
    # Words put together in the worker threads are still in the reader's language.
    assert by_name["local"]["label"] == "Локальная (llama.cpp)"
    assert by_name["auto"]["label"] == "Авто (запасной вариант)"
    assert not by_name["dead"]["available"]
    assert by_name["dead"]["error"].startswith("Не удаётся подключиться к dead")
