"""Figure 6: opening a conversation of 1,000 messages; only the page shell exists to be measured today."""
from . import browser, say, servers

SIZES = {"tiny": {"runs": 1}, "small": {"runs": 3}, "full": {"runs": 5}}
NOT_YET = "not measurable yet: needs conversation storage (issue 4)"
FCP = "performance.getEntriesByName('first-contentful-paint')"
READY = f"() => window.__bench.inputAt !== null && window.__bench.openAt !== null && {FCP}.length > 0"


def open_page(chromium, url):
    """Load the page in a fresh context and type into #input at once: first paint and when it could send."""
    with browser.probed_page(chromium) as page:
        page.goto(url, wait_until="commit")
        page.locator("#input").press("x")
        page.wait_for_function(READY, polling=50, timeout=15000)
        probe = page.evaluate(f"() => ({{...window.__bench, fcp: {FCP}[0].startTime}})")
    # Interactive: a keystroke in #input was handled and the socket is open, so a message could be sent.
    return {"first_paint_ms": probe["fcp"], "interactive_ms": max(probe["inputAt"], probe["openAt"])}


def run(size, report):
    """Mark the figure as not measurable, and measure the empty page it will build on."""
    report.unmeasurable(6, "conversation_first_paint_ms", "open a 1,000-message conversation: first paint", NOT_YET, "≤ 300 ms")
    report.unmeasurable(6, "conversation_interactive_ms", "open a 1,000-message conversation: fully interactive", NOT_YET,
                        "≤ 1000 ms")
    runs = []
    with servers.serve("dev") as server, browser.chromium() as chromium:
        for number in range(SIZES[size]["runs"]):
            say(f"opening: page shell run {number + 1}/{SIZES[size]['runs']}")
            runs.append(open_page(chromium, server.url))
    report.details["opening"] = {"runs": runs}
    note = "baseline for figure 6, not figure 6"
    report.add(6, "shell_first_paint_ms", "page shell, no conversation: first contentful paint", "ms",
               [r["first_paint_ms"] for r in runs], note=note)
    report.add(6, "shell_interactive_ms", "page shell, no conversation: interactive", "ms",
               [r["interactive_ms"] for r in runs], note=note)
