# cervixai — the commands. `make run` and `make test` work on a fresh machine with Python 3.11.
SHELL := /bin/bash
PYTHON ?= $(shell command -v python3.11 || command -v python3)
VENV ?= .venv
BIN := $(VENV)/bin
PIP := $(BIN)/python -m pip --disable-pip-version-check
STAMP := $(VENV)/.installed-dev

.PHONY: run test lint protos install clean help segmenter-model images deploy-test

help:
	@echo "make run     create the virtualenv, install, start cervixai on loopback and show it working"
	@echo "make test    install what the tests need, lint, and run the test suite (what CI runs)"
	@echo "make lint    ruff + mypy, exactly as CI runs them"
	@echo "make protos  regenerate the wire contract's Python code from protos/"
	@echo "make segmenter-model  retrain the segmenter the repository ships (models/segmenter/)"
	@echo "make images  build the images with podman (or docker), from a local base when needed"
	@echo "make deploy-test  run the images as the manifests do and assess a study through them"

$(BIN)/python:
	$(PYTHON) -m venv $(VENV)

$(STAMP): pyproject.toml | $(BIN)/python
	$(PIP) install --quiet --upgrade pip
	$(PIP) install --quiet -e '.[dev]'
	@touch $@

install: $(STAMP)

run: $(STAMP)
	$(BIN)/cervixai up

lint: $(STAMP)
	$(BIN)/ruff check .
	$(BIN)/mypy

test: lint
	$(BIN)/python -m pytest

# The shipped segmenter (models/segmenter/): the `long` profile on a 500-patient synthetic cohort of
# its own (seed 1000; make run's cohort is seed 0), about 35 minutes on 2 idle CPU cores
# (minutes on a GPU: `--device auto` takes one when torch sees it).
SEGMENTER_WORK ?= var/segmenter-model
segmenter-model: $(STAMP)
	$(BIN)/cervixai cohort synth --n 500 --seed 1000 --out $(SEGMENTER_WORK)/cohort
	$(BIN)/cervixai train segmenter --cohort $(SEGMENTER_WORK)/cohort --out $(SEGMENTER_WORK)/bundle \
		--profile long --seed 0 --no-progress --cache $(SEGMENTER_WORK)/cache
	$(BIN)/python -m cervixai.shipped $(SEGMENTER_WORK)/bundle

# Images: the five Dockerfiles from the repository root; locally from a debootstrapped base
# (deploy/podman/base-image.sh) and the segmenter's CPU Dockerfile (docs/deploy.md, Containers).
BUNDLE ?= var/bundle
images:
	deploy/podman/images.sh $(wildcard $(BUNDLE))

$(BUNDLE)/manifest.json: $(STAMP)
	CERVIXAI_BUNDLE= $(BIN)/cervixai up --exit-after-demo

deploy-test: $(STAMP) $(BUNDLE)/manifest.json
	deploy/podman/images.sh $(BUNDLE)
	$(BIN)/python deploy/podman/deploy_test.py $(BUNDLE)

protos: $(STAMP)
	$(BIN)/python scripts/protos.py

clean:
	rm -rf $(VENV) build *.egg-info .mypy_cache .ruff_cache .pytest_cache
