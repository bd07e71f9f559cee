"""How long stopping takes beyond the answers' grace period: what the drain (shutdown.py) and gunicorn's arbiter agree on.

Apart from shutdown.py so that the arbiter (production.py), which imports no part of the app, can count on it too.
"""
# How long the sockets get to answer the close before their connections are cut.
CLOSE_SECONDS = 2
# What a stop takes beyond the answers' grace period: their final writes, closing the sockets, the worker's exit.
# gunicorn kills the worker after the grace period and this.
STOP_SECONDS = CLOSE_SECONDS + 3
