"""What a message's attachments become in what a model is sent.

Text files and PDFs go as text inside the message: a fenced block headed by the file's name, before the person's own
words. Images go only to models that read them, as each kind of server takes them: content parts with a data: URL
(OpenAI-compatible servers, drop-in modules with `supports_images`), base64 `images` (Ollama). Inside the server a
message that carries images is {"role", "content", "images": [Picture, …]}; one without is the plain
{"role", "content"} that every provider takes. The image parts of a /v1 request become the same Pictures, of images
read in memory (openai_api/images.py), so every provider is sent them as it is sent the page's.
"""
import base64
import re
import threading
from collections import OrderedDict
from dataclasses import dataclass

from flask_babel import gettext as _

from ..errors import UserError
from . import jobs, records

# The longest side of an image a model is sent; the stored file keeps its full size. OpenAI's high-detail mode scales
# an image down to fit 2048 × 2048 before reading it, and other vision models read fewer pixels still (LLaVA 336 or 672,
# Gemma 3 896, Claude about 1568): more would only make every request larger and slower (a 40-megapixel PNG is tens of
# MB of base64, sent again at each turn of its conversation).
MODEL_SIDE = 2048
# Scaled images are kept in memory by the stored file's digest, so that an image is scaled once, not at every turn
# that sends it again (scaling a 4000 × 3000 photo takes about 0.3 s, mostly the child process): at most this many
# bytes of them, the least recently sent going first. A 2048-pixel photo is about 0.5 MB as JPEG, a screenshot 1–4 MB.
SCALED_BYTES = 64 * 1024 * 1024
BACKTICKS = re.compile(r"`+")


class Scaled:
    """Images made to fit MODEL_SIDE, by the digest of the stored file they were made from."""

    def __init__(self, budget):
        """Keep at most `budget` bytes of them."""
        self.budget = budget
        self.images = OrderedDict()
        self.size = 0
        self.lock = threading.Lock()

    def get(self, attachment):
        """(media type, bytes) of the attachment's image scaled down, made in a child process (see jobs) if not kept."""
        with self.lock:
            found = self.images.get(attachment.hash)
            if found:
                self.images.move_to_end(attachment.hash)
                return found
        data = attachment.data if attachment.data is not None else records.read(attachment)
        reading = jobs.read("scale", attachment.name, data, side=MODEL_SIDE)
        found = (reading.media_type, reading.parts[0])
        with self.lock:
            if attachment.hash not in self.images:
                self.images[attachment.hash] = found
                self.size += len(found[1])
            while self.size > self.budget:
                _media_type, dropped = self.images.popitem(last=False)[1]
                self.size -= len(dropped)
        return found


SCALED = Scaled(SCALED_BYTES)


@dataclass(eq=False)
class Picture:
    """An image a message carries; its bytes are read (and scaled) only when a request to a model is made of it."""

    attachment: records.Attachment

    def sent(self):
        """(media type, bytes) of the image as a model is sent it."""
        image = self.attachment
        if max(image.width or 0, image.height or 0) > MODEL_SIDE:
            return SCALED.get(image)
        return image.media_type, image.data if image.data is not None else records.read(image)

    def base64(self):
        """The image's bytes in base64, as Ollama takes them."""
        return base64.b64encode(self.sent()[1]).decode("ascii")

    def data_url(self):
        """The image as a data: URL, as OpenAI's image_url takes it."""
        media_type, data = self.sent()
        return f"data:{media_type};base64,{base64.b64encode(data).decode('ascii')}"


def fence(text):
    """A code fence no run of backticks in `text` can close: one longer than the longest, at least three."""
    longest = max((len(run) for run in BACKTICKS.findall(text)), default=0)
    return "`" * max(3, longest + 1)


def file_block(attachment):
    """A text file's or PDF's text as a model reads it: its name on a line, then the text in a fenced block."""
    text = attachment.text
    marks = fence(text)
    ending = "" if text.endswith("\n") else "\n"
    return f"{attachment.name}\n{marks}\n{text}{ending}{marks}"


def message(role, text, files):
    """A message of what a model is sent, with the Attachments it carries: the text ones as blocks before its text, the
    images beside it."""
    if not files:
        return {"role": role, "content": text}
    content = "\n\n".join([file_block(f) for f in files if f.kind != "image"] + ([text] if text else []))
    pictures = [Picture(f) for f in files if f.kind == "image"]
    return {"role": role, "content": content, **({"images": pictures} if pictures else {})}


def with_files_of_last_user(messages, files):
    """A plain `messages` list whose last user message carries `files` (a chat frame's attachments)."""
    last = next((n for n in range(len(messages) - 1, -1, -1) if messages[n]["role"] == "user"), None)
    if last is None:
        raise UserError(_("Attachments go with a user message, and “messages” has none."), code="bad_request")
    return messages[:last] + [message("user", messages[last]["content"], files)] + messages[last + 1 :]


def has_images(messages):
    """Whether any of the messages carries an image."""
    return any(m.get("images") for m in messages)


def text_messages(messages):
    """The messages as plain {"role", "content"}, for a provider that reads no images (a model sent any was refused
    before: see Vision)."""
    return [{"role": m["role"], "content": m["content"]} for m in messages]


def openai_messages(messages):
    """The messages as OpenAI's chat API takes them: one that carries images has content parts, its text (if any)
    first, then each image as an image_url with a data: URL."""
    return [
        {
            "role": m["role"],
            "content": ([{"type": "text", "text": m["content"]}] if m["content"] else [])
            + [{"type": "image_url", "image_url": {"url": picture.data_url()}} for picture in m["images"]],
        }
        if m.get("images")
        else m
        for m in messages
    ]


def ollama_messages(messages):
    """The messages as Ollama's /api/chat takes them: a message's images as base64 in its `images`."""
    return [
        {"role": m["role"], "content": m["content"], "images": [picture.base64() for picture in m["images"]]}
        if m.get("images")
        else m
        for m in messages
    ]


class Unasked(Exception):
    """Images met inside a transaction before the provider said whether its model reads them: the caller rolls back,
    asks (Vision.reads) and writes again."""


class Vision:
    """Whether a provider's model reads images, asked at most once per request: a provider may ask its server."""

    def __init__(self, provider, model):
        """Nothing is asked yet."""
        self.provider = provider
        self.model = model
        self._reads = None

    def reads(self):
        """Whether the model reads images."""
        if self._reads is None:
            self._reads = bool(self.provider.reads_images(self.model))
        return self._reads

    def check(self, messages, asking=True, **details):
        """Refuse, before anything is stored or sent, messages with images for a model that does not read them (the
        refusal carries `details`: /v1 names the image part it is about). Not `asking` (inside a transaction, which
        must not wait for a server), Unasked when the provider has not said yet."""
        if not has_images(messages):
            return
        if self._reads is None and not asking:
            raise Unasked()
        if not self.reads():
            message = _(
                "%(model)s (%(provider)s) does not read images, and this message or an earlier one of the conversation"
                " has one. Choose a model that reads images: an administrator marks them with “vision” in Settings →"
                " Connections.",
                model=self.model,
                provider=self.provider.name,
            )
            raise UserError(message, code="no_vision", **details)
