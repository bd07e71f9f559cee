"""How /v1 tells a client what went wrong: options and fields naming themselves, addresses it does not have in the
caller's language, and failures a retry cannot cure marked so that the client does not ask again."""
import openai
import pytest
import requests

from api_client import HELLO, new_token, post
from test_openai_api_refusals import FAILING_MODULE
from test_security import serve  # noqa: F401 (a fixture)

@pytest.fixture
def counting(providers_dir):
    """The file in which the `failing` drop-in counts its calls."""
    (providers_dir / "failing.py").write_text(FAILING_MODULE)
    return providers_dir / "failing.calls"


def test_a_failure_a_retry_cannot_cure_is_asked_once_by_openais_client_with_its_default_retries(counting, server):
    token, _browser = new_token(server.url)
    # The client's defaults: two retries of every 5xx unless told not to.
    api = openai.OpenAI(base_url=server.url + "/v1", api_key=token, timeout=30)
    for stream in (False, True):
        with pytest.raises(openai.APIStatusError) as failed:
            api.chat.completions.create(model="failing/down", messages=HELLO, stream=stream)
        assert (failed.value.status_code, failed.value.response.headers.get("x-should-retry")) == (502, "false")
    assert counting.read_text() == "2"


def test_a_wait_is_not_marked_as_final(serve):
    server = serve(WEBUI_REQUESTS_PER_MINUTE=1)
    token, _browser = new_token(server.url)
    assert post(server.url, token, {"model": "testing/echo", "messages": HELLO}).status_code == 200
    refused = post(server.url, token, {"model": "testing/echo", "messages": HELLO})
    assert refused.status_code == 429 and "x-should-retry" not in refused.headers and refused.headers["Retry-After"]


OPTIONS = [
    # (the field as sent, its value, the option's words in the message)
    ("temperature", 5, "temperature"),
    ("top_k", 5000, "top_k"),
    ("seed", -1, "seed"),
    ("max_tokens", 0, "max_tokens"),
    ("max_completion_tokens", 0, "max_tokens"),
    ("stop", ["a", "b", "c", "d", "e"], "stop"),
    ("stop", [""], "stop"),
]


@pytest.mark.parametrize("field, value, words", OPTIONS, ids=[f"{o[0]}={o[1]}" for o in OPTIONS])
def test_an_option_out_of_range_is_refused_naming_the_field_sent(server, field, value, words):
    token, _browser = new_token(server.url)
    response = post(server.url, token, {"model": "testing/echo", "messages": HELLO, field: value})
    error = response.json()["error"]
    assert (response.status_code, error["code"], error["param"]) == (400, "bad_request", field)
    assert words in error["message"] and response.headers["x-should-retry"] == "false"


REFUSED_FIELDS = [
    ("logit_bias", {"50256": -100}),
    ("modalities", ["text", "audio"]),
    ("modalities", "text"),
    ("n", True),
    ("n", 1.0),
]


@pytest.mark.parametrize("field, value", REFUSED_FIELDS, ids=[f"{f}={v}" for f, v in REFUSED_FIELDS])
def test_a_field_that_would_change_the_answer_is_refused_not_ignored(server, testing_provider, field, value):
    token, _browser = new_token(server.url)
    calls = len(testing_provider().started)
    response = post(server.url, token, {"model": "testing/echo", "messages": HELLO, field: value})
    assert (response.status_code, response.json()["error"]["param"]) == (400, field)
    assert len(testing_provider().started) == calls


@pytest.mark.parametrize("field, value", [("modalities", ["text"]), ("logit_bias", {}), ("n", 1)])
def test_the_same_fields_asking_for_what_is_done_anyway_are_taken(server, field, value):
    token, _browser = new_token(server.url)
    response = post(server.url, token, {"model": "testing/echo", "messages": HELLO, field: value})
    assert response.status_code == 200 and response.json()["choices"][0]["message"]["content"].strip() == "hello there"


ADDRESSES = [
    # (method, path, status, code, words of the English message, words of the Russian one)
    ("POST", "/v1/embeddings", 404, "not_found", ["nothing at this address", "POST /v1/chat/completions"], ["ничего нет", "GET /v1/models"]),
    ("POST", "/v1/responses", 404, "not_found", ["nothing at this address"], ["ничего нет"]),
    ("GET", "/v1/chat/completions", 405, "method_not_allowed", ["does not take GET"], ["не принимает запросы GET"]),
    ("DELETE", "/v1/models", 405, "method_not_allowed", ["does not take DELETE"], ["не принимает запросы DELETE"]),
    ("GET", "/api/nothing", 404, "not_found", ["nothing at this address"], ["ничего нет"]),
    ("PUT", "/api/conversations", 405, "method_not_allowed", ["does not take PUT"], ["не принимает запросы PUT"]),
]


@pytest.mark.parametrize("method, path, status, code, english, russian", ADDRESSES, ids=[f"{a[0]} {a[1]}" for a in ADDRESSES])
def test_an_address_or_method_the_api_does_not_have_is_refused_in_the_callers_language(server, method, path, status, code, english, russian):
    token, _browser = new_token(server.url)
    for language, words in (("en", english), ("ru", russian)):
        headers = {"Authorization": f"Bearer {token}", "Accept-Language": language}
        response = requests.request(method, server.url + path, headers=headers, json={}, timeout=10)
        error = response.json()["error"]
        assert (response.status_code, error["code"]) == (status, code), response.text
        assert all(word in error["message"] for word in words), error
