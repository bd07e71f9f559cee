"""A synthetic provider for the benchmarks: chunks on a schedule, each stamped with the time it was produced.

Drop this file into WEBUI_PROVIDERS_DIR. The model name picks the shape, two options set the schedule:

- model "rate":     `max_tokens` chunks (default 100) at `seed` chunks per second (default 50);
- model "burst":    `max_tokens` chunks as fast as the server takes them;
- model "markdown": `max_tokens` Markdown tokens at `seed` tokens per second, without stamps.

`seed` carries the rate because the other whitelisted integer option, top_k, stops at 1000 and
the render benchmark needs 2,000 tokens per second. The last user message may carry the same
settings as words, e.g. "model=markdown max_tokens=20000 seed=2000", for clients that send no
options (the chat page); words override the frame.

Stamps ("rate" and "burst"): chunk i is "\\x1e<time.time_ns() when produced>\\x1f<i> ", and the
first chunk starts with "\\x1c<time.time_ns() when the generator started>\\x1f", so a client on
the same machine computes received - produced per chunk and can subtract the provider's own
time to first chunk. A frame may hold several chunks; read_stamps() returns them all.
"""
import re
import time

url = "http://127.0.0.1/synthetic"
model = ["rate", "burst", "markdown"]
supports_stream = True
needs_auth = False

DEFAULT_CHUNKS = 100
DEFAULT_RATE = 50
SETTING = re.compile(r"\b(model|max_tokens|seed)=(\w+)")
STAMP = re.compile("\x1c(\\d+)\x1f|\x1e(\\d+)\x1f(\\d+) ")

# One section of a Markdown answer with the constructs a renderer must handle; "{n}" numbers the section.
SECTION = """## Section {n}

Streaming answers arrive **token by token**, and the page must keep up with `inline code`, *emphasis*, lists, tables and code.

- the first item says a little
- the second item links [somewhere](https://example.invalid/{n})
- the third item closes the list

```python
def section_{n}(values):
    return [value * {n} for value in values if value]
```

| column | value |
| --- | --- |
| section | {n} |
| tokens | many |

"""
SECTION_TOKENS = re.findall(r"\S+\s*|\s+", SECTION)


def markdown_token(index):
    """Token `index` of an endless Markdown answer made of numbered sections."""
    section, offset = divmod(index, len(SECTION_TOKENS))
    return SECTION_TOKENS[offset].replace("{n}", str(section + 1))


class Plan:
    """The schedule of one answer: its shape, how many chunks, and when each is due."""

    def __init__(self, shape, count, rate):
        """Start the plan's clock now: the provider's own time to first chunk counts from here."""
        if shape not in model:
            raise ValueError(f"unknown synthetic model {shape!r}")
        self.shape = shape
        self.count = max(0, count)
        self.interval = 0.0 if shape == "burst" else 1.0 / max(1, rate)
        self.started_ns = time.time_ns()

    @classmethod
    def read(cls, model_name, messages, options):
        """Build the plan from the model name, the options and any settings in the last user message."""
        settings = {
            "model": model_name,
            "max_tokens": options.get("max_tokens", DEFAULT_CHUNKS),
            "seed": options.get("seed", DEFAULT_RATE),
        }
        last = next((m["content"] for m in reversed(messages) if m.get("role") == "user"), "")
        settings.update(SETTING.findall(last))
        return cls(settings["model"], int(settings["max_tokens"]), int(settings["seed"]))

    def due(self, index):
        """Seconds after the start at which chunk `index` is due."""
        return index * self.interval

    def chunk(self, index):
        """The text of chunk `index`, stamped with the time it is produced."""
        if self.shape == "markdown":
            return markdown_token(index)
        text = f"\x1e{time.time_ns()}\x1f{index} "
        return f"\x1c{self.started_ns}\x1f{text}" if index == 0 else text


def read_stamps(text):
    """Return (generator start in ns or None, [(produced ns, chunk index), ...]) found in `text`."""
    started = None
    chunks = []
    for match in STAMP.finditer(text):
        if match[1]:
            started = int(match[1])
        else:
            chunks.append((int(match[2]), int(match[3])))
    return started, chunks


def _create_completion(model: str, messages: list, stream: bool, **kwargs):
    plan = Plan.read(model, messages, kwargs)
    begin = time.monotonic()
    for index in range(plan.count):
        # An absolute schedule: a late chunk does not push the later ones back.
        wait = begin + plan.due(index) - time.monotonic()
        if wait > 0:
            time.sleep(wait)
        yield plan.chunk(index)
