# syntax=docker/dockerfile:1
# The DICOM listener image: C-STORE / C-ECHO from the PACS and modalities on 11112, cervix.v1.Studies
# and grpc.health.v1 for the gateway on 50054, /metrics on 9090; it loads no model.
#   docker build -f deploy/docker/listener.Dockerfile -t cervixai/listener:0.1.0 .      (from the repository root)
# Multi-stage: the build stage makes a virtualenv from wheels only; the final stage is the slim
# Python base plus that virtualenv, runs as uid 10001, and holds no compiler, pip or source tree.
# Release builds may pass a digest-pinned base: --build-arg PYTHON_IMAGE=python:3.11.14-slim-bookworm@sha256:...
ARG PYTHON_IMAGE=python:3.11.14-slim-bookworm

FROM ${PYTHON_IMAGE} AS build
ENV PIP_DISABLE_PIP_VERSION_CHECK=1 \
    PIP_NO_CACHE_DIR=1 \
    PIP_CONSTRAINT=/src/deploy/docker/constraints.txt
WORKDIR /src
COPY deploy/docker/constraints.txt deploy/docker/constraints.txt
COPY pyproject.toml README.md ./
COPY protos/ protos/
COPY cervixai/ cervixai/
COPY services/ services/
COPY gateway/ gateway/
COPY listener/ listener/
# Only wheels are installed (--only-binary): nothing is compiled, so no compiler is ever needed.
# No extra: the listener loads no model, so it needs neither onnxruntime nor onnxruntime-gpu
# (pynetdicom, pydicom and highdicom are among the core dependencies).
RUN python -m venv /opt/venv \
 && /opt/venv/bin/pip wheel --no-deps --wheel-dir /wheels . \
 && /opt/venv/bin/pip install --only-binary=:all: "$(ls /wheels/cervixai-*.whl)" \
 && /opt/venv/bin/pip uninstall --yes pip

FROM ${PYTHON_IMAGE} AS runtime
# The spool directory exists, owned by uid 10001, so that a plain `docker run` (a volume at
# /var/lib/cervixai/spool, or the anonymous one VOLUME makes) can write there; on Kubernetes a
# PersistentVolumeClaim is mounted over it and the root filesystem stays read-only.
RUN groupadd --system --gid 10001 cervixai \
 && useradd --system --uid 10001 --gid 10001 --no-create-home --home-dir /nonexistent \
      --shell /usr/sbin/nologin cervixai \
 && install -d -o 10001 -g 10001 -m 0750 /var/lib/cervixai/spool
COPY --from=build /opt/venv /opt/venv
# The container listens on every interface. Received instances and the SQLite database
# (listener.db) live in the spool: a persistent volume, never the container's own filesystem.
# Where results go (CERVIXAI_LISTENER_DESTINATION), who may send (..._ALLOWED_CALLERS: empty
# admits nobody) and the gateway (..._GATEWAY_ADDRESS) come from the environment (docs/deploy.md).
ENV PATH=/opt/venv/bin:$PATH \
    PYTHONDONTWRITEBYTECODE=1 \
    PYTHONUNBUFFERED=1 \
    CERVIXAI_LISTENER_SPOOL=/var/lib/cervixai/spool \
    CERVIXAI_LISTENER_HOST=0.0.0.0 \
    CERVIXAI_LISTENER_PORT=50054 \
    CERVIXAI_LISTENER_METRICS_PORT=9090 \
    CERVIXAI_LISTENER_DICOM_PORT=11112
VOLUME ["/var/lib/cervixai/spool"]
USER 10001:10001
EXPOSE 50054 9090 11112
ENTRYPOINT ["python", "-m", "listener"]
