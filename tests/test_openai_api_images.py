"""Images in /v1 chat completions, through OpenAI's own client: sent to an OpenAI-compatible server, Ollama and drop-in
modules exactly as the page's attachments are, refused for a model that reads none before anything is sent, never
fetched from a URL, checked by their content, and stored as attachments only with WEBUI_API_STORE."""
import base64

import openai
import pytest

from api_client import client, new_token, post
from attachment_files import image_bytes, jpeg_with_metadata, noise_png, opened, stored, upload
from conftest import Browser, LiveServer
from webui import create_app
from fake_ollama import ollama  # noqa: F401 (fixture)
from fake_upstream import OPENAI_CHAT, upstream, webui  # noqa: F401 (fixtures)
from test_attachments_chat import CYRILLIC, OLLAMA_CHAT, lab, local_ollama
from test_attachments_providers import app_config, module  # noqa: F401 (a fixture: the drop-in `seeing` reads images)

QUESTION = "What is in the picture?"


def data_url(data, media_type="image/png"):
    """Bytes as a data: URL."""
    return f"data:{media_type};base64,{base64.b64encode(data).decode()}"


def asking(url, text=QUESTION, bare=False):
    """A user message of text and one image part whose URL is `url` ({"url": …}, or the URL alone when `bare`)."""
    image = url if bare else {"url": url, "detail": "high"}
    return [{"role": "user", "content": [{"type": "text", "text": text}, {"type": "image_url", "image_url": image}]}]


def as_the_page_stores(server, data, name="photo.jpg"):
    """The bytes the page stores (and sends a model) of an upload of `data`, uploaded by a browser of its own."""
    browser = Browser(server.url)
    response = upload(browser, data, name, "application/octet-stream")
    assert response.status_code == 201, response.text
    return browser.get(f"/api/attachments/{response.json()['id']}").content


def refusal(response, status=400):
    """The OpenAI error of a refused request, which must have `status`."""
    assert response.status_code == status, response.text
    return response.json()["error"]


def test_an_openai_server_is_sent_the_image_as_the_pages_attachments_are_and_nothing_is_stored(upstream, webui):
    server = webui([lab(upstream, vision=True)])
    token, _browser = new_token(server.url)
    photo = jpeg_with_metadata()
    api = client(server.url, token)
    whole = api.chat.completions.create(model="lab/m", messages=asking(data_url(photo, "image/jpeg")))
    assert whole.choices[0].message.content
    chunks = list(api.chat.completions.create(model="lab/m", messages=asking(data_url(photo, "image/jpeg"), bare=True), stream=True))
    assert chunks[-1].choices[0].finish_reason == "stop"
    # Nothing of them outlives the requests: no row, no file.
    assert stored(server.app) == ([], [], [])
    sent = as_the_page_stores(server, photo)
    parts = [{"type": "text", "text": QUESTION}, {"type": "image_url", "image_url": {"url": data_url(sent, "image/jpeg")}}]
    assert [request.body["messages"] for request in upstream.requests_to(OPENAI_CHAT)] == [[{"role": "user", "content": parts}]] * 2
    # Re-encoded, its metadata gone (the camera's name) and turned upright by its orientation tag.
    assert b"Canon" in photo and b"Canon" not in sent


def test_ollama_is_sent_the_image_in_images(upstream, webui, ollama):
    ollama.vision.add("fake-model")
    server = webui([local_ollama(upstream)])
    token, _browser = new_token(server.url)
    png = image_bytes("PNG")
    client(server.url, token).chat.completions.create(model="ol/fake-model", messages=asking(data_url(png)))
    (request,) = upstream.requests_to(OLLAMA_CHAT)
    sent = base64.b64encode(as_the_page_stores(server, png, "dot.png")).decode()
    assert request.body["messages"] == [{"role": "user", "content": QUESTION, "images": [sent]}]


def test_a_module_with_supports_images_gets_content_parts_and_one_without_refuses_them(server, testing_provider):
    token, _browser = new_token(server.url)
    png = image_bytes("PNG", color=(0, 90, 200))
    answer = client(server.url, token).chat.completions.create(model="seeing/eyes", messages=asking(data_url(png)))
    assert answer.choices[0].message.content == "I see."
    url = data_url(as_the_page_stores(server, png, "blue.png"))
    parts = [{"type": "text", "text": QUESTION}, {"type": "image_url", "image_url": {"url": url}}]
    assert module("seeing").seen == [[{"role": "user", "content": parts}]]
    for model in ("testing/echo", "local"):
        with pytest.raises(openai.BadRequestError) as refused:
            client(server.url, token).chat.completions.create(model=model, messages=[*asking(data_url(png))])
        assert (refused.value.body["code"], refused.value.body["param"]) == ("no_vision", "messages[0].content[1]")
    assert testing_provider().seen_messages == []


def test_a_large_image_is_sent_scaled_down_as_the_pages_are(server):
    token, _browser = new_token(server.url)
    wide = image_bytes("PNG", size=(3000, 30))
    client(server.url, token).chat.completions.create(model="seeing/eyes", messages=asking(data_url(wide)))
    url = module("seeing").seen[-1][0]["content"][-1]["image_url"]["url"]
    assert url.startswith("data:image/png;base64,") and opened(base64.b64decode(url.split(",", 1)[1])).size == (2048, 20)


@pytest.fixture
def tight_limits(app_config):
    """A chat's text within 4 KiB, an upload within 40,000 bytes (before the app is made)."""
    app_config.update(WEBUI_MAX_REQUEST_BYTES=4096, WEBUI_MAX_UPLOAD_BYTES=40_000)


def test_images_come_besides_the_text_limit_up_to_an_uploads_size(tight_limits, server):
    token, _browser = new_token(server.url)
    picture, _pixels = noise_png(80, seed=1)
    assert 4096 * 3 < len(data_url(picture)) < 40_000
    reply = client(server.url, token).chat.completions.create(model="seeing/eyes", messages=asking(data_url(picture)))
    assert reply.choices[0].message.content == "I see."
    sent = module("seeing").seen[-1][0]["content"][-1]["image_url"]["url"]
    assert opened(base64.b64decode(sent.split(",", 1)[1])).tobytes() == opened(picture).tobytes()
    seen = len(module("seeing").seen)
    too_long = asking(data_url(picture), text="x" * 5000)
    too_large, _pixels = noise_png(130, seed=2)
    for messages in (too_long, asking(data_url(too_large))):
        assert refusal(post(server.url, token, {"model": "seeing/eyes", "messages": messages}), 413)["code"] == "request_too_large"
    assert len(module("seeing").seen) == seen


@pytest.mark.parametrize("language", ["en", "ru"])
def test_a_model_that_reads_no_images_gets_400_no_vision_before_anything_is_sent(upstream, webui, ollama, language):
    server = webui([lab(upstream, vision=["other"]), local_ollama(upstream)], WEBUI_API_STORE=True)
    token, browser = new_token(server.url)
    messages = [{"role": "user", "content": "Hello"}, {"role": "assistant", "content": "Hi"}, *asking(data_url(image_bytes("PNG")))]
    for model in ("lab/m", "ol/fake-model"):
        error = refusal(post(server.url, token, {"model": model, "messages": messages}, **{"Accept-Language": language}))
        assert (error["code"], error["param"], error["type"]) == ("no_vision", "messages[2].content[1]", "invalid_request_error")
        assert model.split("/")[1] in error["message"] and bool(CYRILLIC.search(error["message"])) == (language == "ru")
    assert upstream.requests_to(OPENAI_CHAT) == [] and upstream.requests_to(OLLAMA_CHAT) == []
    assert stored(server.app) == ([], [], []) and browser.get("/api/conversations").json()["conversations"] == []


def test_an_image_at_an_http_url_is_refused_and_never_fetched(upstream, webui):
    server = webui([lab(upstream, vision=True)])
    token, _browser = new_token(server.url)
    for url in (f"{upstream.url}/cat.png", f"{upstream.url.replace('http', 'https', 1)}/cat.png", "//127.0.0.1/cat.png"):
        error = refusal(post(server.url, token, {"model": "lab/m", "messages": asking(url)}))
        assert error["param"] == "messages[0].content[1]" and "never fetches" in error["message"], url
    assert upstream.seen == []


def test_an_image_that_is_not_one_is_refused_with_the_reason_and_nothing_is_sent(upstream, webui):
    server = webui([lab(upstream, vision=True)], WEBUI_API_STORE=True)
    token, _browser = new_token(server.url)
    png = image_bytes("PNG")
    refused = {
        "data:image/png;base64,%%% not base64 %%%": "base64",
        data_url(b"<html><script>alert(1)</script></html>"): "is not a PNG, JPEG, WebP or GIF",
        data_url(png[:60]): "damaged",
        data_url(b'<svg xmlns="http://www.w3.org/2000/svg"/>', "image/svg+xml"): "PNG, JPEG, WebP or GIF",
        data_url(b"just text", "text/plain"): "PNG, JPEG, WebP or GIF",
        "data:image/png," + png.decode("latin-1"): "base64",
        "data:image/png;base64,": "empty",
    }
    for url, reason in refused.items():
        error = refusal(post(server.url, token, {"model": "lab/m", "messages": asking(url)}))
        assert error["param"] == "messages[0].content[1]" and reason in error["message"], (url[:40], error)
    assert upstream.requests_to(OPENAI_CHAT) == [] and stored(server.app) == ([], [], [])


def test_image_parts_out_of_place_are_refused_naming_the_part(server):
    token, _browser = new_token(server.url)
    url = data_url(image_bytes("PNG"))
    image = {"type": "image_url", "image_url": {"url": url}}
    refused = {
        "messages[0].content[0]": [{"role": "user", "content": [{"type": "input_image", "image_url": url}]}],
        "messages[1].content[0]": [{"role": "user", "content": "Hi"}, {"role": "assistant", "content": [image]}],
        "messages[0].content[1]": [{"role": "user", "content": [image, {"type": "image_url", "image_url": 7}]}],
        # WEBUI_MAX_ATTACHMENTS_PER_MESSAGE (10) images in all, whichever messages carry them.
        "messages[1].content[4]": [{"role": "user", "content": [image] * 6}, {"role": "user", "content": [image] * 5}],
    }
    for param, messages in refused.items():
        error = refusal(post(server.url, token, {"model": "seeing/eyes", "messages": messages}))
        assert error["param"] == param, (param, error)
    assert "image_url" in refusal(post(server.url, token, {"model": "seeing/eyes", "messages": refused["messages[0].content[0]"]}))["message"]
    assert module("seeing").seen == []


def test_a_stored_exchange_keeps_its_images_as_the_messages_attachments(upstream, webui):
    server = webui([lab(upstream, vision=True)], WEBUI_API_STORE=True)
    token, browser = new_token(server.url)
    png = image_bytes("PNG", color=(10, 200, 10))
    api = client(server.url, token)
    api.chat.completions.create(model="lab/m", messages=asking(data_url(png)))
    api.chat.completions.create(model="lab/m", messages=[{"role": "user", "content": [{"type": "image_url", "image_url": data_url(png)}]}])
    second, first = browser.get("/api/conversations").json()["conversations"]
    assert (first["title"], second["title"]) == (QUESTION, "image.png")
    sent = [request.body["messages"][0]["content"][-1]["image_url"]["url"] for request in upstream.requests_to(OPENAI_CHAT)]
    for conversation, url in zip((first, second), sent):
        user, answer = browser.get(f"/api/conversations/{conversation['id']}").json()["messages"]
        (attachment,) = user["attachments"]
        assert (attachment["kind"], attachment["type"], attachment["name"], answer["attachments"]) == ("image", "image/png", "image.png", [])
        assert url == data_url(browser.get(f"/api/attachments/{attachment['id']}").content)
    # Each exchange is a conversation of its own, with an attachment of its own; the same bytes are one file.
    rows, links, names = stored(server.app)
    assert len(rows) == len(links) == 2 and rows[0][2] == rows[1][2] and rows[0][2] in names
    # Deleted with its conversation, as the page's are.
    deleted = browser.http.delete(f"{server.url}/api/conversations/{first['id']}", headers={"X-CSRF-Token": browser.csrf_token()}, timeout=10)
    assert deleted.status_code == 204 and len(stored(server.app)[0]) == 1


def test_a_stored_exchange_whose_images_pass_the_quota_is_refused_and_stores_nothing(upstream, webui):
    server = webui([lab(upstream, vision=True)], WEBUI_API_STORE=True, WEBUI_MAX_ATTACHMENT_BYTES_PER_USER=100)
    token, browser = new_token(server.url)
    error = refusal(post(server.url, token, {"model": "lab/m", "messages": asking(data_url(image_bytes("PNG")))}))
    assert error["code"] == "over_quota" and "MiB" in error["message"]
    assert upstream.requests_to(OPENAI_CHAT) == [] and stored(server.app)[:2] == ([], [])
    assert browser.get("/api/conversations").json()["conversations"] == []


def test_base64_wrapped_over_lines_is_read_and_url_safe_base64_is_refused_saying_so(server):
    token, _browser = new_token(server.url)
    png, _pixels = noise_png(24, seed=5)
    api = client(server.url, token)
    # As the `base64` command writes it: lines of 76 characters.
    wrapped = "data:image/png;base64," + base64.encodebytes(png).decode()
    assert wrapped.count("\n") > 1
    for url in (data_url(png), wrapped):
        api.chat.completions.create(model="seeing/eyes", messages=asking(url))
    seen = module("seeing").seen
    assert len(seen) == 2 and seen[0] == seen[1]
    url_safe = "data:image/png;base64," + base64.urlsafe_b64encode(png).decode()
    assert url_safe != data_url(png)
    error = refusal(post(server.url, token, {"model": "seeing/eyes", "messages": asking(url_safe)}))
    assert error["param"] == "messages[0].content[1]" and "URL-safe" in error["message"]
    assert len(module("seeing").seen) == 2


def test_an_image_sent_again_is_not_read_again(app_config):
    # OpenAI's clients send a conversation's images again with every question.
    server = LiveServer(create_app({**app_config, "WEBUI_ATTACHMENT_SECONDS": 1}))
    try:
        token, _browser = new_token(server.url)
        asked = {"model": "seeing/eyes", "messages": asking(data_url(image_bytes("PNG", color=(1, 2, 3))))}
        assert post(server.url, token, asked).status_code == 200
        # Every child process's turn taken: only an image read before can be sent now.
        slots = server.app.extensions["webui.attachment_jobs"]
        taken = 0
        while slots.acquire(blocking=False):
            taken += 1
        try:
            assert post(server.url, token, asked).status_code == 200
            other = {"model": "seeing/eyes", "messages": asking(data_url(image_bytes("PNG", color=(4, 5, 6))))}
            assert refusal(post(server.url, token, other), 503)["code"] == "busy"
        finally:
            for _ in range(taken):
                slots.release()
        seen = module("seeing").seen
        assert len(seen) == 2 and seen[0] == seen[1]
    finally:
        server.stop()
