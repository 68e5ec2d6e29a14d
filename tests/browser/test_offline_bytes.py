"""What keeping pages on the phone costs an inspector online, in bytes (deterministic, unlike
time): everything the page and its service worker receive during one whole inspection, counted
from DevTools Network events (tests/wire.py; bench/field.py prints the same on a slow network).

The worker refreshes the pages it keeps after a quiet spell (nothing being saved), at most
every few minutes. Here every quiet spell is due (refreshMinutes tiny) and the inspector pauses
after each section, as in a long inspection: each refresh must cost headers (304s) for the
pages that did not change, not the pages again.
"""

from __future__ import annotations

import re

from sqlmodel import select

from inspect_app.domain import checklists, inspections
from inspect_app.models import Inspection
from tests.clients import PHONE, controlled, drained, fill_whole_checklist, sign_in, wait_kept
from tests.wire import Wire

KB = 1024
# Every quiet spell of 2.5 s is due: the worst case of a long inspection, compressed.
CONFIG = (
    "window.InspectOutboxConfig = {baseMs: 200, maxMs: 1000, timeoutMs: 4000,"
    " submitWaitMs: 1500, quietMs: 2500, refreshMinutes: 0.0001};"
)
# Measured: about 336 KB, of which 185 KB the pages the inspector opens and 50 KB the answers'
# fragments; each of the nine refreshes about 15 KB (304s for the unchanged pages; the home and
# the draft being filled change). Fetching every kept page again at each refresh, as before,
# would cost about 150 KB a refresh here (the sum of the pages' sizes).
BOUND = 380 * KB


pauses = [0]


def refreshed(page) -> None:
    """The inspector pauses: the outbox is empty, and after the quiet spell the worker has
    refreshed the kept pages (it answers 'kept', which sets html[data-kept] again)."""
    pauses[0] += 1
    drained(page)
    page.evaluate("document.documentElement.removeAttribute('data-kept')")
    page.locator("html[data-kept]").wait_for(state="attached", timeout=20_000)


def test_one_online_inspection_costs_its_pages_and_only_headers_for_unchanged_kept_pages(
    live_server, browser, make_user, region, session
):
    user = make_user("inspector")
    inspections.start_draft(  # an open draft among the kept pages
        session, user, region["sites"][1].id, region["template_id"], "bytes-draft"
    )
    context = browser.new_context(**PHONE)
    page = context.new_page()
    page.set_default_timeout(20_000)
    page.add_init_script(CONFIG)
    browser_cdp = browser.new_browser_cdp_session()
    wire = Wire(browser_cdp, context.new_cdp_session(page), live_server)
    try:
        sign_in(page, live_server, user.username)
        controlled(page)  # the new user's pages are fetched once: not part of the inspection
        wait_kept(page, "/inspections/new")
        page.goto(f"{live_server}/inspections/new")
        refreshed(page)

        before = wire.snapshot()
        wire.by_kind.clear()
        pauses[0] = 0
        page.locator("#sites .site", has_text="蒸湘化工仓库").tap()
        page.tap("form[data-start] button[type=submit]")
        page.wait_for_url(re.compile(r"/inspections/c/[0-9a-f-]+"))
        fill_whole_checklist(page, after_section=refreshed)
        page.tap("button[data-submit]")
        page.wait_for_url(re.compile(r"/done$"))
        refreshed(page)
        spent = wire.snapshot() - before
    finally:
        context.close()
        browser_cdp.detach()

    session.expire_all()
    submitted = session.exec(select(Inspection).where(Inspection.status == "submitted")).one()
    assert submitted.site_id == region["sites"][0].id
    received = spent.down + spent.worker
    by_kind = "\n".join(f"{size / KB:8.1f} KB  {kind}" for kind, size in wire.by_kind.items())
    print(f"one online inspection: {received / KB:.1f} KB received\n{by_kind}")
    assert received <= BOUND, f"{received / KB:.1f} KB > {BOUND / KB:.0f} KB:\n{by_kind}"
    # The empty checklists never change: after their first fetch, each re-check is a 304
    # (headers only, well under 1 KB) at every refresh.
    forms = len(checklists.sections_of(session, region["template_version"].id))
    rechecked = wire.by_kind.get("(worker) GET /inspections/form/N", 0)
    assert 0 < rechecked <= pauses[0] * forms * KB, (rechecked, pauses[0], forms)
