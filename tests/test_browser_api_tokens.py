"""API tokens in a real browser: made (shown once), listed and revoked on the page in English and Russian; and a page of
another site that cannot call /v1 with the signed-in user's cookies."""
import json
import logging
import threading
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from urllib.parse import urlsplit

import openai
import pytest
from browser import open_chat, screenshot
from playwright.sync_api import expect

from api_client import HELLO, client
from test_auth import add_user
from test_browser_accounts import sign_in

WORDS = {
    "en": {"open": "API tokens", "made": "Made the token “my editor”.", "never": "never used", "revoked": "Revoked the token “my editor”.",
           "buttons": ["Cancel", "Revoke"]},
    "ru": {"open": "Токены API", "made": "Токен «my editor» создан.", "never": "не использовался", "revoked": "Токен «my editor» отозван.",
           "buttons": ["Отмена", "Отозвать"]},
}

NOT_LOADED = {
    "en": "This part of the page did not load. Check the connection to the server and try again.",
    "ru": "Эта часть страницы не загрузилась. Проверьте соединение с сервером и попробуйте ещё раз.",
}


@pytest.mark.parametrize("lang", ["en", "ru"])
def test_a_token_is_made_shown_once_listed_and_revoked_on_the_page(page, server, lang):
    words = WORDS[lang]
    open_chat(page, server, f"/?lang={lang}")
    page.get_by_role("button", name=words["open"]).click()
    dialog = page.locator("#api-tokens")
    expect(dialog).to_be_visible()
    expect(page.locator("#api-base-url")).to_have_text(f"{server.url}/v1")
    expect(page.locator("#api-tokens-empty")).to_be_visible()
    page.fill("#api-token-name", "my editor")
    page.press("#api-token-name", "Enter")
    expect(page.locator("#api-tokens-status")).to_have_text(words["made"])
    token = page.input_value("#api-token-value")
    assert token.startswith("webui_")
    listed = page.locator("#api-token-list .api-token")
    expect(listed).to_have_count(1)
    expect(listed).to_contain_text("my editor")
    expect(listed).to_contain_text(words["never"])
    expect(listed.locator("code")).to_have_text(token[: len("webui_") + 13] + "…")
    screenshot(page, f"api-tokens-{lang}")
    # The token works for a program, with this browser's rights.
    assert client(server.url, token).chat.completions.create(model="testing/echo", messages=HELLO).choices[0].message.content
    # Closed, the dialog forgets it: opened again, the list holds the token's name and prefix, nowhere the token.
    page.click("#api-tokens-close")
    page.get_by_role("button", name=words["open"]).click()
    expect(listed).not_to_contain_text(words["never"])
    assert page.input_value("#api-token-value") == "" and token not in page.content()
    listed.get_by_role("button").click()
    # The confirmation names what it does: a token is revoked, not deleted.
    expect(page.locator("#confirm-dialog button")).to_have_text(words["buttons"])
    page.locator("#confirm-dialog button[value='confirm']").click()
    expect(page.locator("#api-tokens-status")).to_have_text(words["revoked"])
    expect(listed).to_have_count(0)
    with pytest.raises(openai.AuthenticationError):
        client(server.url, token).models.list()


def test_an_empty_name_is_refused_on_its_field(page, server, page_errors):
    open_chat(page, server)
    page.click("#open-api-tokens")
    page.click("#api-token-create")
    expect(page.locator("#api-token-error")).to_contain_text("name")
    expect(page.locator("#api-token-name")).to_have_attribute("aria-invalid", "true")
    expect(page.locator("#api-token-new")).to_be_hidden()
    # The refusal itself is logged by the browser, as every failed request is.
    page_errors[:] = [error for error in page_errors if "status of 400" not in error]


@pytest.mark.parametrize("lang", ["en", "ru"])
def test_the_dialogs_module_loads_when_first_opened_and_again_after_a_failure(page, server, page_errors, lang):
    requested = []
    page.on("request", lambda request: requested.append(urlsplit(request.url).path))
    aborted = []

    def fail_once(route):
        """The module's first fetch fails, as on a dropped connection; the next ones reach the server."""
        if aborted:
            route.continue_()
        else:
            aborted.append(route.request.url)
            route.abort()

    page.route("**/static/api-tokens.js", fail_once)
    open_chat(page, server, f"/?lang={lang}")
    # The page starts without the dialogs' modules, and knows whether its person is an admin without asking.
    assert not {"/static/api-tokens.js", "/static/connections.js", "/api/me"} & set(requested)
    assert "/static/chat.js" in requested
    with page.expect_event("requestfailed") as failed:
        page.click("#open-api-tokens")
    assert failed.value.url.endswith("/static/api-tokens.js")
    expect(page.locator("#notice")).to_have_text(NOT_LOADED[lang])
    expect(page.locator("#api-tokens")).to_be_hidden()
    page.click("#open-api-tokens")
    expect(page.locator("#api-tokens")).to_be_visible()
    expect(page.locator("#api-base-url")).to_have_text(f"{server.url}/v1")
    assert requested.count("/static/api-tokens.js") == 2
    # The browser logs the failed fetch.
    page_errors[:] = [error for error in page_errors if "net::ERR_FAILED" not in error]


class OtherSite(BaseHTTPRequestHandler):
    """Another origin on loopback: a page of its own that scripts run in."""

    def do_GET(self):
        """A blank page, with no policy that would keep its scripts from fetching anything."""
        body = b"<!doctype html><title>other site</title><p>another site"
        self.send_response(200)
        self.send_header("Content-Type", "text/html")
        self.send_header("Content-Length", str(len(body)))
        self.end_headers()
        self.wfile.write(body)

    def log_message(self, format, *args):
        """Quiet."""


@pytest.fixture
def other_site():
    """A web server on another port of 127.0.0.1: another origin than the chat server's."""
    site = ThreadingHTTPServer(("127.0.0.1", 0), OtherSite)
    threading.Thread(target=site.serve_forever, daemon=True).start()
    yield f"http://127.0.0.1:{site.server_port}"
    site.shutdown()
    site.server_close()


# What a page of another site tries: every way a script may send a request with the browser's cookies.
ATTEMPTS = """async (api) => {
  const body = JSON.stringify({model: "testing/echo", messages: [{role: "user", content: "from another site"}]});
  const tries = {
    models: () => fetch(api + "/models", {credentials: "include"}),
    json: () => fetch(api + "/chat/completions", {method: "POST", credentials: "include", headers: {"Content-Type": "application/json"}, body}),
    simple: () => fetch(api + "/chat/completions", {method: "POST", credentials: "include", headers: {"Content-Type": "text/plain"}, body}),
    blind: () => fetch(api + "/chat/completions", {method: "POST", credentials: "include", mode: "no-cors", headers: {"Content-Type": "text/plain"}, body}),
    bearer: () => fetch(api + "/chat/completions", {method: "POST", credentials: "include", headers: {"Authorization": "Bearer guessed", "Content-Type": "application/json"}, body}),
  };
  const results = {};
  for (const [name, attempt] of Object.entries(tries)) {
    try {
      const response = await attempt();
      results[name] = {status: response.status, type: response.type, body: response.type === "opaque" ? "" : await response.text()};
    } catch (error) {
      results[name] = {error: String(error)};
    }
  }
  return results;
}"""


def test_a_page_of_another_site_cannot_call_the_api_with_the_users_cookies(
    page, page_errors, app_config, server, other_site, testing_provider, caplog
):
    caplog.set_level(logging.INFO, logger="werkzeug")
    add_user(app_config, "alice")
    sign_in(page, server, "alice", "en")
    assert any(cookie["name"] == "webui_session" for cookie in page.context.cookies())
    page.goto(other_site + "/")
    results = page.evaluate(ATTEMPTS, server.url + "/v1")
    # The script reads nothing: the browser refuses every answer (no CORS headers, and a resource of this site only).
    assert all("error" in result for result in results.values()), json.dumps(results)
    # The requests that a browser sends without asking first did reach the server, which refused them; none reached a
    # provider.
    refused = [record.getMessage() for record in caplog.records if "/v1/chat/completions" in record.getMessage()]
    assert len(refused) >= 2 and all('" 403 ' in line for line in refused), refused
    assert testing_provider().started == []
    page_errors.clear()
