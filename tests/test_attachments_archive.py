"""Attachments in exports and imports: the JSON export carries each file in base64, the Markdown one links them, an
import stores them again (checked by their content, within the quota) and a round trip keeps them; a refused import
stores nothing, not even the files it had taken in before the refusal."""
import base64
import io
import json

import pytest
from PIL import Image

from attachment_files import image_bytes, noise_png, stored
from conftest import Browser
from test_attachments_chat import CYRILLIC, ask, attach, turn
from test_attachments_providers import SEEING, module
from test_connections import send

pytestmark = pytest.mark.both_databases


@pytest.fixture
def app_config(app_config, providers_dir):
    """The test drop-ins and `seeing`, a module that reads images."""
    (providers_dir / "seeing.py").write_text(SEEING)
    return app_config


def b64(data):
    """Bytes as an export writes them."""
    return base64.b64encode(data).decode()


def conversation_with_files(browser):
    """A conversation whose first message carries a text file and a photo: its id, and the files' ids and bytes."""
    ids = attach(browser, (b"a note", "a [b] *c*.txt", "text/plain"), (image_bytes("JPEG"), "photo.jpg", "image/jpeg"))
    frames = ask(browser, turn("r", ids, content="Look", provider="seeing", model="eyes"))
    assert frames[-1]["type"] == "done"
    return frames[0]["conversation_id"], ids, [browser.get(f"/api/attachments/{i}").content for i in ids]


def import_(browser, body, language="en"):
    """POST an import as the page does."""
    return send(browser, "POST", "/api/conversations/import", json=body, headers={"Accept-Language": language})


def test_a_round_trip_keeps_the_files_and_the_model_is_sent_them_again(server):
    browser = Browser(server.url)
    conversation_id, ids, contents = conversation_with_files(browser)
    exported = browser.get(f"/api/conversations/{conversation_id}/export").json()
    user, answer = exported["messages"]
    assert user == {
        "role": "user", "content": "Look",
        "attachments": [
            {"name": "a [b] *c*.txt", "type": "text/plain", "data": b64(contents[0])},
            {"name": "photo.jpg", "type": "image/jpeg", "data": b64(contents[1])},
        ],
    }
    assert answer == {"role": "assistant", "content": "I see."}

    created = import_(browser, exported)
    assert created.status_code == 201, created.text
    copy = browser.get(f"/api/conversations/{created.json()['id']}").json()
    files = copy["messages"][0]["attachments"]
    assert [(f["name"], f["kind"]) for f in files] == [("a [b] *c*.txt", "text"), ("photo.jpg", "image")]
    assert not {f["id"] for f in files} & set(ids)
    assert [browser.get(f"/api/attachments/{f['id']}").content for f in files] == contents
    assert browser.get(f"/api/conversations/{created.json()['id']}/export").json() == exported

    # The copy goes on with its files, as the original would.
    follow = turn("next", [], content="More?", provider="seeing", model="eyes", conversation_id=created.json()["id"])
    assert ask(browser, follow)[-1]["type"] == "done"
    first = module("seeing").seen[-1][0]["content"]
    assert first[0] == {"type": "text", "text": "a [b] *c*.txt\n```\na note\n```\n\nLook"}
    assert first[1]["image_url"]["url"] == "data:image/jpeg;base64," + b64(contents[1])


def test_the_markdown_export_links_the_files(server):
    browser = Browser(server.url)
    conversation_id, ids, _contents = conversation_with_files(browser)
    markdown = browser.get(f"/api/conversations/{conversation_id}/export?format=md").text
    links = f"- [a \\[b\\] \\*c\\*.txt](/api/attachments/{ids[0]})\n- ![photo.jpg](/api/attachments/{ids[1]})"
    assert f"## User\n\nLook\n\n{links}\n\n## Assistant (eyes)\n\nI see.\n" in markdown


GOOD = {"name": "notes.txt", "type": "text/plain", "data": b64(b"fine")}


@pytest.mark.parametrize(
    "files, status, code, words",
    [
        ([{"name": "x.png", "type": "image/png", "data": b64(b"<html><script>alert(1)</script></html>")}], 415,
         "unsupported_type", "Message 3: "),
        ([{"name": "x.txt", "data": "not base64!"}], 400, "invalid_import", "Message 3: the “data” of “x.txt” is not base64."),
        ([{"name": "x.txt"}], 400, "invalid_import", "Message 3: each file needs"),
        ([GOOD] * 11, 400, "invalid_import", "at most 10 files"),
        ([{"name": "big.txt", "data": b64(b"x" * 5000)}], 507, "over_quota", "Message 3: "),
    ],
)
def test_an_import_with_a_file_that_cannot_be_stored_stores_nothing(server, files, status, code, words):
    server.app.config["WEBUI_MAX_ATTACHMENT_BYTES_PER_USER"] = 4096
    browser = Browser(server.url)
    body = {"messages": [
        {"role": "user", "content": "one", "attachments": [GOOD]}, {"role": "assistant", "content": "two"},
        {"role": "user", "content": "three", "attachments": files},
    ]}
    for language in ("en", "ru"):
        response = import_(browser, body, language)
        assert (response.status_code, response.json()["error"]["code"]) == (status, code), response.text
        if language == "en":
            assert words in response.json()["error"]["message"]
        else:
            assert CYRILLIC.search(response.json()["error"]["message"])
    assert browser.get("/api/conversations").json()["conversations"] == []
    assert stored(server.app) == ([], [], [])


def test_only_user_messages_carry_files(server):
    browser = Browser(server.url)
    body = [{"role": "user", "content": "one"}, {"role": "assistant", "content": "two", "attachments": [GOOD]}]
    response = import_(browser, body)
    assert response.status_code == 400 and "Message 2: only user messages carry files." in response.json()["error"]["message"]
    assert stored(server.app) == ([], [], [])



@pytest.fixture
def import_limit(request, app_config):
    """WEBUI_MAX_IMPORT_BYTES of the app under test, in MiB."""
    app_config["WEBUI_MAX_IMPORT_BYTES"] = request.param * 1024 * 1024
    return request.param


@pytest.mark.parametrize(("import_limit", "status"), [(64, 201), (12, 413)], indirect=["import_limit"])
def test_an_export_past_the_body_limit_imports_back_within_the_import_limit(import_limit, server, status):
    """Two photos of 6 MB make an export of 15 MB, nearly twice the 8 MiB every other request may carry."""
    browser = Browser(server.url)
    photos = [noise_png(1400, seed) for seed in (1, 2)]
    files = [{"name": f"p{i}.png", "type": "image/png", "data": b64(png)} for i, (png, _) in enumerate(photos)]
    body = {"messages": [{"role": "user", "content": "two photos", "attachments": files}, {"role": "assistant", "content": "seen"}]}
    assert 12 * 1024 * 1024 < len(json.dumps(body)) < 64 * 1024 * 1024

    created = import_(browser, body)
    assert created.status_code == status, created.text[:300]
    if status == 413:
        assert created.json()["error"]["code"] == "too_large"
        assert browser.get("/api/conversations").json()["conversations"] == []
        return
    stored_files = browser.get(f"/api/conversations/{created.json()['id']}").json()["messages"][0]["attachments"]
    # Stored re-encoded, as every image is: the same pixels.
    shown = [Image.open(io.BytesIO(browser.get(f"/api/attachments/{f['id']}").content)) for f in stored_files]
    assert [(image.size, image.convert("RGB").tobytes()) for image in shown] == [((1400, 1400), pixels) for _, pixels in photos]


def test_an_import_of_more_than_a_hundred_files_is_refused_before_any_is_read(app, server):
    """Each file is read again in a child process of its own: 110 of them are refused, at once, and nothing is stored."""
    browser = Browser(server.url)
    note = {"name": "n.txt", "type": "text/plain", "data": b64(b"a note")}
    body = [{"role": "user", "content": f"q{n}", "attachments": [note] * 10} for n in range(11)]
    refused = import_(browser, body)
    assert (refused.status_code, refused.json()["error"]["code"]) == (400, "invalid_import"), refused.text
    assert "100" in refused.json()["error"]["message"]
    assert browser.get("/api/conversations").json()["conversations"] == []
    assert stored(app) == ([], [], [])
