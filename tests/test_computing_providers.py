"""Drop-in modules that compute between chunks, under gevent: after the step in which the watchman finds one holding the
loop, its steps run in native threads, so other users are served meanwhile and the idle limit can end it."""
import time

import requests
from simple_websocket import Client

from conftest import ServerProcess, Socket, chat, delta_seqs, turn
from test_bridge_ws import text_of
from test_cli import server_command
from test_runaway_providers import drain

# What the three modules share. Computing is a busy loop of pure Python: it yields to nothing. Every loop is bounded.
SHARED = """
import time

url = "http://127.0.0.1/busy"
supports_stream = True
needs_auth = False


def busy(seconds):
    end = time.perf_counter() + seconds
    while time.perf_counter() < end:
        pass
"""

MODULES = {
    # Six steps of half a second each.
    "computes": """
model = "steps"


def _create_completion(model, messages, stream, **kwargs):
    for n in range(6):
        busy(0.5)
        yield f"c{n} "
""",
    # A short step, then one that would compute for a minute.
    "spins": """
model = "forever"


def _create_completion(model, messages, stream, **kwargs):
    busy(0.5)
    yield "flagged "
    busy(60)
    yield "never shown "
""",
    # Found computing in its first step; its second then waits, in its thread, keeping that thread.
    "stuck": """
model = "stuck"


def _create_completion(model, messages, stream, **kwargs):
    busy(0.5)
    yield "flagged "
    time.sleep(15)
    yield "never shown "
""",
    # A module that only waits between its chunks (gevent's sleep lets the others run).
    "sleeps": """
model = "naps"


def _create_completion(model, messages, stream, **kwargs):
    for n in range(10):
        time.sleep(0.3)
        yield f"s{n} "
""",
}

# Far above what a served request takes on a busy machine, far below a step held on the loop (0.5 s).
PROMPT_SECONDS = 0.3


def start(tmp_path, providers_dir, *args, **settings):
    """A server (`webui`, or `webui serve` with args ("serve",)) with the three modules beside the test drop-ins."""
    for name, source in MODULES.items():
        (providers_dir / f"{name}.py").write_text(SHARED + source)
    command, env = server_command(tmp_path / "data", providers_dir, *args, LANG="C", **settings)
    return ServerProcess(command, env=env)


def connect(server):
    """A WebSocket of a user of its own."""
    return Socket(Client.connect(server.url.replace("http", "ws", 1) + "/ws"))


def served(server, ws, request_id):
    """Seconds that a page load and then a chat's answer take another user, who must get both."""
    started = time.monotonic()
    response = requests.get(server.url + "/", timeout=10)
    assert response.status_code == 200
    page = time.monotonic() - started
    started = time.monotonic()
    ws.send(chat(request_id, "still there"))
    assert text_of(ws.until_final(request_id, timeout=10)) == "still there "
    return page, time.monotonic() - started


def held_lines(output):
    """The log's lines that tell of a module holding the server."""
    return [line for line in output.splitlines() if "held the server" in line]


def others_are_served_while_a_module_computes(server):
    """Start a computing answer and a waiting one; after the first step, other users are served at once throughout;
    every chunk of both arrives, in order."""
    busy, waiting, other = connect(server), connect(server), connect(server)
    try:
        # Warm: a first page load compiles its template and imports, which is not what is measured.
        served(server, other, "warm")
        busy.send(chat("c", provider="computes", model="steps"))
        waiting.send(chat("s", provider="sleeps", model="naps"))
        assert busy.recv()["type"] == "start"
        # The first step holds the loop (nothing preempts it); the watchman finds it.
        assert busy.recv(timeout=10)["text"] == "c0 "
        times = [served(server, other, f"o{n}") for n in range(4)]
        assert max(max(pair) for pair in times) < PROMPT_SECONDS, times
        frames = busy.until_final("c", timeout=20)
        assert text_of(frames) == "c1 c2 c3 c4 c5 " and frames[-1]["reason"] == "complete"
        delta_seqs(frames)
        frames = waiting.until_final("s", timeout=20)
        assert text_of(frames) == "".join(f"s{n} " for n in range(10)) and frames[-1]["reason"] == "complete"
        # The module's next answer runs in threads from its first step: served at once from the start.
        busy.send(chat("again", provider="computes", model="steps"))
        time.sleep(0.2)
        assert max(served(server, other, "after")) < PROMPT_SECONDS
        assert text_of(busy.until_final("again", timeout=20)) == "".join(f"c{n} " for n in range(6))
    finally:
        for ws in (busy, waiting, other):
            ws.close()
        server.stop()
    output = drain(server)
    assert len(held_lines(output)) == 1 and "computes.py" in held_lines(output)[0], output
    assert "Traceback" not in output, output


def test_other_users_are_served_while_a_drop_in_computes(tmp_path, providers_dir):
    others_are_served_while_a_module_computes(start(tmp_path, providers_dir))


def test_under_gunicorn_other_users_are_served_while_a_drop_in_computes(tmp_path, providers_dir):
    others_are_served_while_a_module_computes(start(tmp_path, providers_dir, "serve"))


def test_a_module_computing_without_end_times_out_and_others_are_served(tmp_path, providers_dir):
    server = start(tmp_path, providers_dir, WEBUI_PROVIDER_IDLE_SECONDS="2")
    spin, other = connect(server), connect(server)
    try:
        served(server, other, "warm")
        started = time.monotonic()
        spin.send(chat("f", provider="spins", model="forever"))
        assert [spin.recv()["type"], spin.recv(timeout=10)["text"]] == ["start", "flagged "]
        assert max(served(server, other, "o")) < PROMPT_SECONDS
        frames = spin.until_final("f", timeout=10)
        assert frames[-1]["type"] == "error" and frames[-1]["code"] == "timeout", frames[-1]
        assert text_of(frames) == "" and time.monotonic() - started < 6
        assert max(served(server, other, "after")) < PROMPT_SECONDS
    finally:
        for ws in (spin, other):
            ws.close()
        server.stop()
    output = drain(server)
    assert len(held_lines(output)) == 1 and "spins.py" in held_lines(output)[0], output


def test_steps_kept_by_timed_out_answers_leave_the_database_its_threads(tmp_path, providers_dir):
    """A timed-out answer's step goes on in its thread: twelve of them take the modules' own threads, not those of
    gevent's pool (ten), which every database call waits for."""
    server = start(tmp_path, providers_dir, WEBUI_PROVIDER_IDLE_SECONDS="2")
    sockets, other = [connect(server) for _ in range(3)], connect(server)
    try:
        served(server, other, "warm")
        sockets[0].send(chat("s0", provider="stuck", model="stuck"))
        assert [sockets[0].recv()["type"], sockets[0].recv(timeout=10)["text"]] == ["start", "flagged "]
        for n in range(1, 12):
            sockets[n // 4].send(chat(f"s{n}", provider="stuck", model="stuck"))
        finals = {}
        for index, ws in enumerate(sockets):
            # Four answers a socket, their frames interleaved: read until its four have ended (a frame or so each).
            for _ in range(40):
                if {f"s{n}" for n in range(4 * index, 4 * index + 4)} <= finals.keys():
                    break
                frame = ws.recv(timeout=10)
                if frame["type"] in ("done", "error"):
                    finals[frame["request_id"]] = frame.get("code")
        assert finals == {f"s{n}": "timeout" for n in range(12)}
        other.send(turn("stored", content="still there"))
        assert other.until_final("stored", timeout=10)[-1]["reason"] == "complete"
    finally:
        for ws in (*sockets, other):
            ws.close()
        server.stop()
