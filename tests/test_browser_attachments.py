"""Attachments in the composer, in English and Russian: attached by the paperclip, dropped or pasted, shown as chips
that upload at once and can be removed; files the server refuses say why on their chip."""
import base64
import re

import pytest
from attachment_files import image_bytes, stored
from browser import open_chat, screenshot
from playwright.sync_api import expect

from test_attachments_providers import SEEING, module
from test_browser_conversations import page_fetch

LANGUAGES = pytest.mark.parametrize("lang", ["en", "ru"])
WORDS = {
    "en": {
        "attach": "Attach files",
        "image": re.compile(r"^Image · 64\u00a0×\u00a048 · \d+ B"),
        "text": re.compile(r"^Text file · \d+ B"),
        "not image": "is named or sent as an image, but it is not a PNG, JPEG, WebP or GIF image.",
        "not utf8": "is not UTF-8 text: the byte at position 3 is not valid UTF-8.",
        "limit": "A message may carry at most 2 files. 1 file was not attached.",
        "remove failed": "Remove the files that could not be attached, then send.",
        "wait": "Wait until the files are uploaded, then send.",
        "uploading": "Uploading…",
        "drop": "Drop the files here to attach them to your message",
        "no vision": "echo (testing) does not read images",
        "edit": "Edit",
        "save": "Save and send",
        "close": "Close",
        "saved": "Saved “lab”.",
    },
    "ru": {
        "attach": "Приложить файлы",
        "image": re.compile(r"^Изображение · 64\u00a0×\u00a048 · \d+ Б"),
        "text": re.compile(r"^Текстовый файл · \d+ Б"),
        "not image": "назван или отправлен как изображение, но это не изображение PNG, JPEG, WebP или GIF.",
        "not utf8": "не текст в UTF-8: байт в позиции 3 не является допустимым UTF-8.",
        "limit": "К сообщению можно приложить не больше 2 файлов. 1 файл не приложен.",
        "remove failed": "Уберите файлы, которые не удалось приложить, и отправьте.",
        "wait": "Дождитесь, пока файлы загрузятся, и отправьте.",
        "uploading": "Загрузка…",
        "drop": "Отпустите файлы здесь, чтобы приложить их к сообщению",
        "no vision": "echo (testing) не",
        "edit": "Изменить",
        "save": "Сохранить и отправить",
        "close": "Закрыть",
        "saved": "«lab» сохранено.",
    },
}
PNG = image_bytes("PNG")
NOTES = b"shopping list\n- milk\n- bread\n"
@pytest.fixture
def app_config(app_config, providers_dir):
    """The test modules, and `seeing`, whose model reads images (it answers "I see.")."""
    (providers_dir / "seeing.py").write_text(SEEING)
    return app_config


def seeing_saw():
    """The messages the image-reading module was sent, request by request."""
    return module("seeing").seen

# Files made in the page from their bytes (base64), in a DataTransfer, as a drag or a paste brings them.
DATA_TRANSFER = """(files) => {
  const transfer = new DataTransfer();
  for (const { name, type, data } of files) {
    const bytes = Uint8Array.from(atob(data), (char) => char.charCodeAt(0));
    transfer.items.add(new File([bytes], name, { type }));
  }
  return transfer;
}"""


def page_files(*files):
    """(name, type, bytes) as the page's DATA_TRANSFER takes them."""
    return [{"name": name, "type": kind, "data": base64.b64encode(data).decode()} for name, kind, data in files]


def chooser_files(*files):
    """(name, type, bytes) as Playwright's file chooser takes them."""
    return [{"name": name, "mimeType": kind, "buffer": data} for name, kind, data in files]


def chips(page):
    """The chips of the files the next message is to carry."""
    return page.locator("#attachments .chip")


def attach_with_the_button(page, lang, *files):
    """Click the paperclip and pick `files` in the file chooser it opens."""
    with page.expect_file_chooser() as chooser:
        page.get_by_label(WORDS[lang]["attach"]).click()
    assert chooser.value.is_multiple()
    chooser.value.set_files(chooser_files(*files))


def uploaded_ids(page, count, attach):
    """The ids the server gave the next `count` uploads that `attach()` starts, by file name."""
    ids = {}

    def collect(response):
        """Note the id of an upload the server took."""
        if response.request.method == "POST" and response.url.endswith("/api/attachments") and response.status == 201:
            ids[response.json()["name"]] = response.json()["id"]

    page.on("response", collect)
    attach()
    expect(chips(page).and_(page.locator("[data-state='ready']"))).to_have_count(count)
    page.remove_listener("response", collect)
    return ids


def thumbnail_loaded(chip):
    """Whether the chip's thumbnail is a decoded image."""
    return chip.locator("img").evaluate("(image) => image.complete && image.naturalWidth > 0")


@LANGUAGES
def test_the_paperclip_attaches_files_as_chips_with_thumbnails(page, server, lang):
    """Files picked with the paperclip upload at once: each chip says its name, kind, size, and an image shows its
    thumbnail; the server keeps them for their owner."""
    open_chat(page, server, f"/?lang={lang}")
    ids = uploaded_ids(page, 2, lambda: attach_with_the_button(page, lang, ("photo.png", "image/png", PNG), ("notes.txt", "text/plain", NOTES)))
    image, text = chips(page).all()
    expect(image.locator(".chip-name")).to_have_text("photo.png")
    expect(image.locator(".chip-note")).to_have_text(WORDS[lang]["image"])
    page.wait_for_function("(chip) => chip.querySelector('img')?.naturalWidth > 0", arg=image.element_handle())
    expect(text.locator(".chip-name")).to_have_text("notes.txt")
    expect(text.locator(".chip-note")).to_have_text(WORDS[lang]["text"])
    expect(text.locator("img")).to_have_count(0)
    expect(page.locator("#send")).to_be_enabled()
    screenshot(page, f"attachments-chips-{lang}")
    for attachment_id in ids.values():
        assert page_fetch(page, "GET", f"/api/attachments/{attachment_id}")[0] == 200


def test_removing_a_chip_deletes_its_upload(page, server):
    """The chip's remove button deletes the unsent upload on the server, and the focus moves to the next chip."""
    open_chat(page, server)
    ids = uploaded_ids(page, 2, lambda: attach_with_the_button(page, "en", ("a.png", "image/png", PNG), ("b.txt", "text/plain", NOTES)))
    with page.expect_response(lambda response: response.request.method == "DELETE") as deleted:
        chips(page).first.get_by_role("button", name="Remove a.png").click()
    assert deleted.value.status == 204 and deleted.value.url.endswith(ids["a.png"])
    expect(chips(page)).to_have_count(1)
    expect(chips(page).get_by_role("button", name="Remove b.txt")).to_be_focused()
    assert [row[0] for row in stored(server.app)[0]] == [ids["b.txt"]]
    with page.expect_response(lambda response: response.request.method == "DELETE"):
        chips(page).get_by_role("button", name="Remove b.txt").click()
    expect(page.locator("#attachments")).to_be_hidden()
    expect(page.locator("#input")).to_be_focused()
    assert stored(server.app)[0] == []


@LANGUAGES
def test_files_dropped_onto_the_page_are_attached(page, server, lang):
    """Files dragged over the page show the drop zone; dropped, they become chips and the zone goes."""
    open_chat(page, server, f"/?lang={lang}")
    transfer = page.evaluate_handle(DATA_TRANSFER, page_files(("dropped.png", "image/png", PNG), ("dropped.txt", "text/plain", NOTES)))
    messages = page.locator("#messages")
    messages.dispatch_event("dragenter", {"dataTransfer": transfer})
    messages.dispatch_event("dragover", {"dataTransfer": transfer})
    expect(page.locator("#drop-zone")).to_be_visible()
    expect(page.locator("#drop-zone")).to_have_text(WORDS[lang]["drop"])
    screenshot(page, f"attachments-drop-zone-{lang}")
    messages.dispatch_event("drop", {"dataTransfer": transfer})
    expect(page.locator("#drop-zone")).to_be_hidden()
    expect(chips(page).locator(".chip-name")).to_have_text(["dropped.png", "dropped.txt"])
    expect(chips(page).and_(page.locator("[data-state='ready']"))).to_have_count(2)


def test_a_drag_that_leaves_the_page_hides_the_drop_zone(page, server):
    """Files dragged over the page and away again leave nothing behind; a drag of text shows no drop zone."""
    open_chat(page, server)
    transfer = page.evaluate_handle(DATA_TRANSFER, page_files(("x.txt", "text/plain", NOTES)))
    messages, box = page.locator("#messages"), page.locator("#input")
    messages.dispatch_event("dragenter", {"dataTransfer": transfer})
    box.dispatch_event("dragenter", {"dataTransfer": transfer})
    messages.dispatch_event("dragleave", {"dataTransfer": transfer})
    expect(page.locator("#drop-zone")).to_be_visible()
    box.dispatch_event("dragleave", {"dataTransfer": transfer})
    expect(page.locator("#drop-zone")).to_be_hidden()
    text = page.evaluate_handle("() => { const t = new DataTransfer(); t.setData('text/plain', 'words'); return t; }")
    messages.dispatch_event("dragenter", {"dataTransfer": text})
    expect(page.locator("#drop-zone")).to_be_hidden()
    expect(chips(page)).to_have_count(0)


@LANGUAGES
def test_a_pasted_image_is_attached(page, server, lang):
    """An image pasted into the message box (as a screenshot copied to the clipboard comes) becomes a chip."""
    open_chat(page, server, f"/?lang={lang}")
    page.fill("#input", "what is in it?")
    pasted = page.evaluate(
        f"""(files) => {{
          const event = new ClipboardEvent("paste", {{ clipboardData: ({DATA_TRANSFER})(files), bubbles: true, cancelable: true }});
          return document.querySelector("#input").dispatchEvent(event);
        }}""",
        page_files(("image.png", "image/png", PNG)),
    )
    assert pasted is False, "the paste of a file is the page's, not the message box's"
    expect(chips(page).locator(".chip-name")).to_have_text(["image.png"])
    expect(chips(page).locator(".chip-note")).to_have_text(WORDS[lang]["image"])
    page.wait_for_function("() => document.querySelector('#attachments img')?.naturalWidth > 0")
    expect(page.locator("#input")).to_have_value("what is in it?")


@LANGUAGES
def test_a_refused_file_says_why_on_its_chip(page, server, page_errors, lang):
    """HTML named .png and a .txt that is not UTF-8 are refused by the server: each chip says why in the page's
    language, the message cannot be sent until they are removed, and nothing of them is stored."""
    open_chat(page, server, f"/?lang={lang}")
    attach_with_the_button(
        page, lang, ("page.png", "image/png", b"<html><script>alert(1)</script></html>"), ("latin1.txt", "text/plain", b"caf\xe9s \xff and more")
    )
    failed = chips(page).and_(page.locator("[data-state='failed']"))
    expect(failed).to_have_count(2)
    expect(failed.first.locator(".chip-note")).to_contain_text(WORDS[lang]["not image"])
    expect(failed.first.locator(".chip-note")).to_have_attribute("role", "alert")
    expect(failed.last.locator(".chip-note")).to_contain_text(WORDS[lang]["not utf8"])
    # The reason shows in two lines at most, so the tray never cuts it; all of it is the note's title.
    note = failed.first.locator(".chip-note")
    reason = note.text_content()
    expect(note).to_have_attribute("title", reason)
    assert note.evaluate("(note) => note.clientHeight <= 2 * parseFloat(getComputedStyle(note).lineHeight) + 1")
    page.fill("#input", "with broken files")
    page.press("#input", "Enter")
    # The notice names the first refused file and why.
    expect(page.locator("#notice")).to_have_text(f"{reason} {WORDS[lang]['remove failed']}")
    expect(page.locator(".message")).to_have_count(0)
    expect(page.locator("#input")).to_have_value("with broken files")
    screenshot(page, f"attachments-refused-{lang}")
    for left in (1, 0):
        chips(page).first.locator(".chip-remove").click()
        expect(chips(page)).to_have_count(left)
    assert stored(server.app) == ([], [], [])
    # Chromium logs every request answered with an error status.
    page_errors[:] = [error for error in page_errors if not re.search(r"status of (415|422)\b", error)]


@LANGUAGES
def test_no_more_files_than_a_message_may_carry(page, server, lang):
    """Past WEBUI_MAX_ATTACHMENTS_PER_MESSAGE the page attaches no more files, and says so; a chip removed makes
    room again."""
    server.app.config["WEBUI_MAX_ATTACHMENTS_PER_MESSAGE"] = 2
    open_chat(page, server, f"/?lang={lang}")
    files = [(f"{n}.txt", "text/plain", NOTES) for n in range(3)]
    attach_with_the_button(page, lang, *files)
    expect(page.locator("#notice")).to_have_text(WORDS[lang]["limit"])
    expect(chips(page).locator(".chip-name")).to_have_text(["0.txt", "1.txt"])
    expect(chips(page).and_(page.locator("[data-state='ready']"))).to_have_count(2)
    assert len(stored(server.app)[0]) == 2
    chips(page).first.locator(".chip-remove").click()
    attach_with_the_button(page, lang, files[2])
    expect(chips(page).locator(".chip-name")).to_have_text(["1.txt", "2.txt"])


@LANGUAGES
def test_send_waits_for_the_uploads(page, server, lang):
    """While a file uploads its chip says so and Send is disabled; Enter says to wait; then Send is back."""
    held = []
    page.route(re.compile(r"/api/attachments$"), lambda route: held.append(route))
    open_chat(page, server, f"/?lang={lang}")
    page.fill("#input", "soon")
    attach_with_the_button(page, lang, ("big.txt", "text/plain", NOTES * 1000))
    expect(chips(page).first).to_have_attribute("data-state", "uploading")
    expect(chips(page).first.locator(".chip-note")).to_contain_text(WORDS[lang]["uploading"])
    expect(chips(page).first.locator("progress")).to_be_visible()
    expect(page.locator("#send")).to_be_disabled()
    page.press("#input", "Enter")
    expect(page.locator("#notice")).to_have_text(WORDS[lang]["wait"])
    expect(page.locator(".message")).to_have_count(0)
    assert len(held) == 1
    held[0].continue_()
    expect(chips(page).first).to_have_attribute("data-state", "ready")
    expect(page.locator("#send")).to_be_enabled()
    expect(page.locator("#input")).to_have_value("soon")
