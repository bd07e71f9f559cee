"""A chat request in a stored conversation: the rows it writes before the provider is called, and the history it sends."""
import dataclasses
import json

from flask_babel import gettext as _
from sqlalchemy import bindparam, update

from .. import attachments
from ..attachments import prompt
from ..errors import bad_request
from ..providers.registry import resolve
from ..storage import conversations, validate
from ..storage.schema import messages
from .context import Budget

# An answer that is continued streams again.
STREAMING_AGAIN = update(messages).where(messages.c.id == bindparam("message_id")).values(status="streaming")


@dataclasses.dataclass
class Turn:
    """A stored chat request whose rows are written: where its answer goes and what the provider is sent."""

    owner: str
    conversation_id: str
    user_message_id: str | None
    message_id: str
    prefix: str
    messages: list
    options: dict
    # The text a new conversation is first titled after (see titles.py); "" for a turn of one that exists.
    question: str = ""


def provider_messages(db, conversation, path):
    """The history a provider sees: the system prompt, then the path's messages that have text or files, each with
    the files it carries (see attachments/prompt.py)."""
    carried = attachments.carried(db, [m["id"] for m in path])
    messages = [{"role": "system", "content": conversation["system_prompt"]}] if conversation["system_prompt"] else []
    for m in path:
        files = carried.get(m["id"], [])
        if m["content"] or files:
            messages.append(prompt.message(m["role"], m["content"], files))
    return messages


def target(db, owner, chat, conversation, role):
    """The message an action works on, which must be in the conversation and have `role`."""
    message = conversations.owned_message(db, owner, chat.message_id, conversation["id"])
    if message["role"] != role:
        raise bad_request(
            _("Only an answer can be regenerated or continued.") if role == "assistant" else _("Only your own messages can be edited.")
        )
    return message


def begin(db, owner, chat, conversation, message_id, parent_id, prefix, provider, model):
    """Make `message_id` the conversation's leaf and return the Turn whose answer goes into it."""
    conversations.update_conversation(db, conversation["id"], leaf_id=message_id, provider=provider, model=model)
    # A continued answer is in the history it continues; a new one answers its parent.
    last = message_id if prefix else parent_id
    return Turn(
        owner=owner,
        conversation_id=conversation["id"],
        user_message_id=parent_id,
        message_id=message_id,
        prefix=prefix,
        messages=provider_messages(db, conversation, conversations.path_to(db, last)),
        options={**json.loads(conversation["options"]), **chat.options},
    )


def answer(db, owner, chat, conversation, parent_id, provider, model):
    """Add an empty answer under `parent_id` and return the Turn that fills it."""
    message_id = conversations.add_message(db, conversation["id"], parent_id, "assistant", "", "streaming", provider, model)
    return begin(db, owner, chat, conversation, message_id, parent_id, "", provider, model)


def send(db, owner, chat, provider, model):
    """A new user message at the end of the active branch (of a new conversation when there is none)."""
    question = ""
    if chat.conversation_id is None:
        # A message of files alone names its conversation after the first of them.
        question = chat.content if chat.content.strip() else attachments.owned(db, owner, chat.attachments[0]).name
        system_prompt = validate.system_prompt(chat.system_prompt or "")
        title = conversations.title_from(question)
        conversation_id = conversations.create_conversation(
            db, owner, title, provider, model, system_prompt=system_prompt, options=chat.options
        )
    else:
        conversation_id = chat.conversation_id
    conversation = conversations.owned_conversation(db, owner, conversation_id)
    user_id = conversations.add_message(db, conversation_id, conversation["leaf_id"], "user", chat.content)
    attachments.link(db, user_id, chat.attachments)
    return dataclasses.replace(answer(db, owner, chat, conversation, user_id, provider, model), question=question)


def regenerate(db, owner, chat, provider, model):
    """A new version of an answer, beside the old ones."""
    conversation = conversations.owned_conversation(db, owner, chat.conversation_id)
    message = target(db, owner, chat, conversation, "assistant")
    return answer(db, owner, chat, conversation, message["parent_id"], provider, model)


def edit(db, owner, chat, provider, model):
    """A new version of a user message, beside the old one, and an answer to it."""
    conversation = conversations.owned_conversation(db, owner, chat.conversation_id)
    message = target(db, owner, chat, conversation, "user")
    user_id = conversations.add_message(db, conversation["id"], message["parent_id"], "user", chat.content)
    attachments.link(db, user_id, chat.attachments)
    return answer(db, owner, chat, conversation, user_id, provider, model)


def carry_on(db, owner, chat, provider, model):
    """More of an answer: the provider sees it last in the history and its new text is appended."""
    conversation = conversations.owned_conversation(db, owner, chat.conversation_id)
    message = target(db, owner, chat, conversation, "assistant")
    if message["status"] == "streaming":
        raise bad_request(_("This answer is still being written."))
    if conversations.has_children(db, message["id"]):
        raise bad_request(_("Only the last answer of a branch can be continued."))
    db.execute(STREAMING_AGAIN, {"message_id": message["id"]})
    return begin(db, owner, chat, conversation, message["id"], message["parent_id"], message["content"], provider, model)


ACTIONS = {"send": send, "regenerate": regenerate, "edit": edit, "continue": carry_on}


def likely_history(db, chat, conversation, files):
    """The messages a turn will most likely send, read without writing: the conversation's active path and the new
    message with its `files` (an edit or a regenerated answer sends part of that path)."""
    earlier = []
    if conversation is not None and conversation["leaf_id"]:
        earlier = provider_messages(db, conversation, conversations.path_to(db, conversation["leaf_id"]))
    return earlier + [prompt.message("user", chat.content or "", files)]


def written(link, owner, chat, provider, model, vision, budget):
    """Write the turn's rows and return (Turn, context.Window), as one Database.write (under gevent one trip to a
    native thread); a turn with images for a model that reads none, or whose newest message does not fit, is refused
    and its rows are rolled back. Unasked when the history has images and the provider has not said whether its model
    reads them."""
    turn = ACTIONS[chat.action](link, owner, chat, provider.name, model)
    vision.check(turn.messages, asking=False)
    return turn, budget.fit(turn.messages, turn.options)


def prepare(db, owner, chat, registry):
    """Check the request, write its rows in one transaction and return (provider, model, Turn, context), the Turn with
    the history that fits the model's context (see context.Budget); nothing is written on error, nor sent to a model
    that reads no images when the history has some."""
    # The conversation is read before the write only when something needs it there (each read is a trip to a native
    # thread under gevent); the write reads it again, and refuses one that is not the owner's.
    conversation = None
    if chat.conversation_id is not None and chat.provider is None:
        conversation = conversations.owned_conversation(db, owner, chat.conversation_id)
        # Without a choice in the frame the conversation goes on with the model it used last.
        chat = dataclasses.replace(chat, provider=conversation["provider"], model=chat.model or conversation["model"])
    # Before the transaction: a provider may take a moment to list its models, load one or ask its server for its
    # context length or whether its model reads images, and nothing is written for a bad one.
    provider, model = resolve(chat, registry)
    # Each of the message's files must be the sender's (not_found otherwise, as for a conversation), none twice.
    files = attachments.for_message(db, owner, chat.attachments)
    vision = prompt.Vision(provider, model)
    # The new message's images are sent for sure: refused before the model's context is asked for (a model loaded).
    vision.check([prompt.message("user", "", files)])
    budget = Budget(provider, model)
    if budget.exact:
        # Counting with a tokenizer is C work: done ahead, outside the write lock, on the history the turn will most
        # likely send (a count is cached by text). An estimate needs no reading ahead.
        if conversation is None and chat.conversation_id is not None:
            conversation = conversations.owned_conversation(db, owner, chat.conversation_id)
        budget.warm(likely_history(db, chat, conversation, files))
    try:
        turn, window = db.write(written, owner, chat, provider, model, vision, budget)
    except prompt.Unasked:
        # Asked outside the transaction, which must not wait for a server while it holds the write lock.
        vision.reads()
        turn, window = db.write(written, owner, chat, provider, model, vision, budget)
    return provider, model, dataclasses.replace(turn, messages=window.messages), window.context
