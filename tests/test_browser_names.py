"""How the page names providers and writes numbers: as its pickers and its language do, in Details and in Check
providers."""
import re

from browser import answers, choose, open_chat, send, wait_until_idle
from databases import run_sql
from playwright.sync_api import expect

# The picker's labels by the providers' internal names, as the page's language gives them.
LABELS = """async () => {
  const response = await fetch("/api/providers");
  return Object.fromEntries((await response.json()).providers.map((p) => [p.name, p.label]));
}"""


def test_details_name_the_provider_as_the_picker_does(page, server):
    open_chat(page, server, "/?lang=ru")
    choose(page, "testing", "echo")
    send(page, "hello")
    wait_until_idle(page)
    # As if the local model had answered: the page is opened again with that answer, before its providers' list has loaded.
    run_sql(server.app, "UPDATE messages SET provider = 'local' WHERE role = 'assistant'")
    page.reload()
    answers(page).last.get_by_role("button", name="Подробности").click()
    expect(answers(page).last.locator(".meta")).to_have_text(re.compile(r"^Локальная \(llama\.cpp\) · echo · первый токен через \d[\d\u00a0]* мс$"))


def test_check_providers_names_them_as_the_picker_does_with_the_pages_numbers(page, server):
    open_chat(page, server, "/?lang=ru")
    labels = page.evaluate(LABELS)
    page.click("#check-providers")
    results = page.locator("#check-results li")
    expect(results).to_have_count(len(labels), timeout=60_000)
    named = {text.split(": ", 1)[0]: text for text in results.all_inner_texts()}
    assert sorted(named) == sorted(labels.values())
    assert labels["local"] == "Локальная (llama.cpp)"
    assert re.fullmatch(r"testing: работает, первый фрагмент через \d[\d\u00a0]* мс, \d[\d\u00a0]*,\d фрагм\./с", named["testing"])
