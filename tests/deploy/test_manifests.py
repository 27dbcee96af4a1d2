"""The Kubernetes manifests: every overlay renders, validates strictly against Kubernetes 1.29 and
the newest version kubernetes-validate knows, obeys the deployment policy, and agrees with the
services' own configuration."""

from __future__ import annotations

import copy
import importlib
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
# Prometheus Operator kinds: no schema in kubernetes-validate; test_monitoring_objects checks them.
CRD_KINDS = {"ServiceMonitor", "PrometheusRule"}
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


@pytest.mark.parametrize("overlay", OVERLAYS)
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


@pytest.mark.parametrize("overlay", OVERLAYS)
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
            assert container[probe]["grpc"] == {"port": port}, (service, probe)
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
    secret = next(v for v in pod["volumes"] if "secret" in v)
    assert secret["secret"]["secretName"] == "cervixai-gateway-tls"
    mount = next(m for m in pod["containers"][0]["volumeMounts"] if m["name"] == secret["name"])
    env = config_env(objects, "gateway")
    for variable in ("CERVIXAI_GATEWAY_TLS_CERT", "CERVIXAI_GATEWAY_TLS_KEY"):
        assert env[variable].startswith(mount["mountPath"] + "/")
    # TLS on the gateway's gRPC port would blind a kubelet gRPC probe: its probes are HTTP.
    assert all("httpGet" in pod["containers"][0][p]
               for p in ("startupProbe", "readinessProbe", "livenessProbe"))
    assert "CERVIXAI_GATEWAY_TLS_CERT" not in config_env(rendered["local"], "gateway")


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
    assert {p["name"]: p["containerPort"] for p in container["ports"]} == LISTENER_PORTS
    for probe in ("startupProbe", "readinessProbe", "livenessProbe"):
        assert container[probe]["grpc"] == {"port": LISTENER_PORTS["grpc"]}, probe
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
