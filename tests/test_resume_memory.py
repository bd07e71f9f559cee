"""Under `webui serve`: resumes cost the server bounded memory, however many a client asks for without reading."""
import json
import sys
import time
from pathlib import Path

from simple_websocket import Client

from bench import frames as wire
from conftest import Browser, ServerProcess, Socket, raw_handshake
from test_cli import clean_env
from test_resume import replayed

LONG_ANSWER = "".join(f"{n:07d} ответ\n" for n in range(70_000))  # 1,050,000 characters, 1.4 MB of UTF-8
RESUMES = 200_000
BATCH = 500
# What the server may grow by: a few copies of the answer, the bound on waiting frames, what Python keeps around.
GROWTH_LIMIT = 64 * 1024 * 1024


def rss(pid):
    """The resident memory of a process, in bytes."""
    for line in Path(f"/proc/{pid}/status").read_text().splitlines():
        if line.startswith("VmRSS:"):
            return int(line.split()[1]) * 1024
    return 0


def server_rss(pid):
    """The resident memory of gunicorn's arbiter and its worker."""
    children = Path(f"/proc/{pid}/task/{pid}/children").read_text().split()
    return rss(pid) + sum(rss(int(child)) for child in children)


def test_resumes_from_a_client_that_never_reads_cannot_pin_memory(tmp_path):
    env = clean_env(WEBUI_DATA_DIR=str(tmp_path), WEBUI_PING_INTERVAL="0", LANG="C")
    server = ServerProcess([sys.executable, "-m", "webui", "--port", "0", "serve"], env=env)
    stuck = None
    try:
        browser = Browser(server.url)
        browser.get("/")
        messages = [{"role": "user", "content": "q"}, {"role": "assistant", "content": LONG_ANSWER}]
        created = browser.post("/api/conversations/import", json=messages)
        assert created.status_code == 201, created.text
        message_id = browser.get(f"/api/conversations/{created.json()['id']}").json()["messages"][-1]["id"]
        status, stuck = raw_handshake(server.url, {"Cookie": browser.cookie_header()})
        assert status == 101
        stuck.settimeout(10)
        baseline = peak = server_rss(server.process.pid)

        cut, sent, deadline = False, 0, time.monotonic() + 60
        while not cut and sent < RESUMES and time.monotonic() < deadline:
            # In batches, with a pause for the server to answer them: it reads frames faster than it handles them.
            for n in range(sent, sent + BATCH):
                resume = {"type": "resume", "request_id": n, "message_id": message_id}
                try:
                    stuck.sendall(wire.encode(wire.TEXT, json.dumps(resume).encode(), mask=True))
                except OSError:
                    cut = True
                    break
            sent += BATCH
            peak = max(peak, server_rss(server.process.pid))
            if peak - baseline > GROWTH_LIMIT:
                break
            time.sleep(0.05)
        assert peak - baseline <= GROWTH_LIMIT, f"the server grew by {(peak - baseline) >> 20} MiB after {sent} resumes"
        assert cut, f"the socket was still open after {sent} resumes"

        # Someone who reads gets the whole answer back, in bounded frames.
        ws = Socket(Client.connect(server.url.replace("http", "ws", 1) + "/ws", headers={"Cookie": browser.cookie_header()}))
        try:
            ws.send({"type": "resume", "request_id": "reader", "message_id": message_id})
            _start, text, final = replayed(ws, "reader")
            assert text == LONG_ANSWER and final["reason"] == "complete"
        finally:
            ws.close()
    finally:
        if stuck is not None:
            stuck.close()
        server.stop()
