"""Known devices: a browser that has signed in to an account is not held up by strangers guessing its password."""
import pytest

from test_auth import PASSWORD, add_user
from test_auth_guesses import proxied_login, refused_after_twenty_guesses
from webui import create_app
from webui.access.devices import COOKIE


@pytest.fixture
def app(app_config):
    """An app with accounts alice and bob, behind one trusted proxy: each guess may claim an address of its own."""
    add_user(app_config)
    add_user(app_config, "bob")
    return create_app({**app_config, "WEBUI_TRUSTED_PROXIES": 1})


def known_device(app, name="alice", address="10.9.0.1"):
    """A browser that has signed in to `name` and signed out again: it keeps only its device cookie."""
    browser = app.test_client()
    assert proxied_login(browser, name, PASSWORD, address).status_code == 302
    browser.delete_cookie("webui_session")
    assert browser.get_cookie(COOKIE) is not None
    return browser


def fill_the_accounts_backoff(app, name="alice"):
    """Fill the back-off of account `name` as a patient attacker would, a guess from each address."""
    refused = refused_after_twenty_guesses(app.test_client(), name, 0, app.test_client())
    assert "this account" in refused.text


def test_the_owners_browser_signs_in_while_strangers_have_the_account_waiting(app):
    owner = known_device(app)
    fill_the_accounts_backoff(app)
    assert proxied_login(owner, "alice", PASSWORD, "10.9.0.1").status_code == 302
    # Its right password took nothing from the account's count: strangers still wait.
    assert proxied_login(app.test_client(), "alice", PASSWORD, "10.0.98.1").status_code == 429


def test_a_known_device_that_keeps_guessing_waits_for_its_own_guesses(app):
    device = known_device(app)
    assert "this browser" in refused_after_twenty_guesses(device, "alice", 8).text
    russian = device.post("/login?lang=ru", data={"username": "alice"}, headers={"X-Forwarded-For": "10.8.98.1"})
    assert russian.status_code == 429 and "этого браузера" in russian.text
    # Its guesses were its own: a browser new to the account signs in.
    assert proxied_login(app.test_client(), "alice", PASSWORD, "10.7.0.1").status_code == 302


def session_cookie(app):
    """The session cookie of a sign-in to alice: signed with the same key, for another purpose."""
    browser = app.test_client()
    assert proxied_login(browser, "alice", PASSWORD, "10.9.0.3").status_code == 302
    return browser.get_cookie("webui_session").value


def forged(value):
    """The device cookie with its signature's last character changed."""
    return value[:-1] + ("A" if value[-1] != "A" else "B")


@pytest.mark.parametrize(
    "cookie",
    [
        pytest.param(lambda app: forged(known_device(app).get_cookie(COOKIE).value), id="forged"),
        pytest.param(lambda app: known_device(app, "bob").get_cookie(COOKIE).value, id="another-account"),
        pytest.param(lambda app: session_cookie(app), id="a-session-signed-with-the-same-key"),
        pytest.param(lambda app: "not-signed-at-all", id="garbage"),
    ],
)
def test_a_cookie_that_is_not_this_accounts_device_counts_as_a_stranger(app, cookie):
    value = cookie(app)
    fill_the_accounts_backoff(app)
    browser = app.test_client()
    browser.set_cookie(COOKIE, value)
    refused = proxied_login(browser, "alice", PASSWORD, "10.6.0.1")
    assert refused.status_code == 429 and "this account" in refused.text


def test_a_planted_device_cookie_does_not_hide_the_browsers_own(app):
    own = known_device(app).get_cookie(COOKIE).value
    planted = known_device(app, "bob", "10.9.0.2").get_cookie(COOKIE).value
    fill_the_accounts_backoff(app)
    # The planted copy (a narrower path) comes first, as the browser would send it.
    browser = app.test_client(use_cookies=False)
    headers = {"X-Forwarded-For": "10.9.0.1", "Cookie": f"{COOKIE}={planted}; {COOKIE}={own}"}
    page = browser.get("/login", headers=headers)
    token = page.text.split('name="csrf_token" value="')[1].split('"')[0]
    session = page.headers["Set-Cookie"].split(";")[0]
    headers["Cookie"] += "; " + session
    signed_in = browser.post("/login", data={"csrf_token": token, "username": "alice", "password": PASSWORD}, headers=headers)
    assert signed_in.status_code == 302


def test_the_device_cookie_is_private_lasting_and_handed_out_once(app):
    browser = app.test_client()
    first = proxied_login(browser, "alice", PASSWORD, "10.9.0.1")
    cookies = [header for header in first.headers.getlist("Set-Cookie") if header.startswith(COOKIE + "=")]
    assert len(cookies) == 1
    attributes = {part.strip().split("=")[0].lower() for part in cookies[0].split(";")[1:]}
    assert {"httponly", "max-age", "path", "samesite"} <= attributes and "samesite=lax" in cookies[0].lower()
    browser.delete_cookie("webui_session")
    again = proxied_login(browser, "alice", PASSWORD, "10.9.0.1")
    assert again.status_code == 302
    assert not [header for header in again.headers.getlist("Set-Cookie") if header.startswith(COOKIE + "=")]
    # Signing in to another account makes the browser that account's device instead.
    browser.delete_cookie("webui_session")
    bob = proxied_login(browser, "bob", PASSWORD, "10.9.0.1")
    assert [header for header in bob.headers.getlist("Set-Cookie") if header.startswith(COOKIE + "=")]
