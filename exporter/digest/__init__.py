"""The weekly digest (``egov-exporter digest --week``): what provinces send by hand each week — the
Decision 766 total and rank among the provinces, units under 80 / 90 points, what moved, availability,
alerts — composed in Vietnamese and English from the embedded history or a Prometheus-compatible server
(:mod:`exporter.digest.compose`), printed or delivered by e-mail, Telegram or a webhook
(:mod:`exporter.digest.deliver`).  ``deploy/systemd/egov-digest.timer`` runs it weekly."""
