"""Fixtures shared by every test folder: a small synthetic cohort and real service processes."""

from __future__ import annotations

import os
import subprocess
import sys
from collections.abc import Callable, Iterator, Mapping
from pathlib import Path
from typing import Any

import pytest

from cervixai import shipped
from cervixai.cohort.synth import synthesize
from cervixai.processes import ServiceProcess, free_port


@pytest.fixture(scope="session")
def small_cohort(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """24 synthetic patients with images and SEG masks (seed 0), shared by the whole run."""
    out = tmp_path_factory.mktemp("small-cohort") / "cohort"
    synthesize(out, 24, seed=0, workers=2)
    return out


@pytest.fixture(scope="session")
def segmenter_artifact(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A tiny segmenter trained on a cohort of its own (24 patients, seed 31: none of them in
    ``small_cohort`` or the end-to-end cohort), published as a model artifact folder like the
    repository's ``models/segmenter``. Training on image features needs one: its contours of
    the other cohorts are out of sample, as serving's are. ``shipped.install(bundle, folder)``
    puts it into a bundle."""
    root = tmp_path_factory.mktemp("segmenter")
    synthesize(root / "cohort", 24, seed=31, workers=2)
    # fixtures are not timed by pytest-timeout (timeout_func_only); this step has its own limit
    result = subprocess.run([sys.executable, "-m", "cervixai.cli", "train", "segmenter",
                             "--profile", "tiny", "--no-progress", "--cohort",
                             str(root / "cohort"), "--out", str(root / "bundle"), "--cache",
                             str(root / "cache")], capture_output=True, text=True, timeout=900)
    assert result.returncode == 0, f"train segmenter failed:\n{result.stderr[-4000:]}"
    shipped.publish(root / "bundle", root / "artifact")
    return root / "artifact"


@pytest.fixture
def unused_port() -> Callable[[], int]:
    """A function returning a free loopback port each call."""
    return free_port


@pytest.fixture
def start_service(tmp_path: Path) -> Iterator[Callable[..., ServiceProcess]]:
    """Start a service module as a real process: ``start_service("services.segmenter",
    env={...}, prefix="CERVIXAI_SEGMENTER")``; its port comes from ``PREFIX_PORT``. Every process
    started is stopped at the end of the test."""
    started: list[ServiceProcess] = []

    def start(module: str, *, prefix: str, env: Mapping[str, str] | None = None,
              wait: bool = True, service: str = "") -> ServiceProcess:
        port = free_port()
        environment = {**os.environ, **(env or {}), f"{prefix}_PORT": str(port),
                       f"{prefix}_HOST": "127.0.0.1"}
        started.append(ServiceProcess(module, port, environment,
                                      tmp_path / f"{module}-{port}.log"))
        if wait:
            started[-1].wait_serving(service)
        return started[-1]

    yield start
    for service in started:
        service.stop()

class Certificates:
    """Certificates made in the tests (cryptography): a CA, leaves it signs, PEM files."""

    @staticmethod
    def _name(common: str) -> Any:
        from cryptography import x509
        from cryptography.x509.oid import NameOID

        return x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, common)])

    def ca(self, common: str) -> tuple[Any, Any]:
        """A CA's key and self-signed certificate."""
        import datetime

        from cryptography import x509
        from cryptography.hazmat.primitives import hashes
        from cryptography.hazmat.primitives.asymmetric import ec

        key = ec.generate_private_key(ec.SECP256R1())
        now = datetime.datetime.now(datetime.UTC)
        cert = (x509.CertificateBuilder().subject_name(self._name(common))
                .issuer_name(self._name(common)).public_key(key.public_key())
                .serial_number(x509.random_serial_number())
                .not_valid_before(now - datetime.timedelta(minutes=5))
                .not_valid_after(now + datetime.timedelta(days=1))
                .add_extension(x509.BasicConstraints(ca=True, path_length=None), critical=True)
                .sign(key, hashes.SHA256()))
        return key, cert

    def issue(self, ca: tuple[Any, Any], common: str, *, server: bool) -> tuple[bytes, bytes]:
        """A leaf certificate and key (PEM), for a server at 127.0.0.1 / localhost or a
        client."""
        import datetime
        import ipaddress

        from cryptography import x509
        from cryptography.hazmat.primitives import hashes, serialization
        from cryptography.hazmat.primitives.asymmetric import ec

        ca_key, ca_cert = ca
        key = ec.generate_private_key(ec.SECP256R1())
        now = datetime.datetime.now(datetime.UTC)
        builder = (x509.CertificateBuilder().subject_name(self._name(common))
                   .issuer_name(ca_cert.subject).public_key(key.public_key())
                   .serial_number(x509.random_serial_number())
                   .not_valid_before(now - datetime.timedelta(minutes=5))
                   .not_valid_after(now + datetime.timedelta(days=1)))
        if server:
            builder = builder.add_extension(x509.SubjectAlternativeName([
                x509.DNSName("localhost"), x509.IPAddress(ipaddress.ip_address("127.0.0.1"))]),
                critical=False)
        cert = builder.sign(ca_key, hashes.SHA256())
        return (cert.public_bytes(serialization.Encoding.PEM),
                key.private_bytes(serialization.Encoding.PEM,
                                  serialization.PrivateFormat.PKCS8,
                                  serialization.NoEncryption()))

    @staticmethod
    def pem(cert: Any) -> bytes:
        from cryptography.hazmat.primitives import serialization

        return bytes(cert.public_bytes(serialization.Encoding.PEM))

    @staticmethod
    def write(path: Path, content: bytes) -> Path:
        """Replace ``path`` atomically, as a Kubernetes secret update does."""
        temporary = path.with_suffix(".new")
        temporary.write_bytes(content)
        os.replace(temporary, path)
        return path


@pytest.fixture
def certificates() -> Certificates:
    """:class:`Certificates` (conftest is not importable under importlib)."""
    return Certificates()
