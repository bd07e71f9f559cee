"""The /v1 API from a program's side: tokens made as a person makes them on the page, and OpenAI's own client."""
import json
import subprocess

import openai
import requests

from conftest import Browser

HELLO = [{"role": "user", "content": "hello there"}]


def page_token(browser, name="tests"):
    """A token made in the page's API tokens section by `browser` (signed in, or a browser without an account)."""
    response = browser.post("/api/tokens", json={"name": name})
    assert response.status_code == 201, response.text
    return response.json()["token"]


def new_token(url, name="tests"):
    """A token of a new browser at the server (one without accounts): (token, the browser)."""
    browser = Browser(url)
    return page_token(browser, name), browser


def client(url, token, **settings):
    """OpenAI's client for the server's /v1, with no retry: each test sees every answer as it came."""
    return openai.OpenAI(base_url=url + "/v1", api_key=token, max_retries=0, timeout=30, **settings)


def revoke(browser, token):
    """Revoke a token from the page, as its owner."""
    token_id = token.split("_")[1]
    headers = {"X-CSRF-Token": browser.csrf_token()}
    response = browser.http.delete(f"{browser.url}/api/tokens/{token_id}", headers=headers, timeout=10)
    assert response.status_code == 204, response.text


def post(url, token, body, **headers):
    """POST /v1/chat/completions with requests, for what OpenAI's client hides (headers, raw bodies)."""
    headers = {**({"Authorization": f"Bearer {token}"} if token else {}), **headers}
    data = body if isinstance(body, (bytes, str)) else json.dumps(body)
    return requests.post(url + "/v1/chat/completions", data=data, headers={"Content-Type": "application/json", **headers}, timeout=30)


def curl_events(url, token, body, timeout=60):
    """`curl -N -i` streaming a chat completion: (the status line and headers, the raw events), as a person sees them."""
    done = subprocess.run(
        ["curl", "-sS", "-N", "-i", "--max-time", str(timeout), url + "/v1/chat/completions",
         "-H", f"Authorization: Bearer {token}", "-H", "Content-Type: application/json", "-d", json.dumps(body)],
        capture_output=True, timeout=timeout + 10,
    )
    assert done.returncode == 0, done.stderr
    head, _, events = done.stdout.decode().replace("\r\n", "\n").partition("\n\n")
    return head, events


def content_of(chunks):
    """The text of a stream's chunks."""
    return "".join(chunk.choices[0].delta.content or "" for chunk in chunks if chunk.choices)
