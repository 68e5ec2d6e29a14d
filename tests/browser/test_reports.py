"""The reports page on a phone: pick a week and download the PDF, no horizontal scroll."""

from tests.clients import sign_in
from tests.factories import LAST_WEEK


def test_office_downloads_a_weekly_report_on_a_phone(live_server, phone, make_user, week_data):
    user = make_user("office")
    sign_in(phone, live_server, user.username)
    phone.goto(f"{live_server}/reports")
    assert phone.locator("h1").inner_text() == "周报"
    assert phone.evaluate("document.documentElement.scrollWidth") <= 390
    phone.select_option("select[name=week]", LAST_WEEK.label)
    with phone.expect_response(
        lambda r: r.url.endswith(f"/reports/weekly/{LAST_WEEK.label}.pdf"), timeout=60_000
    ) as info:
        phone.click("form.report-form button")
    response = info.value
    assert response.status == 200 and response.header_value("content-type") == "application/pdf"
    phone.goto(f"{live_server}/reports")
    assert phone.locator("table.report-archive tbody tr").count() == 1  # the week is now stored
