"""A provider's key against a running server: it reaches no page, answer, frame or log line, even quoted in an error."""
import json

import pytest

from conftest import Browser, chat
from test_security import serve  # noqa: F401 (a fixture)

CANARY = "canary-5f0c2a9e71d84b36"
CANARY_MODULE = '''
url = "http://127.0.0.1/canary"
model = ["ok", "leaky"]
supports_stream = True
needs_auth = True


def _create_completion(model, messages, stream, auth=None, **kwargs):
    if model == "leaky":
        raise RuntimeError("upstream rejected the key " + auth)
    yield "fine"
'''


@pytest.fixture
def canary_server(app_config, providers_dir, serve):
    """A server with a drop-in provider that needs a key, given the canary as its key."""
    (providers_dir / "canary.py").write_text(CANARY_MODULE)
    return serve(WEBUI_PROVIDER_KEYS={"canary": CANARY}, PROPAGATE_EXCEPTIONS=False)


def leaks(texts):
    """The texts that contain the canary key, cut short."""
    return [text[:300] for text in texts if CANARY in text]


def test_a_canary_key_never_reaches_a_page_an_answer_a_frame_or_the_log(canary_server, caplog):
    browser = Browser(canary_server.url)
    paths = ("/", "/c/nothing", "/login", "/api/providers", "/api/conversations", "/nope")
    seen = [browser.get(path).text for path in paths]
    seen += [browser.get("/static/" + name).text for name in ("style.css", "app.js")]
    seen.append(browser.post("/api/check", json={"providers": ["canary"]}).text)
    ws = browser.connect()
    ws.send(chat("ok", provider="canary", model="ok"))
    seen.append(json.dumps(ws.until_final("ok")))
    ws.close()
    assert '"canary"' in seen[3] and "fine" in seen[-1], "the provider was listed and answered"
    assert leaks(seen + [caplog.text]) == []


def test_a_provider_error_that_quotes_its_key_does_not_leak_it(canary_server, caplog):
    ws = Browser(canary_server.url).connect()
    ws.send(chat("leaky", provider="canary", model="leaky"))
    frames = ws.until_final("leaky")
    ws.close()
    assert frames[-1]["code"] == "provider_error"
    assert leaks([json.dumps(frames), caplog.text]) == []


def test_a_key_with_quotes_and_backslashes_is_redacted_in_the_log_too(app_config, providers_dir, serve, caplog):
    # repr() of the error would write it as we\'ird"key\\…: the log line must not be built from repr.
    key = 'we\'ird"key\\' + CANARY
    (providers_dir / "canary.py").write_text(CANARY_MODULE)
    server = serve(WEBUI_PROVIDER_KEYS={"canary": key}, PROPAGATE_EXCEPTIONS=False)
    ws = Browser(server.url).connect()
    ws.send(chat("leaky", provider="canary", model="leaky"))
    frames = ws.until_final("leaky")
    ws.close()
    assert frames[-1]["code"] == "provider_error" and "[redacted]" in frames[-1]["message"]
    assert "provider canary failed" in caplog.text
    assert leaks([json.dumps(frames), caplog.text]) == []
