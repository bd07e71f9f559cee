"""The health check: POST /api/check and `webui check`, one shared probe timed like the page sees it."""
import json

import pytest
import requests
from click.testing import CliRunner

from fake_upstream import (  # noqa: F401 (upstream and webui are fixtures)
    closed_port,
    echo_key,
    openai_steps,
    stream,
    upstream,
    webui,
)
from webui.commands.cli import main
from webui.providers.local import bundled_model_path

CHAT = "/v1/chat/completions"


def entry(name, url, **settings):
    """An openai [[providers]] entry with test-sized timeouts."""
    return {"name": name, "type": "openai", "base_url": url + "/v1", "timeout": 1, "read_timeout": 2, **settings}


def check(server, body, **kwargs):
    """POST /api/check."""
    return requests.post(server.url + "/api/check", json=body, timeout=60, **kwargs)


@pytest.fixture
def paced(upstream):
    """The fake server answers with five chunks, 50 ms apart."""
    upstream.on("POST", CHAT, stream(*openai_steps([f"w{n} " for n in range(5)], pause=0.05)))
    return upstream


def test_the_endpoint_reports_each_provider(paced, webui):
    dead = f"http://127.0.0.1:{closed_port()}"
    server = webui([entry("lab", paced.url), entry("dead", dead), {"name": "bad", "type": "nope"}])
    response = check(server, {"providers": ["lab", "dead", "bad", "auto"]})
    assert response.status_code == 200
    body = response.json()
    assert body["max_tokens"] == 8 and body["prompt"]
    lab, dead, bad, auto = body["results"]
    assert lab["provider"] == "lab" and lab["model"] == "fake-model" and lab["ok"] is True and lab["error"] is None
    assert lab["chunks"] == 5 and lab["via"] is None
    assert 0 <= lab["ttft_ms"] < lab["duration_ms"] < 5000
    assert 5 < lab["chunks_per_s"] < 40, "five chunks 50 ms apart is about 20 per second"
    assert dead["ok"] is False and dead["error"]["code"] == "unreachable" and "dead" in dead["error"]["message"]
    assert dead["chunks"] == 0 and dead["ttft_ms"] is None and dead["chunks_per_s"] is None
    assert bad["ok"] is False and bad["error"]["code"] == "bad_config" and bad["model"] is None
    assert auto["ok"] is True and auto["via"] == {"provider": "lab", "model": "fake-model"}
    assert [r.body["max_tokens"] for r in paced.requests_to(CHAT)] == [8, 8]
    assert all(r.body["messages"] == [{"role": "user", "content": body["prompt"]}] for r in paced.requests_to(CHAT))


def test_every_provider_is_checked_when_none_are_named(paced, webui):
    results = check(webui([entry("lab", paced.url)]), {}).json()["results"]
    assert [r["provider"] for r in results] == ["local", "lab", "auto"]
    local = results[0]
    assert local["ok"] is True and local["model"] == bundled_model_path().stem and local["chunks"] >= 1


@pytest.mark.parametrize(
    "body, status, code",
    [
        (None, 415, "unsupported_media_type"),
        ([], 400, "bad_request"),
        ({"providers": "lab"}, 400, "bad_request"),
        ({"providers": [1]}, 400, "bad_request"),
        ({"providers": ["lab", "http://127.0.0.1:1/v1"]}, 400, "unknown_provider"),
        ("[" * 50_000 + "]" * 50_000, 400, "bad_request"),
        ("{not json", 400, "bad_request"),
    ],
)
def test_bad_requests_are_refused_before_anything_is_sent(upstream, webui, body, status, code):
    server = webui([entry("lab", upstream.url)])
    if body is None:
        response = requests.post(server.url + "/api/check", data="providers=lab", timeout=10)
    elif isinstance(body, str):
        response = requests.post(server.url + "/api/check", data=body, headers={"Content-Type": "application/json"}, timeout=10)
    else:
        response = check(server, body)
    assert response.status_code == status
    assert response.json()["error"]["code"] == code
    assert upstream.requests_to(CHAT) == []


def test_an_empty_list_checks_nothing(upstream, webui):
    assert check(webui([entry("lab", upstream.url)]), {"providers": []}).json()["results"] == []


def test_a_provider_named_many_times_is_asked_once(upstream, webui):
    server = webui([entry("lab", upstream.url)])
    results = check(server, {"providers": ["lab", "auto"] * 250}).json()["results"]
    assert [r["provider"] for r in results] == ["lab", "auto"] and all(r["ok"] for r in results)
    assert len(upstream.requests_to(CHAT)) == 2


def test_checks_count_against_the_request_rate(upstream, webui):
    server = webui([entry("lab", upstream.url)], WEBUI_REQUESTS_PER_MINUTE=2)
    assert [check(server, {"providers": ["lab"]}).status_code for _ in range(2)] == [200, 200]
    refused = check(server, {"providers": ["lab"]}, headers={"Accept-Language": "ru"})
    assert refused.status_code == 429 and 1 <= int(refused.headers["Retry-After"]) <= 60
    assert refused.json()["error"]["code"] == "rate_limited"
    assert refused.json()["error"]["message"] == "Слишком много запросов: подождите минуту и попробуйте снова."
    assert len(upstream.requests_to(CHAT)) == 2


def test_the_report_never_shows_a_key(upstream, webui):
    canary = "canaryKEY0x77healthZ"
    upstream.on("POST", CHAT, echo_key(401))
    server = webui([entry("lab", upstream.url, api_key=canary, models=["m"])])
    response = check(server, {"providers": ["lab"]})
    [lab] = response.json()["results"]
    assert lab["error"]["code"] == "auth_failed"
    assert canary not in response.text


def write_config(tmp_path, providers):
    """A TOML settings file with these [[providers]] entries."""
    lines = [f'data_dir = "{tmp_path / "data"}"']
    for provider in providers:
        lines.append("[[providers]]")
        lines += [f"{key} = {json.dumps(value)}" for key, value in provider.items()]
    path = tmp_path / "webui.toml"
    path.write_text("\n".join(lines) + "\n", encoding="utf-8")
    return str(path)


def test_the_cli_reports_and_exits_0_when_all_are_ok(paced, tmp_path):
    config = write_config(tmp_path, [entry("lab", paced.url)])
    result = CliRunner().invoke(main, ["--config", config, "check", "--provider", "lab", "--provider", "auto"])
    assert result.exit_code == 0, result.output
    lines = result.output.splitlines()
    assert lines[0].startswith("lab: ok (fake-model), first chunk after ")
    assert ", 5 chunks, " in lines[0] and lines[0].endswith(" chunks/s")
    assert lines[1].startswith("auto: ok (default → lab/fake-model), first chunk after ")


def test_the_cli_exits_1_when_a_provider_fails(paced, tmp_path):
    dead = f"http://127.0.0.1:{closed_port()}"
    config = write_config(tmp_path, [entry("lab", paced.url), entry("dead", dead)])
    result = CliRunner().invoke(main, ["--config", config, "check", "--provider", "lab", "--provider", "dead"])
    assert result.exit_code == 1
    assert "lab: ok" in result.output
    assert "dead: FAILED (unreachable): Cannot connect to dead" in result.output


def test_the_cli_names_an_unknown_provider(tmp_path):
    config = write_config(tmp_path, [])
    result = CliRunner().invoke(main, ["--config", config, "check", "--provider", "nope"])
    assert result.exit_code == 1
    assert "There is no provider called “nope”" in result.output
