"""Text from data, made safe for the report sources: read as text, never as markup.

Organisation, measure and category names come from files we do not control (NHS Digital's
CSVs, other teams' extracts). Everything a section notebook hands to the report passes through
here, so that both renderers (Quarto, and the pandoc + Typst fallback) show it exactly as text:
never as HTML, markdown, a Quarto shortcode or Typst markup.

Three steps, the same in every place text is written:

1. :func:`plain` - what the reader sees. Control characters, soft hyphens and the Unicode
   bidirectional overrides are removed, and any run of white space (line breaks included)
   becomes one space. Doubled braces (and colons) are kept apart by an invisible WORD JOINER
   (U+2060), ``{{`` becoming ``{\u2060{``: Quarto reads variable and attribute values a second
   time, after their escapes are undone, looking for ``{{<`` shortcodes (and mishandles a lone
   ``{{<`` or ``>}}}``), so no escaping survives there, but a text with no doubled brace cannot
   form one. A run of more than 60 characters without a space gets an invisible ZERO WIDTH
   SPACE every 30, so that a page can wrap it (a PDF would cut it off at the margin).
2. :func:`markdown` - for text in markdown (table cells, notes, captions, variable values):
   every ASCII punctuation character that pandoc or Quarto could read as syntax is
   backslash-escaped (pandoc's markdown lets any ASCII punctuation be escaped), so ``<script>``,
   ``**``, ``[link](...)``, ``@cite``, ``$math$``, ``#`` and smart quotes stay as typed.
3. :func:`attribute` - for a quoted attribute value such as ``fig-alt="..."``: there pandoc
   reads only backslash escapes of ``"`` and ``\\`` and character references, so ``&`` is
   written as ``&#38;``.

The text a reader gets is ``plain(text)``; tests compare the rendered pages with it. (In the PDF,
Typst sets three dots as an ellipsis and a hyphen before a digit as a minus sign, as a
typesetter would; nothing else changes.)
"""

from __future__ import annotations

import re
import unicodedata

WORD_JOINER = "\u2060"
#: an invisible break opportunity, put into very long unbroken runs of characters so that a
#: page can wrap them (a PDF would cut them off at the margin)
ZERO_WIDTH_SPACE = "\u200b"
LONGEST_UNBROKEN = 60

# ASCII punctuation that needs no escape anywhere in pandoc's or Quarto's markdown (a comma,
# semicolon, question mark, slash or per cent sign starts nothing); every other one is escaped
_UNESCAPED_PUNCTUATION = set(",;?/%")
_ESCAPED = {c for c in map(chr, range(33, 127)) if not c.isalnum()} - _UNESCAPED_PUNCTUATION

# the bidirectional embeddings, overrides and isolates, which can make text read in another
# order than it is stored; the byte order mark; the soft hyphen (a break the renderer chooses)
# (and the two invisible characters this module adds itself, so that only its own are there)
_FORMAT_CONTROLS = set("\u202a\u202b\u202c\u202d\u202e\u2066\u2067\u2068\u2069\ufeff\u00ad"
                       + WORD_JOINER + ZERO_WIDTH_SPACE)
_LONG_RUN = re.compile(rf"\S{{{LONGEST_UNBROKEN + 1},}}")
_SPACES = re.compile(r"\s+")


def plain(text) -> str:
    """``text`` as the report shows it: one line, no control characters, no doubled braces."""
    kept = []
    for character in str(text):
        category = unicodedata.category(character)
        if character.isspace():
            kept.append(" ")
        elif category in ("Cc", "Cs") or character in _FORMAT_CONTROLS or _is_noncharacter(character):
            continue
        else:
            kept.append(character)
    one_line = _SPACES.sub(" ", "".join(kept)).strip()
    return _separate_doubled_braces(_LONG_RUN.sub(_breakable, one_line))


def markdown(text) -> str:
    """``plain(text)`` written for markdown: every character reads as itself."""
    return "".join(f"\\{c}" if c in _ESCAPED else c for c in plain(text))


def attribute(text) -> str:
    """``plain(text)`` written for a double-quoted markdown attribute value (``fig-alt="..."``)."""
    return plain(text).replace("\\", "\\\\").replace('"', '\\"').replace("&", "&#38;")


def _separate_doubled_braces(text: str) -> str:
    # colons too: Quarto warns about any ":::" in text, taking it for a broken fenced div
    for character in "{}:":
        while character * 2 in text:
            text = text.replace(character * 2, character + WORD_JOINER + character)
    return text


def _breakable(run: re.Match) -> str:
    text = run.group(0)
    half = LONGEST_UNBROKEN // 2
    return ZERO_WIDTH_SPACE.join(text[start:start + half] for start in range(0, len(text), half))


def _is_noncharacter(character: str) -> bool:
    code = ord(character)
    return 0xFDD0 <= code <= 0xFDEF or (code & 0xFFFE) == 0xFFFE
