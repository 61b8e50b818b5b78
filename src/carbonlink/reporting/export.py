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

#: Sheets of the workbook, in order.
SHEETS = ("Decision", "Designs", "Findings", "Compatibility", "Assumptions", "Reference data")

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
    """The report as an XLSX workbook: one sheet per :data:`SHEETS` entry, and an
    ``Uncertainty`` sheet when the report has that section."""
    from openpyxl import Workbook

    wb = Workbook()
    wb.remove(wb.active)  # type: ignore[arg-type]
    d = rep["decision"]
    rows: list[list[Any]] = [["recommendation", d["line"]],
                             ["the law", f"{d['law']['status']}: {d['law']['blocking']} blocking "
                              f"defect(s), {d['law']['required_fixes']} required fix(es), "
                              f"{d['law']['recommendations']} recommendation(s)"],
                             ["drafting", f"{d['drafting']['status']}: "
                              f"{d['drafting']['missing_required']} required and "
                              f"{d['drafting']['missing_recommended']} recommended element(s) "
                              "missing"]]
    if d.get("design"):
        rows.append(["recommended design", f"{d['design']['title']}: {d['design']['reason']}"])
    rows += [[f["label"] + f" ({f['unit']})", f["text"]] for f in d["figures"]]
    rows += [["change named", c["text"]] for c in d["changes"]]
    rows += [["source", rep["source"]], ["generated", rep["generated"]]]
    _sheet(wb, "Decision", ["item", "value"], rows)

    if rep["simulated"]:
        u = rep["units"]
        markets = list(rep["designs"][0]["result"]["markets"]) if rep["designs"] else []
        directions: list[tuple[str, str]] = []
        for des in rep["designs"]:
            for lk in des["result"]["links"]:
                if (lk["from"], lk["to"]) not in directions:
                    directions.append((lk["from"], lk["to"]))
        headers = (["design", "status", "level", "why this level"]
                   + [f"price {m} ({u['price']})" for m in markets]
                   + [f"gain {m} ({u['money']}/yr)" for m in markets]
                   + [f"flow {a}→{b} ({u['quantity']}/yr)" for a, b in directions]
                   + [f"emissions change ({u['quantity']}/yr)", f"tax revenue ({u['money']}/yr)",
                      f"quota rent ({u['money']}/yr)", f"total gain ({u['money']}/yr)"])
        drows = []
        for des in rep["designs"]:
            r = des["result"]
            level = {k: v for k, v in des.get("level", {}).items() if k != "why"}
            flows = []
            for a, b in directions:
                match = [lk["flow"] for lk in r["links"] if (lk["from"], lk["to"]) == (a, b)]
                flows.append(match[0] if match else None)
            drows.append([des["title"], r["status"],
                          ", ".join(f"{k} {v}" for k, v in level.items()) or None,
                          des.get("level", {}).get("why")]
                         + [r["markets"][m]["price"] for m in markets]
                         + [r["markets"][m]["gain"] for m in markets] + flows
                         + [r["totals"]["emissions_change"],
                            sum(lk["tax_revenue"] for lk in r["links"]),
                            sum(lk["quota_rent"] for lk in r["links"]), r["totals"]["gain"]])
        _sheet(wb, "Designs", headers, drows)
    else:
        _sheet(wb, "Designs", ["note"], [[rep.get("no_simulation") or "nothing was simulated"]])

    chk = rep.get("check") or {"findings": [], "compatibility": []}
    kinds = {(i["rule"], i["subject"], i["text"]): i["kind"]
             for i in d["law"]["findings"] + d["drafting"]["findings"]}
    from carbonlink.reporting.verdict import plain

    _sheet(wb, "Findings", ["severity", "meaning", "rule", "subject", "finding", "source"],
           [[f["severity"], kinds.get((f["rule"], f["subject"], plain(f["message"])), "note"),
             f["rule"], f["subject"], f["message"], f["source"]] for f in chk["findings"]])
    _sheet(wb, "Compatibility", ["dimension", "subject", "rating", "level", "reason"],
           [[r["dimension"], r["subject"], r["rating"], r["severity"], r["reason"]]
            for r in chk["compatibility"]])
    _sheet(wb, "Assumptions", ["assumption", "value", "meaning", "set by", "source"],
           [[a["key"], a["value"], a["description"], a["origin"], a.get("source")]
            for a in rep["assumptions"]])
    ref = []
    for eid, s in ((rep.get("calibration") or {}).get("sources") or {}).items():
        p = s.get("price", {})
        ref.append([eid, s.get("cap", {}).get("value_mt"), s.get("cap", {}).get("source"),
                    p.get("value"), p.get("currency"), p.get("date") or p.get("year"),
                    p.get("source"), p.get("fx"), p.get("converted")])
    cur = (rep.get("units") or {}).get("currency", "")
    _sheet(wb, "Reference data",
           ["ETS", "cap (MtCO2e/yr)", "cap source", "observed price (per tCO2e)", "price currency",
            "price date", "price source", "exchange rate", f"price used ({cur}/tCO2e)"], ref)
    if rep.get("uncertainty"):  # the Monte Carlo section (only then: the sheets above unchanged)
        u = rep["uncertainty"]
        price, money = u["units"]["price"], u["units"]["money"]
        _sheet(wb, "Uncertainty",
               ["design", "market", "period", f"price 5 % ({price})", f"price 25 % ({price})",
                f"price median ({price})", f"price 75 % ({price})", f"price 95 % ({price})",
                f"price mean ({price})", f"price sd ({price})"],
               [[b["design"], b["market"], b["year"], b["q05"], b["q25"], b["q50"], b["q75"],
                 b["q95"], b["mean"], b["sd"]] for b in u["bands"]]
               + [[]] + [["design", "market", f"expected gain ({money}/yr)", "sd", "5 %", "95 %",
                          "effort sharing", "risk sharing"]]
               + [[g["design"], g["market"], g["mean"], g["sd"], g["q05"], g["q95"],
                   g["effort_sharing"], g["risk_sharing"]] for g in u["gains"]]
               + [[]] + [["shock", "price of", "design", f"slope ({price} per +1 % of the shock)"]]
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
