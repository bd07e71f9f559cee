"""Files to attach, made by the tests: images with Pillow, PDFs by hand (text pages, any page count) and with pypdf
(encrypted), and the uploads and checks the attachment tests share."""
import io
import random
import struct
import zlib
from pathlib import Path

from PIL import Image
from pypdf import PdfReader, PdfWriter

from databases import run_sql


def image_bytes(format, size=(64, 48), mode="RGB", color=(200, 30, 60), **options):
    """An image of one colour in `format` (PNG, JPEG, GIF, WEBP)."""
    if mode == "RGBA" and len(color) == 3:
        color = (*color, 128)
    out = io.BytesIO()
    Image.new(mode, size, color).save(out, format, **options)
    return out.getvalue()


def noise_png(side, seed):
    """A PNG of random pixels, which compression cannot shrink (about 3 × side² bytes), and its pixels."""
    pixels = random.Random(seed).randbytes(side * side * 3)
    out = io.BytesIO()
    Image.frombytes("RGB", (side, side), pixels).save(out, "PNG")
    return out.getvalue(), pixels


def jpeg_with_metadata(size=(60, 40)):
    """A JPEG whose EXIF names a camera and a place, with a comment, and turned by its orientation tag (6: the
    stored pixels are to be shown rotated by 90°)."""
    exif = Image.Exif()
    exif[0x010F] = "Canon"  # Make
    exif[0x0112] = 6  # Orientation
    exif.get_ifd(0x8825)[2] = (48.0, 51.0, 0.0)  # GPSLatitude
    return image_bytes("JPEG", size, exif=exif.tobytes(), comment=b"secret comment")


def animated_gif():
    """A GIF of two frames: red, then blue."""
    frames = [Image.new("RGB", (30, 20), color) for color in ((255, 0, 0), (0, 0, 255))]
    out = io.BytesIO()
    frames[0].save(out, "GIF", save_all=True, append_images=frames[1:], duration=100, loop=0)
    return out.getvalue()


def png_chunk(kind, data):
    """One PNG chunk with its CRC."""
    return struct.pack(">I", len(data)) + kind + data + struct.pack(">I", zlib.crc32(kind + data))


def bomb_png(width=100_000, height=100_000):
    """A PNG of a few dozen bytes whose header declares `width` × `height` pixels: decoded, it would take 30 GB."""
    header = struct.pack(">IIBBBBB", width, height, 8, 2, 0, 0, 0)
    return b"\x89PNG\r\n\x1a\n" + png_chunk(b"IHDR", header) + png_chunk(b"IDAT", zlib.compress(b"\0" * 64)) + png_chunk(b"IEND", b"")


def text_page(text):
    """A page's content stream that shows `text` (ASCII, no parentheses or backslashes) in Helvetica."""
    return f"BT /F1 12 Tf 72 700 Td ({text}) Tj ET"


def pdf_bytes(pages, declared=None):
    """A PDF written by hand: one page per content stream of `pages`, its page tree declaring `declared` pages (by
    default as many as there are)."""
    objects = ["<< /Type /Catalog /Pages 2 0 R >>", None, "<< /Type /Font /Subtype /Type1 /BaseFont /Helvetica >>"]
    kids = []
    for content in pages:
        data = content.encode("latin-1")
        objects.append(f"<< /Length {len(data)} >>\nstream\n".encode() + data + b"\nendstream")
        objects.append(
            "<< /Type /Page /Parent 2 0 R /MediaBox [0 0 612 792]"
            f" /Resources << /Font << /F1 3 0 R >> >> /Contents {len(objects)} 0 R >>"
        )
        kids.append(f"{len(objects)} 0 R")
    objects[1] = f"<< /Type /Pages /Kids [{' '.join(kids)}] /Count {declared or len(kids)} >>"
    out = io.BytesIO()
    out.write(b"%PDF-1.4\n")
    offsets = []
    for number, body in enumerate(objects, 1):
        offsets.append(out.tell())
        out.write(f"{number} 0 obj\n".encode() + (body if isinstance(body, bytes) else body.encode()) + b"\nendobj\n")
    xref = out.tell()
    out.write(f"xref\n0 {len(objects) + 1}\n0000000000 65535 f \n".encode())
    out.write("".join(f"{offset:010d} 00000 n \n" for offset in offsets).encode())
    out.write(f"trailer\n<< /Size {len(objects) + 1} /Root 1 0 R >>\nstartxref\n{xref}\n%%EOF\n".encode())
    return out.getvalue()


def encrypted_pdf(user_password="secret"):
    """A PDF of one text page, encrypted with AES by pypdf: `user_password` "" opens without one."""
    writer = PdfWriter(clone_from=PdfReader(io.BytesIO(pdf_bytes([text_page("Locked away")]))))
    writer.encrypt(user_password=user_password, owner_password="owner", algorithm="AES-128")
    out = io.BytesIO()
    writer.write(out)
    return out.getvalue()


def slow_pdf(operations=300_000):
    """A PDF of one page with `operations` text objects: pypdf takes seconds (tens on a busy machine) to read it."""
    return pdf_bytes([" ".join([text_page("x")] * operations)])


def upload(http, data, name="file.bin", mimetype="application/octet-stream"):
    """POST the file as the multipart field `file`, with a Flask test client or a conftest Browser (which sends the
    page's CSRF token and Origin)."""
    if hasattr(http, "csrf_token"):
        return http.post("/api/attachments", files={"file": (name, data, mimetype)})
    return http.post("/api/attachments", data={"file": (io.BytesIO(data), name, mimetype)}, content_type="multipart/form-data")


def stored(app):
    """Everything the attachments left: their rows, their links, and the files in their folder."""
    rows = [tuple(row) for row in run_sql(app, "SELECT id, owner, hash, name, kind FROM attachments ORDER BY seq")]
    links = [tuple(row) for row in run_sql(app, "SELECT * FROM message_attachments ORDER BY message_id, position")]
    folder = Path(app.config["WEBUI_DATA_DIR"]) / "attachments"
    names = sorted(p.name for p in folder.rglob("*") if p.is_file()) if folder.is_dir() else []
    return rows, links, names


def opened(data):
    """An image's bytes, opened with Pillow."""
    return Image.open(io.BytesIO(data))
