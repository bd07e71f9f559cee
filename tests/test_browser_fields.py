"""The look of the page's fields in a real browser: every text field looks like the others, whatever its type, and
placeholders fit their fields."""
import pytest
from browser import open_chat, phone  # noqa: F401 (fixture)
from playwright.sync_api import expect
from test_auth import add_user
from test_browser_accounts import sign_in
from test_browser_connections import open_connections

# What makes a field the page's own rather than the browser's: its corners, height and border colour.
LOOK = """(selectors) => Object.fromEntries(selectors.map((selector) => {
  const style = getComputedStyle(document.querySelector(selector));
  return [selector, [style.borderTopLeftRadius, style.minHeight, style.borderTopColor]];
}))"""


def looks(page, selectors):
    """Each field's look, by its selector."""
    return page.evaluate(LOOK, selectors)


def test_fields_without_a_type_or_of_type_url_or_password_look_like_the_pages_text_fields(page, app_config, server):
    add_user(app_config, "alice")  # the first account is an admin: it sees Connections
    page.goto(f"{server.url}/login")
    # The sign-in page has no field of type text to compare with: its fields look like the chat page's search box.
    sign_in_fields = looks(page, ["input[name='username']", "input[name='password']"])
    sign_in(page, server, "alice", "en")
    search = looks(page, ["#search"])["#search"]
    assert search[:2] == ["8.8px", "44px"]  # .55rem corners, the touch height: the page's own look
    assert sign_in_fields == {"input[name='username']": search, "input[name='password']": search}

    page.click("#open-api-tokens")
    expect(page.locator("#api-token-name")).to_be_visible()
    tokens = looks(page, ["#api-token-name", "#api-token-value"])
    page.click("#api-tokens-close")
    open_connections(page)
    page.click("#connection-add")
    expect(page.locator("#connection-form")).to_be_visible()
    form = looks(page, ["#connection-name", "#connection-base_url", "#connection-api_key", "#connection-model-typed"])
    assert {**tokens, **form} == dict.fromkeys([*tokens, *form], search)




# How much wider than its field's content box each placeholder is, in pixels (0 when it fits), measured in the
# field's font. A number field's spin buttons take about 15 px of the box in Chromium.
OVERFLOW = """(selectors) => {
  const context = document.createElement("canvas").getContext("2d");
  return Object.fromEntries(selectors.map((selector) => {
    const field = document.querySelector(selector);
    const style = getComputedStyle(field);
    context.font = `${style.fontWeight} ${style.fontSize} ${style.fontFamily}`;
    const spin = field.type === "number" ? 16 : 0;
    const room = field.clientWidth - parseFloat(style.paddingLeft) - parseFloat(style.paddingRight) - spin;
    return [selector, Math.max(0, Math.ceil(context.measureText(field.placeholder).width - room))];
  }));
}"""
PLACEHOLDERS = ["#input", "#search", "#system-prompt", "#preset-name", "#option-stop"] + [
    f"#option-{option}" for option in ("temperature", "max_tokens", "top_p", "top_k", "min_p", "repeat_penalty", "seed")
]


@pytest.mark.parametrize("lang", ["en", "ru"])
def test_placeholders_fit_their_fields_on_a_desktop_and_a_phone(page, phone, server, lang):
    for shown in (page, phone):
        open_chat(shown, server, f"/?lang={lang}")
        shown.click("#settings-toggle")
        expect(shown.locator("#settings")).to_be_visible()
        assert shown.evaluate(OVERFLOW, PLACEHOLDERS) == dict.fromkeys(PLACEHOLDERS, 0)


def test_the_message_box_keeps_its_placeholder_on_one_line(phone, server):
    """Should a language's placeholder not fit a narrow phone, it is cut on its one row rather than wrapped below it."""
    open_chat(phone, server)
    assert phone.evaluate("() => getComputedStyle(document.querySelector('#input'), '::placeholder').whiteSpace") == "nowrap"
