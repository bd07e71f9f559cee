"""Figure 5: a long Markdown answer streamed into the chat page in headless Chromium, against a naive renderer."""
import time

from playwright.sync_api import TimeoutError as PageTimeout

from . import browser, say, servers
from .providers.synthetic import markdown_token

SIZES = {
    "tiny": {"tokens": 400, "rate": 2000, "runs": 1},
    "small": {"tokens": 4000, "rate": 2000, "runs": 2},
    "full": {"tokens": 20000, "rate": 2000, "runs": 3},
}
VARIANTS = ("product", "naive")
TARGET_RATIO = 1.2
TARGET_TASK_MS = 50
# A page that falls behind is cut off after this long, and its figure becomes a lower bound.
WAIT_FACTOR = 4
MIN_WAIT_S = 30
# The page sends no options, so the schedule travels in the message (see providers/synthetic.py).
PROMPT = "model=markdown max_tokens={tokens} seed={rate}"


def wait_limit_s(tokens, rate):
    """How long to wait for a page to finish the answer before calling its time a lower bound."""
    return max(MIN_WAIT_S, WAIT_FACTOR * tokens / rate)


def one_answer(chromium, url, tokens, rate, variant):
    """Type the prompt, press Enter, and wait (bounded) until the finished answer has been painted."""
    stream_ms = tokens / rate * 1000
    with browser.probed_page(chromium, naive=variant == "naive") as page:
        page.goto(url)
        # The page starts a new conversation once its pickers have loaded, which would drop an answer begun sooner.
        page.wait_for_function("() => window.__bench.openAt !== null && document.querySelector('#model option')",
                               timeout=15000)
        # A comparison with the product itself would say nothing: the naive module is the one loading this URL.
        naive = page.evaluate("() => performance.getEntriesByType('resource')"
                              ".some((entry) => entry.name.endsWith('/markdown.js?product'))")
        renderer = "naive" if naive else "product"
        if renderer != variant:
            raise RuntimeError(f"the {variant} run rendered with the {renderer} renderer")
        page.fill("#input", PROMPT.format(tokens=tokens, rate=rate))
        page.press("#input", "Enter")
        started = time.monotonic()
        try:
            page.wait_for_function("() => window.__bench.renderedAt !== null", polling=100,
                                   timeout=wait_limit_s(tokens, rate) * 1000)
        except PageTimeout:
            # A page this far behind answers nothing until its backlog is done, so ask it nothing:
            # closing the context ends it, and the elapsed time is a lower bound.
            render_ms = (time.monotonic() - started) * 1000
            return {"renderer": renderer, "finished": False, "render_ms": render_ms, "stream_ms": stream_ms,
                    "ratio": render_ms / stream_ms, "longest_task_ms": None}
        probe = page.evaluate("() => window.__bench")
        headings = page.evaluate("() => [...document.querySelectorAll('.message.assistant')].at(-1)"
                                 "?.querySelectorAll('.content h2').length ?? 0")
    text = "".join(markdown_token(i) for i in range(tokens))
    final = probe["final"] or {}
    if final.get("reason") != "complete" or probe["chars"] != len(text):
        raise RuntimeError(f"the answer did not arrive whole: {final}, {probe['chars']} of {len(text)} characters")
    # The probe only watches the socket: this is what says the page showed the whole answer, as Markdown.
    if headings != text.count("## "):
        raise RuntimeError(f"the page shows {headings} of the answer's {text.count('## ')} headings")
    render_ms = probe["renderedAt"] - probe["sentAt"]
    tasks = [t["duration"] for t in probe["longtasks"] if t["start"] >= probe["sentAt"]]
    return {
        "renderer": renderer,
        "finished": True,
        "render_ms": render_ms,
        "stream_ms": stream_ms,
        "server_stream_ms": final["stats"]["duration_ms"],
        "ratio": render_ms / stream_ms,
        "longest_task_ms": max(tasks, default=0.0),
        "long_tasks": len(tasks),
        "deltas": probe["deltas"],
    }


def unfinished_note(runs, limit_s):
    """Say when some runs were cut off, which makes their numbers lower bounds."""
    cut = sum(not r["finished"] for r in runs)
    return f"lower bound: {cut} of {len(runs)} runs still rendering when cut off at {limit_s:.0f} s" if cut else None


def run(size, report):
    """Each run streams the same answer into the product page and into the naive variant, one after the other."""
    config = SIZES[size]
    runs = {name: [] for name in VARIANTS}
    with servers.serve("dev", env={"WEBUI_DEFAULT_PROVIDER": "synthetic"}) as server, browser.chromium() as chromium:
        for number in range(config["runs"]):
            for name in VARIANTS:
                say(f"render: {name} run {number + 1}/{config['runs']}")
                runs[name].append(one_answer(chromium, server.url, config["tokens"], config["rate"], name))
    report.details["render"] = {**config, "runs": runs}
    where = f"{config['tokens']} tokens at {config['rate']}/s"
    limit_s = wait_limit_s(config["tokens"], config["rate"])
    for name, variant in runs.items():
        product = name == "product"
        unknown = sum(not r["finished"] for r in variant)
        report.add(5, f"render_ratio.{name}", f"render time / stream duration · {name} · {where}", "×",
                   [r["ratio"] for r in variant], ("<=", TARGET_RATIO) if product else None,
                   unfinished_note(variant, limit_s))
        report.add(5, f"longest_task_ms.{name}", f"longest main-thread task · {name}", "ms",
                   [r["longest_task_ms"] for r in variant], ("<=", TARGET_TASK_MS) if product else None,
                   f"unknown for the {unknown} runs cut off" if unknown else None)
    # Only a finished product run gives a denominator; a cut-off naive run makes its ratio a lower bound.
    pairs = [(p, n) for p, n in zip(runs["product"], runs["naive"]) if p["finished"]]
    cut = sum(not n["finished"] for _, n in pairs)
    report.add(5, "naive_over_product", "render time naive / product", "×",
               [n["render_ms"] / p["render_ms"] for p, n in pairs],
               note=f"lower bound: the naive page was cut off in {cut} of {len(pairs)} runs" if cut else None)
