"""Nothing shown is lost: conversations survive a restart, and a server killed mid-answer keeps the text it had written."""
import json
import os
import signal
import sqlite3
import time
import urllib.request

from simple_websocket import Client

from conftest import DaemonThread, LiveServer, ServerProcess, Socket, Visitor, turn
from test_cli import server_command
from webui import create_app, storage


def test_conversations_survive_a_restart(app_config):
    server = LiveServer(create_app(app_config))
    try:
        visitor = Visitor(server)
        ws = visitor.connect()
        ws.send(turn("t", content="remember me"))
        start = ws.until_final("t")[0]
        token = visitor.http.get_cookie("webui_owner").value
        before = visitor.http.get(f"/api/conversations/{start['conversation_id']}").json
    finally:
        server.stop()
    client = create_app(app_config).test_client()
    client.set_cookie("webui_owner", token)
    assert client.get(f"/api/conversations/{start['conversation_id']}").json == before
    assert [c["id"] for c in client.get("/api/conversations?q=remember").json["conversations"]] == [before["id"]]


def owner_cookie(url):
    """The identity cookie the page hands a new browser, as a Cookie header value."""
    with urllib.request.urlopen(url + "/", timeout=10) as response:
        return next(c.split(";")[0] for c in response.headers.get_all("Set-Cookie") if c.startswith("webui_owner="))


def get_json(url, cookie):
    """GET a JSON document as the browser with `cookie`."""
    request = urllib.request.Request(url, headers={"Cookie": cookie})
    with urllib.request.urlopen(request, timeout=10) as response:
        return json.load(response)


def test_a_killed_server_comes_back_with_the_partial_answer_interrupted(tmp_path, providers_dir):
    command, env = server_command(tmp_path / "data", providers_dir)
    server = ServerProcess(command, env=env)
    try:
        cookie = owner_cookie(server.url)
        url = server.url.replace("http", "ws", 1) + "/ws"
        ws = Socket(Client.connect(url, headers={"Cookie": cookie}, thread_class=DaemonThread))
        ws.send(turn("t", model="slow", content="go"))
        frames, arrivals = [ws.recv()], []
        began = time.monotonic()
        while time.monotonic() - began < 1.0:
            frames.append(ws.recv())
            arrivals.append(time.monotonic())
        os.kill(server.process.pid, signal.SIGKILL)
        server.process.wait(10)
        killed = time.monotonic()
    finally:
        server.stop()
    received = "".join(f["text"] for f in frames[1:])
    # Everything that arrived more than a flush interval (and some slack) before the kill was written.
    written_before = sum(1 for moment in arrivals if moment < killed - 0.6)

    server = ServerProcess(command, env=env)
    try:
        conversation = get_json(f"{server.url}/api/conversations/{frames[0]['conversation_id']}", cookie)
    finally:
        server.stop()
    user, answer = conversation["messages"]
    assert user["content"] == "go"
    assert answer["status"] == "interrupted"
    assert received.startswith(answer["content"])
    assert len(answer["content"].split()) >= max(written_before, 1)
    # The text it had written by parts is the message's own now, and found by search.
    db = sqlite3.connect(tmp_path / "data" / storage.FILENAME)
    try:
        assert db.execute("SELECT content FROM messages WHERE id = ?", (answer["id"],)).fetchone() == (answer["content"],)
        assert db.execute("SELECT count(*) FROM answer_parts").fetchone() == (0,)
        last = answer["content"].split()[-1]
        hits = db.execute("SELECT count(*) FROM message_search WHERE message_search MATCH ?", (last,)).fetchone()
        assert hits == (1,)
    finally:
        db.close()
