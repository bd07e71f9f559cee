"""PostgreSQL stores a streaming answer's part of any size: its search index takes the part's first 100,000
characters, as it takes a message's."""
import pytest

from test_postgres import found
from webui.storage import conversations, get_db
from webui.storage.answer_parts import Part, append_parts
from webui.storage.database import transaction

pytestmark = pytest.mark.parametrize("database_url", ["postgresql"], indirect=True)


def test_a_part_of_a_million_characters_of_distinct_words_is_stored_and_its_start_found(app, client):
    client.get("/")
    owner = "anon:" + client.get_cookie("webui_owner").value
    # Short distinct words: about 1.3 MB of tsvector for the whole part, past the 1 MB a tsvector may hold.
    words = [f"w{n:x}" for n in range(160_000)]
    text = " ".join(words)
    assert len(text) > 900_000
    with app.app_context():
        db = get_db()
        with transaction(db):
            conversation_id = conversations.create_conversation(db, owner, "")
            message_id = conversations.add_message(db, conversation_id, None, "assistant", "", status="streaming")
        assert db.write(append_parts, [Part(message_id, text, "", "testing", "echo", None)]) == set()
        stored = conversations.owned_message(db, owner, message_id)
    assert (stored["status"], stored["content"]) == ("streaming", text)
    assert found(client, words[10]) == {conversation_id}
    assert found(client, words[-1]) == set()
