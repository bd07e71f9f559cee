"""Request windows and the sign-in back-off of two apps that share one real Redis, while it runs, stops and returns."""
import time

import redis

from webui import create_app
from webui.access.auth import get_access
from webui.access.limits import BackedOff
from webui.shared.limits import SharedAttempt
from webui.shared.outage import RETRY_SECONDS


def two_apps(tmp_path, redis_server):
    """Two apps, as two workers would build them, sharing the Redis at `redis_server` and nothing else."""
    return [
        create_app({"WEBUI_DATA_DIR": str(tmp_path / name), "WEBUI_REDIS_URL": redis_server.url, "WEBUI_REQUESTS_PER_MINUTE": 3})
        for name in ("first", "second")
    ]


def hit(app, key="user:alice"):
    """Count a chat request of `key` in `app`'s window."""
    with app.app_context():
        return app.extensions["webui.requests"].hit(key)


def test_a_request_window_counts_every_app_and_falls_back_to_its_own_while_redis_is_down(tmp_path, redis_server):
    first, second = two_apps(tmp_path, redis_server)
    assert [hit(first), hit(second), hit(first), hit(second)] == [True, True, True, False]
    with second.app_context():
        assert 0 < second.extensions["webui.requests"].wait("user:alice") <= 60
    assert hit(first, "user:bob"), "each key has its own count"

    redis_server.stop()
    # Each app counts on its own now: none has counted anything itself, so nobody is refused for Redis's sake.
    assert [hit(first), hit(first), hit(first), hit(first)] == [True, True, True, False]
    assert hit(second)

    redis_server.start()
    time.sleep(RETRY_SECONDS + 0.1)
    # An empty Redis: the count starts again there, shared, with no restart of either app.
    assert [hit(second), hit(first), hit(second), hit(first)] == [True, True, True, False]


def failed_sign_in(app, keys=("address:192.0.2.1", "alice")):
    """Count a failed sign-in (its address and account name) in `app`: its attempt, or the waits that refused it."""
    with app.app_context():
        try:
            return get_access().backoff.attempt(keys)
        except BackedOff as refused:
            return refused.waits


def test_the_sign_in_back_off_counts_every_apps_failures_and_forgives_a_success(tmp_path, redis_server):
    first, second = two_apps(tmp_path, redis_server)
    attempts = [failed_sign_in(app) for app in (first, second, first, second)]
    assert all(isinstance(attempt, SharedAttempt) for attempt in attempts)
    with first.app_context():
        get_access().backoff.forgive(attempts[-1])
    assert isinstance(failed_sign_in(first), SharedAttempt), "the forgiven one left room for one more"
    assert isinstance(failed_sign_in(first), SharedAttempt), "the fifth failure, which begins the wait"
    address_wait, account_wait = failed_sign_in(second)
    assert 0 < address_wait <= 30 and account_wait == 0
    assert isinstance(failed_sign_in(second, ("address:198.51.100.7", "alice")), SharedAttempt)


def scripts_run(client):
    """How many scripts Redis has been asked to run since its counts were reset."""
    stats = client.info("commandstats")
    return sum(stats.get(f"cmdstat_{command}", {}).get("calls", 0) for command in ("eval", "evalsha", "script|load"))


def test_a_refused_sign_in_costs_one_round_trip_to_redis(tmp_path, redis_server):
    # On a network address signing in is required, with or without accounts: every name is a wrong one here.
    app = create_app({"WEBUI_DATA_DIR": str(tmp_path / "data"), "WEBUI_REDIS_URL": redis_server.url, "WEBUI_HOST": "0.0.0.0"})
    browser, client = app.test_client(), redis.Redis.from_url(redis_server.url)

    def sign_in(name, address):
        form = {"username": name, "password": "a wrong password"}
        return browser.post("/login", data=form, environ_base={"REMOTE_ADDR": address})

    for n in range(5):
        assert sign_in("bob", "198.51.100.1").status_code == 401
    for n in range(20):
        assert sign_in("alice", f"192.0.2.{n + 1}").status_code == 401
    # Refused for its address (which has had its five), then for its account (which has had its twenty).
    for name, address, words in (("bob", "198.51.100.1", "from your address"), ("alice", "192.0.2.99", "to this account")):
        client.config_resetstat()
        refused = sign_in(name, address)
        assert refused.status_code == 429 and words in refused.text and int(refused.headers["Retry-After"]) > 0
        assert scripts_run(client) == 1
