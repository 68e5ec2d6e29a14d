from pathlib import Path
from tests.test_reports import get_pdf, week_data, LAST_WEEK  # noqa

def test_shots(login_as, week_data):
    client, _ = login_as("office")
    Path("/tmp/shots/reports").mkdir(parents=True, exist_ok=True)
    Path("/tmp/shots/reports/city.pdf").write_bytes(get_pdf(client).content)
    Path("/tmp/shots/reports/zx.pdf").write_bytes(get_pdf(client, district="蒸湘区").content)
