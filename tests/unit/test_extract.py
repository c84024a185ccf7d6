"""Unit tests for services.nlp.extract. Every fixture is generated here, in code:
DOCX files with zipfile, PDFs by a tiny hand-written writer (plus pypdf for
encryption and blank pages), zip bombs on the fly."""

from __future__ import annotations

import io
import os
import time
import zipfile
from pathlib import Path

import pytest

from services.core.errors import PayloadTooLarge, UnreadableDocument, UnsupportedMediaType
from services.nlp.extract import (
    SUPPORTED_TYPES,
    ExtractedDocument,
    extract_text,
    sanitize_filename,
)
from tests.utils.documents import (  # noqa: F401  (shared with the integration tests)
    _esc,
    para,
    table,
    document_xml,
    make_docx,
    make_pdf,
    build_pdf,
    encrypt_pdf,
    blank_pdf,
    W_NS,
    CONTENT_TYPES,
    RELS,
)

DOCX = "application/vnd.openxmlformats-officedocument.wordprocessingml.document"
SEED = next((Path(__file__).resolve().parents[2] / "seeds").glob("*.txt")).read_text(encoding="utf-8")
ARABIC = "مرحبا بالعالم، هذا نص عربي قصير."
ARABIC_DIACRITICS = "مَرْحَبًا بِكُمْ فِي الْمَدِينَةِ"


# --------------------------------------------------------------------------- builders


def raises(exc_type, data: bytes, code: str | None = None, **kwargs):
    with pytest.raises(exc_type) as info:
        extract_text(data, **kwargs)
    if code is not None:
        assert info.value.code == code, info.value.message
    assert info.value.message
    return info.value


# --------------------------------------------------------------------------- API shape


def test_public_api_shape():
    assert SUPPORTED_TYPES == ("text/plain", "text/html", "application/pdf", DOCX, "text/markdown")
    doc = extract_text(b"hello", filename="a.txt")
    assert isinstance(doc, ExtractedDocument)
    with pytest.raises(Exception):
        doc.text = "x"  # frozen
    assert (doc.text, doc.content_type, doc.filename, doc.encoding) == ("hello", "text/plain", "a.txt", "utf-8")
    assert UnsupportedMediaType.status_code == 415
    assert UnreadableDocument.status_code == 422
    assert PayloadTooLarge.status_code == 413


# --------------------------------------------------------------------------- plain text & encodings


def test_seed_utf8_is_returned_unchanged_except_newline_normalisation():
    doc = extract_text(SEED.encode("utf-8"), filename="seed.txt")
    assert doc.text == SEED.replace("\r\n", "\n")
    assert doc.content_type == "text/plain"


@pytest.mark.parametrize(
    "encoded, encoding",
    [
        (b"\xef\xbb\xbf" + ARABIC.encode("utf-8"), "utf-8"),
        (ARABIC.encode("utf-16"), "utf-16-le"),  # native BOM
        (b"\xff\xfe" + ARABIC.encode("utf-16-le"), "utf-16-le"),
        (b"\xfe\xff" + ARABIC.encode("utf-16-be"), "utf-16-be"),
        (ARABIC.encode("cp1256"), "windows-1256"),
        (ARABIC.encode("iso8859_6"), "iso-8859-6"),
    ],
)
def test_arabic_in_every_encoding(encoded, encoding):
    doc = extract_text(encoded, filename="ar.txt")
    assert doc.text == ARABIC
    assert doc.encoding == encoding


def test_seed_in_windows_1256_and_utf16():
    expected = SEED.replace("\r\n", "\n")
    for codec, name in (("cp1256", "windows-1256"), ("utf-16", "utf-16-le"), ("utf-16-be", "utf-16-be")):
        data = SEED.encode(codec)
        if codec == "utf-16-be":
            data = b"\xfe\xff" + data
        doc = extract_text(data)
        assert doc.text == expected, codec
        assert doc.encoding == name


def test_utf16_without_bom_is_detected():
    text = "Hello world, this is UTF-16 without a byte order mark.\nSecond line."
    assert extract_text(text.encode("utf-16-le")).text == text
    assert extract_text(text.encode("utf-16-be")).text == text
    assert extract_text(SEED.encode("utf-16-le")).text == SEED.replace("\r\n", "\n")


def test_arabic_diacritics_are_kept_not_normalised():
    doc = extract_text(ARABIC_DIACRITICS.encode("cp1256"))
    assert doc.text == ARABIC_DIACRITICS
    decomposed = "e\u0301t\u00e9"  # NFD and NFC side by side must both survive
    assert extract_text(decomposed.encode("utf-8")).text == decomposed


@pytest.mark.parametrize(
    "text, codec",
    [
        ("Café crème brûlée, naïve façade.", "iso-8859-1"),
        ("Ça été très naïf à l'époque.", "iso-8859-1"),
        ("The “smart” quotes — and dashes… cost €5.", "cp1252"),
        ("Grüße aus München, schöne Straße", "cp1252"),
        ("Привет, как дела? Всё хорошо.", "cp1251"),
        ("Привет, как дела? Всё хорошо.", "koi8-r"),
        ("Dobrý den, jak se máte? Příliš žluťoučký kůň.", "cp1250"),
        ("Καλημέρα κόσμε", "cp1253"),
        ("שלום עולם, זהו טקסט בעברית שנכתב לצורך בדיקה של זיהוי הקידוד.", "cp1255"),
        ("日本語のテキストです。", "shift_jis"),
        ("中文文本测试，这是一个句子。", "gb18030"),
    ],
)
def test_legacy_encodings(text, codec):
    assert extract_text(text.encode(codec), filename="x.txt").text == text


def test_newlines_and_control_characters_are_normalised():
    raw = "a\r\nb\rc\nd\te\x00f\x01g\x1bh\x7fi\x0bj\x0ck"
    doc = extract_text(raw.encode("utf-8"))
    assert doc.text == "a\nb\nc\nd\tefgh\x7fi\nj\nk"


def test_nul_bytes_in_text_are_removed():
    assert extract_text(b"hello\x00 wor\x00ld").text == "hello world"


def test_invalid_utf8_bytes_in_mostly_utf8_text():
    data = ARABIC.encode("utf-8") + b" \xff\xfe " + ARABIC.encode("utf-8")
    doc = extract_text(data)
    assert doc.encoding == "utf-8"
    assert doc.text == ARABIC + " \ufffd\ufffd " + ARABIC


def test_declared_charset_is_used_when_it_decodes():
    data = "Ελληνικά".encode("iso8859_7")
    doc = extract_text(data, content_type="text/plain; charset=ISO-8859-7")
    assert doc.text == "Ελληνικά"
    assert doc.encoding == "iso-8859-7"


def test_extraction_is_deterministic():
    data = SEED.encode("cp1256")
    assert len({extract_text(data).text for _ in range(3)}) == 1


# --------------------------------------------------------------------------- refusals: empty, binary, size


@pytest.mark.parametrize("data", [b"", b"   \n\t ", b"\xef\xbb\xbf", b"\xff\xfe", b"\x00\x00\x00"])
def test_empty_documents(data):
    err = raises(UnreadableDocument, data, "empty_document", filename="empty.txt")
    assert err.status_code == 422


@pytest.mark.parametrize(
    "data",
    [
        b"\x89PNG\r\n\x1a\n" + os.urandom(200),
        b"\xff\xd8\xff\xe0" + os.urandom(200),
        b"\x7fELF\x02\x01\x01" + bytes(200),
        b"\x1f\x8b\x08\x00" + os.urandom(200),
        bytes(range(256)) * 8,
        b"\x00\x01\x02\x03" * 1000,
    ],
)
def test_binary_file_named_txt_is_415(data):
    err = raises(UnsupportedMediaType, data, "unsupported_media_type", filename="notes.txt", content_type="text/plain")
    assert err.status_code == 415
    assert err.details["supported"] == list(SUPPORTED_TYPES)
    assert err.details["detected"]


def test_random_bytes_are_415():
    import random

    rng = random.Random(1234)
    for _ in range(5):
        data = bytes(rng.getrandbits(8) for _ in range(4096))
        raises(UnsupportedMediaType, data, "unsupported_media_type", filename="x.txt")


def test_other_office_and_archive_formats_are_415():
    buf = io.BytesIO()
    with zipfile.ZipFile(buf, "w") as zf:
        zf.writestr("[Content_Types].xml", CONTENT_TYPES)
        zf.writestr("xl/workbook.xml", "<workbook/>")
    err = raises(UnsupportedMediaType, buf.getvalue(), filename="book.xlsx")
    assert "spreadsheetml" in err.details["detected"]
    buf = io.BytesIO()
    with zipfile.ZipFile(buf, "w") as zf:
        zf.writestr("a.txt", "hello")
    raises(UnsupportedMediaType, buf.getvalue(), filename="a.zip")
    raises(UnsupportedMediaType, b"\xd0\xcf\x11\xe0\xa1\xb1\x1a\xe1" + bytes(600), filename="old.doc")
    svg = b'<?xml version="1.0"?>\n<svg xmlns="http://www.w3.org/2000/svg"><text>hi</text></svg>'
    assert raises(UnsupportedMediaType, svg, filename="pic.txt").details["detected"] == "image/svg+xml"


def test_text_longer_than_max_chars_is_413():
    err = raises(PayloadTooLarge, b"x" * 101, "text_too_large", max_chars=100)
    assert err.status_code == 413
    assert extract_text(b"x" * 100, max_chars=100).text == "x" * 100


def test_ten_megabyte_single_line():
    data = b"a" * (10 * 1024 * 1024)
    start = time.perf_counter()
    raises(PayloadTooLarge, data, "text_too_large", filename="line.txt")
    doc = extract_text(data, max_chars=11 * 1024 * 1024)
    assert len(doc.text) == 10 * 1024 * 1024
    assert time.perf_counter() - start < 10


def test_one_megabyte_text_is_fast():
    data = (SEED * (1_000_000 // len(SEED) + 1))[:1_000_000].encode("utf-8")
    start = time.perf_counter()
    doc = extract_text(data, filename="big.txt")
    assert time.perf_counter() - start < 1.0
    assert len(doc.text) <= 1_000_000


def test_one_megabyte_legacy_text_is_fast():
    data = (SEED * (1_000_000 // len(SEED) + 1))[:1_000_000].encode("cp1256", errors="ignore")
    start = time.perf_counter()
    doc = extract_text(data, filename="big.txt")
    assert time.perf_counter() - start < 1.0
    assert doc.encoding == "windows-1256"


# --------------------------------------------------------------------------- detection by content


def test_content_wins_over_name_and_declared_type():
    html = b"<!DOCTYPE html><html><body><p>Hello <b>there</b></p></body></html>"
    doc = extract_text(html, filename="page.txt", content_type="application/octet-stream")
    assert (doc.content_type, doc.text) == ("text/html", "Hello there")
    pdf = make_pdf(["Hello PDF"])
    doc = extract_text(pdf, filename="report.txt", content_type="text/plain")
    assert doc.content_type == "application/pdf"
    doc = extract_text(make_docx(para("Word text")), filename=None, content_type=None)
    assert (doc.content_type, doc.text) == (DOCX, "Word text")
    doc = extract_text(b"plain words", filename="x.bin", content_type="application/pdf")
    assert doc.content_type == "text/plain"


def test_markdown_by_name_or_declared_type_only():
    src = b"# Title\n\nSome *text*."
    assert extract_text(src, filename="a.md").text == "Title\n\nSome text."
    assert extract_text(src, content_type="text/markdown; charset=utf-8").content_type == "text/markdown"
    assert extract_text(src, filename="a.txt").text == src.decode()  # plain text stays as is


# --------------------------------------------------------------------------- HTML


def test_html_visible_text_only():
    html = """<!doctype html>
<html><head><title>Title</title><style>body { color: red }</style>
<script>var x = "<p>not text</p>";</script></head>
<body>
  <h1>Heading &amp; more</h1>
  <p>First   paragraph
     continues&nbsp;here.<br>After break.</p>
  <script>alert("no")</script><noscript>no js</noscript>
  <div hidden>secret</div><div style="display: none">also secret</div>
  <ul><li>one</li><li>two &lt;3</li></ul>
  <table><tr><th>A</th><th>B</th></tr><tr><td>1</td><td>2</td></tr></table>
  <pre>  code
    indented</pre>
  <!-- comment -->
  <p>مرحبا <span>بكم</span></p>
</body></html>"""
    doc = extract_text(html.encode("utf-8"), filename="page.html")
    assert doc.content_type == "text/html"
    assert doc.text == (
        "Heading & more\n\n"
        "First paragraph continues\u00a0here.\nAfter break.\n\n"
        "one\ntwo <3\n\n"
        "A\tB\n1\t2\n\n"
        "  code\n    indented\n\n"
        "مرحبا بكم"
    )


def test_html_in_windows_1256_with_meta_charset():
    html = f'<html><head><meta charset="windows-1256"></head><body><p>{ARABIC}</p></body></html>'
    doc = extract_text(html.encode("cp1256"))
    assert doc.text == ARABIC
    assert doc.encoding == "windows-1256"


def test_html_fragment_by_name():
    doc = extract_text(b"<p>Hi</p><p>there</p>", filename="frag.htm")
    assert (doc.content_type, doc.text) == ("text/html", "Hi\n\nthere")


def test_html_only_scripts_is_empty():
    raises(UnreadableDocument, b"<html><head><script>x()</script></head><body><style>a{}</style></body></html>", "empty_document")


def test_deeply_nested_html_does_not_crash():
    html = b"<html><body>" + b"<div>" * 50_000 + b"deep" + b"</div>" * 50_000 + b"</body></html>"
    assert extract_text(html).text == "deep"


# --------------------------------------------------------------------------- Markdown


def test_markdown_to_plain_text():
    md = """# Main title

Intro with *emphasis*, **bold**, a [link](https://example.com/x) and `inline code`.
Second line of the same paragraph.

![an image](pic.png)

- item one
- item two
  1. nested

> quoted text

```python
print("code kept")
```

| col A | col B |
|-------|-------|
| 1     | 2     |

<div>raw <b>html</b></div>

## مقدمة

نص عربي &amp; رموز
"""
    doc = extract_text(md.encode("utf-8"), filename="README.md")
    assert doc.content_type == "text/markdown"
    assert doc.text == (
        "Main title\n\n"
        "Intro with emphasis, bold, a link and inline code.\n"
        "Second line of the same paragraph.\n\n"
        "item one\nitem two\nnested\n\n"
        "quoted text\n\n"
        'print("code kept")\n\n'
        "col A\tcol B\n1\t2\n\n"
        "raw html\n\n"
        "مقدمة\n\n"
        "نص عربي & رموز"
    )
    assert "https://" not in doc.text and "pic.png" not in doc.text and "```" not in doc.text


# --------------------------------------------------------------------------- DOCX


def test_docx_paragraphs_and_tables_in_order():
    body = (
        para("First paragraph.")
        + table([["A1", "B1"], ["A2", "B2"]])
        + '<w:p><w:r><w:t>Tab</w:t><w:tab/><w:t>bed</w:t><w:br/><w:t>broken</w:t></w:r></w:p>'
        + '<w:p><w:r><w:t>kept</w:t></w:r><w:del><w:r><w:delText>deleted</w:delText></w:r></w:del>'
        + '<w:r><w:instrText> PAGE </w:instrText></w:r></w:p>'
        + '<w:p><mc:AlternateContent><mc:Choice Requires="wps"><w:r><w:t>box</w:t></w:r></mc:Choice>'
        + '<mc:Fallback><w:r><w:t>box</w:t></w:r></mc:Fallback></mc:AlternateContent></w:p>'
        + para(ARABIC_DIACRITICS)
    )
    doc = extract_text(make_docx(body), filename="report.docx")
    assert doc.content_type == DOCX
    assert doc.encoding is None
    assert doc.text == (
        "First paragraph.\nA1\tB1\nA2\tB2\nTab\tbed\nbroken\nkept\nbox\n" + ARABIC_DIACRITICS
    )


def test_docx_not_a_zip():
    raises(UnreadableDocument, b"this is not a zip file at all", "unreadable_document", filename="x.docx")
    raises(UnreadableDocument, b"PK\x03\x04" + os.urandom(300), "unreadable_document", filename="x.docx")
    truncated = make_docx(para("hello"))[:-40]
    raises(UnreadableDocument, truncated, "unreadable_document", filename="x.docx")


def test_docx_without_document_xml():
    buf = io.BytesIO()
    with zipfile.ZipFile(buf, "w") as zf:
        zf.writestr("[Content_Types].xml", CONTENT_TYPES)
        zf.writestr("word/styles.xml", "<styles/>")
    raises(UnreadableDocument, buf.getvalue(), "unreadable_document", filename="x.docx")
    buf = io.BytesIO()
    with zipfile.ZipFile(buf, "w") as zf:
        zf.writestr("hello.txt", "hello")
    raises(UnreadableDocument, buf.getvalue(), "unreadable_document", filename="x.docx")


def test_docx_malformed_xml():
    raises(UnreadableDocument, make_docx(document="<w:document><w:body><w:p>"), "unreadable_document")


def test_docx_entity_expansion_is_refused():
    lol = (
        '<!DOCTYPE lolz [<!ENTITY lol "lol"><!ENTITY lol2 "&lol;&lol;&lol;&lol;&lol;&lol;&lol;&lol;">'
        '<!ENTITY lol3 "&lol2;&lol2;&lol2;&lol2;&lol2;&lol2;&lol2;&lol2;">'
        '<!ENTITY lol4 "&lol3;&lol3;&lol3;&lol3;&lol3;&lol3;&lol3;&lol3;">]>'
    )
    data = make_docx(document=document_xml("<w:p><w:r><w:t>&lol4;</w:t></w:r></w:p>", prolog=lol))
    err = raises(UnreadableDocument, data, "unreadable_document", filename="lol.docx")
    assert "DTD" in err.message
    xxe = '<!DOCTYPE d [<!ENTITY x SYSTEM "file:///etc/passwd">]>'
    data = make_docx(document=document_xml("<w:p><w:r><w:t>&x;</w:t></w:r></w:p>", prolog=xxe))
    raises(UnreadableDocument, data, "unreadable_document")
    # an undeclared entity without any DTD is malformed XML
    data = make_docx(document=document_xml("<w:p><w:r><w:t>&x;</w:t></w:r></w:p>"))
    raises(UnreadableDocument, data, "unreadable_document")


def test_docx_zip_bomb_is_stopped_without_materialising():
    # ~300 MB of zeros-like XML compressed to a few hundred KB.
    filler = b"<w:p><w:r><w:t>a</w:t></w:r></w:p>" * 10_000
    head = document_xml("").encode().split(b"<w:sectPr/>")[0]
    buf = io.BytesIO()
    with zipfile.ZipFile(buf, "w", zipfile.ZIP_DEFLATED) as zf:
        zf.writestr("[Content_Types].xml", CONTENT_TYPES)
        with zf.open("word/document.xml", "w", force_zip64=True) as fh:
            fh.write(head)
            for _ in range(1000):
                fh.write(filler)
    data = buf.getvalue()
    assert len(data) < 3_000_000
    start = time.perf_counter()
    err = raises(UnreadableDocument, data, "unreadable_document", filename="bomb.docx", max_chars=10_000_000)
    assert time.perf_counter() - start < 10
    assert "large" in err.message or "ratio" in err.message


def test_docx_lying_about_its_size_is_stopped():
    # Declared size small, actual stream larger: patch the sizes in the headers.
    xml = document_xml(para("x" * 2000)).encode()
    data = bytearray(make_docx(document=xml))
    with zipfile.ZipFile(io.BytesIO(bytes(data))) as zf:
        info = zf.getinfo("word/document.xml")
    small = (100).to_bytes(4, "little")
    real = info.file_size.to_bytes(4, "little")
    # local header (offset 22) and central directory (offset 24) uncompressed size fields
    local = info.header_offset
    assert data[local + 22 : local + 26] == real
    data[local + 22 : local + 26] = small
    pos = 0
    while True:
        pos = data.find(b"PK\x01\x02", pos)
        if pos < 0:
            break
        if data[pos + 46 : pos + 46 + len(b"word/document.xml")] == b"word/document.xml":
            data[pos + 24 : pos + 28] = small
        pos += 4
    raises(UnreadableDocument, bytes(data), "unreadable_document", filename="liar.docx")


def test_docx_text_over_limit_is_413_early():
    data = make_docx("".join(para("word " * 200) for _ in range(2000)))  # ~2M chars
    raises(PayloadTooLarge, data, "text_too_large", max_chars=100_000)


def test_docx_empty_document():
    raises(UnreadableDocument, make_docx("<w:p/>"), "empty_document")


def test_docx_encrypted_zip_entry_and_ole_container():
    data = bytearray(make_docx(para("secret")))
    # set the "encrypted" flag bit on every header of word/document.xml
    pos = 0
    while True:
        pos = data.find(b"PK", pos)
        if pos < 0:
            break
        sig = bytes(data[pos : pos + 4])
        if sig == b"PK\x03\x04":
            data[pos + 6] |= 1
        elif sig == b"PK\x01\x02":
            data[pos + 8] |= 1
        pos += 4
    raises(UnreadableDocument, bytes(data), "encrypted_document", filename="x.docx")
    ole = b"\xd0\xcf\x11\xe0\xa1\xb1\x1a\xe1" + bytes(500) + "EncryptedPackage".encode("utf-16-le") + bytes(500)
    raises(UnreadableDocument, ole, "encrypted_document", filename="protected.docx")


def test_one_megabyte_docx_is_fast():
    line = SEED.replace("\n", " ")[:500]
    data = make_docx("".join(para(line) for _ in range(1990)))  # ~1M chars
    start = time.perf_counter()
    doc = extract_text(data, filename="big.docx")
    elapsed = time.perf_counter() - start
    assert len(doc.text) > 900_000
    assert elapsed < 2.0


# --------------------------------------------------------------------------- PDF


def test_pdf_text_extraction():
    doc = extract_text(make_pdf(["Hello from page one.", "And page two."]), filename="a.pdf")
    assert doc.content_type == "application/pdf"
    assert doc.encoding is None
    assert doc.text == "Hello from page one.\n\nAnd page two."


def test_pdf_encrypted_with_password_is_refused():
    data = encrypt_pdf(make_pdf(["Top secret"]), user_password="secret")
    err = raises(UnreadableDocument, data, "encrypted_document", filename="locked.pdf")
    assert "without a password" in err.message


def test_pdf_with_owner_password_only_is_readable():
    data = encrypt_pdf(make_pdf(["Readable by anyone"]), user_password="")
    assert extract_text(data).text == "Readable by anyone"


def test_pdf_without_text_layer_is_no_text():
    err = raises(UnreadableDocument, blank_pdf(), "no_text", filename="scan.pdf")
    assert "OCR" in err.message and "scanned" in err.message


@pytest.mark.parametrize(
    "data",
    [
        b"%PDF-1.7\n" + os.urandom(2000),
        b"%PDF-1.4\n1 0 obj << /Type /Catalog /Pages 2 0 R >> endobj\ntrailer << /Root 1 0 R >>\n%%EOF",
        b"%PDF-",
    ],
)
def test_malformed_pdfs_are_unreadable(data):
    err = raises(UnreadableDocument, data, filename="bad.pdf")
    assert err.code in ("unreadable_document", "no_text")


def test_truncated_pdf_is_handled():
    data = make_pdf(["Some text here", "More"])
    for cut in (len(data) // 4, len(data) // 2, len(data) - 30):
        try:
            doc = extract_text(data[:cut], filename="cut.pdf")
        except UnreadableDocument as err:
            assert err.code in ("unreadable_document", "no_text")
        else:
            assert doc.content_type == "application/pdf"


def test_file_named_pdf_that_is_not_a_pdf():
    raises(UnreadableDocument, b"just some words", "unreadable_document", filename="x.pdf")


def test_pdf_text_over_limit():
    raises(PayloadTooLarge, make_pdf(["x" * 500] * 5), "text_too_large", max_chars=1000)


# --------------------------------------------------------------------------- file names


@pytest.mark.parametrize(
    "name, expected",
    [
        ("../../etc/passwd", "passwd"),
        ("..\\..\\windows\\system32\\cmd.exe", "cmd.exe"),
        ("C:\\Users\\me\\doc.docx", "doc.docx"),
        ("/abs/path/report.pdf", "report.pdf"),
        ("..", None),
        ("../", None),
        ("", None),
        (None, None),
        ("   ", None),
        (".hidden", "hidden"),
        ("a\x00b\x1fc.txt", "abc.txt"),
        ("evil\u202etxt.exe", "eviltxt.exe"),
        ('we<ird>:na|me?*.txt', "we_ird__na_me__.txt"),
        ("تقرير الأخبار.txt", "تقرير الأخبار.txt"),
        ("name.txt. . ", "name.txt"),
    ],
)
def test_sanitize_filename(name, expected):
    assert sanitize_filename(name) == expected


def test_sanitize_filename_caps_length_and_keeps_extension():
    name = "a" * 1000 + ".txt"
    safe = sanitize_filename(name)
    assert len(safe) <= 200 and safe.endswith(".txt")
    assert extract_text(b"x", filename="../../" + name).filename == safe


def test_extract_sanitises_filename():
    assert extract_text(b"hi", filename="../../etc/passwd").filename == "passwd"


def test_text_mentioning_pdf_header_is_text():
    doc = extract_text(b"The magic bytes of a PDF are %PDF-1.7 at the start.", filename="notes.txt")
    assert doc.content_type == "text/plain"
    assert extract_text(b"\n\n" + make_pdf(["Leading junk"]), filename=None).text == "Leading junk"


def test_html_fragment_detected_by_content():
    doc = extract_text(b"<p>First</p>\n<p>Second &amp; last</p>")
    assert (doc.content_type, doc.text) == ("text/html", "First\n\nSecond & last")
    # a plain text mentioning a tag is still plain text
    assert extract_text(b"Use the <p> tag for paragraphs.").content_type == "text/plain"


@pytest.mark.parametrize(
    "source, name",
    [
        ("[" * 200_000, "a.md"),
        ("*a" * 100_000, "a.md"),
        ("[a](" * 50_000, "a.md"),
        ("|a|\n|-|\n" + "|x|\n" * 50_000, "a.md"),
        ("<div>" * 200_000 + "x", "a.html"),
        ("<ul>" * 50_000 + "x", "a.html"),
        ("<a" * 500_000, "a.html"),
        ("<!--" * 100_000 + "x", "a.html"),
    ],
)
def test_pathological_markup_is_linear(source, name):
    start = time.perf_counter()
    try:
        extract_text(source.encode(), filename=name, max_chars=5_000_000)
    except UnreadableDocument as err:
        assert err.code == "empty_document"
    assert time.perf_counter() - start < 3.0


def test_markdown_beyond_nesting_limit_keeps_text():
    assert extract_text(("> " * 5000 + "deep").encode(), filename="q.md").text == "deep"


def test_mutation_fuzz_never_raises_unexpected_errors():
    """Random byte mutations of every fixture kind: the only allowed outcomes are
    a non-empty text or one of our 4xx errors (never an unexpected exception)."""
    import random

    from services.core.errors import DocenrichError

    rng = random.Random(20261125)
    seeds = [
        (make_docx(para("Hello world") + table([["a", "b"]]) + para(ARABIC)), "x.docx"),
        (make_pdf(["Hello page one", "Page two"]), "x.pdf"),
        (encrypt_pdf(make_pdf(["secret"]), "pw"), "x.pdf"),
        (b"<html><body><p>Hi &amp; <b>there</b></p><script>x</script></body></html>", "x.html"),
        ("# T\n\n*a* [b](c) `d`\n- e\n".encode(), "x.md"),
        (SEED.encode("cp1256"), "x.txt"),
        (SEED.encode("utf-16"), None),
    ]
    for _ in range(400):
        data, name = rng.choice(seeds)
        buf = bytearray(data)
        for _ in range(rng.randint(1, 6)):
            op = rng.random()
            if op < 0.5 and buf:
                buf[rng.randrange(len(buf))] = rng.randrange(256)
            elif op < 0.75 and buf:
                i = rng.randrange(len(buf))
                del buf[i : i + rng.randint(1, 40)]
            else:
                i = rng.randrange(len(buf) + 1)
                buf[i:i] = bytes(rng.randrange(256) for _ in range(rng.randint(1, 16)))
        try:
            doc = extract_text(bytes(buf), filename=name, max_chars=100_000)
        except DocenrichError as err:
            assert err.status_code in (413, 415, 422)
        else:
            assert doc.text.strip()
            doc.text.encode("utf-8")  # no lone surrogates
            assert doc.content_type in SUPPORTED_TYPES


def test_pdf_content_bomb_is_refused_fast():
    raw = b"BT /F1 12 Tf 1 0 0 1 72 720 Tm (hello) Tj ET\n" * 60_000  # 2.6 MB -> ~8 KB
    data = build_pdf([raw], flate=True)
    assert len(data) < 20_000
    start = time.perf_counter()
    err = raises(UnreadableDocument, data, "unreadable_document", max_chars=10_000_000)
    assert time.perf_counter() - start < 3.0
    assert "bomb" in err.message


def test_pdf_many_text_lines_and_compressed_streams():
    lines = [f"Line {i} of the report." for i in range(30)]
    stream = ("BT /F1 12 Tf 72 760 Td 14 TL " + " ".join(f"({l}) '" for l in lines) + " ET").encode()
    doc = extract_text(build_pdf([stream, stream], flate=True), filename="r.pdf")
    assert doc.text.split("\n\n") == ["\n".join(lines)] * 2
