# PeerLink services image: one image, one process per container (the command picks the service).

# Build stage: compiles the care-gap engine's pure modules with mypyc (services/caregaps/native.py)
# into a wheel. The compiler and mypy stay here; the runtime image gets only the wheel.
FROM python:3.11-slim AS build

ENV PIP_NO_CACHE_DIR=1 PIP_DISABLE_PIP_VERSION_CHECK=1
RUN apt-get update && apt-get install -y --no-install-recommends gcc libc6-dev \
    && rm -rf /var/lib/apt/lists/*
WORKDIR /src
COPY pyproject.toml setup.py README.md ./
COPY schemas ./schemas
COPY services ./services
# mypyc type-checks against the real dependencies, so they are installed first.
RUN pip install 'setuptools>=77' wheel 'mypy>=2.4' . \
    && PEERLINK_COMPILE=1 pip wheel --no-deps --no-build-isolation --wheel-dir /wheels .

FROM python:3.11-slim AS runtime

ENV PYTHONDONTWRITEBYTECODE=1 \
    PYTHONUNBUFFERED=1 \
    PIP_NO_CACHE_DIR=1

COPY --from=build /wheels /wheels
RUN pip install /wheels/peerlink-*.whl && rm -rf /wheels \
    && python -c "from services.caregaps import native; assert native.build() == 'compiled'" \
    && useradd --system --uid 10001 peerlink && mkdir -p /data && chown peerlink /data

USER peerlink
WORKDIR /app
EXPOSE 8080 8081
ENTRYPOINT ["peerlink"]
CMD ["--help"]
