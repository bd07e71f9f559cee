"""Running answers: a provider's generator feeds an answer, which ends with exactly one final frame whatever happens.

An answer ends when its provider is done or fails (whatever it raises), at WEBUI_MAX_ANSWER_CHARS (`length`), when its
provider yields no text for its idle limit (`timeout`), or from outside: stop, its socket closing, its conversation
deleted. The watchdog, one thread per app while answers run, times out the silent ones and, under gevent, interrupts
the greenlet of an answer that has ended while its provider waits (a read, a sleep, a lock), so the generator unwinds
and its `finally` runs at once; a plain thread cannot be interrupted, and its generator is closed when it next yields.
"""
import logging
import threading
import time

from flask import current_app
from flask_babel import force_locale
from flask_babel import gettext as _
from greenlet import GreenletExit

from .context import Trimmed
from .cooperative import interrupter, taking_turns
from .errors import UserError, error_text, failure_message
from .markers import Ending, Via
from .patrol import Patrol

log = logging.getLogger(__name__)

# How often the watchdog looks at the running answers: how late a timeout or an interruption may come.
PATROL_SECONDS = 0.25


class Interrupted(BaseException):
    """Raised into the thread running an answer that has ended: not an Exception, so that a provider's
    `except Exception` lets it through."""


class Watch:
    """One running answer as the watchdog sees it; it may be interrupted only while `in_provider`."""

    def __init__(self, answer, idle_seconds, timeout_message, now):
        """Watch `answer`; silence starts counting now. The message is worded in the answer's thread and language."""
        self.answer, self.idle_seconds, self.timeout_message = answer, idle_seconds, timeout_message
        self.interrupt, self.in_provider = interrupter(Interrupted), True
        self.chunks, self.active_at = 0, now

    def check(self, now):
        """Time the answer out when its provider has been silent too long; interrupt its thread once it has ended."""
        answer = self.answer
        if not answer.finished:
            chunks = answer.length()
            if chunks != self.chunks:
                self.chunks, self.active_at = chunks, now
            elif now - self.active_at >= self.idle_seconds:
                answer.fail("timeout", self.timeout_message)
        if answer.finished and self.interrupt:
            interrupt, self.interrupt = self.interrupt, None
            interrupt(lambda: self.in_provider)


def relay(chunks, answer, room):
    """Hand the provider's chunks to `answer`, at most `room` characters of them: the reason the answer ended
    ("complete"; "length" past the room or at the model's token limit), or None when it ended from outside."""
    delta = answer.delta
    reason = "complete"
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
    """The answers running for one app, each in a thread of its own (under gevent, a greenlet), and their watchdog."""

    def __init__(self, app, clock=time.monotonic):
        """No answer runs yet; the watchdog starts with the first."""
        self.app = app
        self.idle_seconds = app.config["WEBUI_PROVIDER_IDLE_SECONDS"]
        self.max_chars = app.config["WEBUI_MAX_ANSWER_CHARS"]
        self._clock = clock
        self._lock = threading.Lock()
        self._watches = set()
        self._watchdog = Patrol(app, "webui-watchdog", PATROL_SECONDS, self._lock, lambda: bool(self._watches), self._patrol)

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
        seconds = provider.idle_limit(self.idle_seconds)
        message = _(
            "%(provider)s sent nothing for %(seconds)s s, so the answer was ended.", provider=provider.name, seconds=f"{seconds:g}"
        )
        watch = Watch(answer, seconds, message, self._clock())
        with self._lock:
            self._watches.add(watch)
            self._watchdog.wake()
        try:
            drive(watch, provider, model, messages, options, max(0, self.max_chars - written))
        finally:
            with self._lock:
                self._watches.discard(watch)

    def _patrol(self):
        """Look at every running answer: a few times a second while any runs."""
        with self._lock:
            watches = list(self._watches)
        now = self._clock()
        for watch in watches:
            try:
                watch.check(now)
            except Exception:
                # One answer that cannot be ended (its final write failed) must not leave the others unwatched.
                log.exception("the watchdog could not end an answer")


def init_app(app):
    """Give the app its runner of answers."""
    app.extensions["webui.runner"] = Runner(app)


def get_runner():
    """The current app's runner of answers."""
    return current_app.extensions["webui.runner"]
