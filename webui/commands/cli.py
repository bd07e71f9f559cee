"""The `webui` command: serve the chat UI (gevent's or gunicorn's server), check providers, manage accounts, keys, tokens."""
import signal
import socket

import click
from flask_babel import gettext as _

from .. import cooperative, health
from ..serving.lock import start_serving
from ..access import auth
from ..serving.arbiter import announce, become_arbiter
from ..errors import UserError
from ..openai_api.commands import token
from .accounts import user
from .database import db
from .secrets import secret
from .terminal import build_app, terminal


@click.group(invoke_without_command=True)
@click.option("--host", help="Address to listen on (default 127.0.0.1).")
@click.option("--port", type=int, help="Port to listen on (default 1338; 0 picks a free one).")
@click.option("--config", "config_path", type=click.Path(dir_okay=False), help="A TOML settings file (also WEBUI_CONFIG).")
@click.option("--no-auth", is_flag=True, help="Serve a network address without accounts: anyone who reaches it may use it.")
@click.pass_context
def main(ctx, host, port, config_path, no_auth):
    """Serve the chat UI; settings come from defaults, the TOML file, WEBUI_* variables and these flags."""
    overrides = {"WEBUI_HOST": host, "WEBUI_PORT": port, "WEBUI_CONFIG": config_path, "WEBUI_NO_AUTH": no_auth or None}
    ctx.obj = {key: value for key, value in overrides.items() if value is not None}
    if ctx.invoked_subcommand is None:
        serve(ctx.obj)


def serve(overrides):
    """Run gevent's WSGI server in this process, as `webui serve` runs gunicorn's gevent worker (one runtime, see
    cooperative.py), until SIGTERM or Ctrl-C; then drain it (see serving/shutdown.py): after SIGTERM with the grace
    period, after Ctrl-C without."""
    # Before the app is built, so the providers' HTTP client is imported with gevent's sockets and ssl.
    cooperative.patch()
    import gevent
    from gevent.event import Event
    from gevent.pool import Pool
    from gevent.pywsgi import WSGIServer

    app = build_app(overrides)
    check_access(app)
    config = app.config
    server = WSGIServer((config["WEBUI_HOST"], config["WEBUI_PORT"]), app, spawn=Pool(config["WEBUI_CONNECTIONS"]), log=None)
    try:
        server.init_socket()
        # As gunicorn does: small writes (a streamed answer's events) leave at once, not after the client's delayed ACK
        # (about 40 ms). The sockets it accepts inherit the option.
        server.socket.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
        server.start()
    except OSError as e:
        with terminal(app):
            address = f"{config['WEBUI_HOST']}:{config['WEBUI_PORT']}"
            message = _("Could not listen on %(address)s: %(reason)s.", address=address, reason=e.strerror or e)
        raise click.ClickException(message) from None
    # Once it listens: a start that fails (the port is taken) must not touch the answers of the server that runs.
    start_serving(app)
    announce(config["WEBUI_HOST"], server.server_port)
    shutdown, stopping, grace = app.extensions["webui.shutdown"], Event(), []

    def stop(seconds):
        """The first signal stops the server with a drain of `seconds`; a later one shortens the drain under way."""
        if stopping.is_set():
            gevent.spawn(shutdown.drain, seconds)
        else:
            grace.append(seconds)
            stopping.set()

    gevent.signal_handler(signal.SIGTERM, stop, config["WEBUI_SHUTDOWN_GRACE_SECONDS"])
    gevent.signal_handler(signal.SIGINT, stop, 0)
    stopping.wait()
    server.close()
    shutdown.drain(grace[0])


@main.command()
@click.option("--provider", "names", multiple=True, help="Check only this provider (repeatable).")
@click.pass_obj
def check(overrides, names):
    """Send a one-line prompt to each provider and report how it answered; exit status 1 if any failed."""
    app = build_app(overrides)
    with terminal(app):
        try:
            results = health.check_providers(names or None)
        except UserError as e:
            raise click.ClickException(e.message) from None
        for result in results:
            click.echo(health.summary(result))
    if not all(result["ok"] for result in results):
        raise SystemExit(1)


def check_access(app):
    """Without accounts: refuse to listen beyond this machine, or with --no-auth, warn at every start."""
    host = app.config["WEBUI_HOST"]
    with terminal(app):
        access = auth.get_access()
        if access.users.has_any():
            return
        if app.config.get("WEBUI_NO_AUTH"):
            message = _(
                "Warning: started with --no-auth: anyone who can reach %(host)s can use this server, "
                "its conversations and its provider keys.",
                host=host,
            )
            click.echo(message, err=True)
        elif access.exposed:
            message = _(
                "Refusing to listen on %(host)s without a password: anyone on that network could use this server "
                "and its provider keys. Add an account first with “webui user add NAME” (it asks for the password), "
                "or start with --no-auth if everyone who can reach %(host)s is trusted.",
                host=host,
            )
            raise click.ClickException(message)


def check_workers(app, workers):
    """Refuse more than one worker without Redis: what one process keeps in memory, several share only through it."""
    if workers > 1 and not app.config.get("WEBUI_REDIS_URL"):
        with terminal(app):
            message = _(
                "Refusing to start %(count)d workers without WEBUI_REDIS_URL: each worker would keep its own running "
                "answers, stops, sign-outs and limits, so a page that reconnects to another worker could not resume "
                "its answer and every limit would be multiplied. Set WEBUI_REDIS_URL, or start one worker.",
                count=workers,
            )
        raise click.ClickException(message)


@main.command("serve")
@click.option(
    "--workers", type=click.IntRange(min=1), default=1, show_default=True,
    help="Worker processes (more than one needs WEBUI_REDIS_URL).",
)
@click.pass_obj
def serve_production(overrides, workers):
    """Serve with gunicorn on gevent: `--workers` processes, each with up to WEBUI_CONNECTIONS connections at once.
    Every check, and the database's upgrade, happens here; then this process becomes gunicorn's arbiter (serving/arbiter.py)."""
    app = build_app(overrides)
    check_access(app)
    check_workers(app, workers)
    become_arbiter(app.config, overrides, workers)


main.add_command(user)
main.add_command(secret)
main.add_command(token)
main.add_command(db)
