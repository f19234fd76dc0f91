"""Collector kinds: one module each, registered once here, keyed by the config's ``kind:``.

Config validation, ``--help``, ``/`` and the metrics reference all read :data:`KINDS` (plus third-party
kinds from the ``egov_exporter.collectors`` entry-point group, see ``exporter.registry``).
"""

from __future__ import annotations

from collectors.documents import DocumentsCollector
from collectors.html import HtmlCollector
from collectors.http import HttpCollector
from collectors.json import JsonCollector
from collectors.lgsp import LgspCollector
from collectors.portal import PortalCollector
from collectors.qd766 import Qd766Collector
from collectors.services import ServicesCollector
from exporter.plugin import Collector

KINDS: dict[str, type[Collector]] = {
    cls.kind: cls
    for cls in (
        HttpCollector,
        JsonCollector,
        HtmlCollector,
        PortalCollector,
        LgspCollector,
        DocumentsCollector,
        ServicesCollector,
        Qd766Collector,
    )
}
