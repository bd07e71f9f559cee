"""A provider module for the tests, written to the classic contract."""
import threading
import time

url = "http://127.0.0.1/testing"
model = ["echo", "slow", "fail_midway", "fail_with_secret", "silent"]
supports_stream = True
needs_auth = False

# What the tests look at: generators that started and whose finally ran, and the kwargs seen.
started = []
closed = []
seen_kwargs = []
closed_event = threading.Event()


def _create_completion(model: str, messages: list, stream: bool, **kwargs):
    seen_kwargs.append(kwargs)
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
    finally:
        closed.append(model)
        closed_event.set()
