"""The `webui` command: serve the chat UI."""
import ipaddress

import click
from werkzeug.serving import make_server

from . import create_app
from .config import ConfigError


def display_url(host, port):
    """The address a person should open for a server bound to host:port."""
    if host in ("", "0.0.0.0", "::"):
        host = "127.0.0.1"
    try:
        if ipaddress.ip_address(host).version == 6:
            host = f"[{host}]"
    except ValueError:
        pass
    return f"http://{host}:{port}/"


def build_app(overrides):
    """Create the app, turning a bad setting into a message instead of a trace."""
    try:
        return create_app(overrides)
    except ConfigError as e:
        raise click.ClickException(str(e)) from None


@click.group(invoke_without_command=True)
@click.option("--host", help="Address to listen on (default 127.0.0.1).")
@click.option("--port", type=int, help="Port to listen on (default 1338; 0 picks a free one).")
@click.option("--config", "config_path", type=click.Path(dir_okay=False), help="A TOML settings file (also WEBUI_CONFIG).")
@click.pass_context
def main(ctx, host, port, config_path):
    """Serve the chat UI; settings come from defaults, the TOML file, WEBUI_* variables and these flags."""
    overrides = {"WEBUI_HOST": host, "WEBUI_PORT": port, "WEBUI_CONFIG": config_path}
    ctx.obj = {key: value for key, value in overrides.items() if value is not None}
    if ctx.invoked_subcommand is None:
        serve(ctx.obj)


def serve(overrides):
    """Run the built-in threaded server until interrupted."""
    app = build_app(overrides)
    server = make_server(app.config["WEBUI_HOST"], app.config["WEBUI_PORT"], app, threaded=True)
    click.echo(f"webui is running: open {display_url(app.config['WEBUI_HOST'], server.server_port)}", color=False)
    try:
        server.serve_forever()
    except KeyboardInterrupt:
        pass
    finally:
        server.server_close()
