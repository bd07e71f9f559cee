"""Stored conversations over real WebSockets: new turns, stop, continue, regenerate, edit, errors and ownership."""
import re
import sqlite3

import pytest
from simple_websocket import Client

from conftest import Browser, DaemonThread, ServerProcess, Socket, Visitor, delta_seqs, turn
from test_cli import server_command
from webui.storage import FILENAME


def text_of(frames):
    """Concatenate the delta frames' text."""
    return "".join(f["text"] for f in frames if f["type"] == "delta")


def counts(app):
    """How many conversations and messages the database holds."""
    return counts_in(app.extensions["webui.database"])


def counts_in(path):
    """How many conversations and messages the SQLite file at `path` holds."""
    db = sqlite3.connect(path)
    try:
        return [db.execute(f"SELECT count(*) FROM {table}").fetchone()[0] for table in ("conversations", "messages")]
    finally:
        db.close()


def numbers(start, stop):
    """The numbered model's text for counts start..stop-1."""
    return "".join(f"n{n} " for n in range(start, stop))


def first_turn(visitor, ws, content="hello there", model="echo", **fields):
    """Start a conversation and return its frames and the stored conversation."""
    ws.send(turn("t0", content=content, model=model, **fields))
    frames = ws.until_final("t0")
    return frames, visitor.http.get(f"/api/conversations/{frames[0]['conversation_id']}").json


def test_a_first_message_creates_a_stored_conversation(visitor):
    ws = visitor.connect()
    frames, conversation = first_turn(visitor, ws, "  Hello   there,\n how are you?  ")
    start = frames[0]
    assert start["type"] == "start" and start["provider"] == "testing" and start["model"] == "echo"
    chunks = delta_seqs(frames)[-1]
    assert chunks == frames[-1]["stats"]["chunks"]
    assert frames[-1]["type"] == "done" and frames[-1]["reason"] == "complete"
    assert conversation["id"] == start["conversation_id"]
    assert conversation["title"] == "Hello there, how are you?"
    assert (conversation["provider"], conversation["model"]) == ("testing", "echo")
    user, answer = conversation["messages"]
    assert (user["id"], user["role"], user["parent_id"]) == (start["user_message_id"], "user", None)
    assert user["content"] == "  Hello   there,\n how are you?  " and user["status"] == "complete"
    assert (answer["id"], answer["role"], answer["parent_id"]) == (start["message_id"], "assistant", user["id"])
    assert answer["content"] == text_of(frames) and answer["status"] == "complete"
    assert answer["stats"]["chunks"] == chunks and (answer["versions"], answer["version"]) == ([answer["id"]], 0)
    listed = visitor.http.get("/api/conversations").json["conversations"]
    assert [c["id"] for c in listed] == [conversation["id"]]


def test_long_first_messages_make_short_titles(visitor):
    ws = visitor.connect()
    _, conversation = first_turn(visitor, ws, "word " * 40)
    assert conversation["title"].endswith("…") and len(conversation["title"]) <= 61


def test_the_provider_gets_the_stored_history_prompt_and_options(visitor, testing_provider):
    ws = visitor.connect()
    _, conversation = first_turn(visitor, ws, "first question")
    changed = visitor.http.patch(
        f"/api/conversations/{conversation['id']}",
        json={"system_prompt": "Be brief.", "options": {"temperature": 0.3, "max_tokens": 5}},
    )
    assert changed.status_code == 200
    ws.send(turn("t1", conversation["id"], content="second question", options={"temperature": 0.9}))
    ws.until_final("t1")
    assert testing_provider().seen_kwargs[-1] == {"temperature": 0.9, "max_tokens": 5}
    assert testing_provider().seen_messages[-1] == [
        {"role": "system", "content": "Be brief."},
        {"role": "user", "content": "first question"},
        {"role": "assistant", "content": "first question "},
        {"role": "user", "content": "second question"},
    ]


def test_without_a_model_in_the_frame_the_conversation_keeps_its_own(visitor, testing_provider):
    ws = visitor.connect()
    _, conversation = first_turn(visitor, ws, "x", model="numbered", options={"max_tokens": 2})
    ws.send({"type": "chat", "request_id": "t1", "conversation_id": conversation["id"], "content": "more"})
    frames = ws.until_final("t1")
    assert (frames[0]["provider"], frames[0]["model"]) == ("testing", "numbered")


def test_stop_keeps_the_partial_answer_and_continue_carries_on(visitor):
    ws = visitor.connect()
    ws.send(turn("long", model="numbered", content="count", options={"max_tokens": 5000}))
    frames = [ws.recv() for _ in range(6)]
    ws.send({"type": "stop", "request_id": "long"})
    frames += ws.until_final("long")
    assert frames[-1]["reason"] == "stopped"
    conversation_id, message_id = frames[0]["conversation_id"], frames[0]["message_id"]
    stopped = visitor.http.get(f"/api/conversations/{conversation_id}").json["messages"][-1]
    assert stopped["status"] == "stopped" and stopped["content"] == text_of(frames)
    sent = len(text_of(frames).split())

    ws.send(turn("more", conversation_id, model="numbered", action="continue", message_id=message_id, options={"max_tokens": 7}))
    more = ws.until_final("more")
    assert more[0]["message_id"] == message_id and more[0]["user_message_id"] == stopped["parent_id"]
    assert delta_seqs(more)[-1] == 7
    assert text_of(more) == numbers(sent, sent + 7)
    answer = visitor.http.get(f"/api/conversations/{conversation_id}").json["messages"][-1]
    assert answer["id"] == message_id and answer["status"] == "complete"
    assert answer["content"] == numbers(0, sent + 7) and answer["versions"] == [message_id]


def test_regenerate_keeps_the_old_answer_as_a_version(visitor):
    ws = visitor.connect()
    frames, conversation = first_turn(visitor, ws, "same words")
    old = frames[0]["message_id"]
    ws.send(turn("again", conversation["id"], action="regenerate", message_id=old))
    again = ws.until_final("again")
    new = again[0]["message_id"]
    assert new != old and again[0]["user_message_id"] == frames[0]["user_message_id"]
    messages = visitor.http.get(f"/api/conversations/{conversation['id']}").json["messages"]
    assert [m["id"] for m in messages] == [frames[0]["user_message_id"], new]
    assert (messages[-1]["versions"], messages[-1]["version"]) == ([old, new], 1)

    switched = visitor.http.patch(f"/api/conversations/{conversation['id']}", json={"leaf_id": old}).json
    assert [m["id"] for m in switched["messages"]] == [frames[0]["user_message_id"], old]
    assert switched["messages"][-1]["version"] == 0 and switched["messages"][-1]["content"] == "same words "


def test_edit_and_resend_branches_and_keeps_the_old_branch(visitor):
    ws = visitor.connect()
    frames, conversation = first_turn(visitor, ws, "one")
    first_user = frames[0]["user_message_id"]
    ws.send(turn("t1", conversation["id"], content="two"))
    ws.until_final("t1")
    ws.send(turn("edit", conversation["id"], action="edit", message_id=first_user, content="uno"))
    edited = ws.until_final("edit")
    assert text_of(edited) == "uno "
    messages = visitor.http.get(f"/api/conversations/{conversation['id']}").json["messages"]
    assert [m["content"] for m in messages] == ["uno", "uno "]
    assert messages[0]["versions"] == [first_user, edited[0]["user_message_id"]] and messages[0]["version"] == 1

    # Going back to the first version shows its newest branch, which went on with "two".
    old = visitor.http.patch(f"/api/conversations/{conversation['id']}", json={"leaf_id": first_user}).json
    assert [m["content"] for m in old["messages"]] == ["one", "one ", "two", "two "]


def test_a_failing_provider_leaves_the_user_message_and_the_partial_answer(visitor):
    ws = visitor.connect()
    frames, conversation = first_turn(visitor, ws, "hi", model="fail_midway")
    assert frames[-1]["type"] == "error"
    user, answer = conversation["messages"]
    assert user["content"] == "hi"
    assert answer["status"] == "error" and answer["content"] == "partial answer "
    assert answer["error"]["code"] == "provider_error" and "upstream went away" in answer["error"]["message"]


def test_continue_works_only_on_the_last_answer_of_a_branch(visitor):
    ws = visitor.connect()
    frames, conversation = first_turn(visitor, ws, "one")
    ws.send(turn("t1", conversation["id"], content="two"))
    ws.until_final("t1")
    before = counts(visitor.server.app)
    ws.send(turn("c", conversation["id"], action="continue", message_id=frames[0]["message_id"]))
    error = ws.recv()
    assert error["type"] == "error" and error["code"] == "bad_request" and error["request_id"] == "c"
    assert counts(visitor.server.app) == before


@pytest.mark.parametrize(
    "fields, code",
    [
        ({"content": "x", "action": "dance"}, "bad_request"),
        ({"action": "continue"}, "bad_request"),
        ({"action": "regenerate", "message_id": "USER"}, "bad_request"),
        ({"action": "edit", "message_id": "ANSWER", "content": "x"}, "bad_request"),
        ({"action": "edit", "message_id": "USER"}, "bad_request"),
        ({"content": "   "}, "bad_request"),
        ({"content": "x", "message_id": "ANSWER"}, "bad_request"),
        ({"content": "x", "messages": [{"role": "user", "content": "x"}]}, "bad_request"),
        ({"content": 5}, "bad_request"),
        ({"content": "x", "provider": "nope"}, "unknown_provider"),
        ({"content": "x", "model": "nope"}, "unknown_model"),
        ({"content": "x", "options": {"base_url": "http://10.0.0.1"}}, "bad_request"),
        ({"content": "x", "conversation_id": "no-such-conversation"}, "not_found"),
        ({"action": "regenerate", "message_id": "no-such-message"}, "not_found"),
    ],
)
def test_bad_turns_are_refused_and_store_nothing(visitor, testing_provider, fields, code):
    ws = visitor.connect()
    frames, conversation = first_turn(visitor, ws)
    ids = {"USER": frames[0]["user_message_id"], "ANSWER": frames[0]["message_id"]}
    if "message_id" in fields:
        fields = {**fields, "message_id": ids.get(fields["message_id"], fields["message_id"])}
    before, calls = counts(visitor.server.app), len(testing_provider().started)
    ws.send({**turn("bad", conversation["id"]), **fields})
    error = ws.recv()
    assert error["type"] == "error" and error["code"] == code and error["message"]
    assert counts(visitor.server.app) == before and len(testing_provider().started) == calls
    ws.send(turn("after", conversation["id"], content="still fine"))
    assert text_of(ws.until_final("after")) == "still fine "


@pytest.mark.parametrize("language", ["en", "ru"])
def test_under_gevent_a_turn_refused_inside_its_write_is_worded_in_the_readers_language_and_the_conversation_opens(tmp_path, providers_dir, language):
    # `webui` runs on gevent: a turn's rows are written in one trip to a native thread (turns.written), and what is
    # refused there is worded with the request's language from the copied context.
    command, env = server_command(tmp_path / "data", providers_dir, LANG="C")
    server = ServerProcess(command, env=env)
    browser = Browser(server.url)
    browser.get("/")  # the page gives the browser its identity, which its socket then carries
    headers = {"Cookie": browser.cookie_header(), "Accept-Language": language}
    ws = Socket(Client.connect(server.url.replace("http", "ws", 1) + "/ws", headers=headers, thread_class=DaemonThread))
    try:
        ws.send(turn("t0", content="one"))
        start = ws.until_final("t0")[0]
        conversation_id = start["conversation_id"]
        ws.send(turn("t1", conversation_id, content="two"))
        ws.until_final("t1")
        before = counts_in(tmp_path / "data" / FILENAME)
        refused = [
            turn("r", conversation_id, action="regenerate", message_id=start["user_message_id"]),
            turn("e", conversation_id, action="edit", message_id=start["message_id"], content="x"),
            turn("c", conversation_id, action="continue", message_id=start["message_id"]),
        ]
        for frame in refused:
            ws.send(frame)
            error = ws.recv()
            assert (error["type"], error["code"], error["request_id"]) == ("error", "bad_request", frame["request_id"])
            assert bool(re.search("[а-яА-Я]", error["message"])) == (language == "ru"), error
        assert counts_in(tmp_path / "data" / FILENAME) == before == [1, 4]
        ws.send(turn("after", conversation_id, content="still fine"))
        assert text_of(ws.until_final("after")) == "still fine "
        # Opened, its queries go in one trip too: the API's copy, the page's, and a refusal in the reader's language.
        shown = browser.get(f"/api/conversations/{conversation_id}").json()
        assert [m["content"] for m in shown["messages"]] == ["one", "one ", "two", "two ", "still fine", "still fine "]
        assert 'id="conversation-data"' in browser.get(f"/c/{conversation_id}").text
        missing = browser.get("/api/conversations/no-such-conversation", headers={"Accept-Language": language})
        assert missing.status_code == 404
        assert bool(re.search("[а-яА-Я]", missing.json()["error"]["message"])) == (language == "ru")
    finally:
        ws.close()
        server.stop()


def test_another_browser_cannot_use_the_conversation(visitor):
    ws = visitor.connect()
    frames, conversation = first_turn(visitor, ws)
    stranger = Visitor(visitor.server)
    other = stranger.connect()
    before = counts(visitor.server.app)
    attempts = [
        turn("a", conversation["id"], content="mine now"),
        turn("b", conversation["id"], action="regenerate", message_id=frames[0]["message_id"]),
        turn("c", conversation["id"], action="edit", message_id=frames[0]["user_message_id"], content="x"),
        {"type": "resume", "request_id": "d", "message_id": frames[0]["message_id"], "after": 0},
    ]
    for frame in attempts:
        other.send(frame)
        error = other.recv()
        assert (error["type"], error["code"], error["request_id"]) == ("error", "not_found", frame["request_id"])
    assert counts(visitor.server.app) == before
    assert stranger.http.get(f"/api/conversations/{conversation['id']}").status_code == 404


def test_a_new_conversation_starts_with_the_chosen_system_prompt_and_options(visitor, testing_provider):
    ws = visitor.connect()
    ws.send(turn("first", content="ahoy", system_prompt="Talk like a pirate.", options={"temperature": 0.3}))
    start = ws.until_final("first")[0]
    assert testing_provider().seen_messages[-1][0] == {"role": "system", "content": "Talk like a pirate."}
    assert testing_provider().seen_kwargs[-1]["temperature"] == 0.3
    stored = visitor.http.get(f"/api/conversations/{start['conversation_id']}").get_json()
    assert stored["system_prompt"] == "Talk like a pirate." and stored["options"] == {"temperature": 0.3}
    ws.send(turn("later", conversation_id=start["conversation_id"], content="again", system_prompt="No."))
    assert ws.until_final("later")[-1]["code"] == "bad_request"
    ws.send(turn("long", content="x", system_prompt="y" * 40_000))
    assert ws.until_final("long")[-1]["code"] == "bad_request"
