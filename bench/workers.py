"""Figure 9: more than one worker. Figure 3's sweep along the stored path through one worker and through two
(`webui serve --workers 2` sharing Redis), and how soon a page that reconnects to another worker gets the rest of
the answer (reconnect → first missing chunk).

The resume probes run against two `webui serve` servers sharing one data folder and one redis-server, as two hosts
behind a proxy without sticky sessions would: the answer runs on the first, the page comes back on the second.
"""
import asyncio
import tempfile
import time
from contextlib import ExitStack

from . import client, concurrency, say, servers
from .providers.synthetic import read_stamps
from .redis_server import RedisServer
from .stats import percentile

RATE = 50
SIZES = {
    "tiny": {"streams": (2,), "chunks": 20, "runs": 1, "resumes": 3},
    "small": {"streams": (50, 100, 200), "chunks": 250, "runs": 2, "resumes": 20},
    "full": {"streams": (100, 200, 300, 400, 500, 600, 800), "chunks": 1000, "runs": 3, "resumes": 100},
}
# How many chunks the page has before it drops, and how long it is away: several chunks are missing when it is back.
SEEN_CHUNKS = 5
AWAY_SECONDS = 0.1
PROBE_CHUNKS = 40
TARGET_RESUME_MS = 50
WORKERS = {"1": (), "2": ("--workers", "2")}


def indices(deltas):
    """The chunk indices the deltas carry, in order."""
    return [index for _, _, text in deltas for _, index in read_stamps(text)[1]]


async def wait_for_deltas(stream, count, seconds):
    """Until `stream` has `count` deltas (or has ended), at most `seconds`."""
    deadline = time.monotonic() + seconds
    while len(stream.deltas) < count and stream.final is None and time.monotonic() < deadline:
        await asyncio.sleep(0.002)


async def resume_probe(first_port, second_port):
    """Start an answer on the first server, drop the socket, come back on the second as the same person: the time
    from reconnecting to the first missing chunk, in ms, or the reason the answer did not arrive whole."""
    away = await client.connect(first_port)
    stream = away.chat("rate", {"max_tokens": PROBE_CHUNKS, "seed": RATE}, path=client.STORED)
    await wait_for_deltas(stream, SEEN_CHUNKS, 10)
    away.close()
    seen = list(stream.deltas)
    if len(seen) < SEEN_CHUNKS or not stream.start:
        return None, f"only {len(seen)} chunks before the drop"
    await asyncio.sleep(AWAY_SECONDS)
    reconnected = time.time_ns()
    back = await client.connect(second_port, cookie=away.cookie)
    try:
        follow = back.resume(stream.start["message_id"], seen[-1][1])
        await client.finish(follow, PROBE_CHUNKS / RATE * 3 + 10)
    finally:
        back.close()
    got = indices(seen) + indices(follow.deltas)
    if got != list(range(PROBE_CHUNKS)) or (follow.final or {}).get("type") != "done":
        return None, f"resumed answer not whole: {len(got)} chunks, ended {follow.final}"
    return (follow.deltas[0][0] - reconnected) / 1e6, None


def resume_latencies(first, second, count):
    """`count` probes from the first server to the second: their latencies and their problems."""
    latencies, problems = [], []
    for _ in range(count):
        latency, problem = asyncio.run(resume_probe(first.port, second.port))
        latencies += [latency] if problem is None else []
        problems += [problem] if problem else []
    return latencies, problems


def run(size, report):
    """The sweep through one worker and two, then the resume probes across two servers and within one."""
    config = SIZES[size]
    with ExitStack() as stack:
        folder = stack.enter_context(tempfile.TemporaryDirectory(prefix="bench-workers-"))
        redis = RedisServer(folder + "/redis").start()
        stack.callback(redis.stop)
        shared = {"WEBUI_REDIS_URL": redis.url}
        sweep(config, shared, report)
        env = {**shared, "WEBUI_DATA_DIR": folder + "/data"}
        first = stack.enter_context(servers.serve("gunicorn", env=env))
        second = stack.enter_context(servers.serve("gunicorn", env=env))
        resume_latencies(first, second, 1)
        measured = {}
        for where, target in (("across", second), ("same", first)):
            say(f"workers: {config['resumes']} resumes, {where} server")
            measured[where] = resume_latencies(first, target, config["resumes"])
    report.details.setdefault("workers", {})["resume_ms"] = measured
    for where, (latencies, problems) in measured.items():
        label = "on another server" if where == "across" else "on the same server"
        report.add(9, f"resume_p50.{where}", f"resume → first missing chunk p50 · {label}", "ms", [percentile(latencies, 50)])
        report.add(9, f"resume_p99.{where}", f"resume → first missing chunk p99 · {label}", "ms", [percentile(latencies, 99)],
                   ("<=", TARGET_RESUME_MS) if where == "across" else None)
        report.add(9, f"resume_errors.{where}", f"resumes with a gap, a duplicate or no end · {label}", "resumes",
                   [len(problems)], ("==", 0))


def sweep(config, shared, report):
    """Figure 3's sweep along the stored path through one worker and through two sharing Redis."""
    points = {workers: {} for workers in WORKERS}
    for count in config["streams"]:
        for workers, args in WORKERS.items():
            connections = (count + concurrency.CONNECTION_HEADROOM) * 4 // 3
            with servers.serve("gunicorn", connections, shared, args=args) as server:
                runs = []
                for number in range(config["runs"]):
                    say(f"workers: {workers} worker(s), {count} streams, run {number + 1}/{config['runs']}")
                    runs.append(asyncio.run(concurrency.one_run(server, client.STORED, count, config["chunks"])))
            points[workers][count] = concurrency.sweep_point(runs)
            report.add(9, f"p99.{count}.workers_{workers}", f"p99 added latency · {workers} worker(s) · N={count}", "ms",
                       [r["p99"] for r in runs], ("<=", concurrency.TARGET_P99_MS), path=client.STORED)
    report.details.setdefault("workers", {})["sweep"] = points
    for workers, sweep_points in points.items():
        passing = [n for n, point in sweep_points.items() if concurrency.meets_target(point, "p99")]
        report.add(9, f"largest_n.workers_{workers}", f"largest N with p99 ≤ {concurrency.TARGET_P99_MS} ms, no errors · "
                   f"{workers} worker(s)", "streams", [max(passing, default=0)], path=client.STORED)
