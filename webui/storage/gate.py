"""This process's writers of one database, taking turns before they ask the database for its write lock."""
import threading


class Gate:
    """This process's writers of one database, taking turns. A writer waits as long as turns go by (the process's own
    writers are busy, as when hundreds of answers start at once), and gives up only when no turn has ended for `wait`
    seconds: the writer in its turn is stuck on another process's lock."""

    def __init__(self):
        """Nobody in; no turn taken yet."""
        self._lock = threading.Lock()
        # Changed only by the writer in its turn, as it leaves.
        self.turns = 0

    def enter(self, wait):
        """Take the turn; False if no turn ended for `wait` seconds."""
        seen = self.turns
        while not self._lock.acquire(timeout=wait):
            if self.turns == seen:
                return False
            seen = self.turns
        return True

    def leave(self):
        """End the turn."""
        self.turns += 1
        self._lock.release()
