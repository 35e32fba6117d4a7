"""The Kubernetes manifests (deploy/kubernetes/) of both include_scheduler answers, no cluster.

Every overlay is rendered with `kubectl kustomize` (kubectl's built-in kustomize; Debian's
`kubernetes-client`), and so is each overlay with the other autoscaling component swapped in. Core
resources are validated against the Kubernetes 1.32 OpenAPI schema shipped offline by
`kubernetes-validate` (strict: unknown fields fail), KEDA's objects against the CRD schemas of KEDA
v2.20.2 committed under tests/schemas/keda/. The rest asserts what the README promises: locked-down
containers, probes, grace periods, autoscaling that never stops every worker, Redis reachable only
from the app, and no secret in the repository. Skipped without kubectl, failed in CI.
"""

from __future__ import annotations

import re
import secrets
import shutil
import subprocess
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import jsonschema
import kubernetes_validate
import pytest
import yaml

from helpers import TEMPLATE_ROOT, bake, load_support

KUBERNETES_VERSION = "1.32"  # the API version the manifests target; Debian's kubectl is 1.32
KEDA_SCHEMAS = TEMPLATE_ROOT / "tests" / "schemas" / "keda"
KEDA_CRDS = {
    "ScaledObject": "keda.sh_scaledobjects.yaml",
    "TriggerAuthentication": "keda.sh_triggerauthentications.yaml",
}
SWAPS = {"dev": ("hpa", "keda"), "production": ("keda", "hpa")}
APP_COMPONENTS = ("web", "worker", "scheduler")
NAME_LABEL = "app.kubernetes.io/name"
KEDA_OPERATOR_PEER = {
    "namespaceSelector": {"matchLabels": {"kubernetes.io/metadata.name": "keda"}},
    "podSelector": {"matchLabels": {"app": "keda-operator"}},
}


@dataclass(frozen=True)
class Rendering:
    """One overlay of one bake, rendered: its resources and the project they came from."""

    project: Path
    overlay: str
    include_scheduler: str
    resources: list[dict[str, Any]]

    def of_kind(self, kind: str) -> list[dict[str, Any]]:
        return [resource for resource in self.resources if resource["kind"] == kind]

    def named(self, kind: str, name: str) -> dict[str, Any]:
        (found,) = [item for item in self.of_kind(kind) if item["metadata"]["name"] == name]
        return found

    def settings(self) -> dict[str, str]:
        (config_map,) = self.of_kind("ConfigMap")
        return config_map["data"]

    def secret_keys(self) -> set[str]:
        (secret,) = self.of_kind("Secret")
        return set(secret["data"])

    def pod_specs(self) -> dict[str, dict[str, Any]]:
        """Each workload's pod template by workload name (Deployments and StatefulSets)."""
        return {
            item["metadata"]["name"]: item["spec"]["template"]
            for item in self.resources
            if item["kind"] in ("Deployment", "StatefulSet")
        }

    def app_pods(self) -> dict[str, dict[str, Any]]:
        return {name: pod for name, pod in self.pod_specs().items() if name in APP_COMPONENTS}

    def __str__(self) -> str:
        return f"{self.overlay} (include_scheduler={self.include_scheduler})"


def kubectl() -> str:
    path = shutil.which("kubectl")
    if path is None:
        load_support("redis_server").skip_unless_ci(
            "kubectl is not installed (Debian: apt-get install kubernetes-client)"
        )
    assert path is not None
    return path


def kustomize(directory: Path) -> list[dict[str, Any]]:
    result = subprocess.run(
        [kubectl(), "kustomize", str(directory)],
        capture_output=True,
        text=True,
        timeout=60,
    )
    assert result.returncode == 0, f"kubectl kustomize {directory}:\n{result.stderr}"
    return [doc for doc in yaml.safe_load_all(result.stdout) if doc]


def write_secrets(overlay: Path) -> None:
    """What a user does before applying: secrets.env from the example, with a real password."""
    lines = []
    for line in (overlay / "secrets.env.example").read_text(encoding="utf-8").splitlines():
        if line.startswith("REDIS_PASSWORD="):
            line = f"REDIS_PASSWORD={secrets.token_urlsafe(16)}"
        lines.append(line)
    (overlay / "secrets.env").write_text("\n".join(lines) + "\n", encoding="utf-8")


def swapped(overlays: Path, name: str) -> Path:
    """A copy of overlay ``name`` using the other autoscaling component, as the README says."""
    used, other = SWAPS[name]
    copy = overlays / f"{name}-{other}"
    shutil.copytree(overlays / name, copy)
    kustomization = copy / "kustomization.yaml"
    text = kustomization.read_text(encoding="utf-8")
    assert f"../../components/{used}" in text
    kustomization.write_text(
        text.replace(f"../../components/{used}", f"../../components/{other}"), encoding="utf-8"
    )
    return copy


@pytest.fixture(scope="module")
def renderings(tmp_path_factory: pytest.TempPathFactory) -> list[Rendering]:
    kubectl()
    found = []
    for scheduler in ("yes", "no"):
        project = bake(
            tmp_path_factory.mktemp(f"k8s-scheduler-{scheduler}"), include_scheduler=scheduler
        )
        overlays = project / "deploy" / "kubernetes" / "overlays"
        for name in SWAPS:
            write_secrets(overlays / name)
        for name in SWAPS:
            for directory in (overlays / name, swapped(overlays, name)):
                found.append(Rendering(project, directory.name, scheduler, kustomize(directory)))
    return found


def containers(pod: dict[str, Any]) -> list[dict[str, Any]]:
    spec = pod["spec"]
    return spec["containers"] + spec.get("initContainers", [])


def test_every_overlay_renders_what_it_promises(renderings: list[Rendering]) -> None:
    for rendering in renderings:
        kinds = {resource["kind"] for resource in rendering.resources}
        expected = {"web", "worker"} | (
            {"scheduler"} if rendering.include_scheduler == "yes" else set()
        )
        deployments = {item["metadata"]["name"] for item in rendering.of_kind("Deployment")}
        assert deployments == expected, rendering
        assert {"ConfigMap", "Secret", "Service", "PodDisruptionBudget"} <= kinds, rendering
        in_cluster_redis = rendering.overlay.startswith("dev")
        assert ("StatefulSet" in kinds) == in_cluster_redis, rendering
        assert ("NetworkPolicy" in kinds) == in_cluster_redis, rendering
        uses_keda = rendering.overlay in ("dev-keda", "production")
        assert ("ScaledObject" in kinds) == uses_keda, rendering
        assert ("TriggerAuthentication" in kinds) == uses_keda, rendering
        assert ("HorizontalPodAutoscaler" in kinds) != uses_keda, rendering


def test_without_the_scheduler_no_manifest_mentions_it(renderings: list[Rendering]) -> None:
    for rendering in renderings:
        if rendering.include_scheduler == "no":
            base = rendering.project / "deploy" / "kubernetes" / "base"
            assert not (base / "scheduler.yaml").exists()
            assert "scheduler" not in (base / "kustomization.yaml").read_text(encoding="utf-8")


def test_core_resources_validate_against_the_kubernetes_schema(
    renderings: list[Rendering],
) -> None:
    for rendering in renderings:
        for resource in rendering.resources:
            if resource["apiVersion"].startswith("keda.sh/"):
                continue
            try:
                kubernetes_validate.validate(resource, KUBERNETES_VERSION, strict=True)
            except kubernetes_validate.ValidationError as error:
                pytest.fail(
                    f"{rendering}: {resource['kind']} {resource['metadata']['name']}: {error}"
                )


def keda_validator(kind: str) -> jsonschema.protocols.Validator:
    crd = yaml.safe_load((KEDA_SCHEMAS / KEDA_CRDS[kind]).read_text(encoding="utf-8"))
    (version,) = [item for item in crd["spec"]["versions"] if item["name"] == "v1alpha1"]
    schema = version["schema"]["openAPIV3Schema"]
    return jsonschema.Draft7Validator(schema)


def test_keda_objects_validate_against_keda_crd_schemas(renderings: list[Rendering]) -> None:
    validated = 0
    for rendering in renderings:
        for resource in rendering.resources:
            if resource["apiVersion"].startswith("keda.sh/"):
                assert resource["apiVersion"] == "keda.sh/v1alpha1"
                errors = list(keda_validator(resource["kind"]).iter_errors(resource))
                assert not errors, f"{rendering}: {[error.message for error in errors]}"
                validated += 1
    assert validated >= 2 * 2 * 2  # both KEDA objects, both KEDA overlays, both bakes


def test_the_validators_reject_a_broken_manifest(renderings: list[Rendering]) -> None:
    """The checks above can fail: an unknown field, or a field of the wrong type, is caught."""
    production = next(item for item in renderings if item.overlay == "production")
    deployment = production.named("Deployment", "worker")
    broken = {**deployment, "spec": {**deployment["spec"], "replica": 2}}
    with pytest.raises(kubernetes_validate.ValidationError):
        kubernetes_validate.validate(broken, KUBERNETES_VERSION, strict=True)
    scaled = production.named("ScaledObject", "worker")
    broken = {**scaled, "spec": {**scaled["spec"], "minReplicaCount": "one"}}
    assert list(keda_validator("ScaledObject").iter_errors(broken))


def dockerfile_user_and_workdir(project: Path) -> tuple[int, int, str]:
    text = (project / "Dockerfile").read_text(encoding="utf-8")
    user, group = re.findall(r"^USER (\d+):(\d+)$", text, re.MULTILINE)[-1]
    workdir = re.findall(r"^WORKDIR (\S+)$", text, re.MULTILINE)[-1]
    return int(user), int(group), workdir


def test_every_container_runs_locked_down(renderings: list[Rendering]) -> None:
    for rendering in renderings:
        user, group, _ = dockerfile_user_and_workdir(rendering.project)
        for name, pod in rendering.pod_specs().items():
            pod_context = pod["spec"].get("securityContext", {})
            assert pod["spec"]["automountServiceAccountToken"] is False, (rendering, name)
            for container in containers(pod):
                context = {**pod_context, **container.get("securityContext", {})}
                where = f"{rendering}: {name}/{container['name']}"
                assert context["runAsNonRoot"] is True, where
                assert context["runAsUser"] != 0, where
                if name in APP_COMPONENTS:
                    assert (context["runAsUser"], context["runAsGroup"]) == (user, group), where
                assert context["readOnlyRootFilesystem"] is True, where
                assert context["allowPrivilegeEscalation"] is False, where
                assert context["capabilities"]["drop"] == ["ALL"], where
                assert "add" not in context["capabilities"], where
                assert context["seccompProfile"] == {"type": "RuntimeDefault"}, where


def mounts(container: dict[str, Any]) -> set[str]:
    return {mount["mountPath"] for mount in container.get("volumeMounts", [])}


def test_app_containers_write_only_to_their_volumes(renderings: list[Rendering]) -> None:
    for rendering in renderings:
        _, _, workdir = dockerfile_user_and_workdir(rendering.project)
        storage = f"{workdir}/{rendering.settings()['STORAGE_PATH']}"
        for name, pod in rendering.app_pods().items():
            (container,) = containers(pod)
            assert "/tmp" in mounts(container), (rendering, name)
            assert (storage in mounts(container)) == (name == "worker"), (rendering, name)
            volumes = {volume["name"]: volume for volume in pod["spec"]["volumes"]}
            assert all("emptyDir" in volume for volume in volumes.values()), (rendering, name)


def probe_command(probe: dict[str, Any]) -> list[str]:
    return probe["exec"]["command"]


def test_web_and_workers_have_probes(renderings: list[Rendering]) -> None:
    for rendering in renderings:
        web_source = (rendering.project / "app" / "web.py").read_text(encoding="utf-8")
        (web,) = containers(rendering.app_pods()["web"])
        assert web["livenessProbe"]["httpGet"]["path"] == "/health"
        assert web["readinessProbe"]["httpGet"]["path"] == "/ready"
        for path in ("/health", "/ready"):
            assert f'@web.get("{path}"' in web_source, f"app/web.py has no {path} route"
        port = rendering.settings()["WEB_PORT"]
        assert [item["containerPort"] for item in web["ports"]] == [int(port)]
        (worker,) = containers(rendering.app_pods()["worker"])
        assert worker["command"] == ["python", "queues.py", "--check"]
        for kind in ("startupProbe", "livenessProbe", "readinessProbe"):
            assert probe_command(worker[kind]) == ["python", "queues.py", "health"], kind
            assert worker[kind]["timeoutSeconds"] >= 5, kind


def test_web_and_worker_pods_are_scraped_where_they_serve_metrics(
    renderings: list[Rendering],
) -> None:
    for rendering in renderings:
        assert rendering.settings()["METRICS_ENABLED"] == "true"
        pods = rendering.app_pods()
        (web,) = containers(pods["web"])
        (worker,) = containers(pods["worker"])
        worker_env = {item["name"]: item.get("value") for item in worker["env"]}
        served = {
            "web": str(web["ports"][0]["containerPort"]),
            "worker": worker_env["WORKER_METRICS_PORT"],
        }
        assert worker_env["WORKER_METRICS_HOST"] == "0.0.0.0"  # reachable from Prometheus
        assert [item["containerPort"] for item in worker["ports"]] == [int(served["worker"])]
        for name, port in served.items():
            annotations = pods[name]["metadata"]["annotations"]
            assert annotations["prometheus.io/scrape"] == "true", rendering
            assert annotations["prometheus.io/port"] == port, rendering
            assert annotations["prometheus.io/path"] == "/metrics", rendering


def test_worker_grace_period_outlasts_the_job_timeout(renderings: list[Rendering]) -> None:
    for rendering in renderings:
        job_timeout = int(rendering.settings()["JOB_TIMEOUT"])
        grace = rendering.app_pods()["worker"]["spec"]["terminationGracePeriodSeconds"]
        assert grace > job_timeout, rendering


def test_scheduler_is_one_replica_replaced_by_recreate(renderings: list[Rendering]) -> None:
    for rendering in renderings:
        if rendering.include_scheduler == "yes":
            scheduler = rendering.named("Deployment", "scheduler")
            assert scheduler["spec"]["replicas"] == 1
            assert scheduler["spec"]["strategy"] == {"type": "Recreate"}


def test_every_container_has_requests_and_limits(renderings: list[Rendering]) -> None:
    for rendering in renderings:
        for name, pod in rendering.pod_specs().items():
            for container in containers(pod):
                resources = container["resources"]
                for bound in ("requests", "limits"):
                    assert set(resources[bound]) >= {"cpu", "memory"}, (rendering, name, bound)


def test_autoscaling_never_stops_every_worker(renderings: list[Rendering]) -> None:
    for rendering in renderings:
        targets = []
        for scaled in rendering.of_kind("ScaledObject"):
            assert scaled["spec"]["minReplicaCount"] >= 1, rendering
            targets.append(scaled["spec"]["scaleTargetRef"]["name"])
        for hpa in rendering.of_kind("HorizontalPodAutoscaler"):
            assert hpa["spec"]["minReplicas"] >= 1, rendering
            targets.append(hpa["spec"]["scaleTargetRef"]["name"])
        assert targets == ["worker"], f"{rendering}: one autoscaler per worker Deployment"
        assert "replicas" not in rendering.named("Deployment", "worker")["spec"], rendering


def test_keda_triggers_follow_worker_queues_and_concurrency(renderings: list[Rendering]) -> None:
    for rendering in renderings:
        settings = rendering.settings()
        queues = {name.strip() for name in settings["WORKER_QUEUES"].split(",")}
        concurrency = int(settings["WORKER_CONCURRENCY"])
        for scaled in rendering.of_kind("ScaledObject"):
            triggers = scaled["spec"]["triggers"]
            assert {trigger["metadata"]["listName"] for trigger in triggers} == {
                f"rq:queue:{queue}" for queue in queues
            }, rendering
            for trigger in triggers:
                assert trigger["type"] == "redis"
                metadata = trigger["metadata"]
                # listLength = WORKER_CONCURRENCY x the backlog per slot (README, "Kubernetes")
                length = int(metadata["listLength"])
                assert length >= concurrency and length % concurrency == 0, rendering
                assert metadata["databaseIndex"] == settings.get("REDIS_DB", "0"), rendering
                auth = rendering.named(
                    "TriggerAuthentication", trigger["authenticationRef"]["name"]
                )
                (secret,) = rendering.of_kind("Secret")
                for reference in auth["spec"]["secretTargetRef"]:
                    assert reference["name"] == secret["metadata"]["name"], rendering
                    assert reference["key"] in rendering.secret_keys(), rendering


def test_pod_disruption_budget_selects_the_workers_only(renderings: list[Rendering]) -> None:
    for rendering in renderings:
        (budget,) = rendering.of_kind("PodDisruptionBudget")
        selector = budget["spec"]["selector"]["matchLabels"]
        selected = [
            name
            for name, pod in rendering.pod_specs().items()
            if selector.items() <= pod["metadata"]["labels"].items()
        ]
        assert selected == ["worker"], rendering
        assert budget["spec"]["maxUnavailable"] == 1


def test_only_the_app_pods_reach_redis(renderings: list[Rendering]) -> None:
    for rendering in renderings:
        if not rendering.overlay.startswith("dev"):
            continue
        pods = rendering.pod_specs()
        slug = pods["web"]["metadata"]["labels"][NAME_LABEL]
        labelled = {
            name for name, pod in pods.items() if pod["metadata"]["labels"].get(NAME_LABEL) == slug
        }
        assert labelled == set(rendering.app_pods()), rendering
        (policy,) = rendering.of_kind("NetworkPolicy")
        selector = policy["spec"]["podSelector"]["matchLabels"]
        assert selector.items() <= pods["redis"]["metadata"]["labels"].items()
        assert policy["spec"]["policyTypes"] == ["Ingress"]
        allowed = [{"podSelector": {"matchLabels": {NAME_LABEL: slug}}}]
        if rendering.overlay == "dev-keda":
            allowed.append(KEDA_OPERATOR_PEER)
        rules = policy["spec"]["ingress"]
        assert [peer for rule in rules for peer in rule["from"]] == allowed, rendering
        for rule in rules:
            assert rule["ports"] == [{"protocol": "TCP", "port": 6379}], rendering


def test_dev_redis_keeps_jobs_and_uses_the_secret(renderings: list[Rendering]) -> None:
    for rendering in renderings:
        if not rendering.overlay.startswith("dev"):
            continue
        redis = rendering.named("StatefulSet", "redis")
        (container,) = redis["spec"]["template"]["spec"]["containers"]
        command = " ".join(container["command"])
        for option in ("--appendonly yes", "--maxmemory-policy noeviction", "--dir /data"):
            assert option in command
        assert "--requirepass $(REDIS_PASSWORD)" in command
        (secret,) = rendering.of_kind("Secret")
        sources = {item["name"]: item["valueFrom"]["secretKeyRef"] for item in container["env"]}
        assert sources["REDIS_PASSWORD"] == {
            "name": secret["metadata"]["name"],
            "key": "REDIS_PASSWORD",
        }
        (claim,) = redis["spec"]["volumeClaimTemplates"]
        assert "/data" in {
            m["mountPath"]
            for m in container["volumeMounts"]
            if m["name"] == claim["metadata"]["name"]
        }
        assert rendering.settings()["REDIS_HOST"] == "redis"


def test_production_reaches_a_managed_redis_by_url(renderings: list[Rendering]) -> None:
    for rendering in renderings:
        if rendering.overlay.startswith("production"):
            assert "REDIS_HOST" not in rendering.settings()
            assert "REDIS_URL" in rendering.secret_keys()
            example = (
                rendering.project / "deploy/kubernetes/overlays/production/secrets.env.example"
            )
            assert "REDIS_URL=rediss://" in example.read_text(encoding="utf-8")
            for name, pod in rendering.app_pods().items():
                (container,) = containers(pod)
                keys = {
                    item["valueFrom"]["secretKeyRef"]["key"]
                    for item in container["env"]
                    if "secretKeyRef" in item.get("valueFrom", {})
                }
                assert "REDIS_URL" in keys, (rendering, name)


def test_no_secret_value_is_committed(renderings: list[Rendering]) -> None:
    kubernetes = TEMPLATE_ROOT / "{{cookiecutter.project_slug}}" / "deploy" / "kubernetes"
    assert not list(kubernetes.rglob("secrets.env")), "only secrets.env.example is committed"
    project = renderings[0].project
    deploy = project / "deploy" / "kubernetes"
    assert not [item for item in kustomize(deploy / "base") if item["kind"] == "Secret"]
    generated = []
    for kustomization in deploy.rglob("kustomization.yaml"):
        text = yaml.safe_load(kustomization.read_text(encoding="utf-8"))
        for generator in text.get("secretGenerator", []):
            assert set(generator) <= {"name", "envs", "files"}, f"{kustomization}: literals"
            generated += [kustomization.parent / name for name in generator.get("envs", [])]
    assert generated, "an overlay makes the Secret from a file"
    subprocess.run(["git", "init", "-q", str(project)], check=True, timeout=30)
    for path in generated:
        ignored = subprocess.run(
            ["git", "-C", str(project), "check-ignore", "-q", str(path.relative_to(project))],
            timeout=30,
        )
        assert ignored.returncode == 0, f"{path.relative_to(project)} is not in .gitignore"
    for example in deploy.rglob("secrets.env.example"):
        for line in example.read_text(encoding="utf-8").splitlines():
            if line.startswith("REDIS_PASSWORD="):
                assert line.partition("=")[2] in ("", "PASSWORD"), example


def env_example_variables(project: Path) -> set[str]:
    text = (project / ".env.example").read_text(encoding="utf-8")
    return set(re.findall(r"^([A-Z][A-Z0-9_]*)=", text, re.MULTILINE))


def config_variables(project: Path) -> set[str]:
    """The variables config/*.yaml reads (``${NAME:default}``): what the app can be told."""
    names: set[str] = set()
    for path in (project / "config").glob("*.yaml"):
        names |= set(re.findall(r"\$\{([A-Z][A-Z0-9_]*):", path.read_text(encoding="utf-8")))
    return names


def test_settings_are_variables_the_app_reads_and_the_checklist_lists(
    renderings: list[Rendering],
) -> None:
    for rendering in renderings:
        settings = set(rendering.settings())
        unread = settings - config_variables(rendering.project)
        assert not unread, f"{rendering}: no config/*.yaml reads {sorted(unread)}"
        unlisted = settings - env_example_variables(rendering.project)
        assert not unlisted, f"{rendering}: not in .env.example: {sorted(unlisted)}"
        assert rendering.settings()["QUEUE_CONNECTION"] == "redis"
