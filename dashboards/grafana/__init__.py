"""Grafana dashboards as code (grafana-foundation-sdk): one module per dashboard, generated to json/ by build.py."""
