"""A worker's lease in Redis lives while the worker does, whatever its database does meanwhile: renewing it never waits
for the database, so a table locked for longer than the lease leaves no live worker's answers to be ended."""
import time

import psycopg
import pytest
import redis

from test_shared_workers import live_workers, site, start, wait_for_workers  # noqa: F401 (site: a fixture)
from webui.shared.workers import LEASE_SECONDS

pytestmark = pytest.mark.parametrize("database_url", ["postgresql"], indirect=True)


def test_a_lease_is_renewed_while_the_database_keeps_the_worker_waiting(site):
    # Every read of the answers streaming waits this long for the lock below, past the lease's life.
    server = start(site, WEBUI_DATABASE_TIMEOUT=str(LEASE_SECONDS + 3))
    try:
        wait_for_workers(site.redis, 1)
        with psycopg.connect(site.database_url.replace("+psycopg", ""), autocommit=True) as holder:
            holder.execute("BEGIN")
            holder.execute("LOCK TABLE messages IN ACCESS EXCLUSIVE MODE")
            counts, deadline = set(), time.monotonic() + LEASE_SECONDS + 4
            while time.monotonic() < deadline:
                counts.add(live_workers(site.redis))
                time.sleep(0.1)
            holder.execute("ROLLBACK")
        assert counts == {1}, "the worker's lease lapsed while its database read waited"
        assert redis.Redis.from_url(site.redis.url).ping()
    finally:
        server.stop()
