# syntax=docker/dockerfile:1
# The segmenter image: the segmenter service on onnxruntime-gpu over the CUDA 13 / cuDNN 9 runtime
# that onnxruntime-gpu 1.31 is built for. With no GPU (or no driver) onnxruntime falls back to the
# CPU provider with identical output, and the service reports the provider it runs on.
#   docker build -f deploy/docker/segmenter.Dockerfile -t cervixai/segmenter:0.1.0 .   (from the repository root)
# Python is Ubuntu 24.04's python3.12 (the CUDA images are Ubuntu; cervixai supports >= 3.11).
# Multi-stage: the build stage makes a virtualenv from wheels only; the final stage is the CUDA
# runtime plus python3.12 and that virtualenv, runs as uid 10001, and holds no compiler or pip.
# Release builds may pass a digest-pinned base: --build-arg CUDA_IMAGE=nvidia/cuda:...@sha256:...
ARG CUDA_IMAGE=nvidia/cuda:13.0.1-cudnn-runtime-ubuntu24.04

FROM ${CUDA_IMAGE} AS build
ENV DEBIAN_FRONTEND=noninteractive \
    PIP_DISABLE_PIP_VERSION_CHECK=1 \
    PIP_NO_CACHE_DIR=1 \
    PIP_CONSTRAINT=/src/deploy/docker/constraints.txt
RUN apt-get update \
 && apt-get install --yes --no-install-recommends python3.12 python3.12-venv \
 && rm -rf /var/lib/apt/lists/*
WORKDIR /src
COPY deploy/docker/constraints.txt deploy/docker/constraints.txt
COPY pyproject.toml README.md ./
COPY protos/ protos/
COPY cervixai/ cervixai/
COPY services/ services/
COPY gateway/ gateway/
# Only wheels are installed (--only-binary): nothing is compiled, so no compiler is ever needed.
# The `gpu` extra brings onnxruntime-gpu instead of onnxruntime (never both).
RUN python3.12 -m venv /opt/venv \
 && /opt/venv/bin/pip wheel --no-deps --wheel-dir /wheels . \
 && /opt/venv/bin/pip install --only-binary=:all: "$(ls /wheels/cervixai-*.whl)[gpu]" \
 && /opt/venv/bin/pip uninstall --yes pip

FROM ${CUDA_IMAGE} AS runtime
ENV DEBIAN_FRONTEND=noninteractive
RUN apt-get update \
 && apt-get install --yes --no-install-recommends python3.12 \
 && rm -rf /var/lib/apt/lists/* \
 && groupadd --system --gid 10001 cervixai \
 && useradd --system --uid 10001 --gid 10001 --no-create-home --home-dir /nonexistent \
      --shell /usr/sbin/nologin cervixai
COPY --from=build /opt/venv /opt/venv
# The container listens on every interface; the model bundle is mounted at /models/bundle (an init
# container or a volume delivers it; it is never part of this image).
ENV PATH=/opt/venv/bin:$PATH \
    PYTHONDONTWRITEBYTECODE=1 \
    PYTHONUNBUFFERED=1 \
    ORT_DISABLE_TELEMETRY=1 \
    CERVIXAI_BUNDLE=/models/bundle \
    CERVIXAI_SEGMENTER_HOST=0.0.0.0 \
    CERVIXAI_SEGMENTER_PORT=50051 \
    CERVIXAI_SEGMENTER_METRICS_PORT=9090
USER 10001:10001
EXPOSE 50051 9090
ENTRYPOINT ["python", "-m", "services.segmenter"]
