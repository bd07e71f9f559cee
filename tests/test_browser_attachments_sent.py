"""Messages sent with files, in English and Russian: the model gets them, and they show after a reload, an edit, an
export and import, on a phone; a model that reads no images is refused them."""
import json
import re

from browser import answers, choose, open_chat, phone, screenshot, wait_until_idle  # noqa: F401
from fake_upstream import upstream, webui  # noqa: F401 (fixtures)
from playwright.sync_api import expect

from test_browser_attachments import app_config  # noqa: F401 (a fixture: the drop-in `seeing` reads images)
from test_browser_attachments import LANGUAGES, NOTES, PNG, WORDS, attach_with_the_button, chips, chooser_files, seeing_saw, uploaded_ids
from test_browser_conversations import page_fetch


def send_with_files(page, lang, text, *files):
    """Attach `files` with the paperclip, wait for their uploads, then send `text` with them and wait for the answer;
    the ids the server gave the files, by name."""
    ids = uploaded_ids(page, len(files), lambda: attach_with_the_button(page, lang, *files))
    page.fill("#input", text)
    page.press("#input", "Enter")
    wait_until_idle(page)
    return ids


def expect_files_shown(page, message, lang):
    """`message` shows photo.png as a loaded thumbnail and notes.txt as a download link with its kind and size."""
    files = message.locator(".attachments li")
    expect(files).to_have_count(2)
    image = files.locator("a.attachment-image img")
    expect(image).to_have_attribute("alt", "photo.png")
    page.wait_for_function("(image) => image.complete && image.naturalWidth > 0", arg=image.element_handle())
    link = files.locator("a.attachment-file")
    expect(link.locator(".attachment-name")).to_have_text("notes.txt")
    expect(link.locator(".attachment-meta")).to_have_text(WORDS[lang]["text"])
    expect(link).to_have_attribute("download", "notes.txt")


@LANGUAGES
def test_a_message_carries_its_files_to_the_model_and_shows_them(page, server, lang):
    """Sent with a message, an image goes to a model that reads images as an image part and a text file as text before
    the message's words; the chips go, and the message shows the files, after a reload too; the image opens full size
    and the text file downloads."""
    open_chat(page, server, f"/?lang={lang}")
    choose(page, "seeing", "eyes")
    send_with_files(page, lang, "what is this?", ("photo.png", "image/png", PNG), ("notes.txt", "text/plain", NOTES))
    expect(page.locator("#attachments")).to_be_hidden()
    question = seeing_saw()[-1][-1]
    assert question["role"] == "user"
    assert question["content"][0] == {"type": "text", "text": "notes.txt\n```\nshopping list\n- milk\n- bread\n```\n\nwhat is this?"}
    assert question["content"][1]["image_url"]["url"].startswith("data:image/png;base64,")
    for reloaded in (False, True):
        if reloaded:
            page.reload()
        sent = page.locator(".message.user")
        expect(sent.locator(".content")).to_have_text("what is this?")
        expect_files_shown(page, sent, lang)
        expect(answers(page).locator(".content")).to_have_text("I see.")
    screenshot(page, f"attachments-sent-{lang}")
    link = page.locator(".message.user a.attachment-file")
    assert page_fetch(page, "GET", link.get_attribute("href")) == (200, NOTES.decode())
    page.locator(".message.user a.attachment-image").click()
    dialog = page.locator("dialog.image-dialog")
    expect(dialog).to_be_visible()
    page.wait_for_function("() => document.querySelector('dialog.image-dialog img').naturalWidth === 64")
    expect(dialog.locator(".image-name")).to_have_text("photo.png")
    screenshot(page, f"attachments-image-{lang}")
    dialog.get_by_role("button", name=WORDS[lang]["close"]).click()
    expect(dialog).to_be_hidden()


def test_files_alone_make_a_message(page, server):
    """A message of files and no words is sent; the conversation is named after its first file."""
    open_chat(page, server)
    choose(page, "seeing", "eyes")
    send_with_files(page, "en", "", ("notes.txt", "text/plain", NOTES))
    expect(page.locator(".message.user .attachments li")).to_have_count(1)
    expect(page.locator(".message.user .content")).to_be_hidden()
    expect(answers(page).locator(".content")).to_have_text("I see.")
    assert seeing_saw()[-1][-1]["content"] == "notes.txt\n```\nshopping list\n- milk\n- bread\n```"
    expect(page.locator("#title")).to_have_text("notes.txt")


@LANGUAGES
def test_an_edit_sends_the_files_again(page, server, lang):
    """An edited message carries the files of the one it replaces, less any removed in the edit; the old version keeps
    all of its files."""
    open_chat(page, server, f"/?lang={lang}")
    choose(page, "seeing", "eyes")
    send_with_files(page, lang, "first", ("photo.png", "image/png", PNG), ("notes.txt", "text/plain", NOTES))
    page.locator(".message.user").get_by_role("button", name=WORDS[lang]["edit"]).click()
    edit = page.locator(".edit-form")
    expect(edit.locator(".chip-name")).to_have_text(["photo.png", "notes.txt"])
    expect(page.locator(".message.user .attachments")).to_be_hidden()
    screenshot(page, f"attachments-edit-{lang}")
    # Typed, not filled: the edit box must take keys (a keydown handler that returned false took them all).
    page.fill(".edit-field", "")
    page.keyboard.type("second")
    edit.locator(".chip").nth(1).locator(".chip-remove").click()
    expect(edit.locator(".chip-name")).to_have_text(["photo.png"])
    edit.get_by_role("button", name=WORDS[lang]["save"]).click()
    wait_until_idle(page)
    assert [part["type"] for part in seeing_saw()[-1][-1]["content"]] == ["text", "image_url"]
    assert seeing_saw()[-1][-1]["content"][0]["text"] == "second"
    page.reload()
    expect(page.locator(".message.user .versions")).to_contain_text("2 / 2")
    expect(page.locator(".message.user .attachments img")).to_have_attribute("alt", "photo.png")
    expect(page.locator(".message.user .attachments li")).to_have_count(1)
    page.locator(".message.user .versions button").first.click()
    expect(page.locator(".message.user .versions")).to_contain_text("1 / 2")
    expect_files_shown(page, page.locator(".message.user"), lang)


@LANGUAGES
def test_an_image_for_a_model_that_reads_none_comes_back_to_the_composer(page, server, lang, testing_provider):
    """An image sent to a text-only model is refused before anything is sent: the words and the chip are back in the
    composer, with the reason; sent to a model that reads images, they go."""
    open_chat(page, server, f"/?lang={lang}")
    choose(page, "testing", "echo")
    started = len(testing_provider().started)
    send_with_files(page, lang, "describe it", ("photo.png", "image/png", PNG))
    expect(page.locator("#notice")).to_contain_text(WORDS[lang]["no vision"])
    expect(page.locator("#input")).to_have_value("describe it")
    expect(chips(page).locator(".chip-name")).to_have_text(["photo.png"])
    expect(chips(page).first).to_have_attribute("data-state", "ready")
    expect(page.locator(".message")).to_have_count(0)
    assert len(testing_provider().started) == started
    screenshot(page, f"attachments-no-vision-{lang}")
    choose(page, "seeing", "eyes")
    page.press("#input", "Enter")
    wait_until_idle(page)
    expect(chips(page)).to_have_count(0)
    expect(page.locator(".message.user .attachments img")).to_have_attribute("alt", "photo.png")
    expect(answers(page).locator(".content")).to_have_text("I see.")


def test_export_and_import_keep_the_files(page, server):
    """A conversation with files exported as JSON and imported again from the sidebar shows the same files, which open
    and download; the Markdown export names them."""
    open_chat(page, server)
    choose(page, "seeing", "eyes")
    send_with_files(page, "en", "keep these", ("photo.png", "image/png", PNG), ("notes.txt", "text/plain", NOTES))
    page.click("#settings-toggle")
    status, exported = page_fetch(page, "GET", page.locator("#export a[data-export='json']").get_attribute("href"))
    assert status == 200
    status, markdown = page_fetch(page, "GET", page.locator("#export a[data-export='md']").get_attribute("href"))
    assert status == 200 and re.search(r"!\[photo\\?\.png\]\(/api/attachments/[\w-]+\)", markdown), markdown
    assert re.search(r"\[notes\\?\.txt\]\(/api/attachments/[\w-]+\)", markdown), markdown
    first = page.url
    page.set_input_files("#import", files=[{"name": "conversation.json", "mimeType": "application/json", "buffer": exported.encode()}])
    expect(page.locator(".conversation-link")).to_have_count(2)
    expect(page).not_to_have_url(first)
    sent = page.locator(".message.user")
    expect(sent.locator(".content")).to_have_text("keep these")
    expect_files_shown(page, sent, "en")
    assert page_fetch(page, "GET", sent.locator("a.attachment-file").get_attribute("href")) == (200, NOTES.decode())
    page.reload()
    expect_files_shown(page, page.locator(".message.user"), "en")
    screenshot(page, "attachments-imported")


def test_attachments_on_a_phone(phone, server):
    """On a phone the chips make one row that scrolls sideways above the message box, which stays in view; a sent
    message shows its files."""
    open_chat(phone, server)
    choose(phone, "seeing", "eyes")
    files = [("photo.png", "image/png", PNG)] + [(f"notes-{n}.txt", "text/plain", NOTES) for n in range(3)]
    phone.set_input_files("#attach-input", files=chooser_files(*files))
    expect(chips(phone).and_(phone.locator("[data-state='ready']"))).to_have_count(4)
    expect(phone.locator("#input")).to_be_in_viewport()
    expect(phone.locator("#send")).to_be_in_viewport()
    tray = phone.locator("#attachments")
    assert tray.evaluate("(tray) => tray.scrollWidth > tray.clientWidth && tray.clientWidth <= window.innerWidth")
    screenshot(phone, "phone-attachments-chips")
    phone.fill("#input", "on the go")
    phone.locator("#send").tap()
    wait_until_idle(phone)
    expect(phone.locator(".message.user .attachments li")).to_have_count(4)
    assert phone.evaluate("() => document.documentElement.scrollWidth <= window.innerWidth")
    screenshot(phone, "phone-attachments-sent")


@LANGUAGES
def test_an_admin_says_which_models_read_images(page, upstream, webui, lang):
    """Settings → Connections says which of a server's models read images (none, all, or those named); an image then
    goes to such a model as an image_url part, and a model not named is refused it."""
    server = webui([])
    open_chat(page, server, f"/?lang={lang}")
    page.click("#settings-toggle")
    page.click("#open-connections")
    page.click("#connection-add")
    page.fill("#connection-name", "lab")
    page.fill("#connection-base_url", upstream.url + "/v1")
    expect(page.locator("input[name='connection-vision'][value='none']")).to_be_checked()
    expect(page.locator("#connection-vision-choice")).to_be_hidden()
    page.check("input[name='connection-vision'][value='chosen']")
    for name in ("fake-model", "vision-two"):
        page.fill("#connection-vision-typed", name)
        page.press("#connection-vision-typed", "Enter")
    screenshot(page, f"connection-vision-{lang}")
    page.click("#connection-save")
    expect(page.locator("#connections-status")).to_have_text(WORDS[lang]["saved"])
    connection = json.loads(page_fetch(page, "GET", "/api/connections")[1])["connections"][0]
    assert connection["vision"] == ["fake-model", "vision-two"]
    page.locator("#connection-list [data-connection='lab']").get_by_role("button").first.click()
    expect(page.locator("input[name='connection-vision'][value='chosen']")).to_be_checked()
    for name in ("fake-model", "vision-two"):
        expect(page.locator(f"#connection-vision-list input[value='{name}']")).to_be_checked()
    page.click("#connection-cancel")
    page.click("#connections-close")

    choose(page, "lab", "other-model")
    send_with_files(page, lang, "and this?", ("photo.png", "image/png", PNG))
    expect(page.locator("#notice")).to_contain_text("other-model (lab)")
    assert upstream.requests_to("/v1/chat/completions") == []
    choose(page, "lab", "fake-model")
    page.press("#input", "Enter")
    wait_until_idle(page)
    parts = upstream.requests_to("/v1/chat/completions")[-1].body["messages"][-1]["content"]
    assert parts[0] == {"type": "text", "text": "and this?"}
    assert parts[1]["image_url"]["url"].startswith("data:image/png;base64,")

    page.click("#open-connections")
    page.locator("#connection-list [data-connection='lab']").get_by_role("button").first.click()
    page.check("input[name='connection-vision'][value='all']")
    page.click("#connection-save")
    # Saved: the form closes (the status still says so from the first save).
    expect(page.locator("#connection-form")).to_be_hidden()
    assert json.loads(page_fetch(page, "GET", "/api/connections")[1])["connections"][0]["vision"] is True
    page.locator("#connection-list [data-connection='lab']").get_by_role("button").first.click()
    page.check("input[name='connection-vision'][value='none']")
    page.click("#connection-save")
    # Saved: the form closes (the status still says so from the first save).
    expect(page.locator("#connection-form")).to_be_hidden()
    assert json.loads(page_fetch(page, "GET", "/api/connections")[1])["connections"][0]["vision"] is False
