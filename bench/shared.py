"""Figure 11: what sharing through Redis costs: figures 1, 3 and 4 along the page's stored path, Redis on and off.

Two `webui serve` servers run side by side for the whole benchmark, alike but for WEBUI_REDIS_URL (a redis-server of
the benchmark's own on a loopback port); within every run each measure goes to one server and then the other, so
each ratio comes from one run and a change in the machine's load falls on both alike.
"""
import asyncio
import tempfile
from contextlib import ExitStack

from . import client, concurrency, latency, say, servers, throughput
from .redis_server import RedisServer

SIZES = {
    "tiny": {"chunks": 20, "probes": 2, "streams": 2, "burst": 2000, "runs": 1},
    "small": {"chunks": 100, "probes": 10, "streams": 50, "burst": 65536, "runs": 2},
    # Figure 1's and 3's full length (20 s at 50 chunks/s), at the stream count figure 3's target names.
    "full": {"chunks": 1000, "probes": 20, "streams": 300, "burst": 262144, "runs": 3},
}
MODES = ("off", "on")


def one_run(server, config):
    """Figures 1, 3 and 4 once through `server`, along the stored path."""
    path = client.STORED
    alone = asyncio.run(latency.one_run(server.port, path, config["chunks"], config["probes"]))
    crowd = asyncio.run(concurrency.one_run(server, path, config["streams"], config["chunks"]))
    return {
        "latency_p99": alone["p99"],
        "ttft": alone["ttft"],
        "crowd_p99": crowd["p99"],
        "crowd_errors": crowd["errors"],
        "cpu_us_per_chunk": crowd["cpu_us_per_chunk"],
        "chars_per_s": asyncio.run(throughput.delivered(server.port, path, config["burst"]))[0],
    }


def run(size, report):
    """Both servers up at once; the modes take turns within every run."""
    config = SIZES[size]
    connections = (config["streams"] + concurrency.CONNECTION_HEADROOM) * 4 // 3
    with ExitStack() as stack:
        folder = stack.enter_context(tempfile.TemporaryDirectory(prefix="bench-redis-"))
        redis = RedisServer(folder).start()
        stack.callback(redis.stop)
        running = {
            "off": stack.enter_context(servers.serve("gunicorn", connections)),
            "on": stack.enter_context(servers.serve("gunicorn", connections, {"WEBUI_REDIS_URL": redis.url})),
        }
        for server in running.values():
            asyncio.run(throughput.delivered(server.port, client.STORED, 100))
        runs = {mode: [] for mode in MODES}
        for number in range(config["runs"]):
            for mode in MODES:
                say(f"shared: Redis {mode}, run {number + 1}/{config['runs']}")
                runs[mode].append(one_run(running[mode], config))
    report.details["shared"] = {"config": config, "runs": runs}
    add_rows(report, runs)


def add_rows(report, runs):
    """Figure 11's rows: each measure with Redis off and on, and the ratios the targets are set on."""
    off, on = runs["off"], runs["on"]

    def add(key, name, unit, values, target=None):
        """One row of per-run values."""
        report.add(11, key, name, unit, values, target, path=client.STORED)

    for mode, measured in runs.items():
        add(f"latency_p99.redis_{mode}", f"added latency p99 (fig 1) · Redis {mode}", "ms",
            [r["latency_p99"] for r in measured], ("<=", 5) if mode == "on" else None)
        add(f"ttft_overhead.redis_{mode}", f"TTFT overhead (fig 2) · Redis {mode}", "ms", [r["ttft"] for r in measured])
        add(f"crowd_p99.redis_{mode}", f"p99 added latency, many streams (fig 3) · Redis {mode}", "ms",
            [r["crowd_p99"] for r in measured], ("<=", concurrency.TARGET_P99_MS))
        add(f"crowd_errors.redis_{mode}", f"errors or out-of-order streams (fig 3) · Redis {mode}", "streams",
            [r["crowd_errors"] for r in measured], ("==", 0))
        add(f"cpu_us_per_chunk.redis_{mode}", f"server CPU per chunk (fig 3) · Redis {mode}", "µs",
            [r["cpu_us_per_chunk"] for r in measured])
        add(f"chars_per_s.redis_{mode}", f"chars/s delivered (fig 4) · Redis {mode}", "chars/s",
            [r["chars_per_s"] for r in measured])
    add("throughput_ratio", "throughput ratio Redis on / off (fig 4)", "×",
        [b["chars_per_s"] / a["chars_per_s"] for a, b in zip(off, on)], (">=", 0.85))
    add("crowd_p99_ratio", "p99 ratio Redis on / off, many streams (fig 3)", "×",
        [b["crowd_p99"] / a["crowd_p99"] for a, b in zip(off, on)])
