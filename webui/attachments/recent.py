"""The files read lately, kept so that the same bytes are not read again in a child process.

OpenAI's clients send a conversation's images again with every question, and each stored image is scaled again for
every answer that carries it: without this, each of those turns decodes every image anew. A reading is found by what
it was asked (its kind and limits) and the SHA-256 of the bytes it read; only readings that succeeded are kept, up to
MOST_BYTES of what they hold, the least recently used going first.
"""
from collections import OrderedDict

from ..cooperative import native_lock

MOST_BYTES = 32 * 1024 * 1024


class Recent:
    """Readings by key, within `most` bytes of their parts."""

    def __init__(self, most=MOST_BYTES):
        """Nothing kept yet."""
        self.most, self._lock, self._kept, self._bytes = most, native_lock(), OrderedDict(), 0

    def get(self, key):
        """The reading kept under `key`, or None."""
        with self._lock:
            reading = self._kept.get(key)
            if reading is not None:
                self._kept.move_to_end(key)
            return reading

    def put(self, key, reading):
        """Keep `reading` under `key`, unless it alone is larger than the bound."""
        size = sum(map(len, reading.parts))
        if size > self.most:
            return
        with self._lock:
            if key in self._kept:
                return
            self._kept[key] = reading
            self._bytes += size
            while self._bytes > self.most:
                _key, dropped = self._kept.popitem(last=False)
                self._bytes -= sum(map(len, dropped.parts))
