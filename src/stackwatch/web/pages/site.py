"""Every page of the dashboard, in navigation order. A new page is one line here."""

from __future__ import annotations

from stackwatch.web.pages import alarms, audit, core, inventory, logs, review
from stackwatch.web.pages.page import PageSpec

PAGES: tuple[PageSpec, ...] = (
    *core.PAGES,
    *inventory.PAGES,
    *review.PAGES,
    *logs.PAGES,
    *audit.PAGES,
    *alarms.PAGES,
    *core.TRAILING,
)
