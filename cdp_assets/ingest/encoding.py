"""Text encodings of landed files: detection, and streaming any encoding as UTF-8 blocks.

Readers work on UTF-8 bytes cut at line ends, so that one block can be scanned with numpy and
parsed with pyarrow while memory stays bounded by the block size, not the file size.
"""

from __future__ import annotations

import codecs
import re
import unicodedata
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

BLOCK_SIZE = 32 << 20  # bytes read at a time; a block is cut at its last line end

_BOMS: tuple[tuple[bytes, str], ...] = (
    (codecs.BOM_UTF32_LE, "utf-32"),  # before UTF-16: the UTF-32 LE BOM starts like UTF-16 LE's
    (codecs.BOM_UTF32_BE, "utf-32"),
    (codecs.BOM_UTF8, "utf-8-sig"),
    (codecs.BOM_UTF16_LE, "utf-16"),
    (codecs.BOM_UTF16_BE, "utf-16"),
)
_SAMPLE = 1 << 20
# Non-ASCII characters that are ordinary in Western European text (names, addresses, notes).
_WORD = re.compile(r"[^\W\d_]+")
_WESTERN_SYMBOLS = set("\u00a0€£¥¢©®°±µ§¶«»“”‘’‚„–—…·¿¡ºª×÷™•")


@dataclass(frozen=True)
class TextBlock:
    data: bytes  # UTF-8, ends with b"\n" unless it is the file's last block
    first_line: int  # 1-based physical line number of the block's first byte


class DecodeFailure(Exception):
    """Bytes that the encoding cannot decode, with the place where they are."""

    def __init__(self, encoding: str, line: int, offset: int, bad: bytes) -> None:
        super().__init__(f"line {line}: cannot decode bytes {bad!r} as {encoding}")
        self.encoding = encoding
        self.line = line
        self.offset = offset
        self.bad = bad


def normalise_encoding(name: str) -> str:
    """The codec's canonical name (`latin1` → `iso8859-1`); LookupError when unknown."""
    return codecs.lookup(name).name


def bom_encoding(path: Path) -> str | None:
    with open(path, "rb") as f:
        head = f.read(4)
    for bom, encoding in _BOMS:
        if head.startswith(bom):
            return encoding
    return None


def _ascii_compatible(encoding: str) -> bool:
    probe = "\n\r,;\t|\"'{}[]:"
    try:
        return probe.encode(encoding) == probe.encode("ascii")
    except (UnicodeError, LookupError):
        return False


def utf8_blocks(path: Path, encoding: str, *, block_size: int | None = None) -> Iterator[TextBlock]:
    """The file's content as UTF-8 blocks cut at line ends. Raises DecodeFailure (line known)
    at the first bytes that `encoding` cannot decode."""
    block_size = block_size or BLOCK_SIZE
    codec = normalise_encoding(encoding)
    if codec in ("utf-8", "utf-8-sig"):
        yield from _utf8_passthrough(path, block_size)
    else:
        yield from _transcoded(path, encoding, block_size)


def _cut(buf: bytes, eof: bool) -> int:
    if eof:
        return len(buf)
    return buf.rfind(b"\n") + 1


def _utf8_passthrough(path: Path, block_size: int) -> Iterator[TextBlock]:
    line = 1
    offset = 0  # absolute byte offset of `carry`'s start
    carry = b""
    first = True
    with open(path, "rb") as f:
        while True:
            raw = f.read(block_size)
            eof = not raw
            buf = carry + raw if carry else raw
            if first:
                first = False
                if buf.startswith(codecs.BOM_UTF8):  # tolerated even when "utf-8" is configured
                    buf = buf[3:]
                    offset = 3
            cut = _cut(buf, eof)
            if cut == 0 and not eof:
                carry = buf
                continue
            block, carry = (buf, b"") if cut == len(buf) else (buf[:cut], buf[cut:])
            try:
                block.decode("utf-8")
            except UnicodeDecodeError as exc:
                bad_line = line + block.count(b"\n", 0, exc.start)
                raise DecodeFailure(
                    "utf-8", bad_line, offset + exc.start, block[exc.start : exc.end]
                ) from None
            if block:
                yield TextBlock(block, line)
                line += block.count(b"\n")
                offset += len(block)
            if eof:
                return


def _transcoded(path: Path, encoding: str, block_size: int) -> Iterator[TextBlock]:
    decoder = codecs.getincrementaldecoder(encoding)(errors="strict")
    ascii_compatible = _ascii_compatible(encoding)
    line = 1
    offset = 0  # absolute byte offset of the raw block being decoded
    pending = b""  # UTF-8 output after the last line end
    with open(path, "rb") as f:
        while True:
            raw = f.read(block_size)
            eof = not raw
            try:
                text = decoder.decode(raw, final=eof)
            except UnicodeDecodeError as exc:
                prefix = raw[: exc.start]
                newlines = (
                    prefix.count(b"\n")
                    if ascii_compatible
                    else prefix.decode(encoding, errors="replace").count("\n")
                )
                raise DecodeFailure(
                    encoding,
                    line + pending.count(b"\n") + newlines,
                    offset + exc.start,
                    raw[exc.start : exc.end],
                ) from None
            offset += len(raw)
            if line == 1 and not pending and text.startswith("\ufeff"):
                text = text[1:]
            buf = pending + text.encode("utf-8")
            cut = _cut(buf, eof)
            block, pending = (buf, b"") if cut == len(buf) else (buf[:cut], buf[cut:])
            if block:
                yield TextBlock(block, line)
                line += block.count(b"\n")
            if eof:
                return


def _reads_as_western(text: str) -> bool:
    """Whether decoded text looks like Western European text: its non-ASCII characters are
    Latin letters or common symbols, and words keep mostly ASCII letters (`Müller`), unlike
    Cyrillic or Greek bytes read as cp1252 (`Èâàí`)."""
    special = [c for c in text if ord(c) > 127]
    if not special:
        return True
    plausible = sum(
        1
        for c in special
        if c in _WESTERN_SYMBOLS
        or (0x00C0 <= ord(c) <= 0x024F and unicodedata.category(c).startswith("L"))
    )
    if plausible / len(special) < 0.9:
        return False
    accented = [w for w in _WORD.findall(text) if not w.isascii()]
    heavy = sum(
        1 for w in accented if len(w) >= 3 and sum(ord(c) > 127 for c in w) * 4 > 3 * len(w)
    )
    return heavy <= 0.3 * len(accented)


def sample_bytes(path: Path, around: int | None = None) -> bytes:
    """The file's start, plus the bytes around `around` (an offset where UTF-8 failed)."""
    with open(path, "rb") as f:
        head = f.read(_SAMPLE)
        if around is None or around < len(head) - 4096:
            return head
        f.seek(max(0, around - _SAMPLE // 4))
        return head + b"\n" + f.read(_SAMPLE // 2)


def guess_legacy_encoding(sample: bytes) -> str:
    """The encoding of bytes that are not UTF-8.

    Western single-byte text (cp1252, which decodes Latin-1 text the same way except for
    0x80-0x9F) is accepted when it reads as Western text (`_reads_as_western`); short samples fool statistical detectors (charset-normalizer calls
    `Éloïse Müller` cp1250 or Shift-JIS). Otherwise charset-normalizer decides.
    """
    for candidate in ("cp1252", "latin-1"):
        try:
            text = sample.decode(candidate)
        except UnicodeDecodeError:
            continue
        if _reads_as_western(text):
            return candidate
    try:
        import charset_normalizer

        best = charset_normalizer.from_bytes(sample).best()
    except Exception:  # noqa: BLE001 - detection is best effort; cp1252 below is the fallback
        best = None
    if best is not None and best.encoding:
        return best.encoding
    return "cp1252"
