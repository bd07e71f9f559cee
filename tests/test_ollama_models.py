"""An Ollama connection's models from the page: listed, pulled with the progress relayed line by line, deleted; every
failed pull said in plain words, in English and Russian; the upstream request closed when the page goes away."""
import json
import re
import sys

import pytest

from conftest import Browser, ServerProcess
from fake_ollama import DROP, INSTALLED, LIBRARY, LONG_LINE, NO_SPACE, STALL, TRICKLE, ollama  # noqa: F401 (fixture)
from fake_upstream import MODELS, closed_port, upstream, webui  # noqa: F401 (fixtures)
from test_cli import clean_env
from test_connections import send

CYRILLIC = re.compile("[а-яА-Я]")
KEY = "sk-ollama-proxy-key-5678"
QWEN = "qwen2.5:0.5b"
RUSSIAN = {"Accept-Language": "ru"}


def farm(upstream, **fields):
    """The body of a page connection to the fake Ollama."""
    return {"name": "farm", "type": "ollama", "base_url": upstream.url, **fields}


def added(browser, body):
    """Add a connection from the page; its id."""
    created = send(browser, "POST", "/api/connections", json=body)
    assert created.status_code == 201, created.text
    return created.json()["id"]


def models_path(connection_id, *rest):
    """The address of a connection's models, or of what follows them."""
    return "/".join([f"/api/connections/{connection_id}/models", *rest])


def pulled(browser, connection_id, name, headers=None):
    """Pull a model as the page does: the response's lines, each parsed, after checking it is NDJSON."""
    response = send(browser, "POST", models_path(connection_id, "pull"), json={"name": name}, headers=headers or {})
    assert response.status_code == 200, response.text
    assert response.headers["Content-Type"] == "application/x-ndjson"
    assert response.text.endswith("\n")
    return [json.loads(text) for text in response.text.splitlines()]


def final_error(lines):
    """The error of a pull that failed: its one final line, after progress lines only."""
    *progress, last = lines
    assert all(set(step) == {"status", "completed", "total"} for step in progress), lines
    assert set(last) == {"error"} and set(last["error"]) == {"code", "message"}, lines
    return last["error"]


def installed_names(browser, connection_id):
    """The names GET …/models lists."""
    response = browser.get(models_path(connection_id))
    assert response.status_code == 200, response.text
    return [model["name"] for model in response.json()["models"]]


def test_the_installed_models_are_listed_with_their_details_for_page_and_config_connections(upstream, ollama, webui):
    server = webui([{"name": "lab", "type": "ollama", "base_url": upstream.url}])
    admin = Browser(server.url)
    page_id = added(admin, farm(upstream, api_key=KEY))
    assert [c["id"] for c in admin.get("/api/connections").json()["connections"]] == ["config-1", page_id]

    listed = admin.get(models_path(page_id))
    assert listed.status_code == 200, listed.text
    assert listed.json() == {"models": [
        {"name": name, "size": model["size"], "family": model["family"], "parameter_size": model["parameter_size"],
         "quantization": model["quantization"], "modified_at": "2025-05-09T07:35:25.123Z"}
        for name, model in reversed(INSTALLED.items())
    ]}
    assert upstream.requests_to("/api/tags")[-1].headers["Authorization"] == f"Bearer {KEY}"
    assert KEY not in listed.text

    assert admin.get(models_path("config-1")).json() == listed.json()
    assert "Authorization" not in upstream.requests_to("/api/tags")[-1].headers


def test_a_pull_relays_the_progress_in_order_and_ends_with_one_done_line(upstream, ollama, webui):
    server = webui([])
    admin = Browser(server.url)
    connection_id = added(admin, farm(upstream))
    offered = lambda: next(p for p in admin.get("/api/providers").json()["providers"] if p["name"] == "farm")["models"]  # noqa: E731
    assert offered() == list(reversed(MODELS))

    lines = pulled(admin, connection_id, QWEN)
    total = LIBRARY[QWEN]["size"]
    assert lines == [
        {"status": "pulling manifest", "completed": None, "total": None},
        *({"status": "pulling 2bada8a74506", "completed": total * step // 3, "total": total} for step in (1, 2, 3)),
        {"status": "verifying sha256 digest", "completed": None, "total": None},
        {"status": "writing manifest", "completed": None, "total": None},
        {"done": True},
    ]
    assert [seen.body for seen in upstream.requests_to("/api/pull")] == [{"model": QWEN, "stream": True}]
    assert installed_names(admin, connection_id)[0] == QWEN
    assert offered()[0] == QWEN, "the provider's list of models is asked afresh after a pull, not in a minute"

    # The pulled model answers, in the window /api/show gives it (its trained context, up to Ollama's default).
    ws = admin.connect()
    ws.send({"type": "chat", "request_id": "q", "provider": "farm", "model": QWEN, "messages": [{"role": "user", "content": "hi"}]})
    assert ws.until_final("q")[-1]["type"] == "done"
    ws.close()
    assert upstream.requests_to("/api/chat")[-1].body["options"]["num_ctx"] == 4096

    named = pulled(admin, connection_id, "hf.co/bartowski/SmolLM2-135M-Instruct-GGUF:Q8_0")
    assert named[-1] == {"done": True}


# fault: how the fake fails; name: the model pulled; code and words: the final error line's code, and words of its
# English message.
FAILURES = [
    (None, "nosuch:1b", "unknown_model", "farm found no model called “nosuch:1b”"),
    (NO_SPACE, QWEN, "no_space", "farm has no space left on its disk for “qwen2.5:0.5b”"),
    (DROP, QWEN, "interrupted", "The connection to farm was lost before “qwen2.5:0.5b” was downloaded"),
    (STALL, QWEN, "timeout", "farm sent nothing for 1 s while downloading “qwen2.5:0.5b”"),
    (TRICKLE, QWEN, "timeout", "farm sent nothing for 1 s while downloading “qwen2.5:0.5b”"),
    (LONG_LINE, QWEN, "bad_stream", "farm sent an answer that cannot be read"),
]


@pytest.mark.parametrize("fault, name, code, words", FAILURES, ids=[code for _, _, code, _ in FAILURES])
def test_a_failed_pull_ends_with_one_error_line_in_plain_words(upstream, ollama, webui, fault, name, code, words):
    server = webui([], WEBUI_PULL_IDLE_SECONDS=1)
    admin = Browser(server.url)
    connection_id = added(admin, farm(upstream))
    ollama.fault = fault
    english = final_error(pulled(admin, connection_id, name))
    assert english["code"] == code and words in english["message"], english
    russian = final_error(pulled(admin, connection_id, name, RUSSIAN))
    assert russian["code"] == code and CYRILLIC.search(russian["message"]) and "farm" in russian["message"], russian
    assert name not in installed_names(admin, connection_id)


def test_a_pull_from_a_server_that_is_not_there_says_so(webui):
    server = webui([])
    admin = Browser(server.url)
    connection_id = added(admin, {"name": "gone", "type": "ollama", "base_url": f"http://127.0.0.1:{closed_port()}"})
    english = final_error(pulled(admin, connection_id, QWEN))
    assert english["code"] == "unreachable" and "Cannot connect to gone" in english["message"]
    russian = final_error(pulled(admin, connection_id, QWEN, RUSSIAN))
    assert russian["code"] == "unreachable" and CYRILLIC.search(russian["message"])
    refused = admin.get(models_path(connection_id))
    assert refused.status_code == 502 and refused.json()["error"]["code"] == "unreachable"


def test_a_model_is_deleted_and_a_missing_one_is_said_to_be_missing(upstream, ollama, webui):
    server = webui([])
    admin = Browser(server.url)
    connection_id = added(admin, farm(upstream))
    assert pulled(admin, connection_id, QWEN)[-1] == {"done": True}
    assert "farm" in admin.get("/api/providers").text

    deleted = send(admin, "DELETE", models_path(connection_id, QWEN))
    assert deleted.status_code == 204, deleted.text
    assert upstream.requests_to("/api/delete")[-1].body == {"model": QWEN}
    assert QWEN not in installed_names(admin, connection_id)
    assert QWEN not in next(p for p in admin.get("/api/providers").json()["providers"] if p["name"] == "farm")["models"]

    for headers, words in [({}, "farm has no model called “qwen2.5:0.5b”"), (RUSSIAN, None)]:
        missing = send(admin, "DELETE", models_path(connection_id, QWEN), headers=headers)
        assert missing.status_code == 404 and missing.json()["error"]["code"] == "unknown_model", missing.text
        message = missing.json()["error"]["message"]
        assert words in message if words else CYRILLIC.search(message), message

    # A name with a host and a namespace travels in the path, its "/" as they are or encoded.
    hosted = "hf.co/bartowski/SmolLM2-135M-Instruct-GGUF:Q8_0"
    assert pulled(admin, connection_id, hosted)[-1] == {"done": True}
    assert send(admin, "DELETE", models_path(connection_id, hosted.replace("/", "%2F"))).status_code == 204
    assert upstream.requests_to("/api/delete")[-1].body == {"model": hosted}


def test_closing_the_page_mid_pull_closes_the_request_to_ollama(upstream, ollama, webui):
    server = webui([])
    admin = Browser(server.url)
    connection_id = added(admin, farm(upstream))
    ollama.steps, ollama.pause = 400, 0.05
    response = admin.http.post(
        server.url + models_path(connection_id, "pull"), json={"name": QWEN}, stream=True, timeout=10,
        headers={"X-CSRF-Token": admin.csrf_token()},
    )
    lines = response.iter_lines()
    assert [json.loads(next(lines))["status"] for _ in range(3)][-1] == "pulling 2bada8a74506"
    response.close()
    assert upstream.disconnected.wait(10), "the pull went on after the page had gone"
    assert QWEN not in ollama.models


def test_under_gevent_a_stalled_pull_holds_up_no_one_and_a_closed_page_hangs_up(upstream, ollama, tmp_path):
    providers = f'[{{name = "farm", type = "ollama", base_url = "{upstream.url}"}}]'
    env = clean_env(WEBUI_DATA_DIR=str(tmp_path), WEBUI_PROVIDERS=providers, WEBUI_PULL_IDLE_SECONDS="60", LANG="C")
    server = ServerProcess([sys.executable, "-m", "webui", "--port", "0", "serve"], env=env)
    admin = Browser(server.url)

    def start_pull():
        """A pull as the page starts it, read as it comes: the response and its lines."""
        response = admin.http.post(
            server.url + models_path("config-1", "pull"), json={"name": QWEN}, stream=True, timeout=10,
            headers={"X-CSRF-Token": admin.csrf_token()},
        )
        return response, response.iter_lines()

    try:
        ollama.fault = STALL
        stalled, lines = start_pull()
        assert [json.loads(next(lines))["status"] for _ in range(2)] == ["pulling manifest", "pulling 2bada8a74506"]
        # While the pull waits for Ollama (a minute at most), other people's requests, to Ollama too, are answered
        # within the 10 s each may take.
        others = Browser(server.url)
        for _ in range(3):
            assert others.get("/api/providers").status_code == 200
            assert others.get(models_path("config-1")).status_code == 200
        stalled.close()

        ollama.fault, ollama.steps, ollama.pause = None, 400, 0.05
        flowing, lines = start_pull()
        assert [json.loads(next(lines))["status"] for _ in range(3)][-1] == "pulling 2bada8a74506"
        upstream.disconnected.clear()
        flowing.close()
        assert upstream.disconnected.wait(10), "the pull went on after the page had gone"
        assert QWEN not in ollama.models
    finally:
        # Killed, not stopped: the stalled pull would hold up a graceful stop until gunicorn's graceful timeout.
        server.process.kill()
        server.stop()
