"""Request windows and the sign-in back-off of two apps that share one real Redis, while it runs, stops and returns."""
import time

from webui import create_app
from webui.auth import get_access
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


def test_the_sign_in_back_off_counts_every_apps_failures_and_forgives_a_success(tmp_path, redis_server):
    first, second = two_apps(tmp_path, redis_server)
    attempts = []
    for app in (first, second, first, second):
        with app.app_context():
            attempts.append(get_access().backoff.attempt("address:192.0.2.1"))
    assert None not in attempts
    with first.app_context():
        get_access().backoff.forgive(attempts[-1])
        assert get_access().backoff.attempt("address:192.0.2.1") is not None, "the forgiven one left room for one more"
        assert get_access().backoff.wait("address:192.0.2.1") == 0
        assert get_access().backoff.attempt("address:192.0.2.1") is not None
        assert get_access().backoff.wait("address:192.0.2.1") > 0, "the fifth failure begins the wait"
    with second.app_context():
        assert get_access().backoff.attempt("address:192.0.2.1") is None
        assert 0 < get_access().backoff.wait("address:192.0.2.1") <= 30
        assert get_access().backoff.attempt("address:198.51.100.7") is not None
