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
class Undecodable:
    """A line the encoding cannot decode (lenient reading): blanked in its block."""

    line: int
    payload: str  # the line shown in the fallback encoding (U+FFFD where even that fails)
    reason: str


@dataclass(frozen=True)
class TextBlock:
    data: bytes  # UTF-8, ends with b"\n" unless it is the file's last block
    first_line: int  # 1-based physical line number of the block's first byte
    undecodable: tuple[Undecodable, ...] = ()  # lines blanked in `data` (lenient reading)


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


def utf8_blocks(
    path: Path,
    encoding: str,
    *,
    block_size: int | None = None,
    lenient: bool = False,
    shown_as: str | None = None,
) -> Iterator[TextBlock]:
    """The file's content as UTF-8 blocks cut at line ends.

    Strict (default): raises DecodeFailure (line known) at the first bytes that `encoding`
    cannot decode. Lenient (ASCII-compatible encodings only): each line that `encoding` cannot
    decode is left out of the block as an empty line (line numbers unchanged) and listed in
    the block's `undecodable`, shown decoded as `shown_as`; valid lines are kept exactly.
    """
    block_size = block_size or BLOCK_SIZE
    codec = normalise_encoding(encoding)
    if lenient and not _ascii_compatible(encoding):
        lenient = False  # lines cannot be cut on b"\n" bytes (UTF-16, UTF-32)
    if codec in ("utf-8", "utf-8-sig") or lenient:
        yield from _line_blocks(path, codec, block_size, lenient, shown_as or "cp1252")
    else:
        yield from _transcoded(path, encoding, block_size)


def _cut(buf: bytes, eof: bool) -> int:
    if eof:
        return len(buf)
    return buf.rfind(b"\n") + 1


def _raw_line_blocks(path: Path, block_size: int) -> Iterator[tuple[bytes, int, int]]:
    """(bytes cut at a line end, first line, byte offset) of the file, a UTF-8 BOM left out."""
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
            if block:
                yield block, line, offset
                line += block.count(b"\n")
                offset += len(block)
            if eof:
                return


def _line_blocks(
    path: Path, codec: str, block_size: int, lenient: bool, shown_as: str
) -> Iterator[TextBlock]:
    utf8 = codec in ("utf-8", "utf-8-sig")
    for block, line, offset in _raw_line_blocks(path, block_size):
        try:
            text = block.decode(codec)
        except UnicodeDecodeError as exc:
            if not lenient:
                bad_line = line + block.count(b"\n", 0, exc.start)
                raise DecodeFailure(
                    codec, bad_line, offset + exc.start, block[exc.start : exc.end]
                ) from None
            yield _decoded_by_line(block, line, codec, shown_as)
            continue
        if utf8:
            yield TextBlock(block, line)
            continue
        if line == 1 and text.startswith("\ufeff"):
            text = text[1:]
        yield TextBlock(text.encode("utf-8"), line)


def _decoded_by_line(block: bytes, first_line: int, codec: str, shown_as: str) -> TextBlock:
    """A block decoded line by line: lines that do not decode are blanked and listed."""
    utf8 = codec in ("utf-8", "utf-8-sig")
    parts = block.split(b"\n")
    out: list[bytes] = []
    bad: list[Undecodable] = []
    for k, part in enumerate(parts):
        try:
            text = part.decode(codec)
        except UnicodeDecodeError as exc:
            shown = part.rstrip(b"\r").decode(shown_as, errors="replace")
            reason = (
                f"not valid {codec}: bytes {part[exc.start : exc.end]!r} at byte {exc.start + 1} "
                f"of the line (the payload shows the line read as {shown_as})"
            )
            bad.append(Undecodable(first_line + k, shown, reason))
            out.append(b"")
            continue
        out.append(part if utf8 else text.encode("utf-8"))
    return TextBlock(b"\n".join(out), first_line, tuple(bad))


def has_utf8_text(path: Path, block_size: int | None = None) -> bool:
    """Whether the file holds non-ASCII text that is valid UTF-8 (so that its lines that are
    not UTF-8 are the exception, not the file's encoding)."""
    for block, _, _ in _raw_line_blocks(path, block_size or BLOCK_SIZE):
        if block.isascii():
            continue
        try:
            block.decode("utf-8")
            return True
        except UnicodeDecodeError:
            pass
        for part in block.split(b"\n"):
            if part.isascii():
                continue
            try:
                part.decode("utf-8")
                return True
            except UnicodeDecodeError:
                continue
    return False


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
            except UnicodeError:
                # Not about given bytes: "UTF-16 stream does not start with BOM" (a BOM-less
                # file read as utf-16 / utf-32). Nothing of it can be decoded from here.
                raise DecodeFailure(
                    encoding, line + pending.count(b"\n"), offset, raw[:4]
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


def not_utf8_lines(sample: bytes) -> bytes:
    """The lines of `sample` that are not UTF-8 (all of it when every line is): what a guess of
    the legacy encoding should look at. Valid UTF-8 text read as cp1252 is mojibake (`Ã¼`),
    which would push the guess away from Western text."""
    bad = []
    for line in sample.split(b"\n"):
        try:
            line.decode("utf-8")
        except UnicodeDecodeError:
            bad.append(line)
    return b"\n".join(bad) if bad else sample


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
