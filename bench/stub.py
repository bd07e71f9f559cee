"""The control source: a trivial asyncio WebSocket server that answers chat frames from the synthetic plan.

It does for each stream only what the protocol requires (start, stamped deltas, done), so running the
benchmark client against it shows what the client itself can sustain: the load generator's ceiling.
Run as `python -m bench.stub`; it prints its address and exits after --lifetime seconds.
"""
import argparse
import asyncio
import json
import time

from . import frames
from .providers.synthetic import Plan

BATCH = 64
STUB_CONVERSATION = "stub"


class StubConnection(asyncio.Protocol):
    """One WebSocket: the handshake, then a task per chat frame."""

    def __init__(self):
        """Wait for the upgrade request."""
        self.head = b""
        self.parser = None
        self.transport = None
        self.writable = asyncio.Event()
        self.writable.set()
        # The loop keeps only weak references to tasks; these keep running streams alive.
        self.tasks = set()

    def connection_made(self, transport):
        """Keep the transport."""
        self.transport = transport

    def pause_writing(self):
        """The socket is full: streams wait."""
        self.writable.clear()

    def resume_writing(self):
        """The socket drained: streams go on."""
        self.writable.set()

    def data_received(self, data):
        """Answer the handshake, then start a stream per chat frame."""
        if self.parser is None:
            self.head += data
            if frames.HEAD_END not in self.head:
                return
            head, _, data = self.head.partition(frames.HEAD_END)
            self.transport.write(frames.server_response(head))
            self.parser = frames.Parser()
        for opcode, payload in self.parser.feed(data):
            if opcode == frames.TEXT:
                frame = json.loads(payload)
                if frame.get("type") == "chat":
                    task = asyncio.ensure_future(self.stream(frame))
                    self.tasks.add(task)
                    task.add_done_callback(self.tasks.discard)
            elif opcode == frames.CLOSE:
                self.transport.close()

    def send(self, *frames_out):
        """Write frames in one write, unless the client has gone."""
        if frames_out and not self.transport.is_closing():
            self.transport.write(b"".join(
                frames.encode(frames.TEXT, json.dumps(frame, ensure_ascii=False).encode(), mask=False) for frame in frames_out
            ))

    async def stream(self, chat):
        """Send the planned chunks on schedule, as the real server's bridge would."""
        # A turn of a stored conversation carries its question as `content`; the stub stores nothing, and names the
        # conversation only so the client goes on as it would with the real server.
        messages = chat.get("messages") or [{"role": "user", "content": chat.get("content") or ""}]
        plan = Plan.read(chat.get("model"), messages, chat.get("options") or {})
        request_id = chat.get("request_id")
        start = {"type": "start", "request_id": request_id, "provider": "stub", "model": plan.shape}
        if "conversation_id" in chat:
            start["conversation_id"] = chat["conversation_id"] or STUB_CONVERSATION
        self.send(start)
        begin = time.monotonic()
        # Chunks that are due together go out in one write, so the stub is never the slow side.
        batch = []
        for index in range(plan.count):
            wait = begin + plan.due(index) - time.monotonic()
            if batch and (wait > 0 or len(batch) >= BATCH or not self.writable.is_set()):
                self.send(*batch)
                batch = []
            if wait > 0:
                await asyncio.sleep(wait)
            await self.writable.wait()
            if self.transport.is_closing():
                return
            batch.append({"type": "delta", "request_id": request_id, "seq": index + 1, "text": plan.chunk(index)})
        self.send(*batch, {"type": "done", "request_id": request_id, "reason": "complete", "stats": {"chunks": plan.count}})


async def serve(lifetime):
    """Listen on a free loopback port until the lifetime is over."""
    server = await asyncio.get_running_loop().create_server(StubConnection, "127.0.0.1", 0, backlog=4096)
    port = server.sockets[0].getsockname()[1]
    print(f"stub is running: open http://127.0.0.1:{port}/", flush=True)
    async with server:
        try:
            await asyncio.wait_for(server.serve_forever(), lifetime)
        except asyncio.TimeoutError:
            pass


def main():
    """Parse the arguments and serve."""
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--lifetime", type=float, default=3600, help="seconds before the stub exits by itself")
    asyncio.run(serve(parser.parse_args().lifetime))


if __name__ == "__main__":
    main()
