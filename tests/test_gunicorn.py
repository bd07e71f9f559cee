"""`webui serve`: gunicorn's connections, held by idle WebSockets, still leave room for pages."""
import sys
import time
from concurrent.futures import ThreadPoolExecutor

import requests
from simple_websocket import Client

from conftest import ServerProcess, Socket, chat, handshake
from test_cli import clean_env
from webui.providers.local import bundled_model_path
from webui.access.security import socket_cap

CONNECTIONS = 8


def load_page(url):
    """Seconds the chat page takes to load."""
    started = time.monotonic()
    response = requests.get(url + "/", timeout=10)
    assert response.status_code == 200 and 'id="messages"' in response.text
    return time.monotonic() - started


def test_idle_sockets_do_not_starve_page_loads(tmp_path, providers_dir):
    settings = {"WEBUI_DATA_DIR": str(tmp_path), "WEBUI_PROVIDERS_DIR": str(providers_dir), "WEBUI_CONNECTIONS": str(CONNECTIONS)}
    env = clean_env(**settings, LANG="C")
    server = ServerProcess([sys.executable, "-m", "webui", "--port", "0", "serve"], env=env)
    sockets = []
    try:
        ws_url = server.url.replace("http", "ws", 1) + "/ws"
        # As many idle sockets as the server admits: more than half of its connections, each held for good.
        sockets = [Socket(Client.connect(ws_url)) for _ in range(socket_cap(CONNECTIONS))]
        assert len(sockets) > CONNECTIONS / 2
        assert handshake(server.url) == 503, "one socket more than the cap is refused before upgrading"
        with ThreadPoolExecutor(4) as pool:
            assert max(pool.map(load_page, [server.url] * 8)) < 5
        sockets[0].send(chat("g", "through gunicorn"))
        assert "".join(f.get("text", "") for f in sockets[0].until_final("g")) == "through gunicorn "
    finally:
        for ws in sockets:
            ws.close()
        server.stop()


def test_the_local_model_answers_through_gunicorn(tmp_path):
    # Under gevent each step of llama.cpp runs in a pool thread (cooperative.native_steps) and comes back to the hub.
    server = ServerProcess([sys.executable, "-m", "webui", "--port", "0", "serve"],
                           env=clean_env(WEBUI_DATA_DIR=str(tmp_path), LANG="C"))
    ws = None
    try:
        ws = Socket(Client.connect(server.url.replace("http", "ws", 1) + "/ws"))
        model = bundled_model_path().stem
        ws.send(chat("m", "Say hello.", provider="local", model=model, options={"max_tokens": 8, "seed": 1}))
        frames = ws.until_final("m", timeout=120)
        # Eight tokens may end the answer before the model does (length).
        assert frames[-1]["type"] == "done" and frames[-1]["reason"] in ("complete", "length")
        assert "".join(f["text"] for f in frames if f["type"] == "delta").strip()
    finally:
        if ws:
            ws.close()
        server.stop()
