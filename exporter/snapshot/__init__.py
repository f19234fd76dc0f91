"""``egov-exporter snapshot``: quarterly (monthly, yearly) reports of every indicator, from the embedded
history or from a Prometheus server, as XLSX, CSV, JSON and an HTML report."""
