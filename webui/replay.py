"""Resuming an answer that is over: its stored text, in delta frames of bounded size, as its socket takes them."""
import json

from .storage.conversations import error_of
from .outbox import Subscription

# A replayed delta frame carries at most this many characters (at most 64 KiB of UTF-8).
PIECE_CHARS = 16 * 1024
# The frames one turn of the socket's queue makes: a reader that is behind holds at most this much encoded.
FRAMES_PER_TURN = 4


class Replay(Subscription):
    """The resume of an answer that is over: a start frame at once, then its whole stored text in delta frames of at
    most PIECE_CHARS characters numbered from 1, then its final frame; each made only when the socket has taken the
    ones before, so a reader that does not read holds one copy of the text, never a frame per resume.

    It stands among its socket's requests like a stream (see connection.Connection): `finished` once its final frame
    is made, and there is nothing to stop or detach.
    """

    def __init__(self, outbox, request_id, start, final, text):
        """Queue `start`; `final` follows the text."""
        super().__init__(outbox, request_id)
        self.final = final
        self.text = text
        self.pieces = -(-len(text) // PIECE_CHARS)
        self.finished = False
        if self.deliver(start):
            self.grew(self)

    def take(self):
        """The next FRAMES_PER_TURN delta frames, queued again for the rest; the final frame after the last."""
        self.waiting = self.queued = False
        frames = []
        while self.cursor < self.pieces and len(frames) < FRAMES_PER_TURN:
            begin = self.cursor * PIECE_CHARS
            self.cursor += 1
            frames.append({"type": "delta", "request_id": self.request_id, "seq": self.cursor, "text": self.text[begin : begin + PIECE_CHARS]})
        if self.cursor < self.pieces:
            self.grew(self)
        elif not self.finished:
            self.finished = True
            self.text = ""
            frames.append(self.final)
        return frames

    def finish(self, reason):
        """Nothing is being written: the replay runs to its end, where its final frame says how the answer ended."""
        return False

    def detach(self, belongs):
        """Its socket's queue holds it, and goes with the socket."""


def replay(outbox, request_id, message, stream=None):
    """Replay the stored answer `message` (a row); `stream` is the stream that wrote it if it has only just ended,
    whose outcome the row, read while it ran, may not have yet."""
    if stream is not None:
        start = stream.start_frame(request_id)
        status, text, error = stream.outcome()
    else:
        start = {
            "type": "start",
            "request_id": request_id,
            "provider": message["provider"],
            "model": message["model"],
            "context": (json.loads(message["stats"]) if message["stats"] else {}).get("context"),
            "conversation_id": message["conversation_id"],
            "message_id": message["id"],
            "user_message_id": message["parent_id"],
        }
        status, text, error = message["status"], message["content"], error_of(message)
    final = {
        "type": "error" if status == "error" else "done",
        "request_id": request_id,
        "message_id": message["id"],
        "reason": status,
        **(error or {}),
    }
    return Replay(outbox, request_id, {**start, "replay": True}, final, text)
