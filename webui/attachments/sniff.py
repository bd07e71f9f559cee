"""What a file is, decided by its content (magic bytes, then UTF-8), never by its name; and its name for display."""
import unicodedata

from flask_babel import gettext as _

from ..errors import UserError

# The formats read as images (jobs.py decodes them in a child process) and as PDFs, by their first bytes.
IMAGE_MAGIC = (b"\x89PNG\r\n\x1a\n", b"\xff\xd8\xff", b"GIF87a", b"GIF89a")
PDF_MAGIC = b"%PDF-"
# Text is UTF-8 with no NUL in its first BINARY_PROBE bytes; a NUL this early says binary, as git and grep take it.
BINARY_PROBE = 8192
TEXT_TYPE = "text/plain"
# A name or a browser's type that says image or PDF, for a file that is not one, is refused rather than stored as
# text: the person meant to send something else, and a page must never take the one for the other. (SVG is text.)
IMAGE_EXTENSIONS = frozenset("png jpg jpeg jpe jfif pjpeg pjp gif webp apng avif heic heif bmp ico tif tiff".split())
MAX_NAME_CHARS = 200
# Unicode categories dropped from a name: controls, format characters (bidi overrides, zero widths), surrogates,
# private use and unassigned, which would let a name pose as another in a list.
HIDDEN_CATEGORIES = frozenset({"Cc", "Cf", "Cs", "Co", "Cn"})


def display_name(filename):
    """A file name fit to show and to offer as a download name: its last path component, without control or invisible
    characters, whitespace collapsed, at most MAX_NAME_CHARS (keeping the extension). Never used as a path."""
    name = (filename or "").replace("\\", "/").rsplit("/", 1)[-1]
    name = "".join(c for c in name if unicodedata.category(c) not in HIDDEN_CATEGORIES)
    name = " ".join(name.split())
    if len(name) > MAX_NAME_CHARS:
        stem, dot, extension = name.rpartition(".")
        extension = dot + extension if stem and len(extension) < 16 else ""
        name = name[: MAX_NAME_CHARS - len(extension)].rstrip() + extension
    return name or "file"


def extension(name):
    """A name's extension in lower case, without the dot ("" for none)."""
    stem, dot, ext = name.rpartition(".")
    return ext.lower() if dot and stem else ""


def claimed_kind(name, claimed_type):
    """What the name or the browser's type says the file is: "image", "pdf", or None (anything, text included)."""
    claimed_type = (claimed_type or "").split(";")[0].strip().lower()
    if extension(name) in IMAGE_EXTENSIONS or (claimed_type.startswith("image/") and claimed_type != "image/svg+xml"):
        return "image"
    if extension(name) == "pdf" or claimed_type == "application/pdf":
        return "pdf"
    return None


def unsupported(name):
    """The refusal of a file of a kind this server does not read."""
    return UserError(
        _("“%(name)s” cannot be attached: attach images (PNG, JPEG, WebP, GIF), PDFs or UTF-8 text files.", name=name),
        code="unsupported_type",
    )


def content_kind(data):
    """"image", "pdf" or "text" by the bytes alone; None for anything else."""
    if data.startswith(IMAGE_MAGIC) or (data[:4] == b"RIFF" and data[8:12] == b"WEBP"):
        return "image"
    if data.startswith(PDF_MAGIC):
        return "pdf"
    return None if b"\0" in data[:BINARY_PROBE] else "text"


def wide_text(data):
    """Whether the bytes look like text in UTF-16 or UTF-32: a byte order mark of theirs, or many NULs at odd places
    only or at even places only (the Latin letters, digits and spaces of UTF-16), where a binary file has them at both."""
    if data[:2] in (b"\xff\xfe", b"\xfe\xff") or data[:4] == b"\0\0\xfe\xff":
        return True
    probe = data[:BINARY_PROBE]
    even, odd = probe[0::2].count(0), probe[1::2].count(0)
    return min(even, odd) == 0 and max(even, odd) >= len(probe) / 16


def kind_of(name, claimed_type, data):
    """The file's kind by its content, refusing binary files of other kinds, and a file whose name or claimed type says
    image or PDF but whose content is not (a "PNG" that is really HTML)."""
    kind = content_kind(data)
    if kind is None and wide_text(data):
        # The person has a text file and would be told to attach text files: say what is wrong with this one.
        message = _("“%(name)s” is text in UTF-16 or UTF-32, not UTF-8. Save it as UTF-8 and attach it again.", name=name)
        raise UserError(message, code="bad_attachment")
    if kind is None:
        raise unsupported(name)
    claimed = claimed_kind(name, claimed_type)
    if claimed and claimed != kind:
        message = {
            "image": _("“%(name)s” is named or sent as an image, but it is not a PNG, JPEG, WebP or GIF image.", name=name),
            "pdf": _("“%(name)s” is named or sent as a PDF, but it is not one.", name=name),
        }[claimed]
        raise UserError(message, code="unsupported_type")
    return kind


def decode_text(name, data):
    """A text file's text: UTF-8, a byte order mark dropped; anything else is refused, saying where it stops being UTF-8."""
    try:
        text = data.decode("utf-8-sig")
    except UnicodeDecodeError as error:
        raise UserError(
            _(
                "“%(name)s” is not UTF-8 text: the byte at position %(position)d is not valid UTF-8. Save it as"
                " UTF-8 and attach it again.",
                name=name,
                position=error.start,
            ),
            code="bad_attachment",
        ) from None
    if not text.strip():
        # A byte order mark or blank lines alone: a model would be sent an empty file.
        raise UserError(_("“%(name)s” has no text.", name=name), code="bad_attachment")
    return text
