# syntax=docker/dockerfile:1
# A model bundle as a versioned artifact, delivered beside the code images: the Deployments' init
# container copies /bundle into an emptyDir that the service mounts read-only as CERVIXAI_BUNDLE.
# The build context is the bundle folder itself (manifest.json and the ONNX files), not the
# repository:
#   docker build -f deploy/docker/bundle.Dockerfile -t cervixai/bundle:2026.11.0 bundles/default
# Tag it with the bundle's version; the services verify every file's sha256 against manifest.json
# when they load it, so a corrupted copy never serves. One stage: nothing is built here.
ARG BUSYBOX_IMAGE=busybox:1.37.0
FROM ${BUSYBOX_IMAGE}
COPY . /bundle/
USER 10001:10001
# Idempotent: an init container that runs again (pod restart) replaces the previous copy.
ENTRYPOINT ["sh", "-c", "rm -rf /models/bundle && cp -R /bundle /models/bundle"]
