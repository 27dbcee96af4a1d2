"""The Kubernetes manifests: every overlay renders, validates strictly against Kubernetes 1.29 and
the newest version kubernetes-validate knows, obeys the deployment policy, and agrees with the
services' own configuration."""

from __future__ import annotations

import copy
import importlib
import re
from collections.abc import Callable
from pathlib import Path
from types import ModuleType
from typing import Any

import pytest

ROOT = Path(__file__).resolve().parents[2]
BACKENDS = {"segmenter": 50051, "classifier": 50052, "survival": 50053}
SERVICES = (*BACKENDS, "gateway")   # the Deployments
# The DICOM listener: a StatefulSet of one pod (its spool and database are one volume).
LISTENER_PORTS = {"grpc": 50054, "metrics": 9090, "dicom": 11112}
COMPONENTS = (*SERVICES, "listener")
OVERLAYS = ("local", "production")
# The production overlay with the optional cert-manager component added (conftest.py renders it).
WITH_CERT_MANAGER = "production+cert-manager"
RENDERS = (*OVERLAYS, WITH_CERT_MANAGER)
# What the gateway calls: each over mutual TLS in production.
TLS_SERVERS = (*BACKENDS, "listener")
# cert-manager kinds: no schema in kubernetes-validate either; cert_manager_violations checks them.
CERT_MANAGER_KINDS = {"Certificate", "Issuer"}
# Prometheus Operator kinds: no schema in kubernetes-validate; test_monitoring_objects checks them.
CRD_KINDS = {"ServiceMonitor", "PrometheusRule", *CERT_MANAGER_KINDS}
OLDEST_SUPPORTED = "1.29.0"

Manifest = dict[str, Any]


def of_kind(objects: list[Manifest], kind: str) -> list[Manifest]:
    return [o for o in objects if o["kind"] == kind]


def named(objects: list[Manifest], kind: str, name: str) -> Manifest:
    found = [o for o in of_kind(objects, kind) if o["metadata"]["name"] == name]
    assert len(found) == 1, f"expected one {kind} {name}, found {len(found)}"
    return found[0]


def deployment(objects: list[Manifest], service: str) -> Manifest:
    return named(objects, "Deployment", f"cervixai-{service}")


def workload(objects: list[Manifest], service: str) -> Manifest:
    """The Deployment, or the listener's StatefulSet, that runs ``service``."""
    return named(objects, "StatefulSet" if service == "listener" else "Deployment",
                 f"cervixai-{service}")


def main_container(objects: list[Manifest], service: str) -> Manifest:
    containers: list[Manifest] = workload(objects, service)["spec"]["template"]["spec"][
        "containers"]
    return next(c for c in containers if c["name"] == service)


def config_env(objects: list[Manifest], service: str) -> dict[str, str]:
    """The environment a service's container gets from its ConfigMap(s) and env entries."""
    container = main_container(objects, service)
    env: dict[str, str] = {}
    for source in container.get("envFrom", []):
        env.update(named(objects, "ConfigMap", source["configMapRef"]["name"]).get("data", {}))
    env.update({v["name"]: v["value"] for v in container.get("env", [])})
    return env


def selects(selector: Manifest, labels: dict[str, str]) -> bool:
    """Whether a label selector (matchLabels only, as ours are) selects ``labels``."""
    wanted = selector.get("matchLabels", {})
    return bool(wanted) and all(labels.get(k) == v for k, v in wanted.items())


def image_pinned(image: str) -> bool:
    if "@sha256:" in image:
        return True
    name, _, tag = image.rpartition(":")
    return bool(name) and "/" not in tag and tag not in ("", "latest")


# ------------------------------------------------------------------------------------- policy


def policy_violations(objects: list[Manifest]) -> list[str]:
    """Every breach of the deployment policy in a rendered overlay (empty: it complies).

    Each container: non-root, read-only root filesystem, no privilege escalation, all capabilities
    dropped, seccomp RuntimeDefault, requests and limits, an image pinned to a tag other than
    latest (or a digest); each long-running container: startup, readiness and liveness probes.
    Each Deployment and StatefulSet: a PodDisruptionBudget and a NetworkPolicy that select its pods.
    """
    found = []
    budgets, policies = of_kind(objects, "PodDisruptionBudget"), of_kind(objects, "NetworkPolicy")
    for item in [*of_kind(objects, "Deployment"), *of_kind(objects, "StatefulSet")]:
        name = item["metadata"]["name"]
        template = item["spec"]["template"]
        pod, labels = template["spec"], template["metadata"]["labels"]
        pod_security = pod.get("securityContext", {})
        if not any(selects(b["spec"]["selector"], labels) for b in budgets):
            found.append(f"{name}: no PodDisruptionBudget")
        if not any(selects(p["spec"]["podSelector"], labels) for p in policies):
            found.append(f"{name}: no NetworkPolicy")
        init = [(c, False) for c in pod.get("initContainers", [])]
        for container, long_running in [*init, *((c, True) for c in pod["containers"])]:
            where = f"{name}/{container['name']}"
            security = container.get("securityContext", {})
            setting = {**pod_security, **security}.get
            if setting("runAsNonRoot") is not True or setting("runAsUser") in (None, 0):
                found.append(f"{where}: may run as root")
            if security.get("readOnlyRootFilesystem") is not True:
                found.append(f"{where}: root filesystem writable")
            if security.get("allowPrivilegeEscalation") is not False:
                found.append(f"{where}: privilege escalation allowed")
            if security.get("privileged"):
                found.append(f"{where}: privileged")
            capabilities = security.get("capabilities", {})
            if "ALL" not in capabilities.get("drop", []) or capabilities.get("add"):
                found.append(f"{where}: capabilities not all dropped")
            if (setting("seccompProfile") or {}).get("type") != "RuntimeDefault":
                found.append(f"{where}: seccomp profile not RuntimeDefault")
            resources = container.get("resources", {})
            for kind in ("requests", "limits"):
                if not {"cpu", "memory"} <= set(resources.get(kind, {})):
                    found.append(f"{where}: no cpu and memory {kind}")
            if not image_pinned(container["image"]):
                found.append(f"{where}: image {container['image']} not pinned")
            if long_running:
                for probe in ("startupProbe", "readinessProbe", "livenessProbe"):
                    if probe not in container:
                        found.append(f"{where}: no {probe}")
    return found


@pytest.mark.parametrize("overlay", RENDERS)
def test_overlays_comply_with_the_policy(rendered: dict[str, list[Manifest]],
                                         overlay: str) -> None:
    assert policy_violations(rendered[overlay]) == []


def _container(objects: list[Manifest], index: int = 0) -> Manifest:
    container: Manifest = deployment(objects, "classifier")["spec"]["template"]["spec"][
        "containers"][index]
    return container


def _drop(kind: str, name: str = "cervixai-classifier") -> Callable[[list[Manifest]], None]:
    def mutate(objects: list[Manifest]) -> None:
        objects[:] = [o for o in objects
                      if not (o["kind"] == kind and o["metadata"]["name"] == name)]
    return mutate


MUTATIONS: list[tuple[str, Callable[[list[Manifest]], None], str]] = [
    ("latest tag", lambda o: _container(o).update(image="cervixai/classifier:latest"),
     "not pinned"),
    ("untagged", lambda o: _container(o).update(image="registry:5000/cervixai/classifier"),
     "not pinned"),
    ("writable root", lambda o: _container(o)["securityContext"].pop("readOnlyRootFilesystem"),
     "root filesystem writable"),
    ("root user", lambda o: _container(o)["securityContext"].update(runAsUser=0),
     "may run as root"),
    ("escalation", lambda o: _container(o)["securityContext"].pop("allowPrivilegeEscalation"),
     "privilege escalation allowed"),
    ("capability", lambda o: _container(o)["securityContext"]["capabilities"].update(
        add=["NET_ADMIN"]), "capabilities not all dropped"),
    ("no limits", lambda o: _container(o)["resources"].pop("limits"), "no cpu and memory limits"),
    ("no liveness", lambda o: _container(o).pop("livenessProbe"), "no livenessProbe"),
    ("no startup", lambda o: _container(o).pop("startupProbe"), "no startupProbe"),
    ("no budget", _drop("PodDisruptionBudget"), "no PodDisruptionBudget"),
    ("no network policy", _drop("NetworkPolicy"), "no NetworkPolicy"),
    ("seccomp", lambda o: deployment(o, "classifier")["spec"]["template"]["spec"][
        "securityContext"].pop("seccompProfile"), "seccomp profile not RuntimeDefault"),
    # the listener is a StatefulSet: the same policy holds for it
    ("listener writable root", lambda o: main_container(o, "listener")["securityContext"].pop(
        "readOnlyRootFilesystem"), "cervixai-listener/listener: root filesystem writable"),
    ("listener no readiness", lambda o: main_container(o, "listener").pop("readinessProbe"),
     "cervixai-listener/listener: no readinessProbe"),
    ("listener no network policy", _drop("NetworkPolicy", "cervixai-listener"),
     "cervixai-listener: no NetworkPolicy"),
]


@pytest.mark.parametrize(("case", "mutate", "expected"), MUTATIONS, ids=[m[0] for m in MUTATIONS])
def test_policy_catches_each_breach(rendered: dict[str, list[Manifest]], case: str,
                                    mutate: Callable[[list[Manifest]], None],
                                    expected: str) -> None:
    objects = copy.deepcopy(rendered["production"])
    mutate(objects)
    assert [v for v in policy_violations(objects) if expected in v], case


# ------------------------------------------------------------------ rendering and validation


@pytest.mark.parametrize("overlay", OVERLAYS)
def test_every_service_has_its_objects(rendered: dict[str, list[Manifest]],
                                       overlay: str) -> None:
    objects = rendered[overlay]
    for service in SERVICES:
        for kind in ("Deployment", "Service", "PodDisruptionBudget", "NetworkPolicy"):
            named(objects, kind, f"cervixai-{service}")
        assert config_env(objects, service), f"{service} has no ConfigMap"
    for kind, name in [("StatefulSet", "cervixai-listener"), ("Service", "cervixai-listener"),
                       ("Service", "cervixai-listener-dicom"),
                       ("PodDisruptionBudget", "cervixai-listener"),
                       ("NetworkPolicy", "cervixai-listener")]:
        named(objects, kind, name)
    assert config_env(objects, "listener"), "the listener has no ConfigMap"
    assert {o["metadata"].get("namespace") for o in objects if o["kind"] != "Namespace"} == {
        "cervixai"}
    assert named(objects, "Namespace", "cervixai")["metadata"]["labels"][
        "pod-security.kubernetes.io/enforce"] == "restricted"


def _versions(kubernetes_validate: ModuleType) -> list[str]:
    return [OLDEST_SUPPORTED, kubernetes_validate.utils.latest_version()]


@pytest.mark.parametrize("overlay", RENDERS)
def test_objects_validate_strictly(rendered: dict[str, list[Manifest]],
                                   kubernetes_validate: ModuleType, overlay: str) -> None:
    errors, unknown = [], set()
    for version in _versions(kubernetes_validate):
        for item in rendered[overlay]:
            try:
                kubernetes_validate.validate(item, version, strict=True)
            except kubernetes_validate.utils.SchemaNotFoundError:
                unknown.add(item["kind"])
            except kubernetes_validate.ValidationError as e:
                where = ".".join(str(p) for p in e.path)
                errors.append(f"{version} {item['kind']}/{item['metadata']['name']} "
                              f"{where}: {e.message}")
    assert errors == []
    assert unknown <= CRD_KINDS


def test_strict_validation_rejects_an_unknown_field(rendered: dict[str, list[Manifest]],
                                                    kubernetes_validate: ModuleType) -> None:
    item = copy.deepcopy(deployment(rendered["local"], "gateway"))
    item["spec"]["template"]["spec"]["containers"][0]["readinesProbe"] = {"tcpSocket": {
        "port": 8080}}
    with pytest.raises(kubernetes_validate.ValidationError, match="readinesProbe"):
        kubernetes_validate.validate(item, OLDEST_SUPPORTED, strict=True)


def test_monitoring_objects(rendered: dict[str, list[Manifest]]) -> None:
    objects = rendered["production"]
    monitor = named(objects, "ServiceMonitor", "cervixai")
    selector = monitor["spec"]["selector"]["matchExpressions"][0]
    assert selector["key"] == "app.kubernetes.io/name" and selector["operator"] == "In"
    assert set(selector["values"]) == {f"cervixai-{s}" for s in COMPONENTS}
    endpoints = {e["port"]: e["path"] for e in monitor["spec"]["endpoints"]}
    assert endpoints == {"metrics": "/metrics", "http": "/metrics"}
    for service in COMPONENTS:
        ports = {p["name"] for p in named(objects, "Service", f"cervixai-{service}")["spec"][
            "ports"]}
        assert ports & set(endpoints), f"{service} exposes no port the ServiceMonitor scrapes"
    rules = of_kind(objects, "PrometheusRule")
    assert {r["metadata"]["name"] for r in rules} == {"cervixai", "cervixai-gpu"}
    assert all(r["spec"]["groups"] for r in rules)
    assert not of_kind(rendered["local"], "ServiceMonitor")  # no operator assumed locally


# --------------------------------------------------------------- probes, drain, services


@pytest.mark.parametrize("overlay", OVERLAYS)
def test_backends_probe_grpc_health_on_their_port(rendered: dict[str, list[Manifest]],
                                                  overlay: str) -> None:
    objects = rendered[overlay]
    for service, port in BACKENDS.items():
        container = main_container(objects, service)
        assert {p["name"]: p["containerPort"] for p in container["ports"]}["grpc"] == port
        assert config_env(objects, service)[f"CERVIXAI_{service.upper()}_PORT"] == str(port)
        for probe in ("startupProbe", "readinessProbe", "livenessProbe"):
            assert container[probe]["grpc"] == {"port": probe_port(objects, service)}, (
                service, probe)
        startup = container["startupProbe"]
        # Model load, sha256 check and warm-up: at least two minutes before the kubelet gives up.
        assert startup["periodSeconds"] * startup["failureThreshold"] >= 120, service


@pytest.mark.parametrize("overlay", OVERLAYS)
def test_termination_grace_outlasts_the_drain(rendered: dict[str, list[Manifest]],
                                              overlay: str) -> None:
    objects = rendered[overlay]
    for service in COMPONENTS:
        grace = float(config_env(objects, service)[f"CERVIXAI_{service.upper()}_GRACE_SECONDS"])
        # The gateway drains HTTP, then gRPC, each for up to the grace period.
        drain = 2 * grace if service == "gateway" else grace
        period = workload(objects, service)["spec"]["template"]["spec"][
            "terminationGracePeriodSeconds"]
        assert period >= drain + 10, f"{service}: {period} s to stop, {drain} s to drain"


@pytest.mark.parametrize("overlay", OVERLAYS)
def test_gateway_reaches_every_pod_of_headless_backends(rendered: dict[str, list[Manifest]],
                                                        overlay: str) -> None:
    objects = rendered[overlay]
    gateway_env = config_env(objects, "gateway")
    for service, port in BACKENDS.items():
        spec = named(objects, "Service", f"cervixai-{service}")["spec"]
        assert spec["clusterIP"] == "None"
        assert {p["name"]: p["port"] for p in spec["ports"]}["grpc"] == port
        assert gateway_env[f"CERVIXAI_{service.upper()}_ADDRESS"] == (
            f"dns:///cervixai-{service}:{port}")


@pytest.mark.parametrize("overlay", OVERLAYS)
def test_backends_accept_only_the_gateway_and_prometheus(rendered: dict[str, list[Manifest]],
                                                         overlay: str) -> None:
    objects = rendered[overlay]
    gateway_labels = deployment(objects, "gateway")["spec"]["template"]["metadata"]["labels"]
    for service in BACKENDS:
        spec = named(objects, "NetworkPolicy", f"cervixai-{service}")["spec"]
        assert set(spec["policyTypes"]) == {"Ingress", "Egress"} and spec["egress"] == []
        by_port = {rule["ports"][0]["port"]: rule["from"] for rule in spec["ingress"]}
        assert set(by_port) == {"grpc", "metrics"}
        assert [selects(peer["podSelector"], gateway_labels) for peer in by_port["grpc"]] == [
            True]
        (prometheus,) = by_port["metrics"]
        assert prometheus["podSelector"]["matchLabels"] == {"app.kubernetes.io/name": "prometheus"}
        assert "namespaceSelector" in prometheus
    gateway = named(objects, "NetworkPolicy", "cervixai-gateway")["spec"]
    egress_ports = {p["port"] for rule in gateway["egress"] for p in rule["ports"]}
    assert set(BACKENDS.values()) | {LISTENER_PORTS["grpc"], 53} == egress_ports


@pytest.mark.parametrize("overlay", OVERLAYS)
def test_bundle_is_delivered_beside_the_code(rendered: dict[str, list[Manifest]],
                                             overlay: str) -> None:
    objects = rendered[overlay]
    for service in BACKENDS:
        pod = deployment(objects, service)["spec"]["template"]["spec"]
        (init,) = pod["initContainers"]
        assert "/bundle:" in init["image"] and image_pinned(init["image"])
        volumes = {v["name"]: v for v in pod["volumes"]}
        mount = next(m for m in main_container(objects, service)["volumeMounts"]
                     if m["mountPath"] == "/models")
        assert mount["readOnly"] is True and "emptyDir" in volumes[mount["name"]]
        assert [m["name"] for m in init["volumeMounts"]] == [mount["name"]]
        assert config_env(objects, service)["CERVIXAI_BUNDLE"].startswith("/models/")


# ------------------------------------------------------------------------------- overlays


def test_local_is_cpu_only_with_one_replica_each(rendered: dict[str, list[Manifest]]) -> None:
    objects = rendered["local"]
    assert not of_kind(objects, "HorizontalPodAutoscaler")
    for service in SERVICES:
        spec = deployment(objects, service)["spec"]
        assert spec["replicas"] == 1
        assert "nodeSelector" not in spec["template"]["spec"]
        for container in spec["template"]["spec"]["containers"]:
            for kind in ("requests", "limits"):
                assert "nvidia.com/gpu" not in container["resources"][kind]
    assert config_env(objects, "segmenter")["CERVIXAI_SEGMENTER_PROVIDER"] == "cpu"


def test_production_segmenter_runs_on_a_gpu(rendered: dict[str, list[Manifest]]) -> None:
    objects = rendered["production"]
    pod = deployment(objects, "segmenter")["spec"]["template"]["spec"]
    resources = main_container(objects, "segmenter")["resources"]
    assert resources["limits"]["nvidia.com/gpu"] == resources["requests"]["nvidia.com/gpu"] == "1"
    assert pod["nodeSelector"] == {"nvidia.com/gpu.present": "true"}
    assert any(t["key"] == "nvidia.com/gpu" for t in pod["tolerations"])
    assert config_env(objects, "segmenter")["CERVIXAI_SEGMENTER_PROVIDER"] == "cuda"
    for service in ("gateway", "classifier", "survival"):
        assert "nvidia.com/gpu" not in main_container(objects, service)["resources"]["limits"]


def test_production_autoscales_every_deployment(rendered: dict[str, list[Manifest]]) -> None:
    objects = rendered["production"]
    scalers = {h["spec"]["scaleTargetRef"]["name"]: h["spec"]
               for h in of_kind(objects, "HorizontalPodAutoscaler")}
    assert set(scalers) == {f"cervixai-{s}" for s in SERVICES}
    for name, spec in scalers.items():
        assert 2 <= spec["minReplicas"] < spec["maxReplicas"], name
        assert "replicas" not in named(objects, "Deployment", name)["spec"], (
            f"{name}: a fixed replica count would fight the autoscaler on every apply")
        spread = named(objects, "Deployment", name)["spec"]["template"]["spec"][
            "topologySpreadConstraints"]
        assert {c["topologyKey"] for c in spread} == {"kubernetes.io/hostname",
                                                      "topology.kubernetes.io/zone"}, name
        assert all(c["labelSelector"]["matchLabels"] == {"app.kubernetes.io/name": name}
                   for c in spread), name
    assert "topologySpreadConstraints" not in deployment(rendered["local"], "gateway")["spec"][
        "template"]["spec"]   # one node: nothing to spread over


@pytest.mark.parametrize("service", COMPONENTS)
def test_reflection_is_off_in_production_only(rendered: dict[str, list[Manifest]],
                                              service: str) -> None:
    def reflection(overlay: str) -> bool:
        config = read_config(service, config_env(rendered[overlay], service))
        return bool((config.grpc if service == "gateway" else config.server).reflection)

    assert not reflection("production") and reflection("local")


def test_production_serves_tls(rendered: dict[str, list[Manifest]]) -> None:
    objects = rendered["production"]
    ingress = named(objects, "Ingress", "cervixai-gateway")["spec"]
    assert ingress["tls"][0]["secretName"] == "cervixai-ingress-tls"
    backend = ingress["rules"][0]["http"]["paths"][0]["backend"]["service"]
    assert backend == {"name": "cervixai-gateway", "port": {"name": "http"}}
    pod = deployment(objects, "gateway")["spec"]["template"]["spec"]
    env = config_env(objects, "gateway")
    assert {secret_file(objects, "gateway", env[variable]) for variable in (
        "CERVIXAI_GATEWAY_TLS_CERT", "CERVIXAI_GATEWAY_TLS_KEY")} == {
        ("cervixai-gateway-tls", "tls.crt"), ("cervixai-gateway-tls", "tls.key")}
    # TLS on the gateway's gRPC port would blind a kubelet gRPC probe: its probes are HTTP.
    assert all("httpGet" in pod["containers"][0][p]
               for p in ("startupProbe", "readinessProbe", "livenessProbe"))
    assert "CERVIXAI_GATEWAY_TLS_CERT" not in config_env(rendered["local"], "gateway")


# ------------------------------------------------------------------------------ mutual TLS


def server_config(objects: list[Manifest], service: str) -> Any:
    """The gRPC server configuration ``service`` reads from its ConfigMap."""
    config = read_config(service, config_env(objects, service))
    return config.grpc if service == "gateway" else config.server


def probe_port(objects: list[Manifest], service: str) -> int:
    """Where the kubelet's gRPC probes belong: the plaintext health-only port when the service
    has one (production, where its gRPC port serves TLS the kubelet cannot speak), else gRPC."""
    server = server_config(objects, service)
    return int(server.health_port or server.port)


def secret_file(objects: list[Manifest], service: str, path: str | Path | None
                ) -> tuple[str, str]:
    """The secret and key the file ``path`` of ``service``'s container comes from. Fails unless
    that secret is mounted whole, as a directory, read-only: with a subPath the kubelet would
    never update the file when the secret is renewed in place."""
    assert path is not None, f"{service}: a TLS file is not configured"
    directory, _, file = str(path).rpartition("/")
    (mount,) = [m for m in main_container(objects, service)["volumeMounts"]
                if m["mountPath"] == directory]
    assert "subPath" not in mount and "subPathExpr" not in mount, mount
    assert mount.get("readOnly") is True, mount
    pod = workload(objects, service)["spec"]["template"]["spec"]
    secret = next(v for v in pod["volumes"] if v["name"] == mount["name"])["secret"]
    items = {item["path"]: item["key"] for item in secret.get("items", [])}
    assert not items or file in items, f"{service}: {file} is not among the secret's items"
    return secret["secretName"], items.get(file, file)


def dialled_host(address: str) -> str:
    """The name a gRPC client verifies the server's certificate against: the host of its target
    (``dns:///name:port`` or ``name:port``)."""
    return address.rpartition("/")[2].rpartition(":")[0]


@pytest.mark.parametrize("service", TLS_SERVERS)
def test_production_servers_require_the_gateways_certificate(
        rendered: dict[str, list[Manifest]], service: str) -> None:
    objects = rendered["production"]
    server = server_config(objects, service)
    secret = f"cervixai-{service}-tls"
    assert {secret_file(objects, service, server.tls_cert),
            secret_file(objects, service, server.tls_key),
            secret_file(objects, service, server.tls_client_ca)} == {
        (secret, "tls.crt"), (secret, "tls.key"), (secret, "ca.crt")}
    # The kubelet probes a plaintext port that serves grpc.health.v1 only, a named port of its own.
    container = main_container(objects, service)
    ports = {p["name"]: p["containerPort"] for p in container["ports"]}
    assert server.health_port == ports["health"] == probe_port(objects, service) != server.port
    # ... reached by the kubelet from the node only: no Service exposes it, no rule admits it.
    spec = named(objects, "Service", f"cervixai-{service}")["spec"]
    assert not {p["targetPort"] for p in spec["ports"]} & {"health", ports["health"]}
    rules = named(objects, "NetworkPolicy", f"cervixai-{service}")["spec"]["ingress"]
    assert not {p["port"] for rule in rules for p in rule["ports"]} & {"health", ports["health"]}
    # Its gRPC port speaks TLS: the Service no longer says cleartext HTTP/2.
    grpc = next(p for p in spec["ports"] if p["name"] == "grpc")
    assert grpc.get("appProtocol") != "kubernetes.io/h2c"


def test_production_gateway_presents_its_client_certificate(
        rendered: dict[str, list[Manifest]]) -> None:
    objects = rendered["production"]
    config = read_config("gateway", config_env(objects, "gateway"))
    secret = "cervixai-gateway-client-tls"
    assert {secret_file(objects, "gateway", config.backend_tls_ca),
            secret_file(objects, "gateway", config.backend_tls_cert),
            secret_file(objects, "gateway", config.backend_tls_key)} == {
        (secret, "ca.crt"), (secret, "tls.crt"), (secret, "tls.key")}
    # Its own gRPC serves TLS without asking for client certificates: its callers (the listener,
    # the hospital's systems) authenticate with bearer tokens, and the listener has no certificate.
    assert config.grpc.tls_cert and config.grpc.tls_client_ca is None
    listener = read_config("listener", config_env(objects, "listener"))
    assert secret_file(objects, "listener", listener.gateway_tls_ca) == (
        "cervixai-gateway-tls", "ca.crt")
    grpc = next(p for p in named(objects, "Service", "cervixai-gateway")["spec"]["ports"]
                if p["name"] == "grpc")
    assert grpc.get("appProtocol") != "kubernetes.io/h2c"


def test_local_speaks_plaintext_grpc(rendered: dict[str, list[Manifest]]) -> None:
    objects = rendered["local"]
    for service in COMPONENTS:
        server = server_config(objects, service)
        assert (server.tls_cert, server.tls_client_ca, server.health_port) == (None, None, 0)
        grpc = next(p for p in named(objects, "Service", f"cervixai-{service}")["spec"]["ports"]
                    if p["name"] == "grpc")
        assert grpc["appProtocol"] == "kubernetes.io/h2c", service
    assert read_config("gateway", config_env(objects, "gateway")).backend_tls_ca is None


def secrets_through_subpath(objects: list[Manifest]) -> list[str]:
    """Every secret mounted through a subPath: the kubelet never updates such a file, so a
    renewed certificate or token would not reach the process until the pod is replaced."""
    found = []
    for item in [*of_kind(objects, "Deployment"), *of_kind(objects, "StatefulSet")]:
        pod = item["spec"]["template"]["spec"]
        secrets = {v["name"] for v in pod.get("volumes", []) if "secret" in v}
        for container in [*pod.get("initContainers", []), *pod["containers"]]:
            found += [f"{item['metadata']['name']}/{container['name']}: {mount['mountPath']}"
                      for mount in container.get("volumeMounts", [])
                      if mount["name"] in secrets and {"subPath", "subPathExpr"} & set(mount)]
    return found


@pytest.mark.parametrize("overlay", RENDERS)
def test_secrets_are_mounted_whole(rendered: dict[str, list[Manifest]], overlay: str) -> None:
    assert secrets_through_subpath(rendered[overlay]) == []


def test_subpath_check_catches_a_file_mount(rendered: dict[str, list[Manifest]]) -> None:
    objects = copy.deepcopy(rendered["production"])
    mount = next(m for m in main_container(objects, "segmenter")["volumeMounts"]
                 if m["mountPath"] == "/etc/cervixai/tls")
    mount.update(mountPath="/etc/cervixai/tls/tls.crt", subPath="tls.crt")
    assert secrets_through_subpath(objects) == [
        "cervixai-segmenter/segmenter: /etc/cervixai/tls/tls.crt"]


# -------------------------------------------------------------------- the cert-manager component

# cert-manager.io/v1: the fields and values these manifests may use (a subset of its schema).
CERTIFICATE_FIELDS = {"secretName", "secretTemplate", "commonName", "dnsNames", "ipAddresses",
                      "uris", "subject", "duration", "renewBefore", "privateKey", "usages",
                      "issuerRef", "isCA"}
PRIVATE_KEY = {"algorithm": {"RSA", "ECDSA", "Ed25519"}, "size": None,
               "rotationPolicy": {"Always", "Never"}, "encoding": {"PKCS1", "PKCS8"}}
USAGES = {"signing", "digital signature", "content commitment", "key encipherment",
          "key agreement", "data encipherment", "cert sign", "crl sign", "encipher only",
          "decipher only", "any", "server auth", "client auth", "code signing",
          "email protection", "s/mime", "ipsec end system", "ipsec tunnel", "ipsec user",
          "timestamping", "ocsp signing", "microsoft sgc", "netscape sgc"}
ISSUER_TYPES = {"selfSigned": set(), "ca": {"secretName"}}
GO_DURATION = re.compile(r"(?:(\d+)h)?(?:(\d+)m)?(?:(\d+)s)?")


def go_hours(value: Any) -> float | None:
    """A Go duration of hours, minutes and seconds (``2160h``, ``90m``) in hours; None if it is
    not one (cert-manager takes no ``d``)."""
    match = GO_DURATION.fullmatch(str(value))
    if not value or match is None:
        return None
    hours, minutes, seconds = (int(g or 0) for g in match.groups())
    return hours + minutes / 60 + seconds / 3600


def cert_manager_violations(objects: list[Manifest]) -> list[str]:
    """Every structural fault of the cert-manager objects (kubernetes-validate has no schema for
    them): unknown fields, values outside cert-manager's enums, durations it would refuse, a
    renewal that never comes before expiry, an issuer or CA secret that is not there."""
    found = []
    certificates = of_kind(objects, "Certificate")
    issuers = {i["metadata"]["name"]: i["spec"] for i in of_kind(objects, "Issuer")}
    ca_secrets = {c["spec"].get("secretName") for c in certificates if c["spec"].get("isCA")}
    for item in [*certificates, *of_kind(objects, "Issuer")]:
        if item["apiVersion"] != "cert-manager.io/v1":
            found.append(f"{item['kind']}/{item['metadata']['name']}: {item['apiVersion']}")
    for certificate in certificates:
        where, spec = f"Certificate/{certificate['metadata']['name']}", certificate["spec"]
        found += [f"{where}: unknown field {f}" for f in sorted(set(spec) - CERTIFICATE_FIELDS)]
        if not spec.get("secretName"):
            found.append(f"{where}: no secretName")
        if not (spec.get("commonName") or spec.get("dnsNames")):
            found.append(f"{where}: neither commonName nor dnsNames")
        found += [f"{where}: unknown usage {u!r}" for u in spec.get("usages", [])
                  if u not in USAGES]
        for field, allowed in spec.get("privateKey", {}).items():
            if field not in PRIVATE_KEY:
                found.append(f"{where}: unknown field privateKey.{field}")
            elif PRIVATE_KEY[field] is not None and allowed not in PRIVATE_KEY[field]:
                found.append(f"{where}: privateKey.{field} {allowed!r}")
        if set(spec.get("secretTemplate", {})) - {"labels", "annotations"}:
            found.append(f"{where}: unknown field in secretTemplate")
        duration, renew = go_hours(spec.get("duration")), go_hours(spec.get("renewBefore"))
        if duration is None or renew is None:
            found.append(f"{where}: duration and renewBefore must be Go durations (h, m, s)")
        elif not (duration >= 1 and 5 / 60 <= renew < duration):
            found.append(f"{where}: renewBefore {spec['renewBefore']} does not come before "
                         f"duration {spec['duration']} runs out")
        reference = spec.get("issuerRef", {})
        if set(reference) - {"name", "kind", "group"} or reference.get("kind") != "Issuer" or (
                reference.get("group") != "cert-manager.io"):
            found.append(f"{where}: issuerRef must name a cert-manager.io Issuer: {reference}")
        elif reference.get("name") not in issuers:
            found.append(f"{where}: issuer {reference.get('name')} is not rendered")
    for name, spec in issuers.items():
        where = f"Issuer/{name}"
        if len(spec) != 1 or next(iter(spec)) not in ISSUER_TYPES:
            found.append(f"{where}: exactly one of {sorted(ISSUER_TYPES)} expected: {sorted(spec)}")
            continue
        kind, config = next(iter(spec.items()))
        found += [f"{where}: unknown field {kind}.{f}" for f in sorted(set(config) -
                                                                       ISSUER_TYPES[kind])]
        if kind == "ca" and config.get("secretName") not in ca_secrets:
            found.append(f"{where}: {config.get('secretName')} is no CA Certificate's secret")
    return found


def certificate_for(objects: list[Manifest], secret: str) -> Manifest:
    (found,) = [c["spec"] for c in of_kind(objects, "Certificate")
                if c["spec"]["secretName"] == secret]
    return found


def test_cert_manager_component_is_well_formed(
        rendered: dict[str, list[Manifest]],
        kustomize: Callable[[str], list[Manifest]]) -> None:
    objects = rendered[WITH_CERT_MANAGER]
    assert cert_manager_violations(objects) == []
    # It adds the issuers and certificates and changes nothing else: without it, production is
    # the same overlay with hand-made secrets.
    assert [o for o in objects if o["kind"] not in CERT_MANAGER_KINDS] == rendered["production"]
    assert not [o for o in rendered["production"] if o["kind"] in CERT_MANAGER_KINDS]
    # It builds on its own too, into the same objects (the overlay adds only the namespace).
    alone = kustomize("components/cert-manager")
    assert {(o["kind"], o["metadata"]["name"]) for o in alone} == {
        (o["kind"], o["metadata"]["name"]) for o in objects if o["kind"] in CERT_MANAGER_KINDS}


CERT_MUTATIONS: list[tuple[str, Callable[[list[Manifest]], None], str]] = [
    ("misspelt field", lambda o: _certificate(o).update(renewbefore="720h"),
     "unknown field renewbefore"),
    ("days", lambda o: _certificate(o).update(duration="90d"), "must be Go durations"),
    ("renewal too late", lambda o: _certificate(o).update(renewBefore="2200h"),
     "does not come before"),
    ("unknown usage", lambda o: _certificate(o)["usages"].append("server-auth"),
     "unknown usage 'server-auth'"),
    ("missing issuer", lambda o: _certificate(o)["issuerRef"].update(name="elsewhere"),
     "issuer elsewhere is not rendered"),
    ("no CA secret", lambda o: next(i for i in of_kind(o, "Issuer") if "ca" in i["spec"])[
        "spec"]["ca"].update(secretName="nothing"), "nothing is no CA Certificate's secret"),
]


def _certificate(objects: list[Manifest]) -> Manifest:
    spec: Manifest = named(objects, "Certificate", "cervixai-segmenter-tls")["spec"]
    return spec


@pytest.mark.parametrize(("case", "mutate", "expected"), CERT_MUTATIONS,
                         ids=[m[0] for m in CERT_MUTATIONS])
def test_cert_manager_check_catches_each_fault(rendered: dict[str, list[Manifest]], case: str,
                                               mutate: Callable[[list[Manifest]], None],
                                               expected: str) -> None:
    objects = copy.deepcopy(rendered[WITH_CERT_MANAGER])
    mutate(objects)
    assert [v for v in cert_manager_violations(objects) if expected in v], case


def test_certificates_are_valid_for_the_names_dialled(
        rendered: dict[str, list[Manifest]]) -> None:
    objects = rendered[WITH_CERT_MANAGER]
    gateway = read_config("gateway", config_env(objects, "gateway"))
    addresses = {b.name: b.address for b in (*gateway.backends, gateway.listener)}
    assert set(addresses) == set(TLS_SERVERS)
    issuers = set()
    for service in TLS_SERVERS:
        server = server_config(objects, service)
        secret, _ = secret_file(objects, service, server.tls_cert)
        spec = certificate_for(objects, secret)
        # The gateway verifies the host of its address (gateway.env) against the certificate.
        assert dialled_host(addresses[service]) in spec["dnsNames"], service
        assert "server auth" in spec["usages"] and "client auth" not in spec["usages"], service
        assert certificate_for(objects, secret_file(objects, service, server.tls_client_ca)[0]
                               ) is spec   # the client CA is that secret's ca.crt
        issuers.add(spec["issuerRef"]["name"])
    # The listener verifies the gateway by the name it dials (listener.env).
    listener = read_config("listener", config_env(objects, "listener"))
    spec = certificate_for(objects, secret_file(objects, "gateway", server_config(
        objects, "gateway").tls_cert)[0])
    assert dialled_host(listener.gateway_address) in spec["dnsNames"]
    assert "server auth" in spec["usages"]
    issuers.add(spec["issuerRef"]["name"])
    # The gateway's client certificate: client auth only, from the same CA as the servers', so
    # the ca.crt each side trusts is the CA that signed the other.
    client = certificate_for(objects, secret_file(objects, "gateway", gateway.backend_tls_cert)[0])
    assert "client auth" in client["usages"] and "server auth" not in client["usages"]
    issuers.add(client["issuerRef"]["name"])
    (issuer,) = issuers
    ca = certificate_for(objects, named(objects, "Issuer", issuer)["spec"]["ca"]["secretName"])
    assert ca["isCA"] is True
    assert "selfSigned" in named(objects, "Issuer", ca["issuerRef"]["name"])["spec"]
    # A renewed CA keeps its key, so both sides go on trusting each other while their secrets'
    # ca.crt catch up; every leaf is re-issued (with the new ca.crt) before the old CA expires.
    assert ca["privateKey"]["rotationPolicy"] == "Never"
    leaves = [c["spec"] for c in of_kind(objects, "Certificate") if not c["spec"].get("isCA")]
    assert go_hours(ca["renewBefore"]) > max(go_hours(c["duration"]) or 0 for c in leaves)
    # The browsers' certificate is not the internal CA's.
    assert not [c for c in leaves if c["secretName"] == "cervixai-ingress-tls"]


# -------------------------------------------------------------------------- configuration

def read_config(service: str, env: dict[str, str]) -> Any:
    """The configuration a process reads from ``env``, exactly as it does at start."""
    if service == "gateway":
        from gateway.config import GatewayConfig

        return GatewayConfig.from_env(env)
    if service == "listener":
        from listener.config import ListenerConfig

        return ListenerConfig.from_env(env)
    return importlib.import_module(f"services.{service}.__main__").SERVICE.config(env)


@pytest.mark.parametrize("overlay", OVERLAYS)
@pytest.mark.parametrize("service", COMPONENTS)
def test_services_accept_their_configuration(rendered: dict[str, list[Manifest]], overlay: str,
                                             service: str) -> None:
    config = read_config(service, config_env(rendered[overlay], service))
    server = config.grpc if service == "gateway" else config.server
    assert server.host == "0.0.0.0"
    ports = {p["name"]: p["containerPort"] for p in main_container(rendered[overlay], service)[
        "ports"]}
    assert server.port == ports["grpc"]
    if service == "gateway":
        assert config.http_port == ports["http"]
    else:
        assert server.metrics_port == ports["metrics"]
    if service == "listener":
        assert config.dicom_port == ports["dicom"]


def test_every_variable_is_documented(rendered: dict[str, list[Manifest]]) -> None:
    """Each variable in a ConfigMap is in docs/deploy.md, by name or as ``PREFIX_<rest>``."""
    doc = (ROOT / "docs" / "deploy.md").read_text()
    prefixes = tuple(f"CERVIXAI_{s.upper()}_" for s in COMPONENTS)

    def documented(variable: str) -> bool:
        generic = next((f"PREFIX_{variable.removeprefix(p)}" for p in prefixes
                        if variable.startswith(p)), variable)
        return f"`{variable}`" in doc or f"`{generic}`" in doc

    variables = {key for objects in rendered.values() for service in COMPONENTS
                 for key in config_env(objects, service)}
    assert sorted(v for v in variables if not documented(v)) == []


def test_production_authenticates_and_local_says_it_does_not(
        rendered: dict[str, list[Manifest]]) -> None:
    """docs/security.md: production verifies bearer tokens (and Prometheus gets one to scrape
    the gateway's /metrics); the base and the local overlay accept every caller, said
    explicitly — the gateway refuses to listen on 0.0.0.0 when nothing is said."""
    from gateway.__main__ import exposure_refusal

    production = read_config("gateway", config_env(rendered["production"], "gateway"))
    local = read_config("gateway", config_env(rendered["local"], "gateway"))
    assert production.auth.enabled and production.auth.jwks_url.startswith("https://")
    assert (local.auth.mode, exposure_refusal(local), exposure_refusal(production)) == (
        "none", None, None)
    http = next(e for e in named(rendered["production"], "ServiceMonitor", "cervixai")["spec"][
        "endpoints"] if e["port"] == "http")
    assert http["oauth2"]["scopes"] == ["cervixai.read"]
    assert http["oauth2"]["clientSecret"]["name"] == "cervixai-metrics-client"


# ------------------------------------------------------------------------- the DICOM listener


def pod_labels(objects: list[Manifest], service: str) -> dict[str, str]:
    labels: dict[str, str] = workload(objects, service)["spec"]["template"]["metadata"]["labels"]
    return labels


@pytest.mark.parametrize("overlay", OVERLAYS)
def test_listener_is_one_pod_with_its_spool_on_a_volume(rendered: dict[str, list[Manifest]],
                                                        overlay: str) -> None:
    objects = rendered[overlay]
    spec = workload(objects, "listener")["spec"]
    # One writer of one SQLite database on one ReadWriteOnce volume: never scaled.
    assert spec["replicas"] == 1
    assert not [h for h in of_kind(objects, "HorizontalPodAutoscaler")
                if h["spec"]["scaleTargetRef"]["name"] == "cervixai-listener"]
    assert "topologySpreadConstraints" not in spec["template"]["spec"]
    named(objects, "Service", spec["serviceName"])
    assert spec["persistentVolumeClaimRetentionPolicy"] == {"whenDeleted": "Retain",
                                                            "whenScaled": "Retain"}
    (claim,) = spec["volumeClaimTemplates"]
    assert claim["spec"]["accessModes"] == ["ReadWriteOnce"]
    assert claim["spec"]["resources"]["requests"]["storage"].endswith("Gi")
    container = main_container(objects, "listener")
    mount = next(m for m in container["volumeMounts"] if m["name"] == claim["metadata"]["name"])
    config = read_config("listener", config_env(objects, "listener"))
    assert str(config.spool) == mount["mountPath"] and not mount.get("readOnly")
    assert config.database.parent == config.spool   # listener.db on the volume too
    assert container["securityContext"]["readOnlyRootFilesystem"] is True
    assert spec["template"]["spec"]["securityContext"]["fsGroup"] == 10001  # volume writable
    ports = {p["name"]: p["containerPort"] for p in container["ports"]}
    ports.pop("health", None)   # production: the plaintext health-only port of the probes
    assert ports == LISTENER_PORTS
    for probe in ("startupProbe", "readinessProbe", "livenessProbe"):
        assert container[probe]["grpc"] == {"port": probe_port(objects, "listener")}, probe
    assert container["resources"]["limits"]["memory"] == "1Gi"


@pytest.mark.parametrize("overlay", OVERLAYS)
def test_listener_services_and_its_gateway(rendered: dict[str, list[Manifest]],
                                           overlay: str) -> None:
    objects = rendered[overlay]
    labels = pod_labels(objects, "listener")
    grpc = named(objects, "Service", "cervixai-listener")["spec"]
    dicom = named(objects, "Service", "cervixai-listener-dicom")["spec"]
    # One pod: a ClusterIP (not headless); the DICOM port in a Service of its own that a site
    # may turn into a LoadBalancer without exposing gRPC.
    assert grpc.get("type", "ClusterIP") == "ClusterIP" and grpc.get("clusterIP") != "None"
    assert {p["name"]: p["port"] for p in grpc["ports"]} == {
        k: v for k, v in LISTENER_PORTS.items() if k != "dicom"}
    assert {p["name"]: p["port"] for p in dicom["ports"]} == {"dicom": LISTENER_PORTS["dicom"]}
    assert all(selects({"matchLabels": s["selector"]}, labels) for s in (grpc, dicom))
    assert config_env(objects, "gateway")["CERVIXAI_LISTENER_ADDRESS"] == (
        f"cervixai-listener:{LISTENER_PORTS['grpc']}")
    gateway_grpc = {p["name"]: p["port"] for p in named(objects, "Service", "cervixai-gateway")[
        "spec"]["ports"]}["grpc"]
    config = read_config("listener", config_env(objects, "listener"))
    assert config.gateway_address == f"cervixai-gateway:{gateway_grpc}"
    assert config.destination is not None   # a placeholder, documented, patched per site


@pytest.mark.parametrize("overlay", OVERLAYS)
def test_listener_network_policy(rendered: dict[str, list[Manifest]], overlay: str) -> None:
    objects = rendered[overlay]
    gateway_labels, listener_labels = pod_labels(objects, "gateway"), pod_labels(objects,
                                                                                 "listener")
    spec = named(objects, "NetworkPolicy", "cervixai-listener")["spec"]
    assert selects(spec["podSelector"], listener_labels)
    assert set(spec["policyTypes"]) == {"Ingress", "Egress"}
    by_port = {rule["ports"][0]["port"]: rule["from"] for rule in spec["ingress"]}
    assert set(by_port) == set(LISTENER_PORTS)
    assert all(len(rule["ports"]) == 1 for rule in spec["ingress"])
    assert [set(peer) == {"podSelector"} and selects(peer["podSelector"], gateway_labels)
            for peer in by_port["grpc"]] == [True]
    (prometheus,) = by_port["metrics"]
    assert prometheus["podSelector"]["matchLabels"] == {"app.kubernetes.io/name": "prometheus"}
    assert by_port["dicom"] and all(set(peer) == {"ipBlock"} for peer in by_port["dicom"])
    # Egress: every rule names its peers and ports (nothing open to everything).
    assert all(rule.get("to") and rule.get("ports") for rule in spec["egress"])
    to_gateway = [rule for rule in spec["egress"]
                  if any(selects(p.get("podSelector", {}), gateway_labels) for p in rule["to"])]
    assert [{p["port"] for p in rule["ports"]} for rule in to_gateway] == [{gateway_grpc_port(
        objects)}]
    ports = {p["port"] for rule in spec["egress"] for p in rule["ports"]}
    assert {53, 104, 443} <= ports
    assert all(set(peer) == {"ipBlock"} for rule in spec["egress"]
               if {p["port"] for p in rule["ports"]} & {104, 443} for peer in rule["to"])
    # ... and the gateway may call the listener's gRPC port, on the listener's pods only.
    gateway = named(objects, "NetworkPolicy", "cervixai-gateway")["spec"]
    (to_listener,) = [rule for rule in gateway["egress"]
                      if any(selects(p.get("podSelector", {}), listener_labels)
                             for p in rule["to"])]
    assert [p["port"] for p in to_listener["ports"]] == [LISTENER_PORTS["grpc"]]
    assert not any(selects(p.get("podSelector", {}), gateway_labels) for p in to_listener["to"])


def gateway_grpc_port(objects: list[Manifest]) -> int:
    port: int = {p["name"]: p["containerPort"] for p in main_container(objects, "gateway")[
        "ports"]}["grpc"]
    return port


def test_production_listener_sends_its_token_to_the_gateway(
        rendered: dict[str, list[Manifest]]) -> None:
    objects = rendered["production"]
    config = read_config("listener", config_env(objects, "listener"))
    pod = workload(objects, "listener")["spec"]["template"]["spec"]
    (volume,) = [v for v in pod["volumes"]
                 if v.get("secret", {}).get("secretName") == "cervixai-listener-gateway-token"]
    mount = next(m for m in main_container(objects, "listener")["volumeMounts"]
                 if m["name"] == volume["name"])
    # The whole secret, no subPath: a renewed token reaches the file without a restart.
    assert mount["readOnly"] is True and "subPath" not in mount
    (item,) = volume["secret"]["items"]
    assert config.gateway_token_file is not None
    assert config.gateway_token_file.as_posix() == f"{mount['mountPath']}/{item['path']}"
    assert read_config("listener", config_env(rendered["local"], "listener")
                       ).gateway_token_file is None
