"""`webui serve`: gunicorn with gevent workers (one unless --workers), where each open WebSocket and answer is a greenlet.

This module runs in gunicorn's arbiter (see arbiter.py), which never serves a request: it imports gunicorn, gevent and
stopping.py, never the app. Each worker builds the app once it is forked (Gunicorn.load) and serves it.
"""
import gc

import gevent
from gunicorn.app.base import BaseApplication
from gunicorn.workers.ggevent import GeventWorker

from .stopping import STOP_SECONDS

# gunicorn kills the worker when its event loop has not run for this long, dropping every socket and every answer in
# memory. Nothing the worker does holds the loop (the database, local models and password hashes wait in native
# threads), so only a real hang gets this far: the bound lies well beyond any pause that ends by itself, and a hung
# server still comes back on its own within a minute.
WORKER_TIMEOUT = 60


def bind_address(host, port):
    """gunicorn's form of host:port (an IPv6 address in brackets)."""
    return f"[{host}]:{port}" if ":" in host else f"{host}:{port}"


def announce_when_serving(announce):
    """gunicorn's post_worker_init: the first worker the arbiter starts calls `announce(port)` once it serves (the
    arbiter listens earlier, while the workers still load the app)."""

    def serving(worker):
        """Called in each worker once its app is built."""
        if worker.age == 1:
            announce(worker.sockets[0].getsockname()[1])

    return serving


def options(config, announce, workers):
    """gunicorn settings from ours (those in arbiter.SETTINGS); `announce(port)` is called once the server serves."""
    return {
        "bind": [bind_address(config["WEBUI_HOST"], config["WEBUI_PORT"])],
        # Running answers, their chunk logs and a loaded local model live in each worker's memory: more than one worker
        # needs Redis to share the rest (the command refuses without it).
        "workers": workers,
        # Blocking providers yield to each other instead of queueing for the GIL in a thread each (see cooperative).
        "worker_class": Worker,
        # Open WebSockets hold their connection for their lifetime; the socket cap leaves a quarter for pages.
        "worker_connections": config["WEBUI_CONNECTIONS"],
        "graceful_timeout": config["WEBUI_SHUTDOWN_GRACE_SECONDS"] + STOP_SECONDS,
        "worker_int": quit_now,
        "timeout": WORKER_TIMEOUT,
        # X-Forwarded-* is honoured by WEBUI_TRUSTED_PROXIES alone, not also by gunicorn's own default list.
        "forwarded_allow_ips": "",
        "control_socket_disable": True,
        "post_worker_init": announce_when_serving(announce),
    }


class Worker(GeventWorker):
    """gunicorn's gevent worker, which lets running answers end before it stops (see shutdown.py)."""

    draining = None

    def drain(self, quick=False):
        """Start draining the app (shutdown.Shutdown.drain) in a greenlet, with the grace period or, if `quick`,
        none (which shortens a drain under way); returns the draining greenlet, None before the app is loaded."""
        if self.booted:
            app = self.wsgi
            grace = 0 if quick else app.config["WEBUI_SHUTDOWN_GRACE_SECONDS"]
            drain = gevent.spawn(app.extensions["webui.shutdown"].drain, grace)
            self.draining = self.draining or drain
        return self.draining

    def handle_exit(self, sig, frame):
        """SIGTERM: gunicorn stops accepting (GeventWorker.run) while the answers get their grace period."""
        super().handle_exit(sig, frame)
        self.drain()

    def run(self):
        """Serve until stopped; then exit only once the drain is over (idle sockets are not all it waits for)."""
        super().run()
        if self.draining is not None:
            self.draining.join(self.cfg.graceful_timeout)


def quit_now(worker):
    """SIGINT and SIGQUIT (gunicorn's worker_int): the answers are interrupted without a grace period."""
    draining = worker.drain(quick=True)
    if draining is not None:
        draining.join(STOP_SECONDS)


class Gunicorn(BaseApplication):
    """gunicorn run from code, with our settings instead of its command line."""

    def __init__(self, overrides, settings):
        """Run with gunicorn's `settings`; each worker builds the app with the command line's `overrides`."""
        self.overrides = overrides
        self.settings = settings
        super().__init__()

    def load_config(self):
        """Use our settings."""
        for key, value in self.settings.items():
            self.cfg.set(key, value)

    def load(self):
        """Build the app in the worker, after the fork (SQLite connections and threads must not cross one), and serve
        it from this process (see lock.py)."""
        # Imported here, in the worker: the arbiter, which imports this module, holds none of the app.
        from .lock import start_serving
        from ..commands.terminal import build_app

        app = build_app(self.overrides)
        start_serving(app)
        # What exists now lives as long as the process: kept out of the collector's sight, it does not lengthen the
        # full collections, which pause every greenlet.
        gc.freeze()
        return app


def run(config, overrides, announce, workers):
    """Serve with `workers` processes until stopped; `config` holds the settings that options() reads."""
    Gunicorn(overrides, options(config, announce, workers)).run()
