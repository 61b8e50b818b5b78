"""Languages of the report: English (the source strings) and Chinese, through a gettext message
catalog per language (``locale/<lang>/LC_MESSAGES/carbonlink.po``, read with Babel).

The seed is a Chinese paper and China's national ETS is the system whose linking it weighs, so
the decision box and the report's headings come in Chinese with ``--lang zh``. Legal sources keep
their official titles; party names, currency codes and rule ids are not translated.
"""

from __future__ import annotations

from collections.abc import Callable
from functools import cache
from pathlib import Path

from carbonlink.errors import DocumentError

LOCALE_DIR = Path(__file__).parent / "locale"
DOMAIN = "carbonlink"
LANGS = ("en", "zh")


def catalog_path(lang: str) -> Path:
    return LOCALE_DIR / lang / "LC_MESSAGES" / f"{DOMAIN}.po"


@cache
def catalog(lang: str) -> dict[str, str]:
    """msgid → translation for ``lang`` (untranslated and fuzzy entries left out)."""
    from babel.messages.pofile import read_po

    with catalog_path(lang).open("rb") as fh:
        cat = read_po(fh, locale=lang)
    return {str(m.id): str(m.string) for m in cat if m.id and m.string and not m.fuzzy}


class Translator:
    """``_("text")`` for one language; ``.lang`` tells number formatting which words to use."""

    def __init__(self, lang: str = "en") -> None:
        if lang not in LANGS:
            raise DocumentError("--lang", f"must be one of {', '.join(LANGS)}, got {lang!r}")
        self.lang = lang
        self._messages = {} if lang == "en" else catalog(lang)

    def __call__(self, text: str) -> str:
        return self._messages.get(text, text)


def translator(lang: str = "en") -> Callable[[str], str]:
    return Translator(lang)
