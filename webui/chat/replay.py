"""Resuming an answer that is over: its stored text, in delta frames of bounded size, as its socket takes them."""
import json

from ..storage.conversations import error_of
from .answer import Answer, Cursor

# A replayed delta frame carries at most this many characters (at most 64 KiB of UTF-8).
PIECE_CHARS = 16 * 1024


class Replay(Answer):
    """An answer that is over, told again: a start frame, its whole stored text in delta frames of at most PIECE_CHARS
    characters numbered from 1, then its final frame. Frames are made only as the socket takes them (see writer.py), so
    a reader that does not read holds one copy of the text, never a frame per resume."""

    def __init__(self, cursor, start, final, text):
        """Replay `text` to `cursor` between `start` and `final`."""
        super().__init__(cursor, start["provider"], start["model"])
        self._start = start
        self.log = [text[begin : begin + PIECE_CHARS] for begin in range(0, len(text), PIECE_CHARS)]
        self.finished = True
        cursor.final = final
        cursor.wake()
        self.settled.set()

    def start_frame(self, request_id):
        """The start frame of the answer replayed."""
        return self._start


def replay(writer, request_id, message, answer=None):
    """The cursor replaying the stored answer `message` (a row) through `writer`; `answer` is the answer that wrote it
    if it has only just ended, whose outcome the row, read while it ran, may not have yet."""
    if answer is not None:
        start = answer.start_frame(request_id)
        status, text, error = answer.outcome()
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
    cursor = Cursor(writer, request_id)
    Replay(cursor, {**start, "replay": True}, final, text)
    return cursor
