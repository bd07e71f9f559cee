"""The context budget with a scripted provider: the oldest whole turns are dropped, in steps, and a message too long
for the model is refused with nothing stored."""
import sys

import pytest

from test_conversations_api import snapshot
from webui.chat.context import BYTES_PER_TOKEN, MESSAGE_OVERHEAD
from webui.providers.registry import DROPIN_PACKAGE

# A provider whose model holds 300 tokens, as the server estimates them, and answers with how many messages it saw.
WINDOWED = '''
model = ["small", "unbounded"]
context_length = {"small": 300}
supports_stream = True
seen = []


def _create_completion(model, messages, stream, **kwargs):
    seen.append(messages)
    yield f"saw {len(messages)}"
'''
LIMIT = 300
# A quarter of the context is kept for the answer when the request does not say.
ROOM = LIMIT - LIMIT // 4
# A user message of 20 estimated tokens (with its overhead), and answers of 6 or 7.
WORDS = "x" * ((20 - MESSAGE_OVERHEAD) * BYTES_PER_TOKEN - 3)


@pytest.fixture
def windowed(providers_dir):
    """Add the windowed module; return what it saw, a list of the message lists it was sent."""
    (providers_dir / "windowed.py").write_text(WINDOWED)
    return lambda: sys.modules[f"{DROPIN_PACKAGE}.windowed"].seen


def turn_frame(request_id, conversation_id, content, **fields):
    """A chat frame of a stored conversation with the windowed provider."""
    return {
        "type": "chat", "request_id": request_id, "conversation_id": conversation_id, "provider": "windowed",
        "model": "small", "content": content, **fields,
    }


def test_a_long_conversation_drops_its_oldest_turns_in_steps_and_keeps_working(windowed, visitor):
    ws = visitor.connect()
    conversation_id, dropped, starts = None, [], []
    for n in range(20):
        ws.send(turn_frame(f"t{n}", conversation_id, f"{n} {WORDS}", **({"system_prompt": "Be brief."} if n == 0 else {})))
        frames = ws.until_final(f"t{n}")
        assert frames[-1]["type"] == "done", frames[-1]
        start = frames[0]
        conversation_id = start["conversation_id"]
        context = start["context"]
        assert context["limit"] == LIMIT and 0 < context["used"] <= ROOM
        sent = windowed()[-1]
        # The system prompt, then whole turns, the newest last: every dropped message is the oldest.
        assert sent[0] == {"role": "system", "content": "Be brief."}
        assert sent[1]["role"] == "user" and sent[-1]["content"] == f"{n} {WORDS}"
        assert len(sent) == 1 + 2 * (n + 1) - 1 - context["dropped_messages"]
        assert context["dropped_messages"] % 2 == 0
        dropped.append(context["dropped_messages"])
        starts.append(sent[1]["content"].split()[0])
    assert dropped[0] == 0 and dropped[-1] > 0
    assert dropped == sorted(dropped)
    # Dropped in steps of about half the room: the same first message for several turns in a row, so a server that
    # keeps its evaluated prefix reuses it.
    steps = [b - a for a, b in zip(dropped, dropped[1:]) if b != a]
    assert len(steps) < len(dropped) // 3 and all(step >= 4 for step in steps), dropped
    # The answer stores what it was sent, for the page after a reload.
    messages = visitor.http.get(f"/api/conversations/{conversation_id}").json["messages"]
    assert messages[-1]["stats"]["context"] == start["context"]
    assert int(starts[-1]) == dropped[-1] // 2


def test_a_plain_request_is_fitted_too(windowed, server):
    ws = server.connect()
    history = []
    for n in range(12):
        history += [{"role": "user", "content": f"{n} {WORDS}"}, {"role": "assistant", "content": "ok"}]
    history.append({"role": "user", "content": "last"})
    ws.send({"type": "chat", "request_id": "p", "provider": "windowed", "model": "small", "messages": history})
    frames = ws.until_final("p")
    context = frames[0]["context"]
    assert frames[-1]["type"] == "done" and context["dropped_messages"] > 0
    assert windowed()[-1] == history[context["dropped_messages"] :]
    assert frames[-1]["stats"]["context"] == context


def test_a_model_of_unknown_context_is_sent_everything(windowed, server):
    ws = server.connect()
    history = [{"role": "user", "content": WORDS}] * 21
    ws.send({"type": "chat", "request_id": "u", "provider": "windowed", "model": "unbounded", "messages": history})
    frames = ws.until_final("u")
    assert frames[0]["context"] == {"limit": None, "used": None, "dropped_messages": 0}
    assert len(windowed()[-1]) == 21


@pytest.mark.parametrize(
    "accept, words",
    [("en", ["too long", "tokens", "300 tokens", "75 tokens"]), ("ru", ["слишком длинное", "токенов", "300 токенов", "75 токенов"])],
)
def test_a_message_too_long_for_the_model_is_refused_and_nothing_is_stored(windowed, server, visitor, accept, words):
    ws = visitor.server.connect(headers={"Cookie": f"webui_owner={visitor.http.get_cookie('webui_owner').value}",
                                         "Accept-Language": accept})
    ws.send(turn_frame("a", None, "hello"))
    conversation_id = ws.until_final("a")[0]["conversation_id"]
    before = snapshot(server.app)
    huge = "y" * (ROOM * BYTES_PER_TOKEN)
    for frame in (turn_frame("b", conversation_id, huge), turn_frame("c", None, huge)):
        ws.send(frame)
        [error] = ws.until_final(frame["request_id"])
        assert error["type"] == "error" and error["code"] == "context_exceeded"
        length = -(-len(huge) // BYTES_PER_TOKEN) + MESSAGE_OVERHEAD
        assert all(word in error["message"] for word in words) and f"{length:,}".replace(",", "") in error["message"].replace(",", "").replace("\xa0", "")
    assert snapshot(server.app) == before
    assert len(windowed()) == 1


def test_a_system_prompt_that_leaves_no_room_is_named_as_the_cause(windowed, server):
    ws = server.connect()
    history = [{"role": "system", "content": "s" * (ROOM * BYTES_PER_TOKEN)}, {"role": "user", "content": "hi"}]
    ws.send({"type": "chat", "request_id": "s", "provider": "windowed", "model": "small", "messages": history})
    [error] = ws.until_final("s")
    assert error["code"] == "context_exceeded" and "system prompt" in error["message"]
    assert windowed() == []
