"""Figure 4: one stream as fast as the provider can yield, in characters per second, against the bare generator."""
import asyncio
import json
import time

from . import client, frames, measure, say, servers
from .providers import synthetic

SIZES = {
    "tiny": {"chunks": 2000, "runs": 2},
    "small": {"chunks": 65536, "runs": 3},
    "full": {"chunks": 262144, "runs": 5},
}
MESSAGES = [{"role": "user", "content": "go"}]


def in_process(chunks):
    """Chars/s from iterating the provider's generator directly, with no server."""
    started = time.perf_counter()
    chars = sum(len(text) for text in synthetic._create_completion("burst", MESSAGES, True, max_tokens=chunks))
    return chars / (time.perf_counter() - started)


async def delivered(port, path, chunks):
    """Chars/s from sending the chat frame to receiving the last delta, through a server, along `path`; and where the
    time went (measure.Received.timeline)."""
    socket = await client.connect(port)
    try:
        # In words: the max_tokens option stops at 32,768, and a rate needs a stream long enough (7 MB, ~0.4 s,
        # at full size) for its start and end, a few milliseconds each, not to count.
        stream = socket.chat("burst", text=f"max_tokens={chunks}", path=path)
        await client.finish(stream, 120)
    finally:
        socket.close()
    received = measure.analyse(stream, chunks)
    if received.problem:
        raise RuntimeError(f"burst stream: {received.problem}")
    rate = received.chars / ((received.last_ns - stream.sent_ns) / 1e9)
    return rate, received.timeline(stream.sent_ns, len(stream.deltas))


class Sink(asyncio.Transport):
    """A transport that discards what the client writes."""

    def write(self, data):
        """Discard."""

    def is_closing(self):
        """Never closing."""
        return False


async def parse_ceiling(chunks):
    """Chars/s the client itself handles when a server's frames come from memory in 64 KiB reads."""
    plan = synthetic.Plan("burst", chunks, 1)
    deltas = ({"type": "delta", "request_id": "c", "seq": i + 1, "text": plan.chunk(i)} for i in range(chunks))
    wire = b"".join(frames.encode(frames.TEXT, json.dumps(delta).encode(), mask=False) for delta in deltas)
    socket = client.Socket(client.HOST, 0, "/ws")
    socket.connection_made(Sink())
    socket.data_received(frames.server_response(b"GET /ws HTTP/1.1\r\nSec-WebSocket-Key: " + socket.key + frames.HEAD_END))
    stream = socket.streams["c"] = client.Stream("c", socket.loop)
    started = time.perf_counter()
    for offset in range(0, len(wire), client.READ_BYTES):
        socket.data_received(wire[offset : offset + client.READ_BYTES])
    elapsed = time.perf_counter() - started
    return sum(len(text) for _, _, text in stream.deltas) / elapsed


def run(size, report):
    """Each run measures the bare generator right before the server, so every ratio comes from one run; the paths take
    turns, run by run, on the same server."""
    config = SIZES[size]
    details = report.details.setdefault("throughput", {"chunks": config["chunks"]})
    bare_runs = []
    for kind in servers.KINDS:
        series = servers.variants(kind)
        runs = {variant: [] for variant in series}
        with servers.serve(kind) as server:
            for variant in series:
                asyncio.run(delivered(server.port, variant.path, 100))
            for number in range(config["runs"]):
                for variant in series:
                    say(f"throughput: {variant.label} run {number + 1}/{config['runs']}")
                    bare = in_process(config["chunks"])
                    bare_runs.append(bare)
                    through, timeline = asyncio.run(delivered(server.port, variant.path, config["chunks"]))
                    runs[variant].append({"in_process": bare, "delivered": through, "ratio": through / bare, **timeline})
        for variant, measured in runs.items():
            details[variant.key] = measured
            key, label, path = variant.key, variant.label, variant.row_path
            report.add(4, f"chars_per_s.{key}", f"chars/s delivered · {label}", "chars/s",
                       [r["delivered"] for r in measured], path=path)
            report.add(4, f"ratio.{key}", f"ratio to the bare generator · {label}", "×", [r["ratio"] for r in measured],
                       None if variant.stub else (">=", 0.5), path=path)
    report.add(4, "chars_per_s.bare", "chars/s of the bare generator, in process", "chars/s", bare_runs)
    ceiling = [asyncio.run(parse_ceiling(config["chunks"])) for _ in range(config["runs"])]
    report.add(4, "chars_per_s.client_ceiling", "chars/s the client parses from memory (its own ceiling)", "chars/s", ceiling)
