"""The assessment report as a workbook (XLSX: openpyxl, already a dependency for AEF tables)
and as a PDF (the HTML report printed by headless Chromium with its print stylesheet: A4, page
breaks between sections, charts kept whole).

Both read the same report mapping as the HTML, Markdown and JSON renderers, so every format
carries the same numbers; workbook cells hold numbers, not formatted text, each column header
naming its unit and currency.
"""

from __future__ import annotations

import io
import os
import shutil
import subprocess
import tempfile
from pathlib import Path
from typing import Any

from carbonlink.errors import CarbonlinkError
from carbonlink.reporting.i18n import N_

#: Sheets of the workbook, in order.
SHEETS = (N_("Decision"), N_("Designs"), N_("Findings"), N_("Compatibility"), N_("Assumptions"),
          N_("Reference data"))

PDF_TIMEOUT_S = 180


class ExportError(CarbonlinkError):
    """An export could not be produced for a reason outside the document (exit 1)."""


def _autosize(ws: Any) -> None:
    from openpyxl.utils import get_column_letter

    for i, col in enumerate(ws.iter_cols(values_only=True), start=1):
        width = max((len(str(v)) for v in col if v is not None), default=8)
        ws.column_dimensions[get_column_letter(i)].width = min(60, max(9, width + 2))


def _sheet(wb: Any, title: str, headers: list[str], rows: list[list[Any]]) -> None:
    from openpyxl.styles import Font

    ws = wb.create_sheet(title)
    ws.append(headers)
    for cell in ws[1]:
        cell.font = Font(bold=True)
    for row in rows:
        ws.append(row)
    ws.freeze_panes = "A2"
    _autosize(ws)


def render_xlsx(rep: dict[str, Any]) -> bytes:
    """The report as an XLSX workbook in the report's language: one sheet per :data:`SHEETS`
    entry, and an ``Uncertainty`` sheet when the report has that section (sheet names, headers
    and texts translated; ids, numbers and sources as they are)."""
    from openpyxl import Workbook

    from carbonlink.reporting.i18n import Translator
    from carbonlink.reporting.render import assumption_text, design_level, design_title
    from carbonlink.reporting.sentences import translate_sentence
    from carbonlink.reporting.verdict import plain

    tr = Translator(rep.get("lang") or "en")
    wb = Workbook()
    wb.remove(wb.active)  # type: ignore[arg-type]
    d = rep["decision"]
    law, drafting = d["law"], d["drafting"]
    rows: list[list[Any]] = [
        [tr("recommendation"), d["line"]],
        [tr("the law"), tr("{status}: {blocking} blocking defect(s), {fixes} required fix(es), "
                           "{recommendations} recommendation(s)").format(
            status=tr(law["status"]), blocking=law["blocking"], fixes=law["required_fixes"],
            recommendations=law["recommendations"])],
        [tr("drafting"), tr("{status}: {required} required and {recommended} recommended "
                            "element(s) missing").format(
            status=tr(drafting["status"]), required=drafting["missing_required"],
            recommended=drafting["missing_recommended"])]]
    if d.get("design"):
        rows.append([tr("recommended design"),
                     f"{d['design']['title']}: {d['design']['reason']}"])
    rows += [[f["label"] + f" ({f['unit']})", f["text"]] for f in d["figures"]]
    rows += [[tr("change named"), c["text"] if tr.lang == "en"
              else f"{c['kind_text']}：{c['subject']}"] for c in d["changes"]]
    rows += [[tr("source"), rep["source"]], [tr("generated"), rep["generated"]]]
    _sheet(wb, tr(SHEETS[0]), [tr("item"), tr("value")], rows)

    if rep["simulated"]:
        u = rep["units"]
        markets = list(rep["designs"][0]["result"]["markets"]) if rep["designs"] else []
        directions: list[tuple[str, str]] = []
        for des in rep["designs"]:
            for lk in des["result"]["links"]:
                if (lk["from"], lk["to"]) not in directions:
                    directions.append((lk["from"], lk["to"]))
        per_yr = tr("yr")
        headers = ([tr("design"), tr("status"), tr("level"), tr("why this level")]
                   + [f"{tr('price')} {m} ({u['price']})" for m in markets]
                   + [f"{tr('gain')} {m} ({u['money']}/{per_yr})" for m in markets]
                   + [f"{tr('flow')} {a}→{b} ({u['quantity']}/{per_yr})" for a, b in directions]
                   + [f"{tr(h)} ({unit}/{per_yr})" for h, unit in (
                       ("emissions change", u["quantity"]), ("tax revenue", u["money"]),
                       ("quota rent", u["money"]), ("total gain", u["money"]))])
        drows = []
        for des in rep["designs"]:
            r = des["result"]
            level, why = design_level(des, tr)
            flows = []
            for a, b in directions:
                match = [lk["flow"] for lk in r["links"] if (lk["from"], lk["to"]) == (a, b)]
                flows.append(match[0] if match else None)
            drows.append([design_title(des, tr), tr(r["status"]),
                          None if level == "–" else level, None if why == "–" else why]
                         + [r["markets"][m]["price"] for m in markets]
                         + [r["markets"][m]["gain"] for m in markets] + flows
                         + [r["totals"]["emissions_change"],
                            sum(lk["tax_revenue"] for lk in r["links"]),
                            sum(lk["quota_rent"] for lk in r["links"]), r["totals"]["gain"]])
        _sheet(wb, tr(SHEETS[1]), headers, drows)
    else:
        note = rep.get("no_simulation")
        _sheet(wb, tr(SHEETS[1]), [tr("note")],
               [[translate_sentence(note, tr) if note else tr("nothing was simulated")]])

    chk = rep.get("check") or {"findings": [], "compatibility": []}
    kinds = {(i["rule"], i["subject"], i["text"]): i["kind"]
             for i in d["law"]["findings"] + d["drafting"]["findings"]}
    _sheet(wb, tr(SHEETS[2]), [tr("severity"), tr("meaning"), tr("rule"), tr("subject"),
                               tr("finding"), tr("source")],
           [[tr(f["severity"]), tr(kinds.get((f["rule"], f["subject"], plain(f["message"])),
                                             "note")),
             f["rule"], tr.subject(f["subject"]), tr.finding(f), tr.source(f["source"])]
            for f in chk["findings"]])
    _sheet(wb, tr(SHEETS[3]), [tr("dimension"), tr("subject"), tr("rating"), tr("level"),
                               tr("reason")],
           [[tr.dimension(r["dimension"]), r["subject"], tr(r["rating"]), tr(r["severity"]),
             r["reason"] if tr.lang == "en" else None] for r in chk["compatibility"]])
    _sheet(wb, tr(SHEETS[4]), [tr("assumption"), tr("value"), tr("meaning"), tr("set by"),
                               tr("source")],
           [[a["key"], a["value"], assumption_text(a, tr), tr(a["origin"]), a.get("source")]
            for a in rep["assumptions"]])
    ref = []
    for eid, s in ((rep.get("calibration") or {}).get("sources") or {}).items():
        p = s.get("price", {})
        ref.append([eid, s.get("cap", {}).get("value_mt"), s.get("cap", {}).get("source"),
                    p.get("value"), p.get("currency"), p.get("date") or p.get("year"),
                    p.get("source"), p.get("fx"), p.get("converted")])
    cur = (rep.get("units") or {}).get("currency", "")
    _sheet(wb, tr(SHEETS[5]),
           [tr("ETS"), tr("cap (MtCO2e/yr)"), tr("cap source"),
            tr("observed price (per tCO2e)"), tr("price currency"), tr("price date"),
            tr("price source"), tr("exchange rate"),
            tr("price used ({currency}/tCO2e)").format(currency=cur)], ref)
    if rep.get("uncertainty"):  # the Monte Carlo section (only then: the sheets above unchanged)
        u = rep["uncertainty"]
        price, money = u["units"]["price"], u["units"]["money"]
        quantile = tr("price {q} ({unit})")
        _sheet(wb, tr("Uncertainty"),
               [tr("design"), tr("market"), tr("period")]
               + [quantile.format(q=q, unit=price) for q in (
                   "5 %", "25 %", tr("median"), "75 %", "95 %", tr("mean"), tr("sd"))],
               [[b["design"], b["market"], b["year"], b["q05"], b["q25"], b["q50"], b["q75"],
                 b["q95"], b["mean"], b["sd"]] for b in u["bands"]]
               + [[]] + [[tr("design"), tr("market"),
                          tr("expected gain ({unit}/yr)").format(unit=money), tr("sd"), "5 %",
                          "95 %", tr("effort sharing"), tr("risk sharing")]]
               + [[g["design"], g["market"], g["mean"], g["sd"], g["q05"], g["q95"],
                   g["effort_sharing"], g["risk_sharing"]] for g in u["gains"]]
               + [[]] + [[tr("shock"), tr("price of"), tr("design"),
                          tr("slope ({unit} per +1 % of the shock)").format(unit=price)]]
               + [[f"{t['shock_market']} {t['shock_variable']}", t["market"], t["design"],
                   None if t["slope"] is None else t["slope"] / 100.0]
                  for t in u["transmission"]])
    buf = io.BytesIO()
    wb.save(buf)
    return buf.getvalue()


def chromium_path() -> str | None:
    """The Chromium used to print: ``CARBONLINK_CHROMIUM``, else one on the PATH."""
    env = os.environ.get("CARBONLINK_CHROMIUM")
    if env:
        return env
    for name in ("chromium", "chromium-browser", "google-chrome"):
        found = shutil.which(name)
        if found:
            return found
    return None


def render_pdf(html: str) -> bytes:
    """Print the HTML report to PDF with headless Chromium (its print stylesheet applies). The
    page has no script and loads nothing, so the browser runs offline."""
    exe = chromium_path()
    if exe is None:
        raise ExportError("--format pdf needs Chromium (install Debian's `chromium`, or set "
                          "CARBONLINK_CHROMIUM to its path); HTML, XLSX, Markdown and JSON "
                          "need nothing")
    with tempfile.TemporaryDirectory(prefix="carbonlink-pdf-") as tmp:
        src = Path(tmp) / "report.html"
        out = Path(tmp) / "report.pdf"
        src.write_text(html, encoding="utf-8")
        cmd = [exe, "--headless", "--no-sandbox", "--disable-gpu", "--disable-background-networking",
               "--disable-component-update", "--no-first-run", "--disable-sync",
               f"--user-data-dir={Path(tmp) / 'profile'}", "--no-pdf-header-footer",
               f"--print-to-pdf={out}", src.as_uri()]
        try:
            proc = subprocess.run(cmd, capture_output=True, timeout=PDF_TIMEOUT_S, check=False)
        except subprocess.TimeoutExpired:
            raise ExportError(f"Chromium did not print the report within {PDF_TIMEOUT_S} s") from None
        if not out.exists() or out.stat().st_size == 0:
            tail = proc.stderr.decode("utf-8", "replace").strip().splitlines()[-3:]
            raise ExportError("Chromium did not print the report (exit "
                              f"{proc.returncode}): " + " | ".join(tail))
        return out.read_bytes()
