"""Attachments that are fine: each kind uploads and comes back right, to its owner only, with the headers that keep a
file from acting as a page; and the functions the chat path calls."""
import pytest
from werkzeug.http import parse_options_header

from attachment_files import (
    animated_gif,
    encrypted_pdf,
    image_bytes,
    jpeg_with_metadata,
    opened,
    pdf_bytes,
    stored,
    text_page,
    upload,
)
from test_auth import signed_in
from test_presets_roles import add_account
from webui import attachments
from webui.attachments import sniff
from webui.errors import UserError
from webui.storage import conversations, get_db

pytestmark = pytest.mark.both_databases

SANDBOX = "sandbox; default-src 'none'"


def fetch(http, attachment_id, suffix=""):
    """GET an attachment (or its thumbnail) with a test client."""
    return http.get(f"/api/attachments/{attachment_id}{suffix}")


def served_as_download(response, content_type, name):
    """Whether a response is a sandboxed, unsniffable download of that type and name."""
    headers = response.headers
    return (
        headers["Content-Type"] == content_type
        and headers["Content-Disposition"] == f"attachment; filename={name}"
        and headers["X-Content-Type-Options"] == "nosniff"
        and headers["Content-Security-Policy"] == SANDBOX
        and headers["Cache-Control"] == "no-store"
    )


def test_a_png_is_re_encoded_and_served_inline_with_a_thumbnail(client):
    client.get("/")
    original = image_bytes("PNG", (800, 600), "RGBA", (10, 200, 30, 128))
    response = upload(client, original, "screen.png", "image/png")
    assert response.status_code == 201, response.json
    body = response.json
    assert {k: body[k] for k in ("name", "type", "kind", "width", "height", "size")} == {
        "name": "screen.png", "type": "image/png", "kind": "image", "width": 800, "height": 600, "size": body["size"]
    }
    image = fetch(client, body["id"])
    assert image.status_code == 200 and image.headers["Content-Type"] == "image/png"
    assert image.headers["Content-Disposition"] == "inline; filename=screen.png"
    assert image.headers["Content-Security-Policy"] == SANDBOX and image.headers["X-Content-Type-Options"] == "nosniff"
    assert len(image.data) == body["size"]
    assert opened(image.data).getpixel((5, 5)) == (10, 200, 30, 128)
    thumbnail = opened(fetch(client, body["id"], "/thumbnail").data)
    assert thumbnail.format == "PNG" and thumbnail.size == (320, 240)


def test_a_photo_loses_its_metadata_and_is_turned_upright(client):
    client.get("/")
    original = jpeg_with_metadata(size=(60, 40))
    assert opened(original).getexif()[0x010F] == "Canon"
    body = upload(client, original, "../../etc/photo.jpg", "image/jpeg").json
    assert (body["name"], body["type"], body["width"], body["height"]) == ("photo.jpg", "image/jpeg", 40, 60)
    image = opened(fetch(client, body["id"]).data)
    assert image.format == "JPEG" and image.size == (40, 60)
    assert dict(image.getexif()) == {}
    assert not {"exif", "comment", "xmp", "icc_profile"} & set(image.info)
    assert b"Canon" not in fetch(client, body["id"]).data and b"secret comment" not in fetch(client, body["id"]).data


@pytest.mark.parametrize(
    "data, name, stored_type, colour",
    [
        (animated_gif(), "moving.gif", "image/png", (255, 0, 0)),  # the first frame only
        (image_bytes("WEBP", color=(0, 0, 250), lossless=True), "picture.webp", "image/jpeg", (0, 0, 250)),
        (image_bytes("WEBP", mode="RGBA", color=(0, 0, 250, 100), lossless=True), "clear.webp", "image/png", (0, 0, 250, 100)),
    ],
)
def test_gif_and_webp_are_stored_as_png_or_jpeg(client, data, name, stored_type, colour):
    client.get("/")
    body = upload(client, data, name, "application/octet-stream").json
    assert body["type"] == stored_type
    image = opened(fetch(client, body["id"]).data)
    pixel = image.convert("RGBA" if len(colour) == 4 else "RGB").getpixel((3, 3))
    assert all(abs(a - b) <= 3 for a, b in zip(pixel, colour)), pixel
    assert fetch(client, body["id"]).headers["Content-Disposition"] == "inline; filename=" + name.rsplit(".")[0] + (
        ".png" if stored_type == "image/png" else ".jpg"
    )


def test_text_is_kept_as_sent_and_served_only_as_a_download(client):
    client.get("/")
    text = "# Заметки\n\n| a | b |\n|---|---|\n| 1 | 2 |\n"
    body = upload(client, ("\ufeff" + text).encode(), "notes.md", "text/markdown").json
    assert (body["kind"], body["type"], body["chars"]) == ("text", "text/plain", len(text))
    response = fetch(client, body["id"])
    assert response.data == ("\ufeff" + text).encode()
    assert served_as_download(response, "text/plain; charset=utf-8", "notes.md")
    assert fetch(client, body["id"], "/thumbnail").status_code == 404
    with client.application.app_context():
        [record] = attachments.for_message(get_db(), owner(client), [body["id"]])
    assert record.text == text and record.data is None


@pytest.mark.parametrize(
    "sent, shown",
    [
        ("../../etc/passwd", "passwd"),
        ("invoice\u202efdp.exe\u200b\x07.txt", "invoicefdp.exe.txt"),
        ("  many   spaces  .txt ", "many spaces .txt"),
        ("/", "file"),
        ("x" * 300 + ".csv", "x" * 196 + ".csv"),
    ],
)
def test_a_name_is_only_shown_never_a_path_nor_a_disguise(client, sent, shown):
    client.get("/")
    body = upload(client, b"text", sent, "text/plain").json
    assert body["name"] == shown
    disposition = parse_options_header(fetch(client, body["id"]).headers["Content-Disposition"])
    assert disposition == ("attachment", {"filename": shown})


def test_a_windows_path_gives_its_last_component():
    # Old browsers sent the whole path; the multipart parser may keep its backslashes.
    assert sniff.display_name("C:\\Users\\me\\notes.md") == "notes.md"


def test_html_and_svg_with_script_are_text_never_a_page_or_an_image(client):
    client.get("/")
    svg = b'<svg xmlns="http://www.w3.org/2000/svg"><script>alert(document.cookie)</script></svg>'
    html = b"<!doctype html><script>fetch('/api/conversations')</script>"
    for data, name, claimed in ((svg, "drawing.svg", "image/svg+xml"), (html, "page.html", "text/html")):
        body = upload(client, data, name, claimed).json
        assert (body["kind"], body["type"]) == ("text", "text/plain")
        response = fetch(client, body["id"])
        assert response.data == data and served_as_download(response, "text/plain; charset=utf-8", name)


def test_a_pdf_gives_its_text_and_is_served_as_a_download(client):
    client.get("/")
    data = pdf_bytes([text_page("Hello from page one"), text_page("And from page two")])
    body = upload(client, data, "report.pdf", "application/pdf").json
    assert (body["kind"], body["type"], body["pages"]) == ("pdf", "application/pdf", 2)
    response = fetch(client, body["id"])
    assert response.data == data and served_as_download(response, "application/pdf", "report.pdf")
    with client.application.app_context():
        [record] = attachments.for_message(get_db(), owner(client), [body["id"]])
    assert record.text == "Hello from page one\n\nAnd from page two" and body["chars"] == len(record.text)


def test_a_pdf_encrypted_without_a_password_is_read(client):
    client.get("/")
    body = upload(client, encrypted_pdf(user_password=""), "permissions.pdf", "application/pdf").json
    assert body["kind"] == "pdf" and body["chars"] == len("Locked away")


def test_the_same_content_is_one_file(client):
    client.get("/")
    data = "same text".encode()
    first, second = (upload(client, data, name, "text/plain").json for name in ("a.txt", "b.txt"))
    assert first["id"] != second["id"]
    rows, _links, names = stored(client.application)
    assert len(rows) == 2 and len(names) == 1


def owner(client):
    """The owner a test client's cookie makes it."""
    return "anon:" + client.get_cookie("webui_owner").value


def test_only_the_owner_gets_an_attachment(server, app_config):
    add_account(app_config, "alice", "--admin")
    add_account(app_config, "bob")
    alice, bob = signed_in(server, "alice"), signed_in(server, "bob")
    body = upload(alice, image_bytes("PNG"), "mine.png", "image/png").json()
    assert alice.get(f"/api/attachments/{body['id']}").status_code == 200
    missing = bob.get("/api/attachments/no-such-id")
    for path in (f"/api/attachments/{body['id']}", f"/api/attachments/{body['id']}/thumbnail"):
        response = bob.get(path)
        assert response.status_code == 404 and response.json() == missing.json()
        assert response.json()["error"]["code"] == "not_found"
    refused = bob.http.delete(f"{server.url}/api/attachments/{body['id']}", headers={"X-CSRF-Token": bob.csrf_token()}, timeout=10)
    assert refused.status_code == 404
    with server.app.app_context():
        with pytest.raises(UserError) as error:
            attachments.for_message(get_db(), "user:bob", [body["id"]])
    assert error.value.code == "not_found"
    assert len(stored(server.app)[0]) == 1
    assert opened(alice.get(f"/api/attachments/{body['id']}").content).format == "PNG"
    # Without a session the API asks to sign in.
    assert server.app.test_client().get(f"/api/attachments/{body['id']}").status_code == 401


def test_an_unsent_upload_can_be_deleted_a_sent_one_cannot(client):
    client.get("/")
    unsent, sent = (upload(client, f"file {n}".encode(), f"{n}.txt", "text/plain").json for n in (1, 2))
    with client.application.app_context():
        db = get_db()
        conversation_id = conversations.create_conversation(db, owner(client), "t")
        message_id = conversations.add_message(db, conversation_id, None, "user", "see the file")
        attachments.link(db, message_id, [sent["id"]])
    assert client.delete(f"/api/attachments/{unsent['id']}").status_code == 204
    refused = client.delete(f"/api/attachments/{sent['id']}")
    assert refused.status_code == 409 and refused.json["error"]["code"] == "in_use"
    rows, links, names = stored(client.application)
    assert [row[0] for row in rows] == [sent["id"]] and len(links) == 1 and names == [rows[0][2]]
    assert fetch(client, unsent["id"]).status_code == 404


def test_what_the_chat_path_calls(client):
    client.get("/")
    ids = [upload(client, image_bytes("PNG", color=(1, 2, 3)), "dot.png", "image/png").json["id"]]
    ids.append(upload(client, b"some text", "a.txt", "text/plain").json["id"])
    with client.application.app_context():
        db = get_db()
        image, text = attachments.for_message(db, owner(client), ids)
        assert (image.kind, image.media_type, opened(image.data).getpixel((0, 0))) == ("image", "image/png", (1, 2, 3))
        assert (text.kind, text.text, text.data) == ("text", "some text", None)
        conversation_id = conversations.create_conversation(db, owner(client), "t")
        message_id = conversations.add_message(db, conversation_id, None, "user", "two files")
        attachments.link(db, message_id, ids[::-1])
        carried = attachments.of_messages(db, [message_id, "another"])
        assert [a["id"] for a in carried[message_id]] == ids[::-1] and list(carried) == [message_id]
        for refused in (ids + ids[:1], ["x"] * 11, ids[:1] + ["not-an-id"]):
            with pytest.raises(UserError) as error:
                attachments.for_message(db, owner(client), refused)
            assert error.value.code in ("bad_request", "not_found") and error.value.message


@pytest.fixture
def two_uploads_a_minute(app_config):
    """WEBUI_UPLOADS_PER_MINUTE = 2."""
    app_config["WEBUI_UPLOADS_PER_MINUTE"] = 2


def test_uploads_past_the_rate_are_refused_before_their_body_is_read(two_uploads_a_minute, app, client):
    answers = [upload(client, b"note %d" % n, f"n{n}.txt", "text/plain") for n in range(3)]
    assert [a.status_code for a in answers] == [201, 201, 429]
    assert answers[2].json["error"]["code"] == "rate_limited"
    assert [row[3] for row in stored(app)[0]] == ["n0.txt", "n1.txt"]
