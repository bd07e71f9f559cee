"""Files and images people attach to messages: taken in, read safely, stored by content, served to their owner only.

The package's modules: sniff (what a file is, by its content; display names), worker (the child process that reads
an image or a PDF, or scales one down), jobs (running it with a deadline), files (the bytes, by SHA-256, in
WEBUI_DATA_DIR/attachments), records (the rows, quotas, links to messages), intake (one file from upload to row),
cleanup (files no row uses, uploads never sent), api (the HTTP endpoints), prompt (what a model is sent of them),
portable (their place in exported and imported conversations).

What the chat path uses: for_message(db, owner, ids) checks a message's attachment ids and gives their Attachment
records (an image's bytes read), link(db, message_id, ids) records them with the message, carried(db, message_ids)
gives them back as records and of_messages(db, message_ids) as JSON, prompt makes them what a model is sent, and
collect(db) removes the files a deleted conversation leaves unused; owned(db, owner, id) is one of the owner's.
Export and import use portable (records.read gives a file back, intake.accept stores one). /v1 (openai_api/images.py):
intake.examine(owner, name, type, data) reads a file as accept() does but in memory, and records.insert() stores it
inside the transaction that writes its message.
"""
from ..access import security
from ..shared import make_window
from . import api, jobs
from .cleanup import collect
from .records import carried, delete_owned, for_message, link, of_messages, owned

__all__ = ["carried", "collect", "delete_owned", "for_message", "init_app", "link", "of_messages", "owned"]


def init_app(app):
    """Take uploads as large as WEBUI_MAX_UPLOAD_BYTES at the upload endpoint, WEBUI_UPLOADS_PER_MINUTE of them a
    minute per user, and serve the API."""
    security.allow_body(app, "attachments.upload", api.body_limit(app.config))
    app.extensions["webui.uploads"] = make_window(app, "uploads", app.config["WEBUI_UPLOADS_PER_MINUTE"])
    jobs.init_app(app)
    app.register_blueprint(api.bp)
