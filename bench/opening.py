"""Figure 6: opening a stored conversation of 1,000 messages in headless Chromium, and the empty page shell as a baseline."""
import json

from . import browser, say, servers
from .providers.synthetic import SECTION

SIZES = {"tiny": {"runs": 1}, "small": {"runs": 3}, "full": {"runs": 5}}
MESSAGES = 1000
TARGET_FIRST_PAINT_MS = 300
TARGET_INTERACTIVE_MS = 1000
# Heading, paragraph, list, code block and table of one section of the render benchmark's answer.
BLOCKS = SECTION.strip().split("\n\n")
# Long tasks seen up to this long after everything else was ready count against "fully interactive" too.
QUIET_MS = 500
WAIT_MS = 30000
FCP = "performance.getEntriesByName('first-contentful-paint')"
SHELL_READY = f"() => window.__bench.inputAt !== null && window.__bench.openAt !== null && {FCP}.length > 0"
OPENED = ("() => window.__bench.inputAt !== null && window.__bench.openAt !== null"
          " && window.__bench.opening.paintedAt !== null && window.__bench.opening.renderedAt !== null")
# Injected after probe.js. Every time is performance.now(), whose origin is the navigation's start.
# paintedAt: the conversation's last message is in #messages with its Markdown rendered (no `.raw` left) and
# inside the visible part of the list, whether in the server's copy of the newest messages or in the page's own
# views, checked in each animation frame; the timeout set in that frame's callback runs once the frame has been
# painted. renderedAt: the end of the task after which all the messages are in
# the list and none is raw any more (a MutationObserver's callback runs as soon as the task that changed the
# page has run its script).
OPENING_PROBE = """(() => {
  const opening = (window.__bench.opening = { paintedAt: null, renderedAt: null });
  const [marker, count] = [%s, %d];
  const list = () => document.getElementById("messages");
  function endInView() {
    const end = list()?.querySelector(".message:last-child");
    if (!end || end.querySelector(".raw") || !end.textContent.includes(marker)) return false;
    const [box, view] = [end.getBoundingClientRect(), list().getBoundingClientRect()];
    return box.bottom > view.top && box.top < view.bottom;
  }
  function watchPaint() {
    if (endInView()) setTimeout(() => { opening.paintedAt = performance.now(); });
    else requestAnimationFrame(watchPaint);
  }
  requestAnimationFrame(watchPaint);
  new MutationObserver((_, observer) => {
    if (list()?.querySelectorAll(".message").length !== count || list().querySelector(".raw")) return;
    opening.renderedAt = performance.now();
    observer.disconnect();
  }).observe(document, { subtree: true, childList: true, attributes: true, attributeFilter: ["class"] });
})();"""
# After the wait: what is on the page, to check the conversation really opened whole and scrolled to its end,
# and when the page, which carries the conversation, had arrived.
OUTCOME = """async (quiet) => {
  await new Promise((done) => setTimeout(done, quiet));
  const list = document.getElementById("messages");
  const page = performance.getEntriesByType("navigation")[0];
  return { ...window.__bench, messages: list.querySelectorAll(".message").length, raw: list.querySelectorAll(".raw").length,
           atBottom: list.scrollHeight - list.scrollTop - list.clientHeight < 50, dataAt: page.responseEnd };
}"""


def question(n):
    """The n-th question of the seeded conversation: one line, or a few in every third."""
    if n % 3:
        return f"Question {n}: what does section {n} change in the list, and why?"
    return f"Question {n}: a longer one.\nHere is what I tried:\n\n    run section {n}\n\nIt printed nothing. What is missing?"


def answer(n):
    """The n-th answer, Markdown that starts with `Answer n.`: paragraphs and a list, now and then code or a table."""
    heading, paragraph, items, code, table = (block.replace("{n}", str(n)) for block in BLOCKS)
    parts = [f"Answer {n}. {paragraph}", items]
    if n % 2:
        parts.append(paragraph)
    if n % 3 == 0:
        parts.append(code)
    if n % 5 == 0:
        parts += [heading, table]
    return "\n\n".join(parts)


def conversation(count):
    """`count` messages alternating between question and answer, as an OpenAI messages list."""
    return [{"role": "user", "content": question(n // 2 + 1)} if n % 2 == 0
            else {"role": "assistant", "content": answer(n // 2 + 1)} for n in range(count)]


def last_marker(count):
    """Text that only the last message of an even `count`, an answer, contains once rendered."""
    return f"Answer {count // 2}."


def open_page(chromium, url):
    """Load the page in a fresh context and type into #input at once: first paint and when it could send."""
    with browser.probed_page(chromium) as page:
        browser.settle()
        page.goto(url, wait_until="commit")
        page.locator("#input").press("x")
        page.wait_for_function(SHELL_READY, polling=50, timeout=15000)
        probe = page.evaluate(f"() => ({{...window.__bench, fcp: {FCP}[0].startTime}})")
    # Interactive: a keystroke in #input was handled and the socket is open, so a message could be sent.
    return {"first_paint_ms": probe["fcp"], "interactive_ms": max(probe["inputAt"], probe["openAt"])}


def open_conversation(chromium, url, count):
    """Seed `count` messages as this context's owner, open them at /c/<id> with a keystroke at once, and time it."""
    with browser.probed_page(chromium) as page:
        # The context's own request API shares its cookie jar, so the webui_owner cookie the import sets makes
        # the page the conversation's owner. Without an Origin header the server asks for no CSRF token.
        response = page.context.request.post(f"{url}api/conversations/import", data=conversation(count))
        if response.status != 201:
            raise RuntimeError(f"the import was refused: {response.status} {response.text()[:500]}")
        page.add_init_script(OPENING_PROBE % (json.dumps(last_marker(count)), count))
        conversation_id = response.json()["id"]
        # The conversation was stored long before someone opens it: the import's and the new tab's work is over.
        browser.settle()
        page.goto(f"{url}c/{conversation_id}", wait_until="commit")
        page.locator("#input").press("x")
        page.wait_for_function(OPENED, polling=50, timeout=WAIT_MS)
        probe = page.evaluate(OUTCOME, QUIET_MS)
    if probe["messages"] != count or probe["raw"] or not probe["atBottom"]:
        raise RuntimeError(f"the conversation did not open whole at its end: {probe['messages']} of {count} messages, "
                           f"{probe['raw']} not rendered, at the bottom: {probe['atBottom']}")
    opening = probe["opening"]
    tasks_end = max((t["start"] + t["duration"] for t in probe["longtasks"]), default=0.0)
    # Fully interactive: the end painted, every message rendered, the socket open, a keystroke in #input
    # handled, and the last long task (seen until QUIET_MS after the rest) over.
    return {
        "first_paint_ms": opening["paintedAt"],
        "interactive_ms": max(opening["paintedAt"], opening["renderedAt"], probe["openAt"], probe["inputAt"], tasks_end),
        "data_ms": probe["dataAt"],
        "rendered_ms": opening["renderedAt"],
        "open_ms": probe["openAt"],
        "input_ms": probe["inputAt"],
        "long_tasks_end_ms": tasks_end,
        "longest_task_ms": max((t["duration"] for t in probe["longtasks"]), default=0.0),
        "long_tasks": len(probe["longtasks"]),
    }


def run(size, report):
    """Each run opens the seeded conversation in a fresh context, then the empty page shell in another."""
    runs = {"conversation": [], "shell": []}
    with servers.serve("dev") as server, browser.chromium() as chromium:
        for number in range(SIZES[size]["runs"]):
            say(f"opening: {MESSAGES} messages and the page shell, run {number + 1}/{SIZES[size]['runs']}")
            runs["conversation"].append(open_conversation(chromium, server.url, MESSAGES))
            runs["shell"].append(open_page(chromium, server.url))
    report.details["opening"] = {"messages": MESSAGES, "quiet_ms": QUIET_MS, "runs": runs}
    opened = runs["conversation"]
    report.add(6, "conversation_first_paint_ms", "open a 1,000-message conversation: first paint", "ms",
               [r["first_paint_ms"] for r in opened], ("<=", TARGET_FIRST_PAINT_MS))
    report.add(6, "conversation_interactive_ms", "open a 1,000-message conversation: fully interactive", "ms",
               [r["interactive_ms"] for r in opened], ("<=", TARGET_INTERACTIVE_MS))
    report.add(6, "conversation_data_ms", "open a 1,000-message conversation: the page, which carries it, received",
               "ms", [r["data_ms"] for r in opened], note="a floor for first paint: then the scripts, then the render")
    report.add(6, "conversation_longest_task_ms", "open a 1,000-message conversation: longest main-thread task", "ms",
               [r["longest_task_ms"] for r in opened])
    note = "baseline for figure 6, not figure 6"
    report.add(6, "shell_first_paint_ms", "page shell, no conversation: first contentful paint", "ms",
               [r["first_paint_ms"] for r in runs["shell"]], note=note)
    report.add(6, "shell_interactive_ms", "page shell, no conversation: interactive", "ms",
               [r["interactive_ms"] for r in runs["shell"]], note=note)
