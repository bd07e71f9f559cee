"""The look of the page's fields in a real browser: every text field looks like the others, whatever its type."""
from playwright.sync_api import expect
from test_auth import add_user
from test_browser_connections import open_connections, sign_in

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

