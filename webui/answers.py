"""Running answers: a provider's generator feeds a stream, which ends with exactly one final frame whatever happens."""
import logging
import threading

from flask import current_app
from flask_babel import force_locale
from flask_babel import gettext as _
from greenlet import GreenletExit

from .bridge import Via
from .cooperative import taking_turns
from .errors import UserError, error_text, failure_message

log = logging.getLogger(__name__)


def relay(chunks, stream):
    """Hand the provider's chunks to `stream`: the reason the answer ended, or None when it ended from outside."""
    delta = stream.delta
    for text in taking_turns(chunks):
        # A classic module's chunks come straight from it: anything not text is made text, and empty ones skipped.
        if text.__class__ is not str:
            if isinstance(text, Via):
                stream.via(text.provider, text.model)
                continue
            text = str(text) if text else ""
        if text and not delta(text):
            return None
    return "complete"


def close(chunks, provider):
    """Close the provider's generator, if it made one; what its `finally` raises is logged, never passed on."""
    end = getattr(chunks, "close", None)
    if end is None:
        return
    try:
        end()
    except GreenletExit:
        raise
    except BaseException as e:
        log.warning("provider %s failed while closing: %s", provider.name, error_text(e, provider.secrets()))


def run(stream, provider, model, messages, options):
    """Stream one answer into `stream`, closing the provider's generator however it ends."""
    chunks = None
    try:
        chunks = iter(provider.complete(model, messages, stream=True, **options))
        reason = relay(chunks, stream)
        if reason:
            stream.finish(reason)
    except UserError as e:
        stream.fail(e.code, e.message)
    except GreenletExit:
        # The server ends this greenlet (it is shutting down): the answer is cut off, as by a restart.
        stream.finish("interrupted")
        raise
    except BaseException as e:
        # An Exception, or what a provider should never raise (SystemExit, KeyboardInterrupt, CancelledError, a stray
        # GeneratorExit): each is the provider's failure, and none goes further. A thread would just end without a
        # final frame, and under gevent a SystemExit or KeyboardInterrupt leaving a greenlet stops the whole server.
        log.warning("provider %s failed: %s", provider.name, error_text(e, provider.secrets()))
        stream.fail("provider_error", failure_message(e, provider.secrets()))
    finally:
        close(chunks, provider)


class Answers:
    """Starts each answer in a thread of its own (under gevent, a greenlet), with the app's context."""

    def __init__(self, app):
        """Answers run for `app`."""
        self.app = app

    def start(self, stream, provider, model, messages, options, locale, name):
        """Run the answer in a new thread called `name`, in the language `locale`; the stream ends however that goes."""
        thread = threading.Thread(
            target=self._run, args=(locale, stream, provider, model, messages, options), name=name, daemon=True
        )
        try:
            thread.start()
        except RuntimeError:
            # No thread to be had (a limit of the system): the request still gets its one final frame.
            log.exception("could not start an answer")
            stream.fail("internal_error", _("Something went wrong inside the server; its log has the details."))

    def _run(self, locale, *answer):
        """Thread body: in the request's language, with an app context for the database."""
        with self.app.app_context(), force_locale(locale):
            run(*answer)


def init_app(app):
    """Give the app its runner of answers."""
    app.extensions["webui.answers"] = Answers(app)


def get_answers():
    """The current app's runner of answers."""
    return current_app.extensions["webui.answers"]
