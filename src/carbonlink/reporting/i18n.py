"""Languages of the report: English (the source strings) and Chinese, through a gettext message
catalog per language (``locale/<lang>/LC_MESSAGES/carbonlink.po``, read with Babel).

The seed is a Chinese paper and China's national ETS is the system whose linking it weighs, so
the report, ``carbonlink check`` and the web pages come in Chinese with ``--lang zh`` /
``?lang=zh``. Legal sources keep their official titles; currency codes, rule ids, clause paths
and market ids are not translated.

Two mechanisms, one per kind of text:

* every string written in the code or a template is marked ``_("…")`` (or ``N_("…")`` where it
  is defined and translated where shown), extracted by ``make i18n`` (``babel.cfg``) and
  translated in the catalog; a message with numbers or names is a template with named
  placeholders (``_("{party} saves {amount} a year").format(…)``);
* the rules table (``carbonlink/data/rules.yaml``) carries each rule's Chinese title
  (``title_zh``): in Chinese a finding shows its rule's title, its details (names, numbers) stay
  in the subject and in the English output.

Numbers and dates are formatted per locale with Babel (:meth:`Translator.number`,
:meth:`Translator.date`).
"""

from __future__ import annotations

import datetime as dt
import math
from collections.abc import Callable
from functools import cache
from pathlib import Path
from typing import Any

from carbonlink.errors import DocumentError

LOCALE_DIR = Path(__file__).parent / "locale"
DOMAIN = "carbonlink"
LANGS = ("en", "zh")
#: Babel locale of each language (numbers, dates).
BABEL_LOCALE = {"en": "en_GB", "zh": "zh_Hans_CN"}


def N_(text: str) -> str:
    """Mark a message for the catalog where it is defined; it is translated where shown."""
    return text


#: Words shown through a variable: severities, ratings, requirement levels, the link type and
#: the four axes of the linking mode (enum values of the agreement document), who set an
#: assumption, the agreement's form and generation, a party's role, the status of an ETS, the
#: level of a jurisdiction, the words of a reference-data figure.
VOCABULARY = (
    N_("error"), N_("warning"), N_("info"),
    N_("aligned"), N_("compatible"), N_("conflict"), N_("unknown"),
    N_("MUST"), N_("SHOULD"), N_("MAY"),
    N_("ets_two_way"), N_("ets_one_way"), N_("crediting"), N_("indirect"),
    N_("unilateral"), N_("bilateral"), N_("multilateral"), N_("direct"),
    N_("full"), N_("restricted"), N_("umbrella"), N_("parallel"),
    N_("quota"), N_("border_tax"), N_("exchange_rate"), N_("discount_rate"), N_("entity_share"),
    N_("transfer_tax"),
    N_("default"), N_("derived"), N_("agreement document"), N_("assumptions file"),
    N_("command line"), N_("carried forward"),
    N_("treaty"), N_("implementing_agreement"), N_("mou"), N_("political_declaration"),
    N_("unilateral_regulation"), N_("linking"), N_("article_6_2"),
    N_("transferring"), N_("acquiring"), N_("both"),
    N_("in_force"), N_("pilot"), N_("under_development"), N_("ended"),
    N_("supranational"), N_("national"), N_("subnational"), N_("city"),
    N_("yes"), N_("no"), N_("none"),
)
#: What carbonlink.agreements.context appends to the source of an unverified rule.
UNVERIFIED = " " + N_("(paragraph reference unverified)")
#: The content blocks of the two generations (carbonlink.agreements.completeness), named in the
#: subject of a CMP-G finding (``block.<name>``).
CONTENT_BLOCKS = (
    N_("operating procedures"), N_("joint body"), N_("change management"),
    N_("amendment, enlargement, withdrawal"), N_("dispute settlement"), N_("cooperation"),
    N_("environmental integrity and sustainable development"), N_("MRV"),
    N_("corresponding adjustments"), N_("confidential information"), N_("duration"),
    N_("authorisation procedure"), N_("recognition of transfers"), N_("institutions"),
    N_("entry into force and amendment"), N_("suspension"),
)




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

    @property
    def locale(self) -> str:
        return BABEL_LOCALE[self.lang]

    def number(self, value: Any, digits: int = 4) -> str:
        """A number in this language's notation (Babel), ``digits`` significant figures as
        :func:`carbonlink.reporting.console.fmt_num`; English keeps ``fmt_num`` exactly."""
        from carbonlink.reporting.console import fmt_num

        text = fmt_num(value, digits)
        if self.lang == "en" or isinstance(value, bool) or not isinstance(value, int | float):
            return text
        x = float(value)
        if not math.isfinite(x) or x == 0 or abs(x) < 1e-4 or "e" in text:
            return text
        from babel.numbers import format_decimal

        decimals = len(text.split(".")[1]) if "." in text else 0
        return str(format_decimal(x, format=f"#,##0.{'0' * decimals}" if decimals else "#,##0",
                                  locale=self.locale))

    def date(self, value: str | dt.date | dt.datetime) -> str:
        """A date (or an ISO date/datetime string) in this language's long form
        (``2026年12月1日``); English keeps the ISO form, anything unparsable is shown as given.
        Babel is imported only for another language (``carbonlink check`` in English never
        needs its date tables: issue 13, start-up)."""
        if self.lang == "en":
            return value if isinstance(value, str) else value.isoformat()
        from babel.dates import format_date, format_datetime

        if isinstance(value, str):
            try:
                parsed: dt.date = (dt.datetime.fromisoformat(value) if "T" in value
                                   else dt.date.fromisoformat(value))
            except ValueError:
                return value
            value = parsed
        if isinstance(value, dt.datetime):
            return str(format_datetime(value, format="long", locale=self.locale))
        return str(format_date(value, format="long", locale=self.locale))

    def finding(self, f: Any) -> str:
        """A finding's text: its message in English; in Chinese its catalog template
        (carbonlink.reporting.sentences) or, when none matches, its rule's ``title_zh``."""
        message = f["message"] if isinstance(f, dict) else f.message
        if self.lang == "en":
            return str(message)
        from carbonlink.agreements.rules import RULES
        from carbonlink.reporting.sentences import translate_finding

        text = translate_finding(str(message), self)
        if text is not None:
            return text
        rid = f["rule"] if isinstance(f, dict) else f.rule
        r = RULES.get(rid)
        return r.title_zh if r is not None and r.title_zh else str(message)

    def source(self, source: str | None) -> str:
        """A finding's source: the instrument keeps its official title; the tool's own note that
        the paragraph reference is unverified (carbonlink.agreements.context) is translated."""
        text = source or ""
        if self.lang != "en" and text.endswith(UNVERIFIED):
            text = text.removesuffix(UNVERIFIED) + " " + self(UNVERIFIED.strip())
        return text

    def subject(self, subject: str) -> str:
        """A finding's subject as shown: a clause path stays as it is (an identifier of the
        document); a content block (``block.<name>``) is named in this language."""
        if self.lang == "en" or not subject.startswith("block."):
            return subject
        return self(N_("content block {name}")).format(name=self(subject.removeprefix("block.")))

    def dimension_name(self, dimension: str) -> str:
        """A compatibility dimension's plain name alone (``""`` when it has no CPT rule)."""
        return self.rule_title("CPT-" + dimension.split("-", 1)[-1], "")

    def dimension(self, dimension: str) -> str:
        """A compatibility dimension (``CMP-CAP``) with its plain name in this language, read
        from the title of its CPT rule."""
        return f"{dimension} {self.dimension_name(dimension)}".strip()

    def rule_title(self, rule_id: str, default: str | None = None) -> str:
        from carbonlink.agreements.rules import RULES

        r = RULES.get(rule_id)
        if r is None:
            return rule_id if default is None else default
        return r.title if self.lang == "en" or not r.title_zh else r.title_zh


def translator(lang: str = "en") -> Callable[[str], str]:
    return Translator(lang)
