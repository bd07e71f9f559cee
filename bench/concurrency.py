"""Figure 3: N simultaneous 50 chunks/s streams through gunicorn: order, p99 added latency, errors, memory.

Each stream is one person on their own socket: a new stored conversation as the page starts it (the headline), or a
plain `messages` request; the two paths take turns, run by run, on the same server."""
import asyncio

from . import client, measure, plot, say, servers
from .stats import percentile, summary

RATE = 50
TARGET_P99_MS = 100
TARGET_RSS_MB = 400
# An open WebSocket holds one of gunicorn's connections for its lifetime, so the cap must exceed the stream count.
CONNECTION_HEADROOM = 8
CONNECT_AT_ONCE = 64
RSS_EVERY_S = 0.25
SIZES = {
    "tiny": {"streams": (2, 5), "chunks": 20, "runs": 2},
    "small": {"streams": (10, 50, 100), "chunks": 250, "runs": 2},
    # 20 s: a stored answer is written as it grows, so a short one would hide what its length costs.
    "full": {"streams": (10, 50, 100, 200, 300, 400, 500), "chunks": 1000, "runs": 3},
}


async def open_sockets(port, count):
    """Open `count` WebSockets, a bounded number at a time; failures are returned as exceptions."""
    gate = asyncio.Semaphore(CONNECT_AT_ONCE)

    async def one():
        """Open one socket when the gate allows."""
        async with gate:
            return await client.connect(port, timeout=30)

    return await asyncio.gather(*(one() for _ in range(count)), return_exceptions=True)


async def sample_rss(server, peak, limit_s):
    """Keep the highest resident memory of the server seen while the streams run."""
    for _ in range(int(limit_s / RSS_EVERY_S) + 1):
        peak.append(server.rss_mb())
        await asyncio.sleep(RSS_EVERY_S)


async def stream_after(socket, path, delay, chunks, timeout):
    """Start a stream along `path` after `delay` seconds and wait for its end."""
    await asyncio.sleep(delay)
    stream = socket.chat("rate", {"max_tokens": chunks, "seed": RATE}, path=path)
    await client.finish(stream, timeout)
    return stream


async def one_run(server, path, count, chunks):
    """Run `count` streams along `path` at once; starts are spread over one chunk interval, as independent users
    would be."""
    opened = await open_sockets(server.port, count)
    sockets = [s for s in opened if isinstance(s, client.Socket)]
    timeout = chunks / RATE * 3 + 30
    peak = [server.rss_mb()]
    sampler = asyncio.ensure_future(sample_rss(server, peak, timeout + 5))
    cpu_before = server.cpu_s()
    try:
        streams = await asyncio.gather(
            *(stream_after(s, path, i / RATE / count, chunks, timeout) for i, s in enumerate(sockets))
        )
        cpu = server.cpu_s() - cpu_before
    finally:
        sampler.cancel()
        for socket in sockets:
            socket.close()
    received = [measure.analyse(s, chunks, 1 / RATE) for s in streams]
    latencies = [ms for r in received for ms in r.latencies_ms]
    lateness = [ms for r in received for ms in r.lateness_ms]
    problems = [str(e) for e in opened if not isinstance(e, client.Socket)] + [r.problem for r in received if r.problem]
    return {
        "p50": percentile(latencies, 50),
        "p99": percentile(latencies, 99),
        "lateness_p99": percentile(lateness, 99),
        "errors": len(problems),
        "in_order": not problems,
        "rss_mb": max(peak),
        "cpu_us_per_chunk": cpu * 1e6 / max(1, sum(r.chunks for r in received)),
        "problems": problems[:5],
    }


def sweep_point(runs):
    """Summaries of one stream count's runs."""
    keys = ("p50", "p99", "lateness_p99", "errors", "rss_mb", "cpu_us_per_chunk")
    return {**{key: summary([r[key] for r in runs]) for key in keys}, "runs": runs}


def run(size, report):
    """Sweep the stream count through gunicorn along both paths, and through the stub (the load generator's own
    capacity)."""
    config = SIZES[size]
    series = {"gunicorn": servers.variants("gunicorn"), "stub": servers.variants("stub")}
    sweep = {variant.key: {} for kind in series for variant in series[kind]}
    for count in config["streams"]:
        for kind, variants in series.items():
            # The server keeps a quarter of its connections for page loads, so N sockets need 4/3 N connections.
            with servers.serve(kind, connections=(count + CONNECTION_HEADROOM) * 4 // 3) as server:
                runs = {variant: [] for variant in variants}
                for number in range(config["runs"]):
                    for variant in variants:
                        say(f"concurrency: {variant.label}, {count} streams, run {number + 1}/{config['runs']}")
                        runs[variant].append(asyncio.run(one_run(server, variant.path, count, config["chunks"])))
            for variant, measured in runs.items():
                sweep[variant.key][count] = sweep_point(measured)
        for variant in series["gunicorn"]:
            add_rows(report, count, variant, sweep[variant.key][count])
        stub = series["stub"][0]
        report.add(3, f"p99.{count}.stub", f"p99 added latency · {stub.label} · N={count}", "ms",
                   [r["p99"] for r in sweep[stub.key][count]["runs"]])
    for variant in series["gunicorn"]:
        for key, label in (("p99", "p99 added latency"), ("lateness_p99", "p99 lateness vs schedule")):
            passing = [n for n, point in sweep[variant.key].items() if meets_target(point, key)]
            report.add(3, f"largest_n.{key}.{variant.path}",
                       f"largest N with {label} ≤ {TARGET_P99_MS} ms, no errors · gunicorn · {servers.PATH_LABELS[variant.path]}",
                       "streams", [max(passing, default=0)], (">=", 500), path=variant.path)
    report.details["concurrency"] = {"rate": RATE, "chunks": config["chunks"], "sweep": sweep}
    lines = {variant.label: sweep[variant.key] for variants in series.values() for variant in variants}
    plot.latency_vs_streams(lines, TARGET_P99_MS, report.directory / "latency_vs_streams.png")


def meets_target(point, key):
    """The median of `key` within the latency target, and no errors in any run."""
    median = point[key]["median"]
    return median is not None and median <= TARGET_P99_MS and point["errors"]["max"] == 0


def add_rows(report, count, variant, point):
    """The table rows for one stream count along one path through gunicorn."""
    runs, path = point["runs"], variant.path
    where = f"gunicorn · {servers.PATH_LABELS[path]} · N={count}"
    report.add(3, f"p99.{count}.{path}", f"p99 added latency · {where}", "ms", [r["p99"] for r in runs],
               ("<=", TARGET_P99_MS), path=path)
    # Produced stamps are taken when a starved provider thread finally runs, so they hide the server's
    # own backlog; lateness against the schedule is what a reader would see.
    report.add(3, f"lateness_p99.{count}.{path}", f"p99 lateness vs schedule · {where}", "ms",
               [r["lateness_p99"] for r in runs], ("<=", TARGET_P99_MS), path=path)
    report.add(3, f"errors.{count}.{path}", f"errors or out-of-order streams · {where}", "streams",
               [r["errors"] for r in runs], ("==", 0), path=path)
    report.add(3, f"rss_mb.{count}.{path}", f"server RSS peak · {where}", "MB", [r["rss_mb"] for r in runs],
               ("<=", TARGET_RSS_MB), path=path)
    # The server's own CPU time, which load elsewhere on the machine does not inflate: the cost of a chunk's path.
    report.add(3, f"cpu_us_per_chunk.{count}.{path}", f"server CPU per chunk delivered · {where}", "µs",
               [r["cpu_us_per_chunk"] for r in runs], path=path)
