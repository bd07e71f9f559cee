"""Whether an API client has hung up while its answer is being made and nothing has been written to it yet.

A server learns that a client left only when it writes to it, and a request that is waiting for its first chunk (or a
whole answer) has nothing to write; so it looks at the client's socket instead: readable with nothing to read is the
end of the connection. A client may send its next request early (pipelining): that is bytes to read, not a hang-up,
and peeking takes none of them.
"""
import select
import socket

# How often a waiting request looks at its client's socket: how long a provider may go on for a client that has left.
LOOK_SECONDS = 0.5


def hung_up(raw):
    """Whether the client at `raw` has closed its side; False when there is no socket to look at."""
    if raw is None:
        return False
    try:
        readable, _writable, _errors = select.select([raw], [], [], 0)
        return bool(readable) and raw.recv(1, socket.MSG_PEEK) == b""
    except (OSError, ValueError):
        return True  # closed or reset under us: gone all the same
