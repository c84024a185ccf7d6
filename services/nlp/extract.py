"""Upload text extraction: bytes of an uploaded file -> the plain text all engines see.

The format is detected from the content (magic bytes, ZIP member names, markup),
with the file name and declared content type only as hints where content cannot
decide (Markdown vs plain text, a corrupt file named ``.pdf``/``.docx``). Output is
deterministic: the same bytes always give the same text, so code-point offsets
computed by the engines stay valid for ``GET /v1/jobs/{id}/text``.

Errors (all ``services.core.errors``):

================================================  ======  ======================
input                                             status  code
================================================  ======  ======================
empty / whitespace-only / nothing extractable     422     empty_document
corrupt PDF/DOCX, DOCX without document.xml,      422     unreadable_document
zip bomb, DTD/entities in DOCX
password-protected PDF or DOCX                    422     encrypted_document
PDF without a text layer (scanned)                422     no_text
binary or unknown format (image, exe, xlsx, ...)  415     unsupported_media_type
extracted text longer than ``max_chars``          413     text_too_large
================================================  ======  ======================
"""

from __future__ import annotations

import re
import unicodedata
from dataclasses import dataclass

from services.core.errors import PayloadTooLarge, UnreadableDocument, UnsupportedMediaType
from services.nlp.formats import docx as _docx
from services.nlp.formats import text as _text
from services.nlp.formats.common import normalize_text, tidy_structured, too_large

__all__ = [
    "ExtractedDocument",
    "SUPPORTED_TYPES",
    "PayloadTooLarge",
    "UnreadableDocument",
    "UnsupportedMediaType",
    "extract_text",
    "sanitize_filename",
]

TEXT = "text/plain"
HTML = "text/html"
PDF = "application/pdf"
DOCX = "application/vnd.openxmlformats-officedocument.wordprocessingml.document"
MARKDOWN = "text/markdown"
SUPPORTED_TYPES: tuple[str, ...] = (TEXT, HTML, PDF, DOCX, MARKDOWN)

MAX_FILENAME_CHARS = 200


@dataclass(frozen=True)
class ExtractedDocument:
    text: str
    content_type: str
    filename: str | None
    encoding: str | None


# --------------------------------------------------------------------------- names

_UNSAFE_NAME_CHARS = re.compile(r'[<>:"|?*]')
_NAME_WS = re.compile(r"\s+")


def sanitize_filename(name: str | None) -> str | None:
    """A safe display/storage basename, or None when nothing usable is left.

    Directories (``/`` and ``\\``) are dropped, control and bidi-override characters
    removed (no ``evil\\u202etxt.exe`` spoofing), Windows-reserved characters become
    ``_``, leading dots (``..``, hidden files) and surrounding whitespace are stripped,
    whitespace runs collapse to one space, and the name is capped at 200 characters
    keeping its extension."""
    if not name:
        return None
    name = re.split(r"[/\\]", str(name))[-1]
    name = "".join(
        ch
        for ch in name
        if unicodedata.category(ch) not in ("Cc", "Cs", "Co", "Cn")
        and not ("\u202a" <= ch <= "\u202e" or "\u2066" <= ch <= "\u2069" or ch in "\u200e\u200f\u061c\ufeff")
    )
    name = _UNSAFE_NAME_CHARS.sub("_", name)
    name = _NAME_WS.sub(" ", name).strip().lstrip(".").strip()
    name = name.rstrip(". ")
    if not name:
        return None
    if len(name) > MAX_FILENAME_CHARS:
        stem, dot, ext = name.rpartition(".")
        if dot and 0 < len(ext) <= 16 and stem:
            name = stem[: MAX_FILENAME_CHARS - len(ext) - 1].rstrip() + "." + ext
        else:
            name = name[:MAX_FILENAME_CHARS].rstrip()
    return name


def _extension(filename: str | None) -> str:
    if not filename or "." not in filename:
        return ""
    return filename.rsplit(".", 1)[1].lower()


# --------------------------------------------------------------------------- sniffing

# (prefix, detected type) of binary formats we refuse with a 415.
_BINARY_MAGIC: tuple[tuple[bytes, str], ...] = (
    (b"\x89PNG\r\n\x1a\n", "image/png"),
    (b"\xff\xd8\xff", "image/jpeg"),
    (b"GIF87a", "image/gif"),
    (b"GIF89a", "image/gif"),
    (b"II*\x00", "image/tiff"),
    (b"MM\x00*", "image/tiff"),
    (b"\x00\x00\x01\x00", "image/x-icon"),
    (b"\x1f\x8b", "application/gzip"),
    (b"BZh91AY&SY", "application/x-bzip2"),
    (b"\xfd7zXZ\x00", "application/x-xz"),
    (b"(\xb5/\xfd", "application/zstd"),
    (b"7z\xbc\xaf\x27\x1c", "application/x-7z-compressed"),
    (b"Rar!\x1a\x07", "application/vnd.rar"),
    (b"\x7fELF", "application/x-executable"),
    (b"\xca\xfe\xba\xbe", "application/java-vm"),
    (b"\xcf\xfa\xed\xfe", "application/x-mach-binary"),
    (b"\x00asm", "application/wasm"),
    (b"SQLite format 3\x00", "application/vnd.sqlite3"),
    (b"ID3\x03", "audio/mpeg"),
    (b"ID3\x04", "audio/mpeg"),
    (b"OggS", "audio/ogg"),
    (b"fLaC", "audio/flac"),
    (b"{\\rtf", "application/rtf"),
    (b"%!PS", "application/postscript"),
    (b"wOFF", "font/woff"),
    (b"wOF2", "font/woff2"),
)
_OLE2 = b"\xd0\xcf\x11\xe0\xa1\xb1\x1a\xe1"
_ZIP_MAGIC = (b"PK\x03\x04", b"PK\x05\x06", b"PK\x07\x08")
_ZIP_KINDS = {
    "xlsx": "application/vnd.openxmlformats-officedocument.spreadsheetml.sheet",
    "pptx": "application/vnd.openxmlformats-officedocument.presentationml.presentation",
    "odf": "application/vnd.oasis.opendocument",
    "zip": "application/zip",
}
_HTML_START = re.compile(r"\s*(?:<!--.*?-->\s*)*<(?:!doctype\s+html|html|head|body)[\s>/]", re.I | re.S)
_XHTML = re.compile(r"\s*<\?xml[^>]*\?>\s*(?:<!--.*?-->\s*)*<(?:!doctype\s+html|html)[\s>/]", re.I | re.S)
_HTML_FRAGMENT = re.compile(
    r"\s*<(?:p|div|span|h[1-6]|table|ul|ol|section|article|header|nav|main|meta|title|style|script|a|b|i|em|strong|br|img|link|form|blockquote|pre)[\s>/]",
    re.I,
)
_SVG = re.compile(r"\s*(?:<\?xml[^>]*\?>\s*)?(?:<!--.*?-->\s*)*(?:<!doctype\s+svg[^>]*>\s*)?<svg[\s>]", re.I | re.S)
_CLOSING_TAG = re.compile(r"</[a-zA-Z][a-zA-Z0-9]*\s*>")
_ANY_TAG = re.compile(r"<(?:[a-zA-Z][a-zA-Z0-9-]*|/[a-zA-Z]|!--)")
_HTML_EXT = {"html", "htm", "xhtml", "shtml"}
_MD_EXT = {"md", "markdown", "mdown", "mkd", "mkdn", "mdwn"}
_MD_TYPES = {"text/markdown", "text/x-markdown"}
_HTML_TYPES = {"text/html", "application/xhtml+xml"}


def _unsupported(detected: str, why: str) -> UnsupportedMediaType:
    return UnsupportedMediaType(
        f"{why} Supported uploads are plain text (any encoding), HTML, Markdown, PDF "
        "and Word .docx; convert the file to one of these and upload it again.",
        details={"detected": detected, "supported": list(SUPPORTED_TYPES)},
    )


def _empty() -> UnreadableDocument:
    return UnreadableDocument(
        "The document is empty: it contains no text. Upload a file with some text in it.",
        code="empty_document",
    )


def _parse_content_type(value: str | None) -> tuple[str, str | None]:
    if not value:
        return "", None
    main, _, params = value.partition(";")
    charset = None
    for param in params.split(";"):
        key, _, val = param.partition("=")
        if key.strip().lower() == "charset":
            charset = val.strip().strip("\"'") or None
    return main.strip().lower(), charset


def _claimed_binary(ext: str) -> str | None:
    """The binary container the *file name* claims, to report a corrupt file as
    unreadable (422) rather than guess it is something else."""
    return {"pdf": PDF, "docx": DOCX}.get(ext)


# --------------------------------------------------------------------------- API


def extract_text(
    data: bytes,
    *,
    filename: str | None = None,
    content_type: str | None = None,
    max_chars: int = 1_000_000,
) -> ExtractedDocument:
    """Detect the format of ``data``, extract and normalise its text.

    Raises ``UnsupportedMediaType`` (415), ``UnreadableDocument`` (422: codes
    ``unreadable_document``, ``encrypted_document``, ``no_text``, ``empty_document``)
    or ``PayloadTooLarge`` (413, ``text_too_large``)."""
    safe_name = sanitize_filename(filename)
    ext = _extension(safe_name)
    declared, charset = _parse_content_type(content_type)
    data = bytes(data)
    if not data.strip(b" \t\r\n\x00\x0b\x0c"):
        raise _empty()

    head = data[:1024]
    encoding: str | None = None
    pdf_at = head.find(b"%PDF-")
    if pdf_at == 0 or (
        # PDF readers accept junk before the header; text that merely mentions
        # "%PDF-" is not a PDF unless the name or type says so.
        pdf_at > 0
        and (ext == "pdf" or declared == PDF or not head[:pdf_at].strip() or b"\x00" in head[:pdf_at])
    ):
        from services.nlp.formats.pdf import pdf_to_text

        detected, raw = PDF, pdf_to_text(data, max_chars=max_chars)
    elif head.startswith(_ZIP_MAGIC):
        kind = _docx.classify_zip(data)
        if kind == "docx":
            detected, raw = DOCX, _docx.docx_to_text(data, max_chars=max_chars)
        elif kind == "broken" or ((ext == "docx" or declared == DOCX) and kind == "zip"):
            if ext == "docx" or declared == DOCX or kind == "broken":
                raise _docx.unreadable(
                    "it is not a valid ZIP archive" if kind == "broken" else "it has no word/document.xml part"
                )
            raise _unsupported(_ZIP_KINDS["zip"], "ZIP archives are not supported.")
        else:
            raise _unsupported(_ZIP_KINDS[kind], "This kind of archive or office file is not supported.")
    elif head.startswith(_OLE2):
        if b"E\x00n\x00c\x00r\x00y\x00p\x00t\x00e\x00d\x00P\x00a\x00c\x00k\x00a\x00g\x00e" in data[:65536] or ext == "docx":
            raise _docx.encrypted()
        raise _unsupported("application/x-ole-storage", "Legacy Office files (.doc, .xls, .ppt) are not supported; save as .docx.")
    else:
        magic = next((kind for prefix, kind in _BINARY_MAGIC if head.startswith(prefix)), None)
        if magic is None and head[:12].startswith(b"RIFF") and head[8:12] in (b"WEBP", b"WAVE", b"AVI "):
            magic = "application/octet-stream"
        if magic is None and head.startswith(b"BM") and head[6:10] == b"\x00\x00\x00\x00":
            magic = "image/bmp"
        if magic is None and head.startswith(b"MZ") and (b"PE\x00\x00" in head or b"This program" in head):
            magic = "application/x-msdownload"
        if magic is None and head[4:8] == b"ftyp":
            magic = "video/mp4"
        if magic is not None:
            raise _unsupported(magic, "This looks like a binary file, not a document.")
        claimed = _claimed_binary(ext)
        if claimed == PDF:
            from services.nlp.formats.pdf import unreadable as pdf_unreadable

            raise pdf_unreadable("it does not start with a PDF header (corrupt or not a PDF)")
        if claimed == DOCX:
            raise _docx.unreadable("it is not a ZIP archive (corrupt or not a .docx)")
        wants_html = ext in _HTML_EXT or declared in _HTML_TYPES
        try:
            decoded, encoding = _text.decode(data, declared_charset=charset, html=True)
        except ValueError:
            raise _unsupported("application/octet-stream", "The file is binary or not text in any known encoding.") from None
        if len(decoded) > 16 * max_chars + 65536:
            raise too_large(max_chars)
        start = decoded[:4096].lstrip("\ufeff")
        if _SVG.match(start):
            raise _unsupported("image/svg+xml", "SVG images are not supported.")
        if (
            _HTML_START.match(start)
            or _XHTML.match(start)
            or (wants_html and _ANY_TAG.search(decoded[:65536]))
            or (_HTML_FRAGMENT.match(start) and _CLOSING_TAG.search(decoded[:65536]))
        ):
            from services.nlp.formats.html import html_to_text

            detected, raw = HTML, html_to_text(normalize_text(decoded), max_chars=max_chars)
        elif ext in _MD_EXT or declared in _MD_TYPES:
            from services.nlp.formats.markdown import markdown_to_text

            detected, raw = MARKDOWN, markdown_to_text(normalize_text(decoded), max_chars=max_chars)
        else:
            detected, raw = TEXT, decoded

    text = normalize_text(raw)
    if detected != TEXT:
        text = tidy_structured(text)
    if not text.strip():
        if detected == PDF:
            from services.nlp.formats.pdf import no_text

            raise no_text(0)
        raise _empty()
    if len(text) > max_chars:
        raise too_large(max_chars, len(text))
    return ExtractedDocument(text=text, content_type=detected, filename=safe_name, encoding=encoding)
