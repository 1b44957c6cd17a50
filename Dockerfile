# syntax=docker/dockerfile:1
FROM python:3.11-slim AS build
WORKDIR /src
RUN python -m venv /opt/hub
COPY pyproject.toml README.md alembic.ini ./
COPY src ./src
COPY migrations ./migrations
RUN /opt/hub/bin/pip install --no-cache-dir .

FROM python:3.11-slim
RUN useradd --system --create-home --uid 10001 hub
COPY --from=build /opt/hub /opt/hub
ENV PATH=/opt/hub/bin:$PATH \
    LINKAGE_DATA_DIR=/var/lib/linkage-hub \
    PYTHONUNBUFFERED=1
RUN mkdir -p /var/lib/linkage-hub && chown hub /var/lib/linkage-hub
USER hub
WORKDIR /var/lib/linkage-hub
EXPOSE 8000
HEALTHCHECK --interval=30s --timeout=3s --retries=3 \
  CMD python -c "import urllib.request,sys; sys.exit(urllib.request.urlopen('http://127.0.0.1:8000/health/live', timeout=2).status != 200)"
CMD ["sh", "-c", "linkage-hub migrate && exec linkage-hub serve --host 0.0.0.0 --port 8000"]
