#!/usr/bin/env bash
# Build cervixai's images with podman (or docker) from the repository root:
#   cervixai/gateway, cervixai/classifier, cervixai/survival, cervixai/listener,
#   cervixai/segmenter:VERSION and, when a bundle folder is given, cervixai/bundle:VERSION.
#   deploy/podman/images.sh [BUNDLE_DIR]
# Environment: PYTHON_IMAGE (default: the local base localhost/bookworm-python:3.11, built by
# base-image.sh when missing), SEGMENTER_DOCKERFILE (default segmenter-cpu.Dockerfile: the local
# base has no CUDA; real registries build segmenter.Dockerfile on nvidia/cuda for GPU nodes),
# ENGINE (podman or docker, whichever is found first), VERSION (default: pyproject's).
# Prints each image's size; fails when an image holds a compiler or pip.
set -euo pipefail
cd "$(dirname "$0")/../.."
ENGINE="${ENGINE:-$(command -v podman || command -v docker || true)}"
[ -n "$ENGINE" ] || { echo "images: neither podman nor docker is installed" >&2; exit 2; }
VERSION="${VERSION:-$(sed -n 's/^version = "\(.*\)"/\1/p' pyproject.toml)}"
PYTHON_IMAGE="${PYTHON_IMAGE:-localhost/bookworm-python:3.11}"
SEGMENTER_DOCKERFILE="${SEGMENTER_DOCKERFILE:-segmenter-cpu.Dockerfile}"
BUNDLE_DIR="${1:-}"
RUNTIME=()
CA=()
LAYERS=()
if [[ "$(basename "$ENGINE")" == podman ]]; then
    RUNTIME=(--runtime runc)   # crun fails on hybrid cgroups (docs/deploy.md)
    # no intermediate images: each build would otherwise leave ~600 MB of them behind
    LAYERS=(--layers=false)
    # pip inside the build reaches the package index through the host's CA bundle
    if [ -f /etc/ssl/certs/ca-certificates.crt ]; then
        CA=(-v /etc/ssl/certs/ca-certificates.crt:/etc/ssl/certs/ca-certificates.crt:ro
            --env PIP_CERT=/etc/ssl/certs/ca-certificates.crt)
    fi
    if [[ "$PYTHON_IMAGE" == localhost/* ]] && ! podman image exists "$PYTHON_IMAGE"; then
        deploy/podman/base-image.sh "$PYTHON_IMAGE"
    fi
fi

image_id() { "$ENGINE" image inspect --format '{{.Id}}' "$1" 2>/dev/null || true; }

# A build needs room for one image's layers twice over (the copy in the temporary directory and
# the store); refuse early, with the figure, instead of failing half-way through the set.
free_mb() { df -Pm "$1" 2>/dev/null | awk 'NR == 2 {print $4}'; }
NEEDED_MB="${NEEDED_MB:-3000}"
if [[ "$(basename "$ENGINE")" == podman ]]; then
    for place in "$(podman info --format '{{.Store.GraphRoot}}')" "${TMPDIR:-/var/tmp}"; do
        free="$(free_mb "$place")"
        if [ -n "$free" ] && [ "$free" -lt "$NEEDED_MB" ]; then
            echo "images: $place has $free MB free; building the images needs $NEEDED_MB MB" \
                 "(podman image prune removes images no tag refers to)" >&2
            exit 3
        fi
    done
fi

build() {  # name dockerfile context [build args...]
    local name="$1" file="$2" context="$3"
    shift 3
    local started=$SECONDS tag="cervixai/$name:$VERSION"
    local previous
    previous="$(image_id "$tag")"
    "$ENGINE" "${RUNTIME[@]}" build --quiet "${LAYERS[@]}" --network host "${CA[@]}" "$@" \
        -f "deploy/docker/$file" -t "$tag" "$context" >/dev/null
    # the image this tag named before is left with no name: remove it (kept while a container uses it)
    if [ -n "$previous" ] && [ "$previous" != "$(image_id "$tag")" ]; then
        "$ENGINE" rmi "$previous" >/dev/null 2>&1 || true
    fi
    echo "built $tag in $((SECONDS - started)) s"
}

for service in gateway classifier survival listener; do
    build "$service" "$service.Dockerfile" . --build-arg "PYTHON_IMAGE=$PYTHON_IMAGE"
done
build segmenter "$SEGMENTER_DOCKERFILE" . --build-arg "PYTHON_IMAGE=$PYTHON_IMAGE" \
    --build-arg "CUDA_IMAGE=${CUDA_IMAGE:-nvidia/cuda:13.0.1-cudnn-runtime-ubuntu24.04}"
if [ -n "$BUNDLE_DIR" ]; then
    # busybox cannot be pulled here either; the base has sh, rm and cp
    build bundle bundle.Dockerfile "$BUNDLE_DIR" --build-arg "BUSYBOX_IMAGE=${BUSYBOX_IMAGE:-$PYTHON_IMAGE}"
fi

for service in gateway classifier survival segmenter listener; do
    image="cervixai/$service:$VERSION"
    # no compiler and no pip in a final image
    if "$ENGINE" "${RUNTIME[@]}" run --rm --entrypoint sh "$image" -c \
            'command -v gcc cc g++ make pip pip3 || ls /opt/venv/bin/pip* 2>/dev/null' \
            | grep -q .; then
        echo "images: $image holds a compiler or pip" >&2
        exit 1
    fi
    echo "$image: $("$ENGINE" image inspect --format '{{.Size}}' "$image" \
        | awk '{printf "%.0f MB", $1 / 1e6}'), no compiler, no pip"
done
