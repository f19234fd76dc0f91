"""Collector kinds: one module each, registered once here, keyed by the config's ``kind:``.

Config validation, ``--help``, ``/`` and the metrics reference all read :data:`KINDS` (plus third-party
kinds from the ``egov_exporter.collectors`` entry-point group, see ``exporter.registry``).
"""

from __future__ import annotations

from exporter.plugin import KindTable

#: every built-in kind, imported when a configuration first uses it (an exporter polling JSON endpoints only
#: never loads BeautifulSoup, the vendor profiles or the national ranking's models)
KINDS = KindTable(
    {
        "http": "collectors.http:HttpCollector",
        "json": "collectors.json:JsonCollector",
        "html": "collectors.html:HtmlCollector",
        "portal": "collectors.portal:PortalCollector",
        "lgsp": "collectors.lgsp:LgspCollector",
        "documents": "collectors.documents:DocumentsCollector",
        "services": "collectors.services:ServicesCollector",
        "qd766": "collectors.qd766:Qd766Collector",
    }
)
