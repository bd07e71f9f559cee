"""`webui serve` once its checks pass: the command becomes gunicorn's arbiter, which starts with none of the app loaded.

The command (serve_production in commands/cli.py) builds the app in its own process to read and check the settings and
the access rules and to upgrade the database; a refusal ends it there, with its message and exit status. Then it
replaces itself (os.execv: the same process, whose PID systemd and tests signal) with this file run by the same Python,
so the arbiter, which never serves a request, holds gunicorn and gevent (production.py) instead of the whole app; each
worker builds the app after the fork. The handover is one JSON argument: the settings the arbiter reads, the command
line's overrides and the number of workers. None of it is a secret (a command line is public on its machine): the
workers read every other setting, secrets included, from the environment and the settings file again, as the command
did.
"""
import ipaddress
import json
import os
import sys
from pathlib import Path

# What the arbiter reads of the settings (see production.options).
SETTINGS = ("WEBUI_HOST", "WEBUI_PORT", "WEBUI_CONNECTIONS", "WEBUI_SHUTDOWN_GRACE_SECONDS")


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


def announce(host, port):
    """Say where the server can be opened; tests and people wait for this line."""
    print(f"webui is running: open {display_url(host, port)}", flush=True)


def become_arbiter(config, overrides, workers):
    """Replace this process with the arbiter of `workers` workers, given the app's `config` and the command line's
    `overrides` (--host, --port, --config, --no-auth)."""
    handover = {
        "settings": {name: config[name] for name in SETTINGS},
        "overrides": overrides,
        "workers": workers,
        "argv": sys.argv,
    }
    # What the command has printed (a warning) must not stay behind in its buffers.
    sys.stdout.flush()
    sys.stderr.flush()
    # -P: this file's folder, and the working directory, would come first on the path and hide modules of the standard
    # library and of the packages (a `random.py` where the server is started); the package's own is added below.
    os.execv(sys.executable, [sys.executable, "-P", os.path.abspath(__file__), json.dumps(handover)])


def main(handover):
    """Run gunicorn as become_arbiter handed over, until it stops."""
    from .. import cooperative

    # Before gunicorn and gevent are imported: every process of the server runs on gevent (see cooperative).
    cooperative.patch()
    from . import production

    settings = handover["settings"]
    # gunicorn's binary upgrade (SIGUSR2) runs sys.argv again: the command, checks included, as before the handover.
    sys.argv = handover["argv"]
    production.run(settings, handover["overrides"], lambda port: announce(settings["WEBUI_HOST"], port), handover["workers"])


if __name__ == "__main__":
    # The package comes from the folder the command imported it from (a checkout in its working directory, say).
    PACKAGE_ROOT = str(Path(__file__).parents[2])
    if PACKAGE_ROOT not in sys.path:
        sys.path.insert(0, PACKAGE_ROOT)
    from webui.serving.arbiter import main as run_arbiter

    run_arbiter(json.loads(sys.argv[1]))
