"""Per-chunk numbers from a stream of stamped chunks, and whether it arrived whole and in order."""
from dataclasses import dataclass

from .providers.synthetic import STAMP, read_stamps

NS_PER_MS = 1e6


@dataclass
class Received:
    """One stream's measurements; `problem` says why it does not count as delivered, else None."""

    latencies_ms: list
    lateness_ms: list
    ttft_overhead_ms: float | None
    chunks: int
    chars: int
    last_ns: int | None
    problem: str | None
    # When the generator started and produced its last chunk (time.time_ns(), from the stamps), or None.
    started_ns: int | None = None
    last_produced_ns: int | None = None

    def timeline(self, sent_ns, frames):
        """Where a stream's time went, in ms: from the request to the generator's start, generating, and from the last
        chunk produced to its arrival; with the number of delta frames it came in."""
        return {
            "to_start_ms": (self.started_ns - sent_ns) / NS_PER_MS,
            "generating_ms": (self.last_produced_ns - self.started_ns) / NS_PER_MS,
            "tail_ms": (self.last_ns - self.last_produced_ns) / NS_PER_MS,
            "frames": frames,
        }


def order_problem(stream, indices, count):
    """Why the stream is not `count` chunks complete and in order (and, asked for as a stored turn, stored), or None."""
    final = stream.final or {}
    if final.get("type") != "done" or final.get("reason") != "complete":
        return f"ended with {final.get('type')} {final.get('code') or final.get('reason')}"
    if stream.stored and not stream.conversation_id:
        return "the start frame named no conversation: the answer was not stored"
    if indices != list(range(count)):
        return f"chunks missing or out of order ({len(indices)} of {count})"
    # A frame may carry several chunks (the server coalesces when it falls behind); seq numbers its last.
    seqs = [seq for _, seq, _ in stream.deltas]
    if seqs[-1:] != [count] or any(b <= a for a, b in zip(seqs, seqs[1:])):
        return f"seq does not rise to {count}"
    if STAMP.sub("", stream.text):
        return "text other than the provider's chunks arrived"
    return None


def analyse(stream, count, interval=0.0):
    """Latency of each chunk (received - produced) and lateness against the schedule (received - due)."""
    started = None
    latencies, lateness, indices = [], [], []
    first = last_produced = None
    for now, _, text in stream.deltas:
        begin, chunks = read_stamps(text)
        started = started if begin is None else begin
        for produced, index in chunks:
            first, last_produced = first or (now, produced), produced
            latencies.append((now - produced) / NS_PER_MS)
            indices.append(index)
            if started is not None:
                lateness.append((now - started - index * interval * 1e9) / NS_PER_MS)
    overhead = None
    if first and started is not None:
        received, first_produced = first
        # Request to first delta, less the provider's own time from its start to its first chunk.
        overhead = ((received - stream.sent_ns) - (first_produced - started)) / NS_PER_MS
    return Received(
        latencies_ms=latencies,
        lateness_ms=lateness,
        ttft_overhead_ms=overhead,
        chunks=len(indices),
        chars=sum(len(text) for _, _, text in stream.deltas),
        last_ns=stream.deltas[-1][0] if stream.deltas else None,
        problem=order_problem(stream, indices, count),
        started_ns=started,
        last_produced_ns=last_produced,
    )
