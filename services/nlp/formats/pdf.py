"""PDF -> text with pypdf (non-strict mode, pypdf's own decompression limits).

- An encrypted PDF that opens without a password (an owner password only restricts
  printing/copying) is extracted; one that needs a password to open, or whose
  encryption cannot be handled, is refused with ``encrypted_document``.
- Pages are joined by a blank line. A page whose content cannot be parsed is skipped;
  if no page yields text the PDF is refused with ``no_text`` (probably scanned).
- Arabic presentation forms and Latin ligatures (U+FB00-U+FDFF, U+FE70-U+FEFE), which
  PDF fonts often map glyphs to, are folded to their ordinary letters (NFKC on those
  characters only), so PDF Arabic matches typed Arabic.
- A wall-clock budget between pages stops pathological files.
"""

from __future__ import annotations

import io
import logging
import re
import time
import unicodedata

from services.core.errors import UnreadableDocument
from services.nlp.formats.common import check_budget

MAX_PAGES = 5_000
TIME_BUDGET_S = 20.0
# pypdf interprets content streams at a few hundred KB/s, so a tiny file whose page
# content inflates enormously (a "content bomb") would pin a CPU for minutes. Real
# page content compresses 3-20x; past RATIO_GRACE_BYTES of inflated content, more
# than MAX_RATIO times the file size is refused, and no page may exceed MAX_PAGE_CONTENT.
MAX_RATIO = 100
RATIO_GRACE_BYTES = 512 * 1024
MAX_PAGE_CONTENT = 8 * 1024 * 1024

# pypdf logs every robustness fix for malformed files at WARNING/ERROR; those come
# from client-supplied bytes and would flood (and let clients write into) the logs.
logging.getLogger("pypdf").setLevel(logging.CRITICAL)

_PRESENTATION_FORMS = re.compile(r"[\ufb00-\ufdff\ufe70-\ufefe]+")


def unreadable(reason: str) -> UnreadableDocument:
    return UnreadableDocument(
        f"The PDF could not be read: {reason}. Open it in a PDF viewer, save or export "
        "it again as PDF (or print it to a new PDF) and upload it again.",
        code="unreadable_document",
        details={"reason": reason},
    )


def encrypted() -> UnreadableDocument:
    return UnreadableDocument(
        "The PDF is encrypted and needs a password to open. Save the PDF without a "
        "password (or export an unprotected copy) and upload it again.",
        code="encrypted_document",
    )


def no_text(pages: int) -> UnreadableDocument:
    return UnreadableDocument(
        "The PDF contains no extractable text; it is probably a scanned image. Run it "
        "through OCR (for example 'ocrmypdf in.pdf out.pdf') and upload the result, "
        "or upload the text itself.",
        code="no_text",
        details={"pages": pages},
    )


def _fold(match: re.Match[str]) -> str:
    return unicodedata.normalize("NFKC", match.group(0))


def pdf_to_text(data: bytes, *, max_chars: int) -> str:
    from pypdf import PasswordType, PdfReader

    try:
        reader = PdfReader(io.BytesIO(data), strict=False)
        if reader.is_encrypted:
            try:
                if reader.decrypt("") == PasswordType.NOT_DECRYPTED:
                    raise encrypted()
            except UnreadableDocument:
                raise
            except Exception:  # noqa: BLE001 - unsupported algorithm, broken /Encrypt
                raise encrypted() from None
        pages = reader.pages
        count = len(pages)
    except UnreadableDocument:
        raise
    except RecursionError:
        raise unreadable("its structure is nested too deeply") from None
    except Exception:  # noqa: BLE001 - pypdf raises many types on malformed input
        raise unreadable("it is malformed or truncated") from None
    if count == 0:
        raise unreadable("it has no pages")
    if count > MAX_PAGES:
        raise unreadable(f"it has more than {MAX_PAGES} pages")

    deadline = time.monotonic() + TIME_BUDGET_S
    texts: list[str] = []
    size = 0
    inflated = 0
    for index in range(count):
        if time.monotonic() > deadline:
            raise unreadable("it takes too long to process")
        try:
            page = pages[index]
            contents = page.get_contents()
            page_bytes = len(contents.get_data()) if contents is not None else 0
        except Exception:  # noqa: BLE001 - one broken page does not spoil the rest
            continue
        inflated += page_bytes
        if page_bytes > MAX_PAGE_CONTENT or (
            inflated > RATIO_GRACE_BYTES and inflated > MAX_RATIO * len(data)
        ):
            raise unreadable("its page content inflates far beyond the file size (possible decompression bomb)")
        try:
            text = page.extract_text() or ""
        except Exception:  # noqa: BLE001 - one broken page does not spoil the rest
            continue
        text = text.strip()
        if text:
            texts.append(text)
            size += len(text) + 2
            check_budget(size, max_chars)
    if not texts:
        raise no_text(count)
    return _PRESENTATION_FORMS.sub(_fold, "\n\n".join(texts))
