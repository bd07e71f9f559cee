"""A provider module for the tests, written to the classic contract."""
import threading
import time

url = "http://127.0.0.1/testing"
model = ["echo", "slow", "fail_midway", "fail_with_secret", "silent", "markdown", "xss", "numbered", "stall", "flood"]
supports_stream = True
needs_auth = False

# The page's browser tests: a Markdown answer with a table, code and math, and HTML/JS payloads, each sent
# in chunks of a few characters so every intermediate state of the page is rendered too.
MARKDOWN_ANSWER = """# Results

| name | value |
| ---- | ----: |
| alpha | 1 |
| beta | 2 |

```python
def square(x):
    return x * x  # the answer
```

Euler: $e^{i\\pi} + 1 = 0$, and a block:

$$
\\int_0^1 x^2 \\, dx = \\frac{1}{3}
$$

> Done, see [the docs](https://example.invalid/docs).
"""
XSS_ANSWER = """Here: <img src=x onerror="window.__pwned=true"> and <script>window.__pwned=true</script>

[click me](javascript:window.__pwned=true) <a href="javascript:window.__pwned=true">raw link</a>

<svg onload="window.__pwned=true"></svg> ![img](javascript:window.__pwned=true)

<iframe srcdoc="<script>parent.__pwned=true</script>"></iframe>
"""
CHUNK = 3

# What the tests look at: generators that started and whose finally ran, and the kwargs seen.
started = []
closed = []
seen_kwargs = []
seen_messages = []
closed_event = threading.Event()


def _create_completion(model: str, messages: list, stream: bool, **kwargs):
    seen_kwargs.append(kwargs)
    seen_messages.append(messages)
    started.append(model)
    try:
        if model == "echo":
            for word in messages[-1]["content"].split(" "):
                yield word + " "
        elif model == "slow":
            for n in range(2000):
                yield f"tick{n} "
                time.sleep(0.02)
        elif model == "fail_midway":
            yield "partial "
            yield "answer "
            raise RuntimeError("upstream went away")
        elif model == "fail_with_secret":
            yield "x"
            raise RuntimeError("rejected key sk-canary1234567890abcdef")
        elif model == "silent":
            return
        elif model == "stall":
            yield "first "
            time.sleep(3)
        elif model == "flood":
            # As fast as it can, more than socket buffers hold: chunk n is 64 KiB of its own number.
            for n in range(kwargs.get("max_tokens", 10)):
                yield f"{n:08d}" * 8192
        elif model == "numbered":
            # Counts on from a partial answer sent last, so a continued answer is one unbroken count.
            last = messages[-1]
            first = len(last["content"].split()) if last["role"] == "assistant" else 0
            for n in range(first, first + kwargs.get("max_tokens", 10)):
                yield f"n{n} "
                time.sleep(0.005)
        elif model in ("markdown", "xss"):
            text = MARKDOWN_ANSWER if model == "markdown" else XSS_ANSWER
            for start in range(0, len(text), CHUNK):
                yield text[start : start + CHUNK]
                time.sleep(0.002)
    finally:
        closed.append(model)
        closed_event.set()
