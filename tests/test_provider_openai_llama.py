"""The OpenAI-compatible provider against llama.cpp's own server with the bundled model, directly and from the page."""
import socket
import subprocess
import sys
import time

import pytest
import requests

from conftest import chat
from fake_upstream import collect, text_of, webui  # noqa: F401 (webui is a fixture)
from webui.providers.local import bundled_model_path
from webui.providers.openai import OpenAIProvider


@pytest.fixture(scope="module")
def llama_server(tmp_path_factory):
    """llama-cpp-python's own OpenAI-compatible server with the bundled model, on a free loopback port."""
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]
    log = open(tmp_path_factory.mktemp("llama") / "server.log", "wb")
    command = [sys.executable, "-m", "llama_cpp.server", "--model", str(bundled_model_path())]
    process = subprocess.Popen(command + ["--host", "127.0.0.1", "--port", str(port), "--n_ctx", "512"], stdout=log, stderr=log)
    try:
        base_url = f"http://127.0.0.1:{port}/v1"
        for _ in range(100):
            try:
                requests.get(base_url + "/models", timeout=1).raise_for_status()
                break
            except requests.RequestException:
                assert process.poll() is None, "llama_cpp.server exited"
                time.sleep(0.2)
        else:
            pytest.fail("llama_cpp.server did not start within 20 s")
        yield base_url
    finally:
        process.terminate()
        try:
            process.wait(10)
        except subprocess.TimeoutExpired:
            process.kill()
            process.wait(10)
        log.close()


def test_a_real_llama_cpp_server_streams_through_the_provider(llama_server):
    provider = OpenAIProvider("llama", llama_server, timeout=2, read_timeout=20)
    [model] = provider.models()
    assert model.endswith(".gguf")
    texts, error = collect(provider.complete(model, [{"role": "user", "content": "Say hello."}], max_tokens=8, temperature=0))
    assert error is None, error
    assert texts and "".join(texts).strip()


def test_a_real_llama_cpp_server_answers_the_page(llama_server, webui):
    ws = webui([{"name": "llama", "type": "openai", "base_url": llama_server, "read_timeout": 20}]).connect()
    ws.send(chat("r", "Say hello.", provider="llama", model=None, options={"max_tokens": 8}))
    frames = ws.until_final("r")
    assert frames[0]["provider"] == "llama" and frames[0]["model"].endswith(".gguf")
    assert frames[-1]["type"] == "done" and text_of(frames).strip()
