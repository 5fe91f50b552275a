# PeerLink services image: one image, one process per container (the command picks the service).
FROM python:3.11-slim AS runtime

ENV PYTHONDONTWRITEBYTECODE=1 \
    PYTHONUNBUFFERED=1 \
    PIP_NO_CACHE_DIR=1

WORKDIR /app
COPY pyproject.toml README.md ./
COPY schemas ./schemas
COPY services ./services
RUN pip install . && useradd --system --uid 10001 peerlink && mkdir -p /data \
    && chown peerlink /data

USER peerlink
EXPOSE 8080 8081
ENTRYPOINT ["peerlink"]
CMD ["--help"]
