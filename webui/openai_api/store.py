"""WEBUI_API_STORE: an API exchange kept as a new conversation of the token's owner, its answer written as it streams.

The images of its messages become attachments those stored messages carry, as the page's messages carry theirs.
"""
from ..chat.stored_answers import StoredAnswer, get_stored_answers
from ..chat.turns import Turn
from ..storage import conversations, get_db, validate
from ..storage.database import transaction
from . import images


def begin(owner, messages, sent, provider, model, options):
    """Write a conversation of `owner` holding the request's `messages` (its system messages as its system prompt), each
    with its images as attachments it carries, and an empty answer: the Turn whose answer fills it, with `sent`, what
    the provider is sent of them."""
    system = validate.system_prompt("\n\n".join(m["content"] for m in messages if m["role"] == "system"))
    chain = [m for m in messages if m["role"] != "system"]
    asked = next((m for m in reversed(chain) if m["role"] == "user"), {"content": system})
    # A question of images alone is titled after the first, as the page titles a message of files alone.
    pictures = asked.get("images", ())
    question = asked["content"] or (pictures[0].attachment.name if pictures else "")
    images.write_files(chain)
    db = get_db()
    with transaction(db):
        conversation_id = conversations.create_conversation(
            db, owner, conversations.title_from(question), provider, model, system_prompt=system, options=options
        )
        parent_id = None
        for message in chain:
            parent_id = conversations.add_message(db, conversation_id, parent_id, message["role"], message["content"])
            images.keep(db, parent_id, message)
        message_id = conversations.add_message(db, conversation_id, parent_id, "assistant", "", "streaming", provider, model)
        conversations.update_conversation(db, conversation_id, leaf_id=message_id)
    return Turn(owner, conversation_id, parent_id, message_id, "", sent, options)


def stored_answer(cursor, owner, messages, sent, provider, model, options):
    """The answer of a new stored conversation (see begin), listed where the saver writes it and `resume` finds it."""
    answer = StoredAnswer(cursor, provider, model, begin(owner, messages, sent, provider, model, options), get_stored_answers())
    answer.registry.add(answer)
    return answer
