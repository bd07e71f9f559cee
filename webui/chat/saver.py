"""The saver's round: the due text and the ends of stored answers in one transaction, then the ends' final frames.

Ends are batched like parts, so that however many answers end at once, none waits in a queue of the others' own
transactions at the process's writer gate. Whoever ends an answer hurries the saver, so an end waits for no tick; ends
left for want of room in a round hurry the next one.
"""
import logging
import time

from ..storage import get_db
from ..storage.answer_parts import append_parts, end_answers
from ..storage.database import StorageError

log = logging.getLogger(__name__)

# An end costs about its whole text (the search index takes it in): a round writes ends of about this many characters
# in all (at least one), so that when many answers end at once the first are told without waiting for the last, and
# the answers still streaming have their parts written in between.
ROUND_END_CHARS = 256 * 1024


class Spell:
    """The saver's failed rounds, which come again every second while the database is away, logged as a spell: its
    first failure, then its end, with how many rounds failed and for how long. One saver thread uses it."""

    def __init__(self):
        """No round has failed."""
        self.since, self.rounds = None, 0

    def failed(self, message, *args):
        """A round failed: the first of a spell is logged."""
        if self.since is None:
            self.since = time.monotonic()
            log.error(message, *args)
        self.rounds += 1

    def wrote(self):
        """A round wrote: a spell of failures, if one was going on, has ended."""
        if self.since is not None:
            log.warning("saving answers works again, after %d failed rounds in %.0f s", self.rounds, time.monotonic() - self.since)
            self.since, self.rounds = None, 0


def write_round(connection, parts, ends):
    """Append the Parts and write the Ends on a Link in one write transaction (see Database.write): the
    ids of the parts' messages that are gone (see append_parts)."""
    gone = append_parts(connection, parts)
    end_answers(connection, ends)
    return gone


def settle_end(answer, written):
    """Settle one end (see StoredAnswer.settle_end); one whose frame cannot be sent leaves the others to be settled."""
    try:
        answer.settle_end(written)
    except Exception:
        log.exception("could not tell how the answer %s ended", answer.turn.message_id)


def save_round(answers, ending, spell):
    """Write the parts that are due of `answers` (the listed StoredAnswers) and the first ends that are due of `ending`
    (those that have ended, in the order they ended), all in one transaction; then settle each (an end's final frame
    goes out), and stop the answers whose message is gone. A failure goes to the Spell. Whether ends that are due were
    left for the next round."""
    due = [answer for answer in ending if answer.end_due()]
    ends, chars = [], 0
    for answer in due:
        if chars >= ROUND_END_CHARS:
            break
        ends.append(answer)
        chars += answer.end_chars()
    parts = [(answer, part) for answer in answers if (part := answer.take_part()) is not None]
    if not ends and not parts:
        return False
    written, gone = False, set()
    try:
        gone = get_db().write(write_round, [part for _, part in parts], [answer.take_end() for answer in ends])
        written = True
        spell.wrote()
    except StorageError as e:
        spell.failed("could not save %d answers (%d of them ended): %s", len(parts) + len(ends), len(ends), e.cause)
    finally:
        # Whatever the write did, every end it was to write is settled (the others that are due, too, if it failed):
        # its final frame, or storage_failed, goes out, and no one waits for it for ever.
        for answer, part in parts:
            answer.settle_part(part, written)
        for answer in ends if written else due:
            settle_end(answer, written)
    for answer, part in parts:
        if part.message_id in gone:
            answer.end_gone()
    return written and len(ends) < len(due)
