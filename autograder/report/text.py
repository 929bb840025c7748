"""Student text is data: the one place that makes it safe for every file the grader writes.

Everything a student controls (folder and file names, messages and outputs of their
process, written answers, a load error's text) reaches files that people read: the
feedback Markdown, ``written/<question>.md``, ``grades.csv`` and ``grades-tests.csv``,
results.json. Four dangers, four functions:

* **Terminals** (:func:`printable`): an instructor or TA who ``cat``s a file must not have
  their clipboard written (OSC 52), their screen cleared, the cursor moved back over the
  previous student's answer, or text reordered by bidirectional overrides. Every C0
  control character but newline and tab, DEL, every C1 control character (0x80-0x9f, which
  some terminals read as a CSI or OSC of their own), bidirectional overrides and isolates,
  and the Unicode line and paragraph separators are written as visible escapes
  (``\\x1b``, ``\\u202e``). An escape sequence then shows as text: its ESC is gone.
* **Encoders** (:func:`printable` too): a file name that is not valid UTF-8 comes back from
  the file system with lone surrogates (``\\udcff``), which no UTF-8 writer accepts. They
  are written as escapes too, so any ``str`` survives any writer; :func:`write_text`
  also writes with ``errors="backslashreplace"``, so no text can make a writer raise.
* **Markdown** (:func:`md_text`, :func:`md_code_block`): inline text is escaped, blocks
  sit in a fence longer than any run of backticks they hold.
* **Spreadsheets** (:func:`csv_cell`): a spreadsheet evaluates a cell that starts with
  ``=``, ``+``, ``-`` or ``@`` (after blanks or a quote). It may split a line at ``,``,
  ``;`` (Excel in many locales) or a tab, whatever the writer meant, so every place where
  a cell could start under any of those separators (the start of the text, and after each
  separator or line break) gets a ``'`` when a formula could start there; tabs and CR are
  written as escapes, so they split nothing.
"""

from __future__ import annotations

import hashlib
import html
import os
import re
from pathlib import Path

# C0 but \t and \n; DEL and C1; bidi embeddings, overrides and isolates; line/paragraph separators; lone surrogates.
_CONTROL = re.compile("[\x00-\x08\x0b-\x1f\x7f-\x9f\u2028\u2029\u202a-\u202e\u2066-\u2069\ud800-\udfff]")


def _escape(match: re.Match) -> str:
    code = ord(match.group())
    return f"\\x{code:02x}" if code < 256 else f"\\u{code:04x}"


def printable(text) -> str:
    """``str(text)`` with control characters (but newlines and tabs) and lone surrogates written as escapes.

    The result holds no character a terminal acts on and encodes to UTF-8 without error.
    """
    return _CONTROL.sub(_escape, str(text))


def safe_path(path: Path | str) -> Path:
    """``path`` if the file system can encode it; else the same folder with the name written as escapes.

    A name from ``os.listdir`` that is not UTF-8 holds surrogates the file system encodes
    back to its bytes; a surrogate that came from anywhere else cannot be a file name.
    """
    path = Path(path)
    try:
        os.fsencode(path)
        return path
    except UnicodeEncodeError:
        return path.parent / printable(path.name)


NAME_MAX = 255  # bytes of one file name (Linux, macOS)


def file_stem(name: str, suffix_room: int = 16) -> str:
    """``name`` as the start of a file name that leaves ``suffix_room`` bytes for a suffix.

    A folder's name may be 255 bytes long: "NAME.json" or ".NAME.json.tmp" made from it would
    not be a file name at all. A name too long is cut (on a character) and given a hash of
    itself, so two long names that share their start still get different files; names are
    kept only when they are shorter than any cut one, so no name is another's cut form.
    """
    raw = os.fsencode(printable(name)) if _unencodable(name) else os.fsencode(name)
    keep_bytes = NAME_MAX - suffix_room - 17  # room for "-" and 16 hex digits
    if len(raw) <= keep_bytes:
        return name
    digest = hashlib.sha256(raw).hexdigest()[:16]
    return f"{raw[:keep_bytes].decode('utf-8', 'ignore')}-{digest}"


def _unencodable(name: str) -> bool:
    try:
        os.fsencode(name)
        return False
    except UnicodeEncodeError:
        return True


def write_text(path: Path | str, text: str) -> None:
    """Write ``text`` to ``path`` as UTF-8, whatever either holds (an unencodable character becomes an escape, never an error)."""
    with open(safe_path(path), "w", encoding="utf-8", errors="backslashreplace") as fh:
        fh.write(text)


def open_csv(path: Path | str):
    """A CSV file opened for writing: UTF-8, no newline translation, never raising on a character."""
    return open(safe_path(path), "w", newline="", encoding="utf-8", errors="backslashreplace")


# --------------------------------------------------------------------------- #
# Markdown
# --------------------------------------------------------------------------- #

_MD_SPECIAL = re.compile(r"([\\`*_{}\[\]()#+\-.!|~])")


def md_text(text) -> str:
    """``text`` as plain inline Markdown: one line, no HTML, no Markdown syntax of its own, no control characters."""
    one_line = " ".join(printable(text).splitlines())
    return html.escape(_MD_SPECIAL.sub(r"\\\1", one_line), quote=False)


def md_code_block(text) -> list[str]:
    """Lines of a fenced code block holding ``text`` (control characters escaped), which it cannot close.

    The fence is longer than any run of backticks in the text, so no line of it can end
    the block; inside a code block, HTML and Markdown are shown as text.
    """
    text = printable(text)
    longest = max((len(run) for run in re.findall(r"`+", text)), default=0)
    fence = "`" * max(3, longest + 1)
    return [fence + "text", text, fence]


# --------------------------------------------------------------------------- #
# CSV
# --------------------------------------------------------------------------- #

_FORMULA_START = "=+-@"
# A place where a spreadsheet could start a cell: the start of the text, or right after a separator
# (',' ';' tab '|') or a line break; then blanks and quotes it skips; then the character that makes a formula.
_CELL_START = re.compile(r"(^|[,;\t|\r\n])([ \"']*)(?=[=+\-@])")


def csv_cell(value):
    """A CSV cell a spreadsheet shows as text, whichever separator it splits lines at.

    Numbers pass as they are. In a string, tabs and CR become visible escapes (they are
    separators or line ends to some readers), control characters and lone surrogates
    too, and a ``'`` goes before every ``=``, ``+``, ``-`` or ``@`` that could start a
    cell: at the start, or after a ``,``, ``;``, ``|``, line break or tab (and blanks or
    quotes). ``"=1+1"`` becomes ``"'=1+1"``, ``"a;=1+1"`` becomes ``"a;'=1+1"``.
    """
    if not isinstance(value, str):
        return value
    text = printable(value).replace("\t", "\\t")
    return _CELL_START.sub(lambda m: m.group(1) + "'" + m.group(2), text)


def csv_row(values) -> list:
    """Every cell of a row through :func:`csv_cell`."""
    return [csv_cell(v) for v in values]

