"""A /v1 answer as it is made: its first frames, then the response's server-sent events.

The answer runs in its own thread (a greenlet: see chat/runner.py) and adds chunks to its log; the cursor's
writer (writer.PullWriter) only wakes the response, which takes every chunk the cursor has not sent as one event and
writes it. So a stream waits for the network only in its own response, and other users go on meanwhile. Closing the
response (the client went away, which the server sees at the next write) stops the answer as the page's Stop does,
which closes the provider's generator.
"""
from flask import current_app
from flask_babel import force_locale
from flask_babel import gettext as _

from .hangup import LOOK_SECONDS, hung_up
from .shapes import error_event, usage

# While the provider is silent, a comment line goes out this often: it keeps proxies from closing the connection, and
# a write is what tells the server that the client has gone.
HEARTBEAT_SECONDS = 15
HEARTBEAT = b": keep-alive\n\n"


def first_frames(writer, cursor, raw):
    """The first frames the PullWriter `writer` has for `cursor`, which begin with the start frame (sent with the first
    chunk, or with the final frame), or None if the client at socket `raw` hangs up before they come."""
    while not (frames := writer.take(cursor, LOOK_SECONDS)):
        if hung_up(raw):
            return None
    return frames


def failure(frames):
    """The error frame of an answer that failed before its first chunk, or None: it is answered with an HTTP error."""
    final = frames[-1]
    return final if final["type"] == "error" and not any(frame["type"] == "delta" for frame in frames) else None


def text_and_final(frames):
    """The whole text of an answer's frames, and its final frame."""
    return "".join(frame["text"] for frame in frames if frame["type"] == "delta"), frames[-1]


def interrupted_message():
    """What a client is told of an answer the server cut off as it stopped."""
    return _("The server is restarting and cut the answer off: send the request again in a moment.")


class EventStream:
    """The body of a streamed answer: its frames as OpenAI's events. The server closes it however the response ends,
    even before it was read at all, and closing ends the answer (stopped, if it runs) and lets go of it."""

    def __init__(self, answer, cursor, writer, reply, first, counted, include_usage, release, locale):
        """Stream `answer` from its `first` frames on (`counted`: see shapes.usage) for a request in `locale`;
        `release()` unlists it once the response is over."""
        self.answer = answer
        self.cursor = cursor
        self.writer = writer
        self.reply = reply
        self.first = first
        self.counted = counted
        self.include_usage = include_usage
        self._release = release
        self._closed = False
        # The body is written after the request's context has gone: what is worded then needs the app and the language.
        self._app = current_app._get_current_object()
        self._pacer = current_app.extensions["webui.pacer"]
        self._locale = locale

    def __iter__(self):
        """The events, as bytes: everything the answer has when the response gets to write goes out as one write.
        After chunks the response rests for the gap a page's socket rests (writer.Pacer, shared with the sockets), so
        chunks that come meanwhile leave in one write; the final frame ends the rest."""
        frames = self.first
        while True:
            events = b"".join(map(self.event, frames))
            if events:
                yield events
            if self.cursor.done:
                return
            if any(frame["type"] == "delta" for frame in frames):
                self._pacer.rest(self, self.writer.ending)
            frames = self.writer.take(self.cursor, HEARTBEAT_SECONDS)
            if not frames:
                yield HEARTBEAT

    def event(self, frame):
        """One frame as the events that say it."""
        kind = frame["type"]
        if kind == "delta":
            return self.reply.content_event(frame["text"])
        if kind == "start":
            return self.reply.role_event()
        if kind == "done" and frame["reason"] == "interrupted":
            with self._app.app_context(), force_locale(self._locale):
                return error_event("interrupted", interrupted_message())
        if kind == "done":
            return self.reply.finish_event(frame["reason"], usage(frame["stats"], self.counted), self.include_usage)
        return error_event(frame["code"], frame["message"])

    def close(self):
        """The response is over: stop the answer if it still runs, and let go of it."""
        if self._closed:
            return
        self._closed = True
        try:
            if not self.answer.finished:
                self.answer.finish("stopped")
            self.answer.detach(self.cursor)
        finally:
            self._release()
