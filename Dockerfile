# Build a wheel, install it into a venv in a slim image, run as a non-root user.
FROM python:3.11-slim AS build
WORKDIR /src
COPY pyproject.toml README.md config.yaml ./
COPY exporter ./exporter
COPY collectors ./collectors
COPY indicators ./indicators
RUN pip wheel --no-deps --wheel-dir /wheels . \
 && python -m venv /opt/egov-exporter \
 && /opt/egov-exporter/bin/pip install /wheels/*.whl

FROM python:3.11-slim
COPY --from=build /opt/egov-exporter /opt/egov-exporter
COPY config.yaml /etc/egov-exporter/config.yaml
RUN useradd --system --uid 10001 --home-dir /var/lib/egov-exporter --create-home egov
USER egov
WORKDIR /var/lib/egov-exporter
EXPOSE 9877
ENTRYPOINT ["/opt/egov-exporter/bin/egov-exporter"]
CMD ["--config.file=/etc/egov-exporter/config.yaml", "--web.listen-address=:9877"]
