"""What attachments leave behind goes: with the conversation that alone used them, with their account, once unsent
for a day, and files left by a crash."""
import os
import time
from pathlib import Path

import pytest

from attachment_files import stored, upload
from databases import run_sql
from test_auth import signed_in, webui
from test_presets_roles import add_account
from webui import attachments
from webui.attachments import cleanup, files
from webui.storage import conversations, get_db

DAY = 24 * 3600

pytestmark = pytest.mark.both_databases


def owner(client):
    """The owner a test client's cookie makes it."""
    return "anon:" + client.get_cookie("webui_owner").value


def conversation_with(app, owner_name, attached):
    """A conversation of two user messages, the first carrying `attached[0]`, the second `attached[1]` (lists of
    attachment ids), linked directly as the chat path will: (conversation id, message ids)."""
    with app.app_context():
        db = get_db()
        conversation_id = conversations.create_conversation(db, owner_name, "with files")
        parent, messages = None, []
        for ids in attached:
            parent = conversations.add_message(db, conversation_id, parent, "user", "look")
            attachments.link(db, parent, ids)
            messages.append(parent)
        conversations.update_conversation(db, conversation_id, leaf_id=parent)
    return conversation_id, messages


def names_of(rows):
    """The names of attachment rows, as stored() gives them."""
    return sorted(row[3] for row in rows)


def test_deleting_a_conversation_deletes_the_attachments_only_it_used(client, app):
    client.get("/")
    me = owner(client)
    only_first, shared, unsent, twin = (
        upload(client, data, name, "text/plain").json["id"]
        for data, name in ((b"first only", "first.txt"), (b"in both", "both.txt"), (b"never sent", "unsent.txt"), (b"first only", "twin.txt"))
    )
    first, _ = conversation_with(app, me, [[only_first, shared], [shared]])
    second, _ = conversation_with(app, me, [[shared, twin]])
    rows, links, names = stored(app)
    assert len(rows) == 4 and len(links) == 5 and len(names) == 3  # twin has first.txt's bytes

    assert client.delete(f"/api/conversations/{first}").status_code == 204
    rows, links, names = stored(app)
    assert names_of(rows) == ["both.txt", "twin.txt", "unsent.txt"] and len(links) == 2
    assert len(names) == 3, "first.txt's file stays: twin.txt has the same bytes"
    assert client.get(f"/api/attachments/{only_first}").status_code == 404
    assert client.get(f"/api/attachments/{twin}").data == b"first only"

    assert client.delete(f"/api/conversations/{second}").status_code == 204
    rows, links, names = stored(app)
    assert names_of(rows) == ["unsent.txt"] and links == [] and len(names) == 1
    assert client.get(f"/api/attachments/{unsent}").data == b"never sent"


def backdate(app, seconds):
    """Make every attachment `seconds` older."""
    run_sql(app, "UPDATE attachments SET created_at = created_at - ?", (seconds,))


def test_uploads_never_sent_go_after_a_day_sent_ones_stay(client, app):
    client.get("/")
    old_unsent, old_sent = (upload(client, data, name, "text/plain").json["id"] for data, name in ((b"a", "a.txt"), (b"b", "b.txt")))
    conversation_with(app, owner(client), [[old_sent]])
    backdate(app, DAY + 60)
    fresh = upload(client, b"c", "c.txt", "text/plain").json["id"]
    with app.app_context():
        assert cleanup.sweep(get_db()) == 1
        assert cleanup.sweep(get_db()) == 0
    rows, _links, names = stored(app)
    assert names_of(rows) == ["b.txt", "c.txt"] and len(names) == 2
    assert client.get(f"/api/attachments/{old_unsent}").status_code == 404
    assert client.get(f"/api/attachments/{fresh}").data == b"c"
    # One hour later than the setting says is too early.
    with app.app_context():
        assert cleanup.sweep(get_db(), time.time() + DAY - 3600) == 0
        assert cleanup.sweep(get_db(), time.time() + DAY + 60) == 1
    assert names_of(stored(app)[0]) == ["b.txt"]


def test_a_sweep_removes_files_a_crash_left_and_only_those(client, app):
    client.get("/")
    kept = upload(client, b"kept", "kept.txt", "text/plain").json["id"]
    root = Path(app.config["WEBUI_DATA_DIR"]) / "attachments"
    left = {name: files.path_of(root, files.digest(name.encode())) for name in ("stray", "recent stray")}
    left |= {name: root / f".incoming-{name}" for name in ("half", "recent half")}
    for name, path in left.items():
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_bytes(name.encode())
    # Older than an hour: the stray file, the unfinished write and the attachment's own file, which stays.
    two_hours_ago = time.time() - 2 * 3600
    for path in (left["stray"], left["half"], files.path_of(root, stored(app)[0][0][2])):
        os.utime(path, (two_hours_ago, two_hours_ago))
    with app.app_context():
        cleanup.sweep(get_db())
    rows, _links, names = stored(app)
    assert sorted(names) == sorted([rows[0][2], left["recent stray"].name, ".incoming-recent half"])
    assert client.get(f"/api/attachments/{kept}").data == b"kept"


def test_deleting_an_account_deletes_its_attachments(server, app_config):
    add_account(app_config, "alice", "--admin")
    add_account(app_config, "bob")
    alice, bob = signed_in(server, "alice"), signed_in(server, "bob")
    assert upload(alice, b"alice's", "a.txt", "text/plain").status_code == 201
    sent = upload(bob, b"bob's sent", "b.txt", "text/plain").json()["id"]
    assert upload(bob, b"bob's unsent", "c.txt", "text/plain").status_code == 201
    conversation_with(server.app, "user:bob", [[sent]])
    assert webui(app_config, "user", "delete", "bob").exit_code == 0
    rows, links, names = stored(server.app)
    assert names_of(rows) == ["a.txt"] and links == [] and len(names) == 1


def test_a_file_that_cannot_be_deleted_fails_no_deletion(client, app, caplog):
    client.get("/")
    attached = upload(client, b"stuck", "stuck.txt", "text/plain").json["id"]
    conversation_id, _ = conversation_with(app, owner(client), [[attached]])
    root = Path(app.config["WEBUI_DATA_DIR"]) / "attachments"
    path = files.path_of(root, files.digest(b"stuck"))
    path.unlink()
    (path / "inside").mkdir(parents=True)  # a folder where the file was: unlink() fails
    assert client.delete(f"/api/conversations/{conversation_id}").status_code == 204
    assert client.get(f"/api/conversations/{conversation_id}").status_code == 404
    assert stored(app)[0] == [] and "could not delete the attachment file" in caplog.text
