"""The benchmark harness at its tiny size: every figure comes out with sane numbers.

Performance targets are never checked here; bench/README.md explains how to read them.
"""
import asyncio
import json
import subprocess
import sys
from pathlib import Path

import pytest

from bench import client, frames, measure, sse
from bench.providers import synthetic

ROOT = Path(__file__).resolve().parent.parent
# Each server along the page's stored conversations and along plain messages; the stub, which stores nothing, once.
SERIES = {"dev.stored": "stored", "dev.messages": "messages", "gunicorn.stored": "stored",
          "gunicorn.messages": "messages", "stub": None}


@pytest.fixture(scope="module")
def bench_run(tmp_path_factory):
    """Run `python -m bench all --size tiny` once; return its JSON, output folder and process result."""
    folder = tmp_path_factory.mktemp("bench")
    done = subprocess.run(
        [sys.executable, "-m", "bench", "all", "--size", "tiny", "--results", str(folder)],
        cwd=ROOT, capture_output=True, text=True, timeout=300,
    )
    results = json.loads((folder / "latest.json").read_text())
    return results, folder, done


def rows(results, figure):
    """The rows of one figure, by key."""
    return {row["key"]: row for row in results["rows"] if row["figure"] == figure}


def sane(row, low=0.0):
    """Every run measured something, and the median lies between min and max, at or above `low`."""
    assert row["runs"] >= 1, row
    assert low <= row["min"] <= row["median"] <= row["max"], row


def test_every_benchmark_ran_and_printed_a_table(bench_run):
    results, _, done = bench_run
    assert results["errors"] == {}, done.stderr[-4000:]
    assert done.returncode == 0
    assert done.stdout.splitlines()[0].split()[:3] == ["fig", "measure", "median"]
    assert set(results["durations_s"]) == {"latency", "concurrency", "throughput", "render", "opening", "local", "context", "api", "shared", "workers"}
    assert results["size"] == "tiny"


def test_latency_and_ttft_for_every_server_along_both_paths(bench_run):
    results, _, _ = bench_run
    latency, ttft = rows(results, 1), rows(results, 2)
    assert {key for key in latency if key.startswith("latency_p50.")} == {f"latency_p50.{s}" for s in SERIES}
    for series, path in SERIES.items():
        sane(latency[f"latency_p50.{series}"])
        sane(latency[f"latency_p99.{series}"])
        assert latency[f"latency_p99.{series}"]["median"] >= latency[f"latency_p50.{series}"]["median"]
        # The overhead subtracts the provider's own time to first chunk, which can leave a hair below zero.
        sane(ttft[f"ttft_overhead.{series}"], low=-1.0)
        assert latency[f"latency_p50.{series}"]["runs"] == 2
        assert latency[f"latency_p50.{series}"]["path"] == ttft[f"ttft_overhead.{series}"]["path"] == path
        # A stored run is one conversation: the probes are later turns of the one the long answer started.
        conversations = [run["conversations"] for run in results["details"]["latency"][series]]
        assert conversations == ([0, 0] if path == "messages" else [1, 1])


def test_concurrency_delivers_every_chunk_in_order_along_both_paths_and_draws_the_plot(bench_run):
    results, folder, _ = bench_run
    figure = rows(results, 3)
    sweep = results["details"]["concurrency"]["sweep"]
    assert set(sweep) == {"gunicorn.stored", "gunicorn.messages", "stub"}
    for count in (2, 5):
        for path in ("stored", "messages"):
            assert figure[f"errors.{count}.{path}"]["max"] == 0, sweep[f"gunicorn.{path}"][str(count)]
            for key in ("p99", "lateness_p99", "errors", "cpu_us_per_chunk"):
                sane(figure[f"{key}.{count}.{path}"])
                assert figure[f"{key}.{count}.{path}"]["path"] == path
            sane(figure[f"rss_mb.{count}.{path}"], low=1.0)
        sane(figure[f"p99.{count}.stub"])
    for path in ("stored", "messages"):
        assert figure[f"largest_n.p99.{path}"]["median"] in (0, 2, 5)
        assert figure[f"largest_n.lateness_p99.{path}"]["median"] in (0, 2, 5)
    assert (folder / "latency_vs_streams.png").read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"


def test_throughput_ratios_along_both_paths(bench_run):
    results, _, _ = bench_run
    figure = rows(results, 4)
    for series, path in SERIES.items():
        sane(figure[f"chars_per_s.{series}"], low=1.0)
        assert 0 < figure[f"ratio.{series}"]["median"] < 10
        assert figure[f"ratio.{series}"]["path"] == path
        # Where each run's time went: to the generator's start, generating, then to the last chunk's arrival.
        for run in results["details"]["throughput"][series]:
            assert run["to_start_ms"] > 0 and run["generating_ms"] > 0 and run["tail_ms"] > 0 and run["frames"] >= 1
    sane(figure["chars_per_s.bare"], low=1.0)
    sane(figure["chars_per_s.client_ceiling"], low=1.0)


def test_render_in_chromium(bench_run):
    results, _, _ = bench_run
    figure = rows(results, 5)
    for variant in ("product", "naive"):
        sane(figure[f"render_ratio.{variant}"], low=0.01)
        sane(figure[f"longest_task_ms.{variant}"])
    sane(figure["naive_over_product"], low=0.01)
    # 400 tokens leave even the naive renderer time to finish; the server may send several tokens in one delta.
    for variant in ("product", "naive"):
        for run in results["details"]["render"]["runs"][variant]:
            assert run["finished"] and 1 <= run["deltas"] <= 400 and run["renderer"] == variant


def test_opening_a_stored_conversation_of_a_thousand_messages(bench_run):
    results, _, _ = bench_run
    figure = rows(results, 6)
    for key in ("conversation_first_paint_ms", "conversation_interactive_ms", "conversation_data_ms",
                "shell_first_paint_ms", "shell_interactive_ms"):
        sane(figure[key], low=1.0)
    sane(figure["conversation_longest_task_ms"])
    details = results["details"]["opening"]
    assert details["messages"] == 1000
    for run in details["runs"]["conversation"]:
        # The first paint counts only once the conversation itself is on screen, not the page shell.
        assert run["data_ms"] < run["first_paint_ms"] <= run["interactive_ms"], run
        assert run["interactive_ms"] >= max(run["rendered_ms"], run["open_ms"], run["input_ms"]), run


def test_local_model_through_the_stack(bench_run):
    results, _, _ = bench_run
    figure = rows(results, 7)
    for kind in ("dev", "gunicorn"):
        sane(figure[f"tokens_per_s.{kind}"], low=0.1)
        sane(figure[f"tokens_per_s_direct.{kind}"], low=0.1)
        sane(figure[f"ratio.{kind}"], low=0.01)


def test_a_conversation_past_its_context(bench_run):
    results, _, _ = bench_run
    figure = rows(results, 8)
    for key in ("ttft_before", "ttft_after", "ttft_overflow_turn"):
        sane(figure[key], low=1.0)
    sane(figure["ratio"], low=0.001)
    [turns] = results["details"]["context"]["runs"]
    first = figure["turns_to_overflow"]["median"]
    # Nothing dropped before the overflow, then whole turns in steps: fewer steps than the ten turns after it.
    assert first >= 2 and len(turns) == first + 10
    dropped = [turn["dropped_messages"] for turn in turns]
    assert dropped[:first] == [0] * first and all(n > 0 and n % 2 == 0 for n in dropped[first:])
    assert len(set(dropped[first:])) < 5
    assert all(turn["limit"] == 512 and turn["used"] <= 512 - 8 for turn in turns)


def test_the_api_against_the_websocket_on_both_servers(bench_run):
    results, _, _ = bench_run
    figure = rows(results, 10)
    for kind in ("dev", "gunicorn"):
        for key in ("ws_ttft_ms", "api_ttft_ms", "ttft_ratio", "ws_chars_per_s", "api_chars_per_s", "throughput_ratio"):
            sane(figure[f"{key}.{kind}"], low=0.0001)
        assert figure[f"ttft_ratio.{kind}"]["target"] == figure[f"throughput_ratio.{kind}"]["target"] == "≥ 0.9"
        runs = results["details"]["api"][kind]
        assert len(runs) == 2 and all(run["api_chars_per_s"] > 1 and run["api_ttft_ms"] > 0 for run in runs)


def test_redis_on_against_off_along_the_stored_path(bench_run):
    results, _, _ = bench_run
    figure = rows(results, 11)
    for mode in ("off", "on"):
        for key in ("latency_p99", "crowd_p99", "cpu_us_per_chunk", "chars_per_s"):
            sane(figure[f"{key}.redis_{mode}"], low=0.0001)
        assert figure[f"crowd_errors.redis_{mode}"]["median"] == 0
    assert figure["throughput_ratio"]["target"] == "≥ 0.85" and figure["latency_p99.redis_on"]["target"] == "≤ 5"
    runs = results["details"]["shared"]["runs"]
    ratio = runs["on"][0]["chars_per_s"] / runs["off"][0]["chars_per_s"]
    assert figure["throughput_ratio"]["median"] == pytest.approx(ratio)
    assert {row["path"] for row in figure.values()} == {"stored"}


def test_one_worker_against_two_and_resumes_on_another_server(bench_run):
    results, _, _ = bench_run
    figure = rows(results, 9)
    for workers in ("1", "2"):
        sane(figure[f"p99.2.workers_{workers}"], low=0.0001)
        assert figure[f"largest_n.workers_{workers}"]["median"] == 2
    for where in ("across", "same"):
        assert figure[f"resume_errors.{where}"]["median"] == 0, results["details"]["workers"]["resume_ms"][where][1]
        sane(figure[f"resume_p50.{where}"], low=0.0001)
        assert figure[f"resume_p99.{where}"]["median"] >= figure[f"resume_p50.{where}"]["median"]
    assert figure["resume_p99.across"]["target"] == "≤ 50"
    assert len(results["details"]["workers"]["resume_ms"]["across"][0]) == 3


def test_the_sse_client_reads_events_split_anywhere():
    plan = synthetic.Plan("burst", 3, 1)
    texts = [plan.chunk(i) for i in range(3)]
    events = b"".join(
        b"data: " + json.dumps({"choices": [{"delta": {"content": text}, "finish_reason": None}]}).encode() + b"\n\n"
        for text in texts
    )
    events += b'data: {"choices": [{"delta": {}, "finish_reason": "stop"}]}\n\ndata: [DONE]\n\n'
    body = b"".join(b"%x\r\n%s\r\n" % (len(part), part) for part in (events[:50], events[50:])) + b"0\r\n\r\n"
    wire = b"HTTP/1.1 200 OK\r\nContent-Type: text/event-stream\r\nTransfer-Encoding: chunked\r\n\r\n" + body
    loop = asyncio.new_event_loop()
    try:
        for step in (1, 7, len(wire)):
            connection = sse.Connection(client.HOST, 0, "token")
            connection.stream = stream = client.Stream("api", loop)
            for i in range(0, len(wire), step):
                connection.raw += wire[i : i + step]
                connection.parse(i)
            assert stream.final == {"type": "done", "reason": "complete"} and connection.state == sse.HEAD
            assert [seq for _, seq, _ in sse.numbered(stream).deltas][-1] == 3 and stream.text == "".join(texts)
    finally:
        loop.close()


def test_stamps_survive_several_chunks_in_one_frame():
    plan = synthetic.Plan("rate", 3, 1000)
    started, chunks = synthetic.read_stamps("".join(plan.chunk(i) for i in range(3)))
    assert started == plan.started_ns
    assert [index for _, index in chunks] == [0, 1, 2]
    assert all(produced >= started for produced, _ in chunks)


def test_a_coalesced_stream_counts_every_chunk_and_a_gap_is_caught():
    plan = synthetic.Plan("rate", 4, 1000)
    texts = [plan.chunk(i) for i in range(4)]
    loop = asyncio.new_event_loop()
    try:
        stream = client.Stream("r", loop)
        stream.sent_ns = plan.started_ns
        arrived = plan.started_ns + 10**9
        for seq, text in [(1, texts[0]), (3, texts[1] + texts[2]), (4, texts[3])]:
            stream.receive({"type": "delta", "request_id": "r", "seq": seq, "text": text}, arrived)
        stream.receive({"type": "done", "request_id": "r", "reason": "complete"}, arrived)
        received = measure.analyse(stream, 4, 0.001)
        assert received.problem is None and received.chunks == 4 and len(received.latencies_ms) == 4
        assert all(ms > 0 for ms in received.latencies_ms)
        assert "missing" in measure.analyse(stream, 5, 0.001).problem
    finally:
        loop.close()


def test_a_stored_turn_whose_start_names_no_conversation_is_not_counted_as_delivered():
    plan = synthetic.Plan("rate", 1, 1000)
    loop = asyncio.new_event_loop()
    try:
        problems = []
        for start in ({}, {"conversation_id": 7}):
            stored = client.Stream("s", loop, stored=True)
            stored.sent_ns = plan.started_ns
            for frame in ({"type": "start", **start}, {"type": "delta", "seq": 1, "text": plan.chunk(0)},
                          {"type": "done", "reason": "complete"}):
                stored.receive({"request_id": "s", **frame}, plan.started_ns)
            problems.append(measure.analyse(stored, 1).problem)
        assert "not stored" in problems[0] and problems[1] is None
    finally:
        loop.close()


def test_the_schedule_can_travel_in_the_message():
    plan = synthetic.Plan.read("rate", [{"role": "user", "content": "model=markdown max_tokens=7 seed=2000"}], {"max_tokens": 3})
    assert (plan.shape, plan.count, plan.interval) == ("markdown", 7, 1 / 2000)


@pytest.mark.parametrize("mask", [True, False])
def test_frames_round_trip_in_any_split(mask):
    payloads = [b"x" * 5, b"y" * 300, b"z" * 70000]
    wire = b"".join(frames.encode(frames.TEXT, p, mask) for p in payloads)
    # A fragmented message with a ping between its parts.
    wire += bytes([0x01, 2 | (0x80 if mask else 0)]) + (b"\0\0\0\0" if mask else b"") + b"ab"
    wire += frames.encode(frames.PING, b"", mask)
    wire += bytes([0x80, 1 | (0x80 if mask else 0)]) + (b"\0\0\0\0" if mask else b"") + b"c"
    expected = [(frames.TEXT, p) for p in payloads] + [(frames.PING, b""), (frames.TEXT, b"abc")]
    for step in (1, 7, 4096, len(wire)):
        parser = frames.Parser()
        got = [m for i in range(0, len(wire), step) for m in parser.feed(wire[i : i + step])]
        assert got == expected
