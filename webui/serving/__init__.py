"""Serving a data folder: `webui serve`'s gunicorn arbiter and workers, the folder's lock, and stopping without loss."""
