"""DOCX -> text: the main document part streamed out of the ZIP and parsed with a
hardened expat parser.

Safety:
- the archive's entry count, the part's declared size and compression ratio are
  checked before reading; while streaming, the *actual* decompressed size and ratio
  are checked every chunk, so a decompression bomb is stopped after at most
  ``MAX_PART_BYTES`` (and usually far earlier) without ever being held in memory;
- any DTD (and with it every entity declaration: billion laughs, external
  entities) is refused outright - WordprocessingML never has one; expat itself
  never fetches anything;
- an encrypted ZIP entry or a password-protected Office file (an OLE2 container
  holding an ``EncryptedPackage``) is refused as ``encrypted_document``.

Text: paragraphs (one per line), tables (cells separated by a tab, one row per line,
paragraphs inside a cell joined by a space), tabs and breaks inside runs, in document
order. Deleted revisions, field codes and the ``mc:Fallback`` copies of text boxes
are skipped.
"""

from __future__ import annotations

import io
import posixpath
import re
import zipfile
import zlib
from xml.parsers import expat

from services.core.errors import UnreadableDocument
from services.nlp.formats.common import TextBuilder

MAX_ENTRIES = 10_000
MAX_PART_BYTES = 128 * 1024 * 1024
MAX_RATIO = 200  # decompressed / compressed, enforced beyond RATIO_GRACE_BYTES
RATIO_GRACE_BYTES = 8 * 1024 * 1024
MAX_RELS_BYTES = 1024 * 1024
CHUNK = 64 * 1024

_W = frozenset(
    {
        "http://schemas.openxmlformats.org/wordprocessingml/2006/main",
        "http://purl.oclc.org/ooxml/wordprocessingml/main",
    }
)
_MC = "http://schemas.openxmlformats.org/markup-compatibility/2006"
_OFFICE_DOC_REL = re.compile(rb"""<Relationship\b[^>]*?Type="[^"]*/officeDocument"[^>]*?>""")
_TARGET = re.compile(rb"""Target="([^"]{1,200})\"""")

_SAVE_AGAIN = "Open it in Word (or LibreOffice), save it again as .docx and upload it again."


class _Refused(Exception):
    pass


def unreadable(reason: str, **details: object) -> UnreadableDocument:
    return UnreadableDocument(
        f"The Word document could not be read: {reason}. {_SAVE_AGAIN}",
        code="unreadable_document",
        details={"reason": reason, **details},
    )


def encrypted() -> UnreadableDocument:
    return UnreadableDocument(
        "The Word document is password-protected. Remove the password "
        "(File > Info > Protect Document > Encrypt with Password, clear it), save it "
        "and upload it again.",
        code="encrypted_document",
    )


def _main_part(zf: zipfile.ZipFile, names: set[str]) -> str | None:
    if "word/document.xml" in names:
        return "word/document.xml"
    if "_rels/.rels" in names:
        info = zf.getinfo("_rels/.rels")
        if info.file_size <= MAX_RELS_BYTES and not info.flag_bits & 0x1:
            with zf.open(info) as fh:
                rels = fh.read(MAX_RELS_BYTES + 1)
            for rel in _OFFICE_DOC_REL.findall(rels):
                target = _TARGET.search(rel)
                if target:
                    path = posixpath.normpath(target.group(1).decode("utf-8", "replace").lstrip("/"))
                    if path in names and path.startswith("word/") and path.endswith(".xml"):
                        return path
    return None


def classify_zip(data: bytes) -> str:
    """What kind of ZIP-based file this is, from its member names (no decompression)."""
    try:
        with zipfile.ZipFile(io.BytesIO(data)) as zf:
            names = zf.namelist()
            if len(names) > MAX_ENTRIES:
                return "zip"
            name_set = set(names)
            if "word/document.xml" in name_set or (
                "[Content_Types].xml" in name_set and any(n.startswith("word/") for n in names)
            ):
                return "docx"
            if "[Content_Types].xml" in name_set and any(n.startswith("xl/") for n in names):
                return "xlsx"
            if "[Content_Types].xml" in name_set and any(n.startswith("ppt/") for n in names):
                return "pptx"
            if "mimetype" in name_set and "content.xml" in name_set:
                return "odf"
            return "zip"
    except (zipfile.BadZipFile, OSError, ValueError, EOFError, KeyError, NotImplementedError, RuntimeError):
        return "broken"


class _Walker:
    def __init__(self, out: TextBuilder) -> None:
        self.out = out
        self.stack: list[str] = []
        self.in_text = 0
        self.skip = 0
        self.cells = 0

    def start(self, name: str, attrs: dict) -> None:  # noqa: ARG002
        ns, _, local = name.rpartition("}")
        parent = self.stack[-1] if self.stack else ""
        self.stack.append(local if ns in _W else "~" + local)
        if ns == _MC and local == "Fallback":
            self.skip += 1
        if self.skip or ns not in _W:
            return
        if local == "t":
            self.in_text += 1
        elif parent == "r":
            if local == "tab":
                self.out.raw("\t")
            elif local in ("br", "cr"):
                self.out.newline(1, additive=True)
            elif local == "noBreakHyphen":
                self.out.raw("-")
        elif local == "tc":
            self.cells += 1

    def end(self, name: str) -> None:
        ns, _, local = name.rpartition("}")
        self.stack.pop()
        if ns == _MC and local == "Fallback":
            self.skip -= 1
            return
        if self.skip or ns not in _W:
            return
        if local == "t":
            self.in_text -= 1
        elif local == "p":
            if self.cells:
                self.out.separator(" ")
            else:
                self.out.newline(1)
        elif local == "tc":
            self.cells -= 1
            self.out.separator("\t")
        elif local in ("tr", "tbl"):
            self.out.newline(1)

    def chars(self, data: str) -> None:
        if self.in_text and not self.skip:
            self.out.raw(data)


def _refuse_dtd(*_args: object) -> None:
    raise _Refused("DTD")


def _parse_part(zf: zipfile.ZipFile, info: zipfile.ZipInfo, max_chars: int) -> str:
    if info.flag_bits & 0x1:
        raise encrypted()
    if info.file_size > MAX_PART_BYTES:
        raise unreadable("the document part is too large", declared_bytes=info.file_size)
    compressed = max(info.compress_size, 1)
    if info.file_size > RATIO_GRACE_BYTES and info.file_size / compressed > MAX_RATIO:
        raise unreadable("suspicious compression ratio (possible zip bomb)")

    out = TextBuilder(max_chars)
    walker = _Walker(out)
    parser = expat.ParserCreate(namespace_separator="}")
    parser.buffer_text = True
    parser.buffer_size = CHUNK
    parser.SetParamEntityParsing(expat.XML_PARAM_ENTITY_PARSING_NEVER)
    parser.StartDoctypeDeclHandler = _refuse_dtd
    parser.EntityDeclHandler = _refuse_dtd
    parser.ExternalEntityRefHandler = _refuse_dtd
    parser.StartElementHandler = walker.start
    parser.EndElementHandler = walker.end
    parser.CharacterDataHandler = walker.chars

    total = 0
    with zf.open(info) as fh:
        while True:
            chunk = fh.read(CHUNK)
            if not chunk:
                break
            total += len(chunk)
            if total > MAX_PART_BYTES or total > info.file_size:
                raise unreadable("the document part is larger than declared or too large")
            if total > RATIO_GRACE_BYTES and total / compressed > MAX_RATIO:
                raise unreadable("suspicious compression ratio (possible zip bomb)")
            parser.Parse(chunk, False)
    parser.Parse(b"", True)
    return out.getvalue()


def docx_to_text(data: bytes, *, max_chars: int) -> str:
    try:
        with zipfile.ZipFile(io.BytesIO(data)) as zf:
            infos = zf.infolist()
            if len(infos) > MAX_ENTRIES:
                raise unreadable("the archive has too many entries")
            names = {i.filename for i in infos}
            part = _main_part(zf, names)
            if part is None:
                raise unreadable("it has no word/document.xml part (not a Word document)")
            return _parse_part(zf, zf.getinfo(part), max_chars)
    except _Refused:
        raise unreadable("it declares a DTD or XML entities, which Word documents never contain") from None
    except expat.ExpatError as exc:
        raise unreadable(f"its XML is malformed ({expat.ErrorString(exc.code)})") from None
    except RuntimeError as exc:  # zipfile: "File ... is encrypted, password required"
        if "encrypted" in str(exc) or "password" in str(exc):
            raise encrypted() from None
        raise unreadable("the archive is corrupt") from None
    except NotImplementedError:
        raise unreadable("the archive uses an unsupported compression method") from None
    except (zipfile.BadZipFile, zlib.error, EOFError, OSError, ValueError, KeyError, UnicodeDecodeError):
        raise unreadable("it is not a valid ZIP archive or is corrupt") from None
