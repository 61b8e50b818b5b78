"""Registry reports: AEF tables (XLSX and CSV), initial-report and regular-information outlines,
and the reporting calendar."""

from __future__ import annotations

from carbonlink.registry.reports.aef import AEF_COLUMNS, aef_tables, consistency_checks, write_aef
from carbonlink.registry.reports.calendar import CalendarItem, reporting_calendar
from carbonlink.registry.reports.outlines import initial_report, regular_information

__all__ = ["AEF_COLUMNS", "CalendarItem", "aef_tables", "consistency_checks", "initial_report",
           "regular_information", "reporting_calendar", "write_aef"]
