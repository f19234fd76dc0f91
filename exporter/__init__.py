"""egov-exporter: Prometheus exporter for a province's e-government systems and indicators."""

__version__ = "0.1.0"
