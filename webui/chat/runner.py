"""Running answers: a provider's generator feeds an answer, which ends with exactly one final frame whatever happens.

An answer ends when its provider is done or fails (whatever it raises), at WEBUI_MAX_ANSWER_CHARS (`length`), or from
outside: stop, its socket closing, its conversation deleted, the watchdog's timeout (see watchdog.py).
"""
import logging
import threading

from flask import current_app
from flask_babel import force_locale
from flask_babel import gettext as _
from greenlet import GreenletExit

from ..cooperative import taking_turns
from ..errors import UserError, error_text, failure_message
from .context import Trimmed
from .markers import Ending, Via
from .watchdog import Interrupted, Watchdog

log = logging.getLogger(__name__)


def relay(chunks, answer, room):
    """Hand the provider's chunks to `answer`, at most `room` characters of them: the reason the answer ended
    ("complete"; "length" past the room or at the model's token limit), or None when it ended from outside."""
    delta = answer.delta
    reason, whole_room = "complete", room
    for text in taking_turns(chunks):
        # A classic module's chunks come straight from it: anything not text is made text, and empty ones skipped.
        if text.__class__ is not str:
            if isinstance(text, Via):
                answer.via(text.provider, text.model)
                continue
            if isinstance(text, Ending):
                reason, answer.tokens = text.reason, text.tokens
                continue
            if isinstance(text, Trimmed):
                answer.context = text.applied(answer.context)
                continue
            text = str(text) if text else ""
        room -= len(text)
        if room < 0:
            # What fits goes out; the rest, maybe most of one huge chunk, is let go with the generator.
            fits = text[: len(text) + room]
            return "length" if not fits or delta(fits) else None
        if text and not delta(text):
            return None
    # Every chunk went in: their characters are counted already, and the final frame's stats need not count them again.
    answer.counted(whole_room - room)
    return reason


def drive(watch, provider, model, messages, options, room):
    """Stream one answer of at most `room` characters into the watched answer, closing the provider's generator
    however it ends; what its `finally` raises is logged, never passed on."""
    answer = watch.answer
    chunks = None
    try:
        try:
            chunks = iter(provider.complete(model, messages, stream=True, **options))
            reason = relay(chunks, answer, room)
        finally:
            # From here on an interruption would hit this function, not the provider.
            watch.in_provider = False
        if reason:
            answer.finish(reason)
    except Interrupted:
        pass  # the answer had ended (stop, timeout, a closed socket) and its final frame is out
    except UserError as e:
        answer.fail(e.code, e.message)
    except GreenletExit:
        # The server ends this greenlet (it is shutting down): the answer is cut off, as by a restart.
        answer.finish("interrupted")
        raise
    except BaseException as e:
        # Whatever it is (even SystemExit, KeyboardInterrupt, a stray GeneratorExit) it is the provider's failure and
        # goes no further: a thread would end without a final frame, and under gevent it would stop the whole server.
        log.warning("provider %s failed: %s", provider.name, error_text(e, provider.secrets()))
        answer.fail("provider_error", failure_message(e, provider.secrets()))
    finally:
        try:
            getattr(chunks, "close", lambda: None)()
        except GreenletExit:
            raise
        except BaseException as e:
            log.warning("provider %s failed while closing: %s", provider.name, error_text(e, provider.secrets()))


class Runner:
    """The answers running for one app, each in a thread of its own (under gevent, a greenlet), under its watchdog."""

    def __init__(self, app):
        """No answer runs yet."""
        self.app = app
        self.max_chars = app.config["WEBUI_MAX_ANSWER_CHARS"]
        self.watchdog = Watchdog(app)

    def start(self, answer, provider, model, messages, options, locale, name, written=0, after=None):
        """Run the answer in a new thread called `name`, in the language `locale`; the answer ends however that goes.
        Then `after()`, if given, runs in that thread, after the final frame."""

        def run():
            """The thread's body: in the request's language, with an app context for the database."""
            with self.app.app_context(), force_locale(locale):
                self.run(answer, provider, model, messages, options, written)
                if after:
                    after()

        try:
            threading.Thread(target=run, name=name, daemon=True).start()
        except RuntimeError:
            # No thread to be had (a limit of the system): the request still gets its one final frame.
            log.exception("could not start an answer")
            answer.fail("internal_error", _("Something went wrong inside the server; its log has the details."))

    def run(self, answer, provider, model, messages, options, written=0):
        """Stream one answer into `answer` here, in this thread, under the watchdog; the message it goes into has
        `written` characters already (a continued answer), which count toward WEBUI_MAX_ANSWER_CHARS."""
        with self.watchdog.watching(answer, provider) as watch:
            drive(watch, provider, model, messages, options, max(0, self.max_chars - written))


def init_app(app):
    """Give the app its runner of answers."""
    app.extensions["webui.runner"] = Runner(app)


def get_runner():
    """The current app's runner of answers."""
    return current_app.extensions["webui.runner"]
