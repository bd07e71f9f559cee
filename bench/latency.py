"""Figures 1 and 2: added latency per chunk of one 50 chunks/s stream, and the time-to-first-token overhead."""
import asyncio
import statistics

from . import client, measure, say, servers
from .stats import percentile

RATE = 50
SIZES = {
    "tiny": {"chunks": 20, "probes": 5, "runs": 2},
    "small": {"chunks": 100, "probes": 20, "runs": 3},
    "full": {"chunks": 300, "probes": 50, "runs": 5},
}


async def request(socket, chunks):
    """One "rate" request, checked to arrive whole and in order."""
    stream = socket.chat("rate", {"max_tokens": chunks, "seed": RATE})
    await client.finish(stream, chunks / RATE * 3 + 10)
    received = measure.analyse(stream, chunks, 1 / RATE)
    if received.problem:
        raise RuntimeError(f"stream {stream.request_id}: {received.problem}")
    return received


async def one_run(port, chunks, probes):
    """A long stream for per-chunk latency, then one-chunk requests one after another for the TTFT overhead."""
    socket = await client.connect(port)
    try:
        long = await request(socket, chunks)
        overheads = [(await request(socket, 1)).ttft_overhead_ms for _ in range(probes)]
    finally:
        socket.close()
    return {
        "p50": percentile(long.latencies_ms, 50),
        "p99": percentile(long.latencies_ms, 99),
        "max": max(long.latencies_ms),
        "ttft": statistics.median(overheads),
    }


def limit(kind, ms):
    """The target "at most `ms`", except for the stub, whose rows are the load generator's floor."""
    return None if kind == "stub" else ("<=", ms)


def run(size, report):
    """Measure every server kind; the stub's rows are the load generator's own floor."""
    config = SIZES[size]
    details = report.details.setdefault("latency", {})
    for kind in servers.KINDS:
        with servers.serve(kind) as server:
            asyncio.run(one_run(server.port, 1, 1))
            runs = []
            for number in range(config["runs"]):
                say(f"latency: {kind} run {number + 1}/{config['runs']}")
                runs.append(asyncio.run(one_run(server.port, config["chunks"], config["probes"])))
        details[kind] = runs
        label = servers.LABELS[kind]
        report.add(1, f"latency_p50.{kind}", f"added latency p50 · {label}", "ms", [r["p50"] for r in runs], limit(kind, 1))
        report.add(1, f"latency_p99.{kind}", f"added latency p99 · {label}", "ms", [r["p99"] for r in runs], limit(kind, 5))
        report.add(2, f"ttft_overhead.{kind}", f"TTFT overhead · {label}", "ms", [r["ttft"] for r in runs], limit(kind, 5))
