"""What the OpenAI-compatible API (/v1) refuses, in OpenAI's shape: bad tokens and requests, unknown models, limits,
failing providers, other sites' pages and malformed settings."""
import time

import openai
import pytest
import requests

from api_client import HELLO, client, new_token, post
from test_openai_api import api  # noqa: F401 (a fixture)
from test_security import serve  # noqa: F401 (a fixture)
from webui import create_app
from webui.config import ConfigError


# Fails as a server behind it that is down would, counting its calls in a file beside it (`failing.calls`).
FAILING_MODULE = '''
from pathlib import Path

url = "http://127.0.0.1/failing"
model = ["down"]
supports_stream = True
needs_auth = False


def _create_completion(model, messages, stream, **kwargs):
    calls = Path(__file__).with_suffix(".calls")
    calls.write_text(str(int(calls.read_text()) + 1 if calls.exists() else 1))
    raise RuntimeError("the server behind this module is down")
    yield ""
'''


def test_no_token_a_wrong_token_or_only_cookies_get_401(api):
    server, _api_client, browser, token = api
    # The real token with its last character changed (to one it is not: a random token ends in "A" one time in 64).
    altered = token[:-1] + ("B" if token.endswith("A") else "A")
    for authorization in (None, "Bearer", "Bearer webui_0123456789ab_" + "x" * 43, "Bearer " + altered,
                          "Basic " + token, "Bearer sk-something"):
        headers = {"Authorization": authorization} if authorization else {}
        response = post(server.url, None, {"model": "testing/echo", "messages": HELLO}, **headers)
        assert response.status_code == 401, authorization
        assert response.json()["error"]["code"] == "invalid_api_key" and response.json()["error"]["type"] == "invalid_request_error"
    # The browser that made the token has the page's cookies: they open nothing here.
    assert browser.get("/v1/models").status_code == 401
    with pytest.raises(openai.AuthenticationError):
        client(server.url, token.replace("_", "-", 1)).models.list()


def test_bad_requests_get_400_with_the_field_named(api):
    server, _api_client, _browser, token = api
    refused = {
        "temperature": {"model": "testing/echo", "messages": HELLO, "temperature": 5},
        "messages": {"model": "testing/echo", "messages": []},
        "model": {"messages": HELLO},
        "messages[0].content": {"model": "testing/echo", "messages": [{"role": "user", "content": []}]},
        "messages[0].content[1]": {"model": "testing/echo", "messages": [{"role": "user", "content": [
            {"type": "text", "text": "x"}, {"type": "input_audio", "input_audio": {"data": "AAAA"}}]}]},
        "messages[1].role": {"model": "testing/echo", "messages": [*HELLO, {"role": "tool", "content": "x"}]},
        "tools": {"model": "testing/echo", "messages": HELLO, "tools": [{"type": "function", "function": {"name": "f"}}]},
        "n": {"model": "testing/echo", "messages": HELLO, "n": 2},
    }
    for param, body in refused.items():
        response = post(server.url, token, body)
        assert response.status_code == 400, (param, response.text)
        error = response.json()["error"]
        assert (error["type"], error["param"], bool(error["message"])) == ("invalid_request_error", param, True)
    assert post(server.url, token, b"{not json").status_code == 400


def test_an_unknown_model_gets_404_and_says_where_the_models_are_listed(api):
    _server, api_client, _browser, _token = api
    for model in ("testing/nope", "nobody/echo", "testing-echo"):
        with pytest.raises(openai.NotFoundError) as refused:
            api_client.chat.completions.create(model=model, messages=HELLO)
        assert refused.value.body["code"] == "model_not_found" and "/v1/models" in refused.value.body["message"]


def test_a_request_larger_than_the_cap_gets_413(serve):
    server = serve(WEBUI_MAX_REQUEST_BYTES=4096)
    token, _browser = new_token(server.url)
    response = post(server.url, token, {"model": "testing/echo", "messages": [{"role": "user", "content": "x" * 5000}]})
    assert response.status_code == 413 and response.json()["error"]["code"] == "request_too_large"
    assert post(server.url, token, {"model": "testing/echo", "messages": HELLO}).status_code == 200


def test_a_burst_over_the_rate_gets_429_with_retry_after(serve):
    server = serve(WEBUI_REQUESTS_PER_MINUTE=3)
    token, _browser = new_token(server.url)
    statuses = [post(server.url, token, {"model": "testing/echo", "messages": HELLO}) for _ in range(5)]
    assert [r.status_code for r in statuses] == [200, 200, 200, 429, 429]
    assert 1 <= int(statuses[3].headers["Retry-After"]) <= 60
    assert statuses[3].json()["error"]["code"] == "rate_limit_exceeded"
    with pytest.raises(openai.RateLimitError):
        client(server.url, token).chat.completions.create(model="testing/echo", messages=HELLO)


def test_more_answers_at_once_than_a_user_may_run_get_429(serve, testing_provider):
    server = serve(WEBUI_MAX_STREAMS_PER_SOCKET=1)
    token, _browser = new_token(server.url)
    api_client = client(server.url, token)
    running = api_client.chat.completions.create(model="testing/slow", messages=HELLO, stream=True)
    next(iter(running))
    response = post(server.url, token, {"model": "testing/echo", "messages": HELLO})
    assert response.status_code == 429 and response.headers["Retry-After"] == "1"
    # Without accounts a token belongs to a browser, and any program can make one of a new browser: the tokens of one
    # address share its limits.
    assert post(server.url, new_token(server.url)[0], {"model": "testing/echo", "messages": HELLO}).status_code == 429
    running.close()
    assert testing_provider().closed_event.wait(5)
    # Its place is free again once the answer has ended.
    deadline = time.monotonic() + 5
    while post(server.url, token, {"model": "testing/echo", "messages": HELLO}).status_code == 429 and time.monotonic() < deadline:
        time.sleep(0.1)
    assert post(server.url, token, {"model": "testing/echo", "messages": HELLO}).status_code == 200


def test_a_provider_that_fails_gets_502_before_the_stream_and_an_error_event_within_it(api, providers_dir, serve):
    _server, api_client, _browser, _token = api
    with pytest.raises(openai.InternalServerError) as failed:
        api_client.chat.completions.create(model="testing/fail_midway", messages=HELLO)
    assert failed.value.status_code == 502 and "upstream went away" in failed.value.message
    chunks = api_client.chat.completions.create(model="testing/fail_midway", messages=HELLO, stream=True)
    with pytest.raises(openai.APIError, match="upstream went away"):
        for _chunk in chunks:
            pass
    (providers_dir / "failing.py").write_text(FAILING_MODULE)
    other = serve()
    response = post(other.url, new_token(other.url)[0], {"model": "failing/down", "messages": HELLO, "stream": True})
    assert response.status_code == 502 and response.headers["Content-Type"].startswith("application/json")
    assert "is down" in response.json()["error"]["message"]


def test_other_sites_pages_are_refused_and_get_no_cors_unless_named(serve, testing_provider):
    server = serve()
    token, _browser = new_token(server.url)
    body = {"model": "testing/echo", "messages": HELLO}
    for origin in ("http://evil.example", "null", f"http://localhost:{server.port}"):
        response = post(server.url, token, body, Origin=origin)
        assert response.status_code == 403 and response.json()["error"]["code"] == "forbidden_origin", origin
        assert "Access-Control-Allow-Origin" not in response.headers
    assert testing_provider().started == []
    own = post(server.url, token, body, Origin=server.url)
    assert own.status_code == 200 and "Access-Control-Allow-Origin" not in own.headers
    named = serve(WEBUI_API_ALLOWED_ORIGINS="http://tools.example:8000, https://other.example")
    token, _browser = new_token(named.url)
    preflight = named_request(named, "OPTIONS", "http://tools.example:8000")
    assert preflight.status_code == 204
    assert preflight.headers["Access-Control-Allow-Origin"] == "http://tools.example:8000"
    assert "authorization" in preflight.headers["Access-Control-Allow-Headers"].lower()
    assert "Access-Control-Allow-Credentials" not in preflight.headers
    assert named_request(named, "OPTIONS", "http://evil.example").status_code == 403
    answer = post(named.url, token, body, Origin="http://tools.example:8000")
    assert answer.status_code == 200 and answer.headers["Access-Control-Allow-Origin"] == "http://tools.example:8000"


def named_request(server, method, origin):
    """A browser's preflight of a chat completion from `origin`."""
    headers = {"Origin": origin, "Access-Control-Request-Method": "POST", "Access-Control-Request-Headers": "authorization, content-type, x-stainless-os"}
    return requests.request(method, server.url + "/v1/chat/completions", headers=headers, timeout=10)


def test_the_web_layers_refusals_and_a_bug_are_in_openais_shape_too(serve, providers_dir):
    # A module whose model name cannot be compared: looking the model up fails inside the server.
    (providers_dir / "misshapen.py").write_text(
        'url = "x"\n\n\nclass Name(str):\n    __hash__ = str.__hash__\n\n    def __eq__(self, other):\n        raise TypeError("no")\n\n\n'
        'model = [Name("m")]\n\n\ndef _create_completion(model, messages, stream, **kwargs):\n    yield ""\n'
    )
    server = serve(PROPAGATE_EXCEPTIONS=False)
    token, _browser = new_token(server.url)
    answers = {
        404: requests.get(server.url + "/v1/nothing", headers={"Authorization": f"Bearer {token}"}, timeout=10),
        405: requests.get(server.url + "/v1/chat/completions", headers={"Authorization": f"Bearer {token}"}, timeout=10),
        500: post(server.url, token, {"model": "misshapen/m", "messages": HELLO}),
    }
    for status, response in answers.items():
        assert response.status_code == status
        error = response.json()["error"]
        assert set(error) == {"message", "type", "param", "code"} and error["message"], error
    assert answers[500].json()["error"] == {"message": "Something went wrong inside the server; its log has the details.",
                                            "type": "server_error", "param": None, "code": "internal_error"}


def test_a_malformed_api_origin_stops_the_start_naming_its_setting(app_config):
    with pytest.raises(ConfigError, match="WEBUI_API_ALLOWED_ORIGINS: 'tools.example'"):
        create_app({**app_config, "WEBUI_API_ALLOWED_ORIGINS": "https://ok.example, tools.example"})
