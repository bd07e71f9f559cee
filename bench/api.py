"""Figure 10: time to first token and throughput through /v1/chat/completions, as ratios to the WebSocket path in the
same run, on figure 4's provider (the synthetic module)."""
import asyncio
import json
import statistics
import urllib.request

from . import client, measure, say, servers, sse, throughput

SIZES = {
    "tiny": {"chunks": 2000, "probes": 5, "runs": 2},
    "small": {"chunks": 65536, "probes": 20, "runs": 3},
    "full": {"chunks": 262144, "probes": 50, "runs": 5},
}
# A probe is a one-chunk answer at figure 2's rate: its time to first token is the path's own.
PROBE = {"max_tokens": 1, "seed": 50}
KINDS = ("dev", "gunicorn")


def make_token(port):
    """A token made on the page's /api/tokens, as a person makes one (the server has no accounts)."""
    request = urllib.request.Request(
        f"http://{client.HOST}:{port}/api/tokens", data=json.dumps({"name": "bench"}).encode(),
        headers={"Content-Type": "application/json"}, method="POST",
    )
    with urllib.request.urlopen(request, timeout=10) as response:
        return json.loads(response.read())["token"]


def first_token_ms(stream):
    """Request sent to first text received, in ms; an error if the answer did not come whole."""
    if not stream.final or stream.final.get("type") != "done" or not stream.deltas:
        raise RuntimeError(f"the answer did not come: {stream.final}")
    return (stream.deltas[0][0] - stream.sent_ns) / measure.NS_PER_MS


async def median_ttft(opening, ask, probes):
    """The median time to first token of `probes` one-chunk answers, one after another, each asked with
    `ask(connection)` on the connection that `opening` opens."""
    connection = await opening
    try:
        times = []
        for _ in range(probes):
            stream = ask(connection)
            await client.finish(stream, 30)
            times.append(first_token_ms(stream))
    finally:
        connection.close()
    return statistics.median(times)


def ws_ttft(port, probes):
    """The probes on one WebSocket (plain messages: the API stores nothing either)."""
    return median_ttft(client.connect(port), lambda socket: socket.chat("rate", PROBE), probes)


def api_ttft(port, token, probes):
    """The same probes through /v1 on one kept-alive connection."""
    body = {"model": "synthetic/rate", "messages": [{"role": "user", "content": "go"}], **PROBE}
    return median_ttft(sse.connect(port, token), lambda connection: connection.chat(body), probes)


async def api_delivered(port, token, chunks):
    """Chars/s of one burst through /v1, request sent to last text received, checked whole and in order."""
    connection = await sse.connect(port, token)
    try:
        # In words, as figure 4 asks: the max_tokens option stops at 32,768.
        stream = connection.chat({"model": "synthetic/burst", "messages": [{"role": "user", "content": f"max_tokens={chunks}"}]})
        await client.finish(stream, 120)
    finally:
        connection.close()
    received = measure.analyse(sse.numbered(stream), chunks)
    if received.problem:
        raise RuntimeError(f"burst through /v1: {received.problem}")
    return received.chars / ((received.last_ns - stream.sent_ns) / 1e9)


def one_run(port, token, config):
    """Both paths, each measure once, the WebSocket first: (ws ttft, api ttft, ws chars/s, api chars/s)."""
    return {
        "ws_ttft_ms": asyncio.run(ws_ttft(port, config["probes"])),
        "api_ttft_ms": asyncio.run(api_ttft(port, token, config["probes"])),
        "ws_chars_per_s": asyncio.run(throughput.delivered(port, client.MESSAGES, config["chunks"]))[0],
        "api_chars_per_s": asyncio.run(api_delivered(port, token, config["chunks"])),
    }


def run(size, report):
    """Each server kind once; the two paths take turns within every run, so each ratio comes from one run."""
    config = SIZES[size]
    details = report.details.setdefault("api", {"chunks": config["chunks"], "probes": config["probes"]})
    for kind in KINDS:
        with servers.serve(kind) as server:
            token = make_token(server.port)
            one_run(server.port, token, {"probes": 1, "chunks": 100})
            runs = []
            for number in range(config["runs"]):
                say(f"api: {servers.LABELS[kind]} run {number + 1}/{config['runs']}")
                measured = one_run(server.port, token, config)
                # Both ratios read "how fast /v1 is against the socket": above 1, faster.
                measured["ttft_ratio"] = measured["ws_ttft_ms"] / measured["api_ttft_ms"]
                measured["throughput_ratio"] = measured["api_chars_per_s"] / measured["ws_chars_per_s"]
                runs.append(measured)
        details[kind] = runs
        add_rows(report, kind, runs)


def add_rows(report, kind, runs):
    """Figure 10's rows for one server kind."""
    label = servers.LABELS[kind]

    def add(key, name, unit, target=None):
        """One row of the runs' values of `key`."""
        report.add(10, f"{key}.{kind}", f"{name} · {label}", unit, [r[key] for r in runs], target)

    add("ws_ttft_ms", "time to first token, WebSocket", "ms")
    add("api_ttft_ms", "time to first token, /v1/chat/completions", "ms")
    add("ttft_ratio", "TTFT ratio WebSocket / API", "×", (">=", 0.9))
    add("ws_chars_per_s", "chars/s delivered, WebSocket", "chars/s")
    add("api_chars_per_s", "chars/s delivered, /v1/chat/completions", "chars/s")
    add("throughput_ratio", "throughput ratio API / WebSocket", "×", (">=", 0.9))
