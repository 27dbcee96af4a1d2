#!/usr/bin/env bash
# Build the local base image localhost/bookworm-python:3.11 (Debian bookworm, minbase, Python 3.11
# with venv) with debootstrap and import it into podman: public base images cannot be pulled on
# machines without a registry, and the Dockerfiles take their base as the PYTHON_IMAGE build
# argument. Needs root (debootstrap), podman and Debian's mirror via apt's configured source.
#   deploy/podman/base-image.sh [IMAGE]       (≈2 minutes)
set -euo pipefail
IMAGE="${1:-localhost/bookworm-python:3.11}"
if podman image exists "$IMAGE"; then
    echo "base image $IMAGE exists"
    exit 0
fi
ROOTFS="$(mktemp -d)"
trap 'rm -rf "$ROOTFS"' EXIT
# apt's configured Debian mirror (deb822 .sources or a one-line list), else debootstrap's default
MIRROR="$(awk '/^URIs:/ && /debian/ && !/security/ {print $2; exit}' \
          /etc/apt/sources.list.d/*.sources 2>/dev/null || true)"
if [ -z "$MIRROR" ]; then
    MIRROR="$(awk '/^deb / && /bookworm/ {print $2; exit}' /etc/apt/sources.list 2>/dev/null || true)"
fi
debootstrap --variant=minbase --include=python3,python3-venv,ca-certificates bookworm \
    "$ROOTFS" ${MIRROR:+"$MIRROR"} >/dev/null
ln -sf python3 "$ROOTFS/usr/bin/python"
rm -rf "$ROOTFS"/var/cache/apt/archives/*.deb "$ROOTFS"/var/lib/apt/lists/*
tar -C "$ROOTFS" -c . | podman import --change 'CMD ["python3"]' - "$IMAGE" >/dev/null
echo "imported $IMAGE ($(podman image inspect --format '{{.Size}}' "$IMAGE") bytes)"
