"""The Content-Disposition header of every download (reports, exports, notices, template export).

File names carry data (a district code, a checklist key) that may be non-ASCII or hold a quote,
a semicolon or a line break. RFC 6266: `filename*=UTF-8''...` (percent-encoded, RFC 8187) names
the file for current clients, and a plain ASCII `filename="..."` is the fallback for old ones;
neither can end the header value early or smuggle another header in.
"""

from __future__ import annotations

import re
import unicodedata
from typing import Literal
from urllib.parse import quote

_UNSAFE = re.compile(r"[^A-Za-z0-9._-]+")


def content_disposition(
    filename: str, disposition: Literal["attachment", "inline"] = "attachment"
) -> dict[str, str]:
    """{"Content-Disposition": ...} for a file name of any characters."""
    ascii_name = unicodedata.normalize("NFKD", filename).encode("ascii", "ignore").decode()
    fallback = _UNSAFE.sub("_", ascii_name).strip("._") or "download"
    encoded = quote(filename, safe="")  # leaves only A-Z a-z 0-9 - . _ ~, all RFC 8187 attr-chars
    return {
        "Content-Disposition": f"{disposition}; filename=\"{fallback}\"; filename*=UTF-8''{encoded}"
    }
