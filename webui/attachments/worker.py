"""The child process that reads one untrusted image or PDF, so a hostile file costs only this process.

Run as `python -I worker.py` (see jobs.py), it imports nothing of webui, only the standard library, Pillow and pypdf.
Standard input: one JSON line {"kind": "image" | "pdf" | "scale", "limits": {...}, "path": [folders to import from]}, then the
file's bytes to the end.
Standard output: one JSON line, then the bytes of the parts it lists: {"ok": true, "parts": [n, ...], ...} for a file
read, {"ok": false, "error": CODE, ...} for one refused. The parent kills it at its deadline, and its address space
is capped, so neither a slow nor a hungry file reaches the server.
"""
import io
import json
import logging
import sys
import warnings

# Images are stored as PNG (lossless sources, and anything with transparency) or JPEG (photos), which every vision
# API reads; WebP is read but not stored, since llama.cpp's server cannot decode it.
IMAGE_FORMATS = ("PNG", "JPEG", "WEBP", "GIF")
# A thumbnail is stored in the format of its image.
THUMBNAIL_SIZE = (320, 320)
JPEG_QUALITY = 90
THUMBNAIL_QUALITY = 80
# The PDF spec puts %%EOF within the last 1024 bytes; without it the file was cut short.
PDF_END = b"%%EOF"
PDF_TAIL = 1024
# Python, Pillow and pypdf themselves, before the file's own pixels (see limit_memory).
BASE_MEMORY = 512 * 1024 * 1024
BYTES_PER_PIXEL = 16


class Refused(Exception):
    """The file cannot be used: `code` says why (jobs.py words it for the person), `details` give the numbers."""

    def __init__(self, code, **details):
        """Keep the code and the details."""
        super().__init__(code)
        self.code = code
        self.details = details


def limit_memory(limits, size):
    """Cap the address space, so a file that needs more fails here with MemoryError, not the machine's other
    processes: room for the interpreter, the input, and a few copies of the largest image allowed."""
    try:
        import resource
    except ImportError:  # not on Windows, where the deadline alone bounds a job
        return
    cap = BASE_MEMORY + 4 * size + BYTES_PER_PIXEL * limits["pixels"]
    resource.setrlimit(resource.RLIMIT_AS, (cap, cap))


def has_alpha(image):
    """Whether some pixel may be transparent."""
    return image.mode in ("RGBA", "LA", "PA", "RGBa", "La") or "transparency" in image.info


def to_srgb(image):
    """Colours converted from the image's own ICC profile to sRGB, since the profile is dropped with the metadata;
    unchanged without a profile, or one littleCMS cannot use (or a Pillow built without it)."""
    profile = image.info.get("icc_profile")
    if not profile or image.mode not in ("RGB", "RGBA", "CMYK"):
        return image
    try:
        from PIL import ImageCms
    except ImportError:
        return image
    try:
        source = ImageCms.ImageCmsProfile(io.BytesIO(profile))
        mode = "RGBA" if image.mode == "RGBA" else "RGB"
        return ImageCms.profileToProfile(image, source, ImageCms.createProfile("sRGB"), outputMode=mode)
    except (ImageCms.PyCMSError, OSError, ValueError):
        return image


def plain_pixels(image):
    """The pixels in the one mode of their kind that PNG and JPEG both store: RGB(A) or L(A), 8 bits a channel."""
    if image.mode.startswith("I"):
        # 16-bit grey: scaled to 8 bits, not clipped to white.
        image = image.convert("I").point(lambda value: value * (1 / 257)).convert("L")
    alpha = has_alpha(image)
    grey = image.mode in ("1", "L", "LA", "La")
    return image.convert(("LA" if grey else "RGBA") if alpha else ("L" if grey else "RGB"))


def encode(image, as_jpeg, quality):
    """The image as PNG or JPEG bytes, with no metadata at all (EXIF, XMP, comments, text chunks, profiles)."""
    image.info = {}
    out = io.BytesIO()
    if as_jpeg:
        image.save(out, "JPEG", quality=quality)
    else:
        image.save(out, "PNG")
    return out.getvalue()


def read_image(data, limits):
    """Decode a PNG, JPEG, WebP or GIF (its first frame), refusing one of more pixels than allowed before a pixel is
    decoded, and re-encode it, upright, without metadata: (result, [image bytes, thumbnail bytes])."""
    from PIL import Image, ImageOps, UnidentifiedImageError

    # Pillow's own bomb check, at our limit and made an error rather than a warning: it runs on the header, in
    # Image.open, before a pixel is decoded. Ours after it holds whatever Pillow's version does.
    Image.MAX_IMAGE_PIXELS = limits["pixels"]
    warnings.simplefilter("error", Image.DecompressionBombWarning)
    try:
        image = Image.open(io.BytesIO(data), formats=IMAGE_FORMATS)
    except (Image.DecompressionBombError, Image.DecompressionBombWarning):
        raise Refused("pixels") from None
    except (UnidentifiedImageError, OSError, SyntaxError, ValueError, EOFError):
        raise Refused("damaged") from None
    width, height = image.size
    if width < 1 or height < 1:
        raise Refused("damaged")
    if width * height > limits["pixels"]:
        raise Refused("pixels")
    source = image.format
    try:
        image.load()  # a GIF's or animated PNG's or WebP's first frame only
        ImageOps.exif_transpose(image, in_place=True)
        image = plain_pixels(to_srgb(image))
    except (OSError, SyntaxError, ValueError, EOFError, Image.DecompressionBombError):
        raise Refused("damaged") from None
    width, height = image.size  # upright now
    as_jpeg = image.mode in ("RGB", "L") and source in ("JPEG", "WEBP")
    stored = encode(image, as_jpeg, JPEG_QUALITY)
    if len(stored) > limits["bytes"]:
        raise Refused("converted_too_large")
    image.thumbnail(THUMBNAIL_SIZE)
    thumbnail = encode(image, as_jpeg, THUMBNAIL_QUALITY)
    result = {"media_type": "image/jpeg" if as_jpeg else "image/png", "width": width, "height": height}
    return result, [stored, thumbnail]


def page_count(reader, limits):
    """How many pages the PDF has, refusing more than allowed by the count it declares before walking its page tree
    (which costs a second per ten thousand pages), then by the tree itself."""
    tree = reader.root_object["/Pages"]
    declared = tree["/Count"] if "/Count" in tree else 0
    if isinstance(declared, int) and declared > limits["pages"]:
        raise Refused("pages", pages=declared)
    pages = len(reader.pages)
    if pages > limits["pages"]:
        raise Refused("pages", pages=pages)
    return pages


def open_pdf(data):
    """A PdfReader of a whole PDF that needs no password: a cut-off, damaged or password-protected one is refused."""
    import pypdf

    if PDF_END not in data[-PDF_TAIL:]:
        raise Refused("damaged")
    reader = pypdf.PdfReader(io.BytesIO(data))
    if reader.is_encrypted:
        # Many PDFs are encrypted with an empty password only to set permissions: every reader opens them.
        try:
            opened = reader.decrypt("")
        except (NotImplementedError, pypdf.errors.DependencyError, pypdf.errors.PdfReadError):
            opened = False
        if not opened:
            raise Refused("encrypted")
    return reader


def read_pdf(data, limits):
    """The text of a PDF's pages, one blank line between two: ({"pages"}, [text as UTF-8]); refused when it has more
    pages or characters than allowed, or no text at all (scanned pages)."""
    # pypdf logs each repair of a damaged file; the parent learns what matters from the result.
    logging.disable(logging.CRITICAL)
    reader = open_pdf(data)
    pages = page_count(reader, limits)
    texts, chars = [], 0
    for page in reader.pages:
        text = (page.extract_text() or "").strip()
        if text:
            chars += len(text) + (2 if texts else 0)
            if chars > limits["chars"]:
                raise Refused("chars")
            texts.append(text)
    if not texts:
        raise Refused("no_text")
    return {"pages": pages}, ["\n\n".join(texts).encode("utf-8", "replace")]


def scale_image(data, limits):
    """One of the server's own stored images (PNG or JPEG, see read_image) made to fit in `limits["side"]` pixels on
    its longest side, in the same format, for a model: ({"media_type", "width", "height"}, [image bytes])."""
    from PIL import Image

    Image.MAX_IMAGE_PIXELS = limits["pixels"]
    try:
        image = Image.open(io.BytesIO(data), formats=("PNG", "JPEG"))
        as_jpeg = image.format == "JPEG"
        # A JPEG is decoded at a fraction of its size when that is still larger than the result (Pillow's draft).
        image.thumbnail((limits["side"], limits["side"]), Image.Resampling.LANCZOS)
    except (OSError, SyntaxError, ValueError, EOFError, Image.DecompressionBombError):
        raise Refused("damaged") from None
    result = {"media_type": "image/jpeg" if as_jpeg else "image/png", "width": image.width, "height": image.height}
    return result, [encode(image, as_jpeg, JPEG_QUALITY)]


JOBS = {"image": read_image, "pdf": read_pdf, "scale": scale_image}


def answer(result, parts, out):
    """Write the JSON line and the parts."""
    out.write(json.dumps({**result, "parts": [len(part) for part in parts]}).encode() + b"\n")
    for part in parts:
        out.write(part)
    out.flush()


def main():
    """Read the job, do it, and answer; any failure of the file is an answer, never a trace on standard output."""
    header = json.loads(sys.stdin.buffer.readline())
    data = sys.stdin.buffer.read()
    sys.path.extend(path for path in header["path"] if path not in sys.path)
    limit_memory(header["limits"], len(data))
    try:
        result, parts = JOBS[header["kind"]](data, header["limits"])
        answer({"ok": True, **result}, parts, sys.stdout.buffer)
    except Refused as refusal:
        answer({"ok": False, "error": refusal.code, **refusal.details}, [], sys.stdout.buffer)
    except MemoryError:
        answer({"ok": False, "error": "memory"}, [], sys.stdout.buffer)
    except RecursionError:
        answer({"ok": False, "error": "damaged"}, [], sys.stdout.buffer)
    except ImportError:
        raise  # no answer: the parent reports a broken installation, not a damaged file
    except Exception as error:  # whatever a broken file makes a parser raise: the file is damaged
        print(f"{type(error).__name__}: {error}", file=sys.stderr)
        answer({"ok": False, "error": "damaged"}, [], sys.stdout.buffer)


if __name__ == "__main__":
    main()
