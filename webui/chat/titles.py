"""Titles of new conversations: once the first answer has ended, a model names the conversation in a few words.

Until then, and for good when naming fails or the person renamed the conversation meanwhile, its title is the first
line of its first message. Naming starts after the answer's final frame, in a thread of its own (under gevent, a
greenlet), so it holds neither that answer nor its socket; the socket that asked then hears the new title.
"""
import contextlib
import logging
import re
import threading
import time

from flask import current_app
from greenlet import GreenletExit
from sqlalchemy import bindparam, select, update

from ..cooperative import patched
from ..providers.registry import get_registry, resolve
from ..storage import get_db
from ..storage.conversations import title_from
from ..storage.schema import conversations, messages
from ..storage.statements import run_statement
from .chat_request import ChatRequest

log = logging.getLogger(__name__)

# The model is shown the first exchange, each side cut to EXCERPT_CHARS, and asked for a short reply.
EXCERPT_CHARS = 1500
MAX_TITLE_TOKENS = 24
INSTRUCTION = (
    "Write a title of three to six words for this text, in the language it is written in. "
    "Reply with the title only, without quotes."
)
# A reply is read up to this many characters, for at most TITLE_SECONDS (a model that rambles is cut short).
MAX_REPLY_CHARS = 300
TITLE_SECONDS = 60
# Only an answer with text that ended one of these ways is worth a title.
NAMED_STATUSES = ("complete", "length", "stopped")
# What models wrap a title in anyway: a label, quotes, Markdown.
LABEL = re.compile(r"^title\s*:\s*", re.IGNORECASE)
WRAPPERS = " \t*_#`\"'«»“”„‘’"
# A reply longer than this, or that shares no word of four letters or more with the conversation, is a model
# rambling (as small ones do), not a title; a word is shared when its first SHARED_PREFIX letters are in the
# conversation ("kitchens" with "kitchen").
MAX_TITLE_WORDS = 10
SHARED_PREFIX = 4
WORD = re.compile(r"\w{4,}")


class TitleTimeout(Exception):
    """The title took longer than TITLE_SECONDS."""


# A conversation's new title, unless its title is no longer the first one; the answer it is named after.
RETITLE = (
    update(conversations)
    .where(conversations.c.id == bindparam("conversation_id"), conversations.c.title == bindparam("first"))
    .values(title=bindparam("new_title"))
)
ANSWER = select(messages.c.content, messages.c.status).where(messages.c.id == bindparam("message_id"))


def excerpt(question, answer):
    """What the model is shown of the conversation: its first exchange, each side cut to EXCERPT_CHARS."""
    return f"{question[:EXCERPT_CHARS]}\n\n{answer[:EXCERPT_CHARS]}"


def clean(reply, conversation):
    """The title in a model's reply: its first line with text, without label, quotes or markup, cut as a first-line
    title is; "" when there is none, or when it cannot be a title of `conversation` (see MAX_TITLE_WORDS)."""
    line = next((bare(LABEL.sub("", bare(line))) for line in reply.splitlines() if bare(line)), "")
    text = conversation.casefold()
    shared = any(word[:SHARED_PREFIX] in text for word in WORD.findall(line.casefold()))
    return title_from(line) if shared and len(line.split()) <= MAX_TITLE_WORDS else ""


def bare(text):
    """`text` without the quotes, markup and full stops around it, however they nest ("**“Plans”.**")."""
    while (stripped := text.strip(WRAPPERS).rstrip(".。")) != text:
        text = stripped
    return text


def time_limit():
    """Under gevent, TITLE_SECONDS for the whole request, however it waits; threads are only checked between chunks."""
    if not patched():
        return contextlib.nullcontext()
    import gevent

    return gevent.Timeout(TITLE_SECONDS, TitleTimeout)


def ask(provider, model, messages):
    """The text of the model's reply, at most MAX_REPLY_CHARS of it; its generator is closed however it ends."""
    deadline = time.monotonic() + TITLE_SECONDS
    chunks = iter(provider.complete(model, messages, stream=True, max_tokens=MAX_TITLE_TOKENS))
    reply = ""
    try:
        with time_limit():
            for chunk in chunks:
                # Markers (markers.Ending) say how the reply ended: not part of the title.
                reply += chunk if isinstance(chunk, str) else ""
                if len(reply) >= MAX_REPLY_CHARS or time.monotonic() > deadline:
                    break
    finally:
        close = getattr(chunks, "close", None)
        if close:
            close()
    return reply


def title_provider(provider, model):
    """Who names conversations: WEBUI_TITLE_PROVIDER and WEBUI_TITLE_MODEL when set, else the provider and model
    that answered (auto again for auto, which hands the request on as it did)."""
    config = current_app.config
    name, chosen = config["WEBUI_TITLE_PROVIDER"], config["WEBUI_TITLE_MODEL"]
    request = ChatRequest("title", name or provider.name, chosen or (None if name else model), None, {})
    return resolve(request, get_registry())


def name(provider, model, conversation_id, question, answer, first_title, tell):
    """Ask for a title and give it to the conversation if it still has `first_title`; `tell(frame)` tells the
    socket that asked. Nothing here fails loudly: the first-line title is a fine title."""
    try:
        title_by, title_model = title_provider(provider, model)
        shown = excerpt(question, answer)
        title = clean(ask(title_by, title_model, [{"role": "user", "content": f"{INSTRUCTION}\n\n{shown}"}]), shown)
        if not title or title == first_title:
            return
        # Not if it has another title by now: the person renamed it (or it is gone). In a turn at the writers' gate,
        # as every write is: outside it, titles written at once would each hold one of gevent's few native threads
        # waiting for the write lock, while the writer in its turn, which holds that lock, waited for a thread.
        params = {"conversation_id": conversation_id, "first": first_title, "new_title": title}
        kept = get_db().write(run_statement, RETITLE, params)[1]
        if kept:
            tell({"type": "title", "conversation_id": conversation_id, "title": title})
    except GreenletExit:
        raise
    except BaseException as e:
        # Whatever the provider raises, even what a provider never should (see runner.drive), ends here.
        log.debug("no title for conversation %s: %s", conversation_id, type(e).__name__)


def namer(provider, model, turn, question, tell):
    """What names the conversation that `turn` started, called once its first answer has ended (in an app context):
    it starts naming in the background when titles are on, the server is not stopping and the answer has text."""
    first_title = title_from(question)

    def start():
        """Look at the answer as it was stored, and name the conversation after it."""
        app = current_app._get_current_object()
        if not app.config["WEBUI_TITLES"] or app.extensions["webui.shutdown"].stopping:
            return
        try:
            answer = get_db().execute(ANSWER, {"message_id": turn.message_id}).fetchone()
        except Exception as e:
            log.debug("no title for conversation %s: %s", turn.conversation_id, type(e).__name__)
            return
        if answer is None or answer["status"] not in NAMED_STATUSES or not answer["content"].strip():
            return
        facts = (provider, model, turn.conversation_id, question, answer["content"], first_title, tell)

        def run():
            """Thread body: in an app context, for the database."""
            with app.app_context():
                name(*facts)

        threading.Thread(target=run, name="webui-title", daemon=True).start()

    return start
