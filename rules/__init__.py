"""The monitoring bundle's rules: thresholds (thresholds.yaml), the generator of the alert rules (build.py),
recording rules (recording/), alert rules (alerts/, generated) and their promtool unit tests (tests/)."""
