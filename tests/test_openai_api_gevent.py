"""/v1 under gevent, as `webui serve` (gunicorn) and `webui` run it: a long stream holds no one else up, a client that
goes away closes the provider's generator (mid-stream, before the first chunk, or waiting for a whole answer), and a
server that stops ends its streams with an error event."""
import http.client
import json
import signal
import time
from concurrent.futures import ThreadPoolExecutor

import openai
import pytest

from api_client import HELLO, client, content_of, new_token
from conftest import ServerProcess
from test_cli import server_command

# A drop-in module whose generator writes a line to a file when it closes: the server is another process.
RECORDING_MODULE = '''
import os
import time

QUICK_CHUNKS = 300

url = "http://127.0.0.1/recording"
model = ["ticks", "thinking", "quick"]
supports_stream = True
needs_auth = False


def _create_completion(model, messages, stream, **kwargs):
    try:
        if model == "thinking":
            time.sleep(60)  # long silent work before the first word, as a model reasoning first
        if model == "quick":
            for n in range(QUICK_CHUNKS):
                yield f"q{n} "
                time.sleep(0.001)
            return
        for n in range(3000):
            yield f"tick{n} "
            time.sleep(0.02)
    finally:
        with open(os.environ["RECORDING_FILE"], "a") as record:
            record.write("closed\\n")
'''


@pytest.fixture(params=[("serve",), ()], ids=["webui serve", "webui"])
def gevent_server(request, tmp_path, providers_dir):
    """`webui serve` or `webui`, with the recording module, and where it records its closes."""
    (providers_dir / "recording.py").write_text(RECORDING_MODULE)
    record = tmp_path / "closed.txt"
    command, env = server_command(tmp_path / "data", providers_dir, *request.param, RECORDING_FILE=str(record), LANG="C")
    server = ServerProcess(command, env=env)
    yield server, record
    server.stop()


def closed_within(record, seconds):
    """Whether the recording module's generator closed within `seconds`."""
    deadline = time.monotonic() + seconds
    while time.monotonic() < deadline:
        if record.exists() and record.read_text() == "closed\n":
            return True
        time.sleep(0.05)
    return False


def test_a_long_stream_holds_no_one_up_and_a_client_going_away_closes_the_generator(gevent_server):
    server, record = gevent_server
    token, _browser = new_token(server.url)
    api_client = client(server.url, token)
    answer = api_client.chat.completions.create(model="recording/ticks", messages=HELLO, stream=True)
    chunks = iter(answer)
    assert next(chunks).choices[0].delta.role == "assistant"
    # While it streams, others are answered: the list of models, a short answer, a page.
    with ThreadPoolExecutor(3) as pool:
        listed = pool.submit(lambda: [model.id for model in api_client.models.list()])
        echoed = pool.submit(lambda: api_client.chat.completions.create(model="testing/echo", messages=HELLO))
        page = pool.submit(lambda: _browser.get("/").status_code)
        assert "recording/ticks" in listed.result(10)
        assert echoed.result(10).choices[0].message.content == "hello there "
        assert page.result(10) == 200
    assert content_of([next(chunks) for _ in range(3)]).startswith("tick")
    assert not record.exists()
    answer.close()
    assert closed_within(record, 5), "the provider's generator was not closed"


def test_chunks_that_come_while_a_stream_rests_leave_as_one_event(gevent_server):
    # As a page's socket does (writer.Pacer): a provider yielding a chunk a millisecond costs the client an event per
    # pacing gap, not one per chunk, and the text is the same.
    server, _record = gevent_server
    token, _browser = new_token(server.url)
    events = list(client(server.url, token).chat.completions.create(model="recording/quick", messages=HELLO, stream=True))
    content = [event for event in events if event.choices and event.choices[0].delta.content]
    assert content_of(events) == "".join(f"q{n} " for n in range(300))
    assert len(content) < 100, f"{len(content)} events for 300 chunks"
    assert events[-1].choices[0].finish_reason == "stop"


@pytest.mark.parametrize("stream", [True, False], ids=["streamed", "whole"])
def test_a_client_that_leaves_before_the_first_chunk_closes_the_generator(gevent_server, stream):
    server, record = gevent_server
    token, _browser = new_token(server.url)
    host, port = server.url.split("//")[1].split(":")
    connection = http.client.HTTPConnection(host, int(port), timeout=10)
    body = json.dumps({"model": "recording/thinking", "messages": HELLO, "stream": stream})
    connection.request("POST", "/v1/chat/completions", body, {"Authorization": f"Bearer {token}", "Content-Type": "application/json"})
    time.sleep(0.5)  # the answer has started and its provider is silent
    connection.close()
    assert closed_within(record, 5), "the provider's generator was not closed"


def test_a_stream_running_when_the_server_stops_gets_its_grace_then_an_error_event(tmp_path, providers_dir):
    (providers_dir / "recording.py").write_text(RECORDING_MODULE)
    command, env = server_command(tmp_path / "data", providers_dir, RECORDING_FILE=str(tmp_path / "closed.txt"), LANG="C",
                                  WEBUI_SHUTDOWN_GRACE_SECONDS="1")
    server = ServerProcess(command, env=env)
    try:
        token, _browser = new_token(server.url)
        chunks = iter(client(server.url, token).chat.completions.create(model="recording/ticks", messages=HELLO, stream=True))
        next(chunks), next(chunks)
        server.process.send_signal(signal.SIGTERM)
        with pytest.raises(openai.APIError, match="restarting"):
            for _chunk in chunks:
                pass
        assert server.process.wait(15) == 0
    finally:
        server.stop()
