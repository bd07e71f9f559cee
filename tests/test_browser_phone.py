"""Room for the conversation on a phone (390×844): the demo model's note can be closed for good, and Settings is a
sheet of its own rather than a panel that leaves the chat a strip."""
import json

from browser import PHONE, choose, open_chat, phone, screenshot  # noqa: F401 (fixture)
from playwright.sync_api import expect
from test_browser_conversations import page_fetch

from webui.providers.local import bundled_model_path


def overlap(one, other):
    """Whether two bounding boxes share any area."""
    return (one["x"] < other["x"] + other["width"] and other["x"] < one["x"] + one["width"]
            and one["y"] < other["y"] + other["height"] and other["y"] < one["y"] + one["height"])


def test_the_demo_models_note_closes_and_stays_closed(phone, server):
    open_chat(phone, server)
    choose(phone, "local", bundled_model_path().stem)
    note = phone.locator("#model-note")
    expect(note).to_be_visible()
    screenshot(phone, "phone-note")
    shown = note.bounding_box()["height"]
    top = phone.locator("#messages").bounding_box()["y"]
    phone.get_by_role("button", name="Hide the note about the demo model").click()
    expect(note).to_be_hidden()
    # Its room goes to the conversation.
    assert phone.locator("#messages").bounding_box()["y"] <= top - shown + 1
    expect(phone.locator("#model")).to_be_focused()
    phone.reload()
    expect(phone.locator("#connection")).to_have_attribute("data-state", "online")
    choose(phone, "local", bundled_model_path().stem)
    expect(note).to_be_hidden()
    screenshot(phone, "phone-note-closed")


def test_settings_fill_a_phones_screen_and_close_as_before(phone, server):
    open_chat(phone, server)
    messages = [{"role": "user" if n % 2 == 0 else "assistant", "content": f"line {n}"} for n in range(40)]
    status, body = page_fetch(phone, "POST", "/api/conversations/import", messages)
    assert status == 201, body
    open_chat(phone, server, f"/c/{json.loads(body)['id']}")
    expect(phone.locator("#messages .message")).to_have_count(40)
    # Scrolled up from the end: the button to the end is shown.
    phone.locator("#messages").evaluate("(list) => { list.scrollTop -= 600; }")
    to_bottom = phone.locator("#to-bottom")
    expect(to_bottom).to_be_visible()
    phone.click("#settings-toggle")
    panel = phone.locator("#settings")
    expect(panel).to_be_visible()
    box = panel.bounding_box()
    assert box["y"] <= 0 and box["y"] + box["height"] >= PHONE["height"], box
    assert box["x"] <= 0 and box["x"] + box["width"] >= PHONE["width"], box
    arrow = to_bottom.bounding_box()
    assert arrow is None or not overlap(arrow, box), (arrow, box)
    expect(phone.locator("#settings-close")).to_be_in_viewport()
    screenshot(phone, "phone-settings")
    phone.click("#settings-close")
    expect(panel).to_be_hidden()
    expect(phone.locator("#settings-toggle")).to_be_focused()
    expect(to_bottom).to_be_visible()
    # Esc closes it too.
    phone.click("#settings-toggle")
    expect(panel).to_be_visible()
    phone.keyboard.press("Escape")
    expect(panel).to_be_hidden()
