"""Conversations in and out: JSON (OpenAI `messages` plus metadata) and Markdown exports, and imports checked field by field."""
import json
from datetime import datetime, timezone

from flask_babel import gettext as _

from ..attachments import portable, records
from ..errors import UserError
from . import conversations, get_db, validate
from .database import transaction

FORMAT = "webui.conversation"
FORMAT_VERSION = 1
MAX_MESSAGES = 10_000
MAX_MESSAGE_CHARS = 1_000_000
# Each file of an import is read again in a child process of its own (0.05 s to a second): a bound on all of them
# keeps one small import from keeping the machine's cores busy for minutes.
MAX_IMPORT_FILES = 100


def export_json(conversation):
    """The active path as OpenAI messages, with what is needed to pick the conversation up again, as pieces of JSON
    text made as they are sent: a message's files (in base64, see attachments/portable.py) are read only when its turn
    comes, so an export with many is never whole in memory. It reads with the connection of the context it runs in
    (a streamed response's, after the request's own has closed)."""
    db = get_db()
    data = conversations.conversation_json(db, conversation)
    head = {
        "format": FORMAT,
        "version": FORMAT_VERSION,
        **{key: data[key] for key in ("title", "system_prompt", "options", "provider", "model", "created_at")},
    }
    fields = [f"  {json.dumps(key)}: {json.dumps(value, ensure_ascii=False)},\n" for key, value in head.items()]
    yield "{\n" + "".join(fields) + '  "messages": ['
    for number, message in enumerate(data["messages"]):
        exported = {"role": message["role"], "content": message["content"]}
        if message["attachments"]:
            exported["attachments"] = portable.exported(db, conversation["owner"], message["attachments"])
        yield ("," if number else "") + "\n    " + json.dumps(exported, ensure_ascii=False)
    yield "\n  ]\n}\n"


def export_markdown(db, conversation):
    """The active path as a Markdown document, headed by the title and the system prompt."""
    data = conversations.conversation_json(db, conversation)
    parts = [f"# {data['title']}"]
    if data["system_prompt"]:
        quoted = "\n".join("> " + line for line in data["system_prompt"].splitlines())
        parts.append(f"**{_('System prompt')}**\n\n{quoted}")
    for message in data["messages"]:
        if message["role"] == "user":
            heading = _("User")
        else:
            heading = _("Assistant") + (f" ({message['model']})" if message["model"] else "")
        body = [text for text in (message["content"], portable.markdown_links(message["attachments"])) if text]
        parts.append(f"## {heading}\n\n" + "\n\n".join(body))
    return "\n\n".join(parts) + "\n"


def invalid(message):
    """A UserError for a file that cannot be imported."""
    return UserError(message, code="invalid_import")


def parse_messages(items, system_allowed):
    """Check the messages of an import; returns (the system prompt from leading system messages, the others)."""
    if not 1 <= len(items) <= MAX_MESSAGES:
        raise invalid(_("A conversation must have 1 to %(n)d messages.", n=MAX_MESSAGES))
    system, messages, file_count = [], [], 0
    for n, item in enumerate(items, 1):
        if not isinstance(item, dict) or not isinstance(item.get("content"), str):
            raise invalid(_("Message %(n)d must be an object with a text “content”.", n=n))
        if len(item["content"]) > MAX_MESSAGE_CHARS:
            raise invalid(_("Message %(n)d is longer than %(max)d characters.", n=n, max=MAX_MESSAGE_CHARS))
        role = item.get("role")
        if item.get("attachments") not in (None, []) and role != "user":
            raise invalid(_("Message %(n)d: only user messages carry files.", n=n))
        if role == "system" and system_allowed and not messages:
            system.append(item["content"])
        elif role in ("user", "assistant"):
            files = portable.parse(item.get("attachments") or [], n)
            file_count += len(files)
            if file_count > MAX_IMPORT_FILES:
                raise invalid(_("An import may carry at most %(n)d files.", n=MAX_IMPORT_FILES))
            messages.append({"role": role, "content": item["content"], "files": files})
        else:
            raise invalid(
                _(
                    "Message %(n)d has the role “%(role)s”: only user and assistant, and system at the start, are allowed.",
                    n=n,
                    role=str(role)[:40],
                )
            )
    if not messages:
        raise invalid(_("There is no user or assistant message to import."))
    return "\n\n".join(system), messages


def parse_time(value):
    """An ISO 8601 time from an export, as a stored timestamp (None when absent)."""
    if value is None:
        return None
    try:
        moment = datetime.fromisoformat(value)
    except (TypeError, ValueError):
        raise invalid(_("“created_at” must be a date and time in ISO 8601 form.")) from None
    moment = moment if moment.tzinfo else moment.replace(tzinfo=timezone.utc)
    if not conversations.EARLIEST <= moment <= conversations.LATEST:
        raise invalid(_("“created_at” must be a time between the years 1970 and 9999."))
    return moment.timestamp()


def parse_import(data):
    """Check an uploaded export (or a plain list of OpenAI messages) and return what to store."""
    if isinstance(data, list):
        data = {"messages": data}
    if not isinstance(data, dict) or not isinstance(data.get("messages"), list):
        raise invalid(_("The file is neither a conversation exported from here nor a list of messages."))
    if data.get("format", FORMAT) != FORMAT:
        raise invalid(_("The file is not a conversation exported from here."))
    version = data.get("version", FORMAT_VERSION)
    if isinstance(version, bool) or not isinstance(version, int) or not 1 <= version <= FORMAT_VERSION:
        raise invalid(_("The file's format version is not one this server can read."))
    settings = validate.settings(data)
    system_prompt, messages = parse_messages(data["messages"], "system_prompt" not in data)
    first = next((m["content"] for m in messages if m["role"] == "user"), messages[0]["content"])
    return {
        "title": settings.get("title") or conversations.title_from(first) or _("Imported conversation"),
        "system_prompt": settings.get("system_prompt", system_prompt),
        "options": settings.get("options") or {},
        "provider": settings.get("provider"),
        "model": settings.get("model"),
        "created_at": parse_time(data.get("created_at")),
        "messages": messages,
    }


def over_quota(needed, used, quota):
    """The refusal of an import that would take its owner past the bytes they may store."""
    mib = 1024 * 1024
    return UserError(
        _(
            "This import needs %(needed).1f MiB, and your conversations already take %(used).1f MiB of the"
            " %(quota).1f MiB you may store: delete some conversations first.",
            needed=needed / mib,
            used=used / mib,
            quota=quota / mib,
        ),
        code="over_quota",
    )


def store_import(db, owner, spec, quota=0):
    """Store a checked import as a new conversation in one transaction; returns its id.

    With a `quota` (bytes), the owner's messages may not take more than that with the import's.
    """
    needed = sum(len(message["content"].encode("utf-8", "surrogatepass")) for message in spec["messages"])
    # Looked at before the files are read and stored (which takes a while), and again where it counts.
    check_room(db, owner, needed, quota)
    carried = portable.accept_all(owner, spec["messages"])
    try:
        with transaction(db):
            # Counted inside the transaction: two imports at once cannot both fit in the same room.
            check_room(db, owner, needed, quota)
            conversation_id = conversations.create_conversation(
                db, owner, spec["title"], spec["provider"], spec["model"], spec["system_prompt"], spec["options"],
                spec["created_at"],
            )
            parent_id = None
            for message, ids in zip(spec["messages"], carried):
                parent_id = conversations.add_message(db, conversation_id, parent_id, message["role"], message["content"])
                records.link(db, parent_id, ids)
            conversations.update_conversation(db, conversation_id, leaf_id=parent_id)
    except BaseException:
        portable.discard(owner, carried)
        raise
    return conversation_id


def check_room(db, owner, needed, quota):
    """Refuse an import of `needed` bytes of text that would take the owner past `quota` (0: no limit)."""
    used = conversations.stored_bytes(db, owner) if quota else 0
    if quota and used + needed > quota:
        raise over_quota(needed, used, quota)
