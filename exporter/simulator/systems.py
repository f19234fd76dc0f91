"""The simulated systems, one module each (the server builds one of each per simulated province)."""

from __future__ import annotations

from exporter.simulator.documents import DocumentsSystem
from exporter.simulator.lgsp import LgspSystem
from exporter.simulator.national import NationalSystem
from exporter.simulator.portal import PortalSystem
from exporter.simulator.services import ServicesSystem


def system_classes() -> list[type]:
    """The simulated systems, in the order the simulator serves them."""
    return [PortalSystem, LgspSystem, DocumentsSystem, ServicesSystem, NationalSystem]
