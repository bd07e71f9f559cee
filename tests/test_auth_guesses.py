"""Guessing passwords: slowed per address and per account, counted before checking, telling no names apart."""
import re
import threading
import time
from concurrent.futures import ThreadPoolExecutor

import pytest

from conftest import Browser
from test_auth import PASSWORD, add_user
from webui import create_app

pytestmark = pytest.mark.both_databases


def test_guessing_passwords_is_slowed_and_does_not_tell_which_names_exist(app_config, server):
    add_user(app_config)
    browser = Browser(server.url)
    timings = {"alice": [], "nobody": []}
    for n in range(5):
        name = "alice" if n % 2 else "nobody"
        started = time.monotonic()
        response = browser.login(name, f"guess {n}")
        timings[name].append(time.monotonic() - started)
        assert response.status_code == 401
    # An unknown name is checked against a dummy hash, so it takes about as long as a wrong password.
    assert min(timings["nobody"]) > 0.5 * min(timings["alice"])
    blocked = browser.login("alice", PASSWORD)
    assert blocked.status_code == 429 and "try again in" in blocked.text
    assert 1 <= int(blocked.headers["Retry-After"]) <= 30
    assert Browser(server.url).get("/api/providers").status_code == 401, "the right password while blocked did not sign in"


def test_a_burst_of_guesses_is_counted_before_the_passwords_are_checked(app_config, server):
    add_user(app_config)
    guessers = [Browser(server.url) for _ in range(16)]
    tokens = [re.search(r'name="csrf_token" value="([^"]+)"', b.get("/login").text)[1] for b in guessers]
    start = threading.Barrier(len(guessers))

    def guess(n):
        """Send a wrong password at the same moment as every other guesser."""
        form = {"csrf_token": tokens[n], "username": "alice", "password": f"guess {n}"}
        start.wait(timeout=30)
        return guessers[n].http.post(server.url + "/login", data=form, allow_redirects=False, timeout=60)

    with ThreadPoolExecutor(len(guessers)) as pool:
        responses = list(pool.map(guess, range(len(guessers))))
    answers = sorted(
        (r.status_code, "try again in" in r.text, 1 <= int(r.headers.get("Retry-After", 0)) <= 30) for r in responses
    )
    # The address's 5 free guesses were checked; every other one was refused without hashing its password.
    assert answers == [(401, False, False)] * 5 + [(429, True, True)] * 11


def test_a_right_password_takes_its_guess_back(app_config, server):
    add_user(app_config)
    browser = Browser(server.url)
    assert [browser.login("alice", f"guess {n}").status_code for n in range(4)] == [401] * 4
    assert browser.login("alice", PASSWORD).status_code == 302
    # Counted before it was checked, the right password would have been the fifth failure and begun a wait.
    assert Browser(server.url).login("alice", "guess 5").status_code == 401
    assert Browser(server.url).login("alice", PASSWORD).status_code == 429


def proxied_login(client, name, password, address):
    """Sign in with the test `client` through one trusted proxy, claiming to come from `address`."""
    headers = {"X-Forwarded-For": address}
    token = re.search(r'name="csrf_token" value="([^"]+)"', client.get("/login", headers=headers).text)[1]
    form = {"csrf_token": token, "username": name, "password": password}
    return client.post("/login", data=form, headers=headers)


def refused_after_twenty_guesses(guesser, name, network, right=None):
    """Twenty wrong passwords for `name` by the test client `guesser`, each from an address of its own in
    10.`network`.0.0/16, then the right one by `right` (else the guesser): its refusal, which asks for a wait."""
    for n in range(20):
        assert proxied_login(guesser, name, f"guess {n}", f"10.{network}.{n}.1").status_code == 401
    refused = proxied_login(right or guesser, name, PASSWORD, f"10.{network}.99.1")
    assert refused.status_code == 429 and 1 <= int(refused.headers["Retry-After"]) <= 60
    return refused


def test_guesses_from_many_addresses_meet_a_limit_per_account(app_config):
    add_user(app_config)
    add_user(app_config, "bob")
    # Behind one trusted proxy each guess can claim a new address, as an attacker with a whole IPv6 /48 could.
    app = create_app({**app_config, "WEBUI_TRUSTED_PROXIES": 1})
    client = app.test_client()

    assert "this account" in refused_after_twenty_guesses(client, "alice", 0).text
    russian = client.post("/login?lang=ru", data={"username": "alice"}, headers={"X-Forwarded-For": "10.0.98.1"})
    assert russian.status_code == 429 and "учётную запись" in russian.text
    # Another account, from a fresh address, is not held up by alice's guesses.
    assert proxied_login(client, "bob", PASSWORD, "10.0.100.1").status_code == 302


def test_names_no_account_can_have_are_counted_as_one_so_they_cannot_fill_memory(app_config):
    """The per-account back-off keeps every name it counts: distinct huge names, each from a fresh address, would each
    be kept (half a megabyte apiece); they share one count instead, and no real account waits for them."""
    add_user(app_config)
    client = create_app({**app_config, "WEBUI_TRUSTED_PROXIES": 1}).test_client()

    statuses = [proxied_login(client, f"{n:03d}" + "x" * 10_000, "guess", f"10.1.{n}.1").status_code for n in range(21)]
    assert statuses == [401] * 20 + [429]
    assert proxied_login(client, "alice", PASSWORD, "10.1.99.1").status_code == 302
