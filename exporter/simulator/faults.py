"""Fault modes of the simulator, switched per system.  Each turns a normal reply into a misbehaving one."""

from __future__ import annotations

FAULT_MODES: dict[str, str] = {
    "none": "normal answers",
    "slow": "answers after a delay (default 3 s; ?delay=SECONDS)",
    "hang": "accepts the request and never answers (until the client gives up, at most 10 minutes)",
    "5xx": "HTTP 500 Internal Server Error",
    "503": "HTTP 503 with Retry-After: 120",
    "429": "HTTP 429 Too Many Requests with Retry-After: 60",
    "waf": "a web application firewall's 'Request Rejected' HTML page (HTTP 200)",
    "forbidden": "HTTP 403 from the firewall",
    "malformed": "the normal status and content type, body cut in half",
    "truncated": "the whole body announced (Content-Length), half of it sent, then the connection closed",
    "changed_layout": "the same content in a new layout: JSON keys renamed, HTML tables/lists turned into divs, "
    "classes and ids renamed",
    "huge": "a body of ?size=BYTES (default 50 MB) streamed in chunks (&chunked=1: no Content-Length)",
    "redirect_loop": "HTTP 302 to the same URL, forever",
    "trickle": "headers at once, then the body one byte every 0.5 s",
    "slow_headers": "the status line and headers one byte every 0.5 s",
    "wrong_content_type": "an HTML page where JSON is expected (and JSON where HTML is expected)",
    "missing_fields": "the normal answer with its data fields removed",
    "unauthorized": "HTTP 401 (credentials refused)",
}

WAF_PAGE = (
    "<html><head><title>Request Rejected</title></head><body>The requested URL was rejected. "
    "Please consult with your administrator.<br><br>Your support ID is: 7845216309841205761"
    "<br><br><a href='javascript:history.back();'>[Go Back]</a></body></html>"
)
