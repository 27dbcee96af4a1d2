# syntax=docker/dockerfile:1
# The gateway image: the gateway (HTTP API, web page and metrics on 8080, gRPC on 50050); it loads no model.
#   docker build -f deploy/docker/gateway.Dockerfile -t cervixai/gateway:0.1.0 .      (from the repository root)
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
# Only wheels are installed (--only-binary): nothing is compiled, so no compiler is ever needed.
# No extra: the gateway loads no model, so it needs neither onnxruntime nor onnxruntime-gpu (its
# HTTP stack is among the core dependencies).
RUN python -m venv /opt/venv \
 && /opt/venv/bin/pip wheel --no-deps --wheel-dir /wheels . \
 && /opt/venv/bin/pip install --only-binary=:all: "$(ls /wheels/cervixai-*.whl)" \
 && /opt/venv/bin/pip uninstall --yes pip

FROM ${PYTHON_IMAGE} AS runtime
RUN groupadd --system --gid 10001 cervixai \
 && useradd --system --uid 10001 --gid 10001 --no-create-home --home-dir /nonexistent \
      --shell /usr/sbin/nologin cervixai
COPY --from=build /opt/venv /opt/venv
# The container listens on every interface. The backends' addresses come from the environment
# (CERVIXAI_<BACKEND>_ADDRESS, see docs/deploy.md); the defaults suit one host only.
ENV PATH=/opt/venv/bin:$PATH \
    PYTHONDONTWRITEBYTECODE=1 \
    PYTHONUNBUFFERED=1 \
    CERVIXAI_GATEWAY_HOST=0.0.0.0 \
    CERVIXAI_GATEWAY_PORT=50050 \
    CERVIXAI_GATEWAY_HTTP_HOST=0.0.0.0 \
    CERVIXAI_GATEWAY_HTTP_PORT=8080
USER 10001:10001
EXPOSE 50050 8080
ENTRYPOINT ["python", "-m", "gateway"]
