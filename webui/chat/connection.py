"""One WebSocket's requests: reads frames, starts each chat request's answer, answers stop and resume."""
import logging

from flask_babel import gettext as _

from .. import attachments
from ..access.limits import Window
from ..access.security import count_request, request_key
from ..attachments.prompt import Vision, with_files_of_last_user
from ..errors import UserError, bad_request
from ..providers.registry import resolve
from ..shared import get_redis
from ..storage import conversations, get_db
from . import titles, turns
from .answer import Answer, Cursor
from .chat_request import parse_chat
from .context import Budget
from .frames import parse_frame, parse_resume, valid_request_id
from .replay import replay
from .stored_answers import StoredAnswer

log = logging.getLogger(__name__)

# A page resumes once for each socket it opens, for the one answer it follows.
RESUMES_PER_MINUTE = 20


class Connection:
    """The requests of one socket, each a cursor in an answer (see answer.py), by request id."""

    def __init__(self, app, registry, writer, locale, owner, stored, runner):
        """Frames go out through `writer` (see writer.Writer); `owner` is who is connected; `runner` runs the answers."""
        self.registry = registry
        self.runner = runner
        self.shutdown = app.extensions["webui.shutdown"]
        self.writer = writer
        self.locale = locale
        self.owner = owner
        self.stored = stored
        self.max_bytes = app.config["WEBUI_MAX_REQUEST_BYTES"]
        self.max_streams = app.config["WEBUI_MAX_STREAMS_PER_SOCKET"]
        self.requests = {}
        self.resumes = Window(RESUMES_PER_MINUTE)

    def handle(self, raw):
        """Act on one frame; bad input is answered with an error frame and changes nothing."""
        request_id = kind = None
        try:
            frame = parse_frame(raw, self.max_bytes)
            if valid_request_id(frame.get("request_id")):
                request_id = frame["request_id"]
            kind = frame.get("type")
            if kind == "chat":
                self.chat(frame)
            elif kind == "stop":
                self.stop(request_id)
            elif kind == "resume":
                self.resume(frame)
            else:
                raise bad_request(_("Unknown frame type “%(type)s”.", type=str(kind)[:40]))
        except UserError as e:
            # An oversized frame is refused before it is parsed, with the request id found at its start.
            request_id = e.details.get("request_id", request_id)
            self.writer.put({"type": "error", "request_id": request_id, "code": e.code, "message": e.message})
        except Exception:
            # A bug, not the client's fault: the trace goes to the log, the page gets a final answer to its frame
            # without internals, and the socket (and every answer it carries) goes on.
            log.exception("a %s frame could not be handled", kind)
            message = _("Something went wrong inside the server; its log has the details.")
            self.writer.put({"type": "error", "request_id": request_id, "code": "internal_error", "message": message})

    def admit(self, request_id):
        """Refuse a request id already running here, or one request too many on this socket."""
        # A request counts until its writer has taken its final frame: a replay holds a copy of its text till then.
        self.requests = {key: cursor for key, cursor in self.requests.items() if not cursor.done}
        if request_id in self.requests:
            raise bad_request(_("A request with this id is already running."))
        if len(self.requests) >= self.max_streams:
            raise UserError(_("Too many answers at once on this connection; wait for one to finish."), code="rate_limited")

    def chat(self, frame):
        """Validate a chat request and start its answer."""
        chat = parse_chat(frame)
        self.shutdown.refuse_new_answers()
        self.admit(chat.request_id)
        count_request(request_key(self.owner))
        after = None
        cursor = Cursor(self.writer, chat.request_id)
        if chat.stored:
            # Stored answers outlive their sockets, so they are limited per owner too.
            with self.stored.slot(self.owner, self.max_streams):
                provider, model, turn, context = turns.prepare(get_db(), self.owner, chat, self.registry)
                answer = StoredAnswer(cursor, provider.name, model, turn, self.stored)
                self.stored.add(answer)
            messages, options, written = turn.messages, turn.options, len(turn.prefix)
            if chat.conversation_id is None:
                # A new conversation is named once its first answer has ended.
                after = titles.namer(provider, model, turn, turn.question, self.writer.put)
        else:
            provider, model = resolve(chat, self.registry)
            messages = self.with_files(chat)
            Vision(provider, model).check(messages)
            budget = Budget(provider, model)
            budget.warm(messages)
            window = budget.fit(messages, chat.options)
            answer = Answer(cursor, provider.name, model)
            messages, options, written, context = window.messages, chat.options, 0, window.context
        # Set before the first chunk, which sends the start frame and makes the first write of a stored answer.
        answer.context = context
        self.requests[chat.request_id] = cursor
        name = f"webui-answer-{chat.request_id}"
        self.runner.start(answer, provider, model, messages, options, self.locale, name, written, after)

    def with_files(self, chat):
        """A plain request's messages, the last user message with the files the frame names (the sender's own)."""
        if not chat.attachments:
            return chat.messages
        return with_files_of_last_user(chat.messages, attachments.for_message(get_db(), self.owner, chat.attachments))

    def stop(self, request_id):
        """Stop a running request: the text sent stays, a done frame says it was stopped."""
        cursor = self.requests.get(request_id)
        if cursor is None or cursor.answer.finished:
            raise UserError(_("No request with this id is running."), code="unknown_request")
        cursor.answer.stop()

    def resume(self, frame):
        """Re-attach to a stored answer still streaming, or replay its stored outcome when it is over."""
        request_id, message_id, after = parse_resume(frame)
        self.admit(request_id)
        if not self.resumes.hit(None):
            raise UserError(_("Too many resumes on this connection: wait a minute and try again."), code="rate_limited")
        # Look up the answer before reading the row: an answer leaves the registry only after its final write.
        answer = self.stored.get(message_id)
        # Whose it is, checked on this worker's own read of the database, whichever worker runs it.
        message = conversations.owned_message(get_db(), self.owner, message_id)
        cursor = Cursor(self.writer, request_id, after)
        if answer is None or not answer.attach(cursor):
            remote = self.follow(request_id, message, after) if answer is None and message["status"] == "streaming" else None
            cursor = remote or replay(self.writer, request_id, message, answer)
        self.requests[request_id] = cursor

    def follow(self, request_id, message, after):
        """A cursor following the answer another worker runs (see remote_answer), or None if none runs it (or this
        server shares nothing: it is replayed from storage instead)."""
        if get_redis() is None:
            return None
        # Only a server that shares loads remote_answer and redis-py (megabytes a process): see shared/__init__.
        from .remote_answer import follow

        def stored_text():
            """The message's whole stored text, read again."""
            return conversations.owned_message(get_db(), self.owner, message["id"])["content"]

        return follow(self.writer, request_id, message, after, stored_text)

    def running(self):
        """The answers of this socket's requests whose final frame is not queued yet."""
        return [cursor.answer for cursor in list(self.requests.values()) if not cursor.answer.settled.is_set()]

    def close(self):
        """The socket is gone: its cursors go; plain answers stop, stored answers go on being written."""
        self.writer.close()
        for cursor in self.requests.values():
            cursor.answer.detach(cursor)
