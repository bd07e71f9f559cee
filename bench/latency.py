"""Figures 1 and 2: added latency per chunk of one 50 chunks/s stream, and the time-to-first-token overhead."""
import asyncio
import statistics

from . import client, measure, say, servers
from .stats import percentile

RATE = 50
SIZES = {
    "tiny": {"chunks": 20, "probes": 5, "runs": 2},
    "small": {"chunks": 100, "probes": 20, "runs": 3},
    # 20 s: a stored answer is written as it grows, so a short one would hide what its length costs.
    "full": {"chunks": 1000, "probes": 50, "runs": 3},
}


async def request(conversation, chunks):
    """One "rate" turn, checked to arrive whole and in order; returns (Stream, measure.Received)."""
    stream = conversation.ask("rate", {"max_tokens": chunks, "seed": RATE})
    await client.finish(stream, chunks / RATE * 3 + 10)
    received = measure.analyse(stream, chunks, 1 / RATE)
    if received.problem:
        raise RuntimeError(f"stream {stream.request_id}: {received.problem}")
    return stream, received


async def one_run(port, path, chunks, probes):
    """A long answer for per-chunk latency, then one-chunk turns one after another for the TTFT overhead, all in one
    conversation along `path` (stored: the probes are later turns of the conversation the long answer started)."""
    socket = await client.connect(port)
    try:
        conversation = client.Conversation(socket, path)
        turns = [await request(conversation, chunks)]
        turns += [await request(conversation, 1) for _ in range(probes)]
    finally:
        socket.close()
    long = turns[0][1]
    return {
        "p50": percentile(long.latencies_ms, 50),
        "p99": percentile(long.latencies_ms, 99),
        "max": max(long.latencies_ms),
        "ttft": statistics.median(received.ttft_overhead_ms for _, received in turns[1:]),
        "conversations": len({stream.conversation_id for stream, _ in turns} - {None}),
    }


def limit(variant, ms):
    """The target "at most `ms`", except for the stub, whose rows are the load generator's floor."""
    return None if variant.stub else ("<=", ms)


def run(size, report):
    """Measure every server kind along both paths, taking turns run by run, so a change in the machine's load falls
    on both alike; the stub's rows are the load generator's own floor."""
    config = SIZES[size]
    details = report.details.setdefault("latency", {})
    for kind in servers.KINDS:
        series = servers.variants(kind)
        runs = {variant: [] for variant in series}
        with servers.serve(kind) as server:
            for variant in series:
                asyncio.run(one_run(server.port, variant.path, 1, 1))
            for number in range(config["runs"]):
                for variant in series:
                    say(f"latency: {variant.label} run {number + 1}/{config['runs']}")
                    runs[variant].append(asyncio.run(one_run(server.port, variant.path, config["chunks"], config["probes"])))
        for variant, measured in runs.items():
            details[variant.key] = measured
            add_rows(report, variant, measured)


def add_rows(report, variant, runs):
    """Figure 1's and 2's rows for one series."""
    key, label, path = variant.key, variant.label, variant.row_path
    report.add(1, f"latency_p50.{key}", f"added latency p50 · {label}", "ms", [r["p50"] for r in runs],
               limit(variant, 1), path=path)
    report.add(1, f"latency_p99.{key}", f"added latency p99 · {label}", "ms", [r["p99"] for r in runs],
               limit(variant, 5), path=path)
    report.add(2, f"ttft_overhead.{key}", f"TTFT overhead · {label}", "ms", [r["ttft"] for r in runs],
               limit(variant, 5), path=path)
