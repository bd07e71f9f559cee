"""The user's path, before any test: build the wheel, install it alone in a fresh virtualenv, run `webui serve`.

`python3 scripts/smoke.py` builds the wheel, installs it with nothing but its declared dependencies (no test
extras, nothing borrowed from another environment), starts `webui serve` from an unrelated folder, loads the page
and streams one answer from the bundled model over /ws. It exits non-zero, with the server's output, if any step
fails. `.ci/run` runs it before the tests. Standard library only: it runs before anything is installed.
"""
import json
import os
import re
import subprocess
import sys
import tempfile
import threading
import time
import urllib.request
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
START_SECONDS = 120
ANSWER_SECONDS = 180


def run(*command, **kwargs):
    """Run a command; its output is shown only if it fails."""
    result = subprocess.run([str(part) for part in command], capture_output=True, text=True, **kwargs)
    if result.returncode:
        sys.exit(f"smoke: {' '.join(map(str, command))} failed:\n{result.stdout}{result.stderr}")
    return result.stdout


def install(workdir):
    """A fresh virtualenv with the wheel and its declared dependencies only; returns its bin folder."""
    run(sys.executable, "-m", "pip", "wheel", "-q", "--no-deps", "-w", workdir / "dist", ROOT)
    (wheel,) = (workdir / "dist").glob("webui-*.whl")
    run(sys.executable, "-m", "venv", workdir / "venv")
    bin_dir = workdir / "venv" / "bin"
    run(bin_dir / "pip", "install", "-q", "--disable-pip-version-check", wheel)
    return bin_dir


def user_environment(data_dir):
    """The environment a user's shell would give: no settings or import paths from this checkout."""
    env = {key: value for key, value in os.environ.items() if not key.startswith("WEBUI_") and key != "PYTHONPATH"}
    return {**env, "WEBUI_DATA_DIR": str(data_dir), "LANG": "C.UTF-8"}


def wait_for_url(output, server):
    """The URL `webui serve` prints once it listens, or None if it exits or takes too long; `output` fills with its
    lines as another thread reads them."""
    deadline = time.monotonic() + START_SECONDS
    while time.monotonic() < deadline and server.poll() is None:
        for line in list(output):
            match = re.search(r"webui is running: open (\S+)", line)
            if match:
                return match.group(1).rstrip("/")
        time.sleep(0.2)
    return None


def check_page(url):
    """The chat page loads."""
    with urllib.request.urlopen(url + "/", timeout=30) as response:
        page = response.read().decode()
    if response.status != 200 or 'id="messages"' not in page:
        raise AssertionError(f"the page at {url}/ did not load (HTTP {response.status})")


def stream_one_answer(url):
    """Ask the bundled model for a few tokens over /ws; returns the answer's text. Runs in the installed venv."""
    from simple_websocket import Client

    ws = Client.connect(url.replace("http", "ws", 1) + "/ws")
    try:
        question = {"role": "user", "content": "Say hello."}
        frame = {"type": "chat", "request_id": "smoke", "provider": "local", "messages": [question],
                 "options": {"max_tokens": 16, "seed": 1}}
        ws.send(json.dumps(frame))
        text, deadline = [], time.monotonic() + ANSWER_SECONDS
        while time.monotonic() < deadline:
            reply = json.loads(ws.receive(timeout=max(0.1, deadline - time.monotonic())) or "{}")
            if reply.get("type") == "delta":
                text.append(reply["text"])
            elif reply.get("type") in ("done", "error"):
                # Sixteen tokens may end the answer before the model does (length): an answer all the same.
                if reply.get("reason") not in ("complete", "length") or not "".join(text).strip():
                    raise AssertionError(f"the answer did not complete: {reply}")
                return "".join(text)
        raise AssertionError("no final frame within the time limit")
    finally:
        ws.close()


def main():
    """Build, install, serve, load the page, stream one answer; stop the server whatever happens."""
    with tempfile.TemporaryDirectory(prefix="webui-smoke-") as folder:
        workdir = Path(folder)
        bin_dir = install(workdir)
        elsewhere = workdir / "elsewhere"
        elsewhere.mkdir()
        env = user_environment(workdir / "data")
        server = subprocess.Popen([bin_dir / "webui", "--port", "0", "serve"], cwd=elsewhere, env=env,
                                  stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True)
        output = []
        reader = threading.Thread(target=lambda: output.extend(server.stdout), daemon=True)
        reader.start()
        try:
            url = wait_for_url(output, server)
            if url is None:
                raise AssertionError("webui serve did not start")
            check_page(url)
            answer = run(bin_dir / "python", __file__, "--answer", url, cwd=elsewhere, env=env)
            print(f"smoke: the installed wheel served {url}/ and the bundled model answered: {answer.strip()!r}")
        except (AssertionError, OSError) as e:
            server.terminate()
            reader.join(timeout=30)
            sys.exit(f"smoke: {e}\n--- webui serve printed:\n" + "".join(output))
        finally:
            if server.poll() is None:
                server.terminate()
                server.wait(timeout=30)


if __name__ == "__main__":
    if sys.argv[1:2] == ["--answer"]:
        print(stream_one_answer(sys.argv[2]))
    else:
        main()
