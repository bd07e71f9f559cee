"""Attachments that are refused: each bad file gets a clear error in the user's language, and nothing is stored."""
import io
from pathlib import Path

import pytest
import requests

from attachment_files import bomb_png, encrypted_pdf, image_bytes, pdf_bytes, stored, text_page, upload
from conftest import Browser
from webui import create_app

NOTHING = ([], [], [])
LIMIT = 200_000


@pytest.fixture
def app_config(app_config):
    """A small file limit, so that a file over it is cheap to make."""
    return {**app_config, "WEBUI_MAX_UPLOAD_BYTES": LIMIT}


def refused(response, status, code, *words):
    """Whether a response is the JSON refusal with this status and code, its message naming each of `words`."""
    error = response.json["error"]
    return response.status_code == status and error["code"] == code and all(word in error["message"] for word in words)


GOOD_PDF = pdf_bytes([text_page("Some text")])
BAD_FILES = [
    # (data, name, the browser's type, status, code, words the message has)
    (b"x" * (LIMIT + 1), "big.txt", "text/plain", 413, "too_large", ["big.txt", "0.2 MiB"]),
    (b"<html><script>alert(1)</script></html>", "cat.png", "image/png", 415, "unsupported_type", ["cat.png", "image"]),
    (b"<html><script>alert(1)</script></html>", "cat", "image/jpeg", 415, "unsupported_type", ["cat"]),
    (b"just text", "report.pdf", "application/pdf", 415, "unsupported_type", ["report.pdf", "PDF"]),
    (b"PK\x03\x04\x14\x00\x00\x00\x08\x00" + bytes(100), "archive.zip", "application/zip", 415, "unsupported_type", ["archive.zip"]),
    (b"BM" + bytes(200), "old.bmp", "image/bmp", 415, "unsupported_type", ["old.bmp"]),
    (b"", "empty.txt", "text/plain", 422, "bad_attachment", ["empty.txt"]),
    (bomb_png(), "bomb.png", "image/png", 422, "bad_attachment", ["bomb.png", "40 megapixels"]),
    (bomb_png(7000, 7000), "large.png", "image/png", 422, "bad_attachment", ["large.png", "megapixels"]),
    (image_bytes("PNG", (300, 300))[:-40], "cut.png", "image/png", 422, "bad_attachment", ["cut.png", "damaged"]),
    (image_bytes("JPEG", (300, 300))[:200], "cut.jpg", "image/jpeg", 422, "bad_attachment", ["cut.jpg"]),
    (GOOD_PDF[: len(GOOD_PDF) // 2], "half.pdf", "application/pdf", 422, "bad_attachment", ["half.pdf", "incomplete"]),
    (GOOD_PDF[:-60] + b"garbage" * 10 + b"\n%%EOF\n", "broken.pdf", "application/pdf", 422, "bad_attachment", ["broken.pdf"]),
    (encrypted_pdf(), "secret.pdf", "application/pdf", 422, "bad_attachment", ["secret.pdf", "password"]),
    (pdf_bytes([text_page("x")], declared=10_000), "claims.pdf", "application/pdf", 422, "bad_attachment", ["10,000"]),
    (pdf_bytes(["0 0 m 10 10 l S"]), "drawing.pdf", "application/pdf", 422, "bad_attachment", ["drawing.pdf", "scanned"]),
    ("Привет, мир".encode("cp1251"), "notes.txt", "text/plain", 422, "bad_attachment", ["notes.txt", "UTF-8", "position 0"]),
    ("ok é".encode() + b"\xff rest", "data.csv", "text/csv", 422, "bad_attachment", ["data.csv", "position 5"]),
    ("Привет, мир".encode("utf-16"), "notes16.txt", "text/plain", 422, "bad_attachment", ["notes16.txt", "UTF-16", "UTF-8"]),
    ("plain words, no mark".encode("utf-16-le"), "nomark.csv", "text/csv", 422, "bad_attachment", ["nomark.csv", "UTF-16"]),
    ("wide".encode("utf-32"), "wide.txt", "text/plain", 422, "bad_attachment", ["wide.txt", "UTF-32"]),
    (b"\xef\xbb\xbf", "mark.txt", "text/plain", 422, "bad_attachment", ["mark.txt", "no text"]),
    (b" \n\t\r\n ", "blank.md", "text/markdown", 422, "bad_attachment", ["blank.md", "no text"]),
    # One NUL in UTF-8 text is binary, not UTF-16: the general refusal.
    (b"some text\0more text", "nul.txt", "text/plain", 415, "unsupported_type", ["nul.txt", "UTF-8 text files"]),
]


@pytest.mark.parametrize("data, name, claimed, status, code, words", BAD_FILES, ids=[f[1] for f in BAD_FILES])
def test_a_bad_file_is_refused_with_what_is_wrong_and_nothing_is_stored(client, app, data, name, claimed, status, code, words):
    client.get("/")
    response = upload(client, data, name, claimed)
    assert refused(response, status, code, *words), response.json
    assert stored(app) == NOTHING


@pytest.mark.parametrize("pages, shown", [(1001, "1,001"), (10_000, "10,000")])
def test_a_pdf_of_more_pages_than_allowed_is_refused(app_config, pages, shown):
    app = create_app({**app_config, "WEBUI_MAX_UPLOAD_BYTES": 20 * 1024 * 1024})
    client = app.test_client()
    client.get("/")
    response = upload(client, pdf_bytes([text_page("x")] * pages), "book.pdf", "application/pdf")
    assert refused(response, 422, "bad_attachment", "book.pdf", shown, "1,000"), response.json
    assert stored(app) == NOTHING


def test_a_file_with_more_text_than_allowed_is_refused(app_config):
    app = create_app({**app_config, "WEBUI_MAX_ATTACHMENT_CHARS": 20})
    client = app.test_client()
    client.get("/")
    for data, name in ((b"x" * 21, "long.txt"), (pdf_bytes([text_page("x" * 15), text_page("y" * 15)]), "long.pdf")):
        assert refused(upload(client, data, name, "text/plain"), 422, "bad_attachment", name, "20 characters")
    assert upload(client, b"x" * 20, "fits.txt", "text/plain").status_code == 201


def test_errors_come_in_the_users_language(client):
    client.get("/")
    response = client.post(
        "/api/attachments", data={"file": (io.BytesIO(bomb_png()), "bomb.png")}, headers={"Accept-Language": "ru"}
    )
    assert response.status_code == 422 and "мегапиксел" in response.json["error"]["message"]
    response = client.post("/api/attachments", data={}, headers={"Accept-Language": "ru"})
    assert response.status_code == 400 and "файл" in response.json["error"]["message"]


@pytest.mark.parametrize(
    "form",
    [
        {},
        {"other": (io.BytesIO(b"text"), "a.txt")},
        {"file": [(io.BytesIO(b"one"), "1.txt"), (io.BytesIO(b"two"), "2.txt")]},
        {"file": "not a file"},
    ],
)
def test_an_upload_without_exactly_one_file_field_is_refused(client, app, form):
    client.get("/")
    response = client.post("/api/attachments", data=form, content_type="multipart/form-data")
    assert refused(response, 400, "bad_request", "file"), response.json
    assert refused(client.post("/api/attachments", json={"file": "x"}), 400, "bad_request", "file")
    assert stored(app) == NOTHING


def test_a_body_far_over_the_limit_is_refused_before_it_is_read(server):
    response = requests.post(
        server.url + "/api/attachments", files={"file": ("big.bin", b"x" * (LIMIT + 100_000))}, timeout=30
    )
    assert response.status_code == 413 and response.json()["error"]["code"] == "too_large"
    assert stored(server.app) == NOTHING


def test_a_body_without_a_length_is_cut_at_the_limit(server):
    boundary = "b0undary"
    head = f'--{boundary}\r\nContent-Disposition: form-data; name="file"; filename="big.txt"\r\n\r\n'.encode()

    def body():
        """The form in pieces, so that it is sent chunked, with no Content-Length."""
        yield head
        for _ in range(LIMIT // 10_000 + 10):
            yield b"x" * 10_000
        yield f"\r\n--{boundary}--\r\n".encode()

    response = requests.post(
        server.url + "/api/attachments", data=body(), headers={"Content-Type": f"multipart/form-data; boundary={boundary}"}, timeout=30
    )
    assert response.status_code == 413 and response.json()["error"]["code"] == "too_large", response.text
    assert stored(server.app) == NOTHING


def test_a_form_cut_short_is_refused(client, app):
    client.get("/")
    boundary = "b0undary"
    body = f'--{boundary}\r\nContent-Disposition: form-data; name="file"; filename="a.txt"\r\n\r\nsome text'.encode()
    response = client.post("/api/attachments", data=body, content_type=f"multipart/form-data; boundary={boundary}")
    assert refused(response, 400, "bad_request", "multipart"), response.json
    assert stored(app) == NOTHING


def test_the_total_per_user_is_capped(app_config):
    app = create_app({**app_config, "WEBUI_MAX_ATTACHMENT_BYTES_PER_USER": 1000})
    client, other = app.test_client(), app.test_client()
    client.get("/")
    other.get("/")
    assert upload(client, b"a" * 600, "first.txt", "text/plain").status_code == 201
    before = stored(app)
    response = upload(client, b"b" * 600, "second.txt", "text/plain")
    assert refused(response, 507, "over_quota", "MiB"), response.json
    assert stored(app) == before
    # Another user's room is their own, and deleting makes room again.
    assert upload(other, b"c" * 600, "theirs.txt", "text/plain").status_code == 201
    assert client.delete(f"/api/attachments/{before[0][0][0]}").status_code == 204
    assert upload(client, b"b" * 600, "second.txt", "text/plain").status_code == 201


def test_an_upload_needs_our_origin_and_the_csrf_token(server):
    browser = Browser(server.url)
    files = {"file": ("a.txt", b"hello")}
    without_token = browser.http.post(server.url + "/api/attachments", files=files, timeout=10)
    forged = browser.http.post(server.url + "/api/attachments", files=files, headers={"X-CSRF-Token": "forged"}, timeout=10)
    other_site = browser.post("/api/attachments", files=files, headers={"Origin": "http://evil.example"})
    assert [(r.status_code, r.json()["error"]["code"]) for r in (without_token, forged, other_site)] == [
        (403, "csrf_failed"), (403, "csrf_failed"), (403, "forbidden_origin")
    ]
    assert stored(server.app) == NOTHING
    assert browser.post("/api/attachments", files=files).status_code == 201
    # The token may come as a form field too, as the sign-in form sends it.
    form = {"csrf_token": browser.csrf_token()}
    sent = browser.http.post(server.url + "/api/attachments", files={"file": ("b.txt", b"form")}, data=form, timeout=10)
    assert sent.status_code == 201 and sent.json()["name"] == "b.txt", sent.text


def test_a_folder_that_cannot_take_the_file_is_a_message_and_nothing_is_stored(client, app):
    client.get("/")
    folder = Path(app.config["WEBUI_DATA_DIR"]) / "attachments"
    folder.write_text("a file where the folder should be")
    response = client.post("/api/attachments", data={"file": (io.BytesIO(b"text"), "a.txt")}, headers={"Accept-Language": "ru"})
    assert refused(response, 503, "storage_failed", "Попробуйте"), response.json
    folder.unlink()
    assert stored(app) == NOTHING
    assert upload(client, b"text", "a.txt", "text/plain").status_code == 201


def test_uploads_past_the_rate_are_refused_saying_when_to_try_again(app_config):
    client = create_app({**app_config, "WEBUI_UPLOADS_PER_MINUTE": 2}).test_client()
    client.get("/")
    assert [upload(client, b"text", f"{n}.txt", "text/plain").status_code for n in range(2)] == [201, 201]
    response = upload(client, b"text", "2.txt", "text/plain")
    assert refused(response, 429, "rate_limited", "wait a minute")
    assert 1 <= int(response.headers["Retry-After"]) <= 60
