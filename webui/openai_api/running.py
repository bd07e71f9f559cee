"""The /v1 answers running now: at most WEBUI_MAX_STREAMS_PER_SOCKET per user, each stopped once its token is revoked.

A token revoked from the page stops its answers at once; one revoked by `webui token revoke` (another process) or
gone with its account is found by a watcher that looks at the tokens of the running answers every CHECK_SECONDS while
any run, so they stop within two seconds either way.
"""
import threading
from dataclasses import dataclass

from flask_babel import force_locale
from flask_babel import gettext as _

from ..patrol import Patrol
from ..storage import api_tokens, get_db

CHECK_SECONDS = 1.0


@dataclass(eq=False)
class Ticket:
    """One answer's place: the token it runs under, whose limits it counts against (see routes.limit_key), its
    request's language (what it is told if the token goes is worded in it; the watcher has none), and the answer, once
    it is made."""

    token_id: str
    key: str
    locale: str
    answer: object = None


class Running:
    """The API's running answers, by ticket."""

    def __init__(self, app, per_user):
        """None run yet; the watcher starts with the first."""
        self.per_user = per_user
        self._lock = threading.Lock()
        self._tickets = set()
        self._watcher = Patrol(app, "webui-api-tokens", CHECK_SECONDS, self._lock, lambda: bool(self._tickets), self._check)

    def admit(self, token_id, key, locale):
        """A place for an answer about to be made under the token `token_id` for a request in `locale` (set its
        `answer` once it is, and release it once the answer has ended), or None when `key` runs as many as it may."""
        ticket = Ticket(token_id, key, locale)
        with self._lock:
            if sum(1 for other in self._tickets if other.key == key) >= self.per_user:
                return None
            self._tickets.add(ticket)
            self._watcher.wake()
        return ticket

    def release(self, ticket):
        """Give a place back; releasing it again does nothing."""
        with self._lock:
            self._tickets.discard(ticket)

    def answers(self):
        """The answers listed now (the drain at shutdown waits for them, then interrupts them)."""
        with self._lock:
            return [ticket.answer for ticket in self._tickets if ticket.answer is not None]

    def stop_token(self, token_id):
        """End every answer running under the token `token_id` with the error `token_revoked`; one not made yet is
        ended by the watcher's next look, as its token is gone by then."""
        with self._lock:
            doomed = [ticket for ticket in self._tickets if ticket.token_id == token_id and ticket.answer is not None]
        for ticket in doomed:
            with force_locale(ticket.locale):
                ticket.answer.fail("token_revoked", _("The API token was revoked, so the answer was stopped."))

    def _check(self):
        """Stop the answers whose token is gone from the database."""
        with self._lock:
            token_ids = {ticket.token_id for ticket in self._tickets}
        for token_id in token_ids - api_tokens.existing(get_db(), token_ids):
            self.stop_token(token_id)


def init_app(app):
    """Give the app its list of running API answers, which the drain at shutdown waits for too."""
    running = Running(app, app.config["WEBUI_MAX_STREAMS_PER_SOCKET"])
    app.extensions["webui.api_running"] = running
    app.extensions["webui.shutdown"].add_source(running.answers)
