"""deploy/kubernetes: every kustomization rendered by `kubectl kustomize` (Debian's kubectl),
every rendered object validated offline against the Kubernetes JSON schemas
(kubernetes-validate, strict: unknown fields fail), and nas's invariants asserted on the
rendered objects: no password in any manifest, env value or argv; CPU request == limit ==
NAS_THREADS; a grace period past one generation plus the stop grace; `nas health` as the
liveness probe; non-root, read-only, capability-free pods.

No cluster runs here. What runs for real, on the test PostgreSQL: the dashboard wrapper
serving optuna-dashboard with its password from a file; a worker finishing a trial under
the worker pod's constraints (read-only root, uid 10001, no capabilities, no_new_privs,
only its emptyDirs writable, the password a 0440 root:10001 file as kubelet mounts it);
and the pgbouncer component's own ini and userlist script in a real pgbouncer."""
from __future__ import annotations

import base64
import configparser
import math
import os
import re
import shutil
import socket
import subprocess
import sys
import urllib.request
import uuid
from pathlib import Path

import kubernetes_validate
import pytest
import yaml

from nas.testing import PASSWORD, PASSWORD_USER, ROOT, SMALL, admin, nas, query, traversable, wait_until
from nas import __version__, defaults
from tests.system_packages import ensure

KUBE = ROOT / "deploy" / "kubernetes"
# Every kustomization (not the components: each is rendered through the overlays using it).
TARGETS = sorted(str(p.parent.relative_to(KUBE)) for p in KUBE.rglob("kustomization.yaml")
                 if yaml.safe_load(p.read_text())["kind"] == "Kustomization")
# The oldest minor the manifests promise (podFailurePolicy is GA from 1.31) and the newest
# whose schemas kubernetes-validate ships.
SCHEMA_VERSIONS = ("1.32.0", kubernetes_validate.latest_version())
WORKLOADS = ("Deployment", "StatefulSet", "Job", "DaemonSet", "ReplicaSet")
NAS_UID = 10001
PASSWORDISH = re.compile(r"PASS|SECRET|TOKEN|CREDENTIAL", re.I)
URL_WITH_PASSWORD = re.compile(r"\w[\w+.-]*://[^:/@\s'\"]+:[^@/\s'\"]+@")
SENTINEL = "k8s-sentinel-Zq7xW2pL9"


# --- rendering ----------------------------------------------------------------------------

@pytest.fixture(scope="module")
def kubectl() -> str:
    return ensure({"kubectl": "kubectl"})["kubectl"]


def render(kubectl: str, path: Path) -> list[dict]:
    out = subprocess.run([kubectl, "kustomize", str(path)], capture_output=True, text=True, timeout=60)
    assert out.returncode == 0, f"kubectl kustomize {path}: {out.stderr}"
    return [doc for doc in yaml.safe_load_all(out.stdout) if doc]


@pytest.fixture(scope="module")
def rendered(kubectl) -> dict[str, list[dict]]:
    return {target: render(kubectl, KUBE / target) for target in TARGETS}


@pytest.fixture(scope="module")
def applied(rendered) -> dict[str, list[dict]]:
    """What a namespace holds once a target is applied: a study Job goes next to the base."""
    return {t: objects + (rendered["base"] if t == "study" else []) for t, objects in rendered.items()}


def find(objects: list[dict], kind: str, name: str) -> dict:
    hits = [o for o in objects if o["kind"] == kind and o["metadata"]["name"] == name]
    assert len(hits) == 1, f"{kind}/{name}: {len(hits)} found"
    return hits[0]


def pods(objects: list[dict]):
    """(object, pod spec) for every workload."""
    for obj in objects:
        if obj["kind"] in WORKLOADS:
            yield obj, obj["spec"]["template"]["spec"]


def containers(spec: dict) -> list[dict]:
    return spec.get("initContainers", []) + spec["containers"]


def label(obj: dict) -> str:
    return f"{obj['kind']}/{obj['metadata']['name']}"


def parse_cpu(quantity) -> float:
    text = str(quantity)
    return int(text[:-1]) / 1000 if text.endswith("m") else float(text)


def configmaps(objects: list[dict]) -> dict[str, dict]:
    return {o["metadata"]["name"]: o.get("data", {}) for o in objects if o["kind"] == "ConfigMap"}


def env_value(entry: dict, container: dict, maps: dict[str, dict]):
    """What an env entry resolves to in the pod (resourceFieldRef as kubelet computes it)."""
    if "value" in entry:
        return entry["value"]
    ref = entry["valueFrom"]
    if "configMapKeyRef" in ref:
        return maps[ref["configMapKeyRef"]["name"]][ref["configMapKeyRef"]["key"]]
    if "resourceFieldRef" in ref:
        field = ref["resourceFieldRef"]
        assert field.get("containerName", container["name"]) == container["name"]
        group, resource = field["resource"].split(".")
        amount = parse_cpu(container["resources"][group][resource])
        return str(math.ceil(amount / parse_cpu(field.get("divisor", "1"))))
    raise AssertionError(f"unexpected env source {ref}")


def environment(container: dict, maps: dict[str, dict]) -> dict[str, str]:
    env = {}
    for source in container.get("envFrom", []):
        env.update(maps[source["configMapRef"]["name"]])
    env.update({e["name"]: env_value(e, container, maps) for e in container.get("env", [])})
    return env


def is_worker(container: dict) -> bool:
    return container.get("args", [None])[0] == "worker"


def nas_containers(objects: list[dict]):
    """(object, pod spec, container) for every container running the nas image."""
    for obj, spec in pods(objects):
        for c in containers(spec):
            if c["image"].split("/")[-1].split(":")[0] in ("nas", "nas-dashboard"):
                yield obj, spec, c


# --- the checks, as functions, so the negative tests below can prove they bite ------------

def secret_problems(objects: list[dict], sentinels: tuple[str, ...] = ()) -> list[str]:
    """Every way a password could reach a manifest, an env value or an argv."""
    problems = []
    for obj in objects:
        if obj["kind"] == "Secret":
            if obj.get("stringData"):
                problems.append(f"{label(obj)}: stringData is a literal password in the manifest")
            continue
        text = yaml.safe_dump(obj)
        if URL_WITH_PASSWORD.search(text):
            problems.append(f"{label(obj)}: a URL with a password")
        for value in sentinels:
            for form in (value, base64.b64encode(value.encode()).decode()):
                if form in text:
                    problems.append(f"{label(obj)}: holds the Secret's value")
    for obj, spec in pods(objects):
        secret_volumes = {v["name"] for v in spec.get("volumes", []) if "secret" in v}
        for c in containers(spec):
            secret_dirs = [m["mountPath"] for m in c.get("volumeMounts", []) if m["name"] in secret_volumes]
            where = f"{label(obj)} container {c['name']}"
            for source in c.get("envFrom", []):
                if "secretRef" in source:
                    problems.append(f"{where}: envFrom a Secret puts passwords in the environment")
            for entry in c.get("env", []):
                name = entry["name"]
                if "secretKeyRef" in entry.get("valueFrom", {}):
                    problems.append(f"{where}: env {name} takes a Secret's value")
                elif PASSWORDISH.search(name):
                    path = entry.get("value", "")
                    if not name.endswith("_FILE"):
                        problems.append(f"{where}: env {name} carries a secret value")
                    elif not any(path.startswith(d.rstrip("/") + "/") for d in secret_dirs):
                        problems.append(f"{where}: env {name}={path} is not in a mounted Secret")
    return problems


def thread_problems(objects: list[dict]) -> list[str]:
    """Worker containers: whole-core CPU request == limit == NAS_THREADS (and torch's pools)."""
    problems, maps = [], configmaps(objects)
    for obj, spec, c in nas_containers(objects):
        if not is_worker(c):
            continue
        where = f"{label(obj)} container {c['name']}"
        resources = c.get("resources", {})
        request = resources.get("requests", {}).get("cpu")
        limit = resources.get("limits", {}).get("cpu")
        if request is None or limit is None or parse_cpu(request) != parse_cpu(limit):
            problems.append(f"{where}: cpu request {request} != limit {limit}")
            continue
        if parse_cpu(limit) != int(parse_cpu(limit)):
            problems.append(f"{where}: cpu limit {limit} is not whole cores")
        env = environment(c, maps)
        for name in (defaults.ENV_THREADS, *defaults.TORCH_POOL_ENV):
            if env.get(name) != str(int(parse_cpu(limit))):
                problems.append(f"{where}: {name}={env.get(name)} but cpu limit {limit}")
    return problems


# --- schema validation ----------------------------------------------------------------------

@pytest.fixture
def offline(monkeypatch):
    """Schema validation must not reach the network (the schemas ship in the package)."""
    def refuse(*args, **kwargs):
        raise OSError("network disabled in this test")
    monkeypatch.setattr(socket.socket, "connect", refuse)
    monkeypatch.setattr(socket, "getaddrinfo", refuse)


def test_every_kustomization_is_found():
    assert {"base", "study", "overlays/in-cluster-postgres", "overlays/in-cluster-postgres-pgbouncer",
            "overlays/managed-database"} <= set(TARGETS)
    used = set()
    for target in TARGETS:
        spec = yaml.safe_load((KUBE / target / "kustomization.yaml").read_text())
        used |= {(KUBE / target / c).resolve() for c in spec.get("components", [])}
    components = {p.parent.resolve() for p in KUBE.glob("components/*/kustomization.yaml")}
    assert components and components <= used, "a component no overlay renders is never tested"


@pytest.mark.parametrize("version", SCHEMA_VERSIONS)
@pytest.mark.parametrize("target", TARGETS)
def test_rendered_objects_pass_the_kubernetes_schemas(rendered, target, version, offline):
    objects = rendered[target]
    assert objects
    for obj in objects:
        try:
            kubernetes_validate.validate(obj, version, strict=True)
        except kubernetes_validate.ValidationError as exc:
            pytest.fail(f"{target} {label(obj)} against Kubernetes {version}: {exc}")


def test_schema_validation_rejects_a_broken_object(rendered, offline):
    worker = yaml.safe_load(yaml.safe_dump(find(rendered["base"], "Deployment", "nas-worker")))
    worker["spec"]["template"]["spec"]["containers"][0]["resources"]["limts"] = {"cpu": "5"}
    with pytest.raises(kubernetes_validate.ValidationError):
        kubernetes_validate.validate(worker, SCHEMA_VERSIONS[0], strict=True)


# --- invariants on the rendered objects ----------------------------------------------------

@pytest.mark.parametrize("target", TARGETS)
def test_no_password_in_manifests_env_or_argv(rendered, target):
    objects = rendered[target]
    assert secret_problems(objects) == []
    assert not [o for o in objects if o["kind"] == "Secret"], "the operator creates Secret nas-db"
    for obj, spec in pods(objects):
        for volume in spec.get("volumes", []):
            if "secret" in volume:
                assert volume["secret"]["secretName"] == "nas-db", label(obj)
                assert volume["secret"]["items"] == [{"key": "password", "path": "password"}]
                assert volume["secret"]["defaultMode"] & 0o007 == 0, "not world-readable"


@pytest.mark.parametrize("target", TARGETS)
def test_cpu_request_equals_limit_equals_threads(applied, target):
    assert thread_problems(applied[target]) == []


@pytest.mark.parametrize("target", TARGETS)
def test_workers_stop_gracefully_and_probe_nas_health(applied, target):
    workers = [(o, s, c) for o, s, c in nas_containers(applied[target]) if is_worker(c)]
    assert workers, "every kustomization here runs workers"
    for obj, spec, c in workers:
        # the stop grace is one generation plus round trips: SIGKILL must wait for one more
        assert spec["terminationGracePeriodSeconds"] > 2 * defaults.STOP_GRACE, label(obj)
        live, start = c["livenessProbe"]["exec"]["command"], c["startupProbe"]["exec"]["command"]
        assert live[:2] == ["nas", "health"] and start[:2] == ["nas", "health"]
        # a worker riding out a database outage keeps its trial: liveness must not kill it first
        assert float(live[live.index("--max-age") + 1]) >= defaults.db_retry_seconds()
        env = environment(c, configmaps(applied[target]))
        writable = [m["mountPath"] for m in c["volumeMounts"] if m["name"] in
                    {v["name"] for v in spec["volumes"] if "emptyDir" in v}]
        for path in (env[defaults.ENV_HEALTH_FILE], env[defaults.ENV_HOME]):
            assert any(path.startswith(d + "/") for d in writable), f"{path} not writable"


@pytest.mark.parametrize("target", TARGETS)
def test_every_pod_is_non_root_read_only_and_capability_free(rendered, target):
    uid = int(re.search(r"useradd .*--uid (\d+)", (ROOT / "Dockerfile").read_text()).group(1))
    assert uid == NAS_UID
    for obj, spec in pods(rendered[target]):
        pod = spec["securityContext"]
        assert pod["runAsNonRoot"] is True and pod["runAsUser"] > 0 and pod["runAsGroup"] > 0, label(obj)
        assert pod["seccompProfile"] == {"type": "RuntimeDefault"}
        assert spec["automountServiceAccountToken"] is False
        for c in containers(spec):
            sc = c["securityContext"]
            assert sc["allowPrivilegeEscalation"] is False, (label(obj), c["name"])
            assert sc["capabilities"] == {"drop": ["ALL"]}
            assert sc["readOnlyRootFilesystem"] is True
            assert not sc.get("privileged") and sc.get("runAsUser", 1) != 0
    for obj, spec, c in nas_containers(rendered[target]):
        assert spec["securityContext"]["runAsUser"] == NAS_UID, label(obj)


@pytest.mark.parametrize("target", TARGETS)
def test_images_are_pinned_and_nas_images_follow_the_version(rendered, target):
    for obj, spec in pods(rendered[target]):
        for c in containers(spec):
            name, _, tag = c["image"].rpartition(":")
            assert name and tag and tag != "latest" and "/" not in tag, c["image"]
    for obj, spec, c in nas_containers(rendered[target]):
        assert c["image"].endswith(f":{__version__}"), c["image"]


@pytest.mark.parametrize("target", TARGETS)
def test_references_resolve(applied, target):
    """Selectors match pods, $(VARS) in args are defined, config and keys exist: the
    mistakes a schema cannot see and an API server would only show at run time."""
    objects = applied[target]
    maps = configmaps(objects)
    for obj in objects:
        if obj["kind"] in WORKLOADS and obj["kind"] != "Job":
            selector = obj["spec"]["selector"]["matchLabels"]
            assert selector.items() <= obj["spec"]["template"]["metadata"]["labels"].items()
        if obj["kind"] == "Service":
            ports = [p for o, s in pods(objects) for c in s["containers"] for p in c.get("ports", [])
                     if obj["spec"]["selector"].items() <= o["spec"]["template"]["metadata"]["labels"].items()]
            assert ports, f"{label(obj)} selects no pod"
            for port in obj["spec"]["ports"]:
                assert port["targetPort"] in {p["name"] for p in ports} | {p["containerPort"] for p in ports}
    for obj, spec in pods(objects):
        for volume in spec.get("volumes", []):
            if "configMap" in volume:
                assert volume["configMap"]["name"] in maps, label(obj)
        for c in containers(spec):
            env = environment(c, maps)  # KeyError: a ConfigMap or key that is not there
            for word in c.get("command", []) + c.get("args", []):
                for var in re.findall(r"\$\((\w+)\)", word):
                    assert var in env, f"{label(obj)} {c['name']}: $({var}) is never defined"


def test_scaling_story_is_one_deployment_named_nas_worker(rendered):
    for target in TARGETS:
        kinds = {o["kind"] for o in rendered[target]}
        assert "HorizontalPodAutoscaler" not in kinds, "an HPA would undo kubectl scale"
    for target in ("base", *[t for t in TARGETS if t.startswith("overlays/")]):
        worker = find(rendered[target], "Deployment", "nas-worker")
        assert worker["spec"]["replicas"] >= 1
        assert worker["spec"]["template"]["spec"]["containers"][0]["args"] == ["worker", "--serve"]
        assert worker["spec"]["strategy"]["rollingUpdate"]["maxSurge"] == 0


def test_migrate_job_and_dashboard_go_direct(rendered):
    for target in [t for t in TARGETS if t != "study"]:
        objects = rendered[target]
        migrate = find(objects, "Job", "nas-migrate")["spec"]["template"]["spec"]["containers"][0]
        assert migrate["args"] == ["db", "upgrade"]
        dashboard = find(objects, "Deployment", "nas-dashboard")["spec"]["template"]["spec"]
        maps = configmaps(objects)
        for c in (migrate, dashboard["containers"][0]):
            assert environment(c, maps)[defaults.ENV_URL] == maps["nas-config"]["database-url"]
        wrapper = next(v for v in dashboard["volumes"] if "configMap" in v)["configMap"]["name"]
        assert maps[wrapper]["dashboard.py"] == (KUBE / "base" / "dashboard.py").read_text()
        assert dashboard["containers"][0]["command"] == ["python", "/opt/nas-dashboard/dashboard.py"]


def test_study_job_runs_one_study_to_its_end(applied):
    objects = applied["study"]
    job = find(objects, "Job", "nas-study")
    spec = job["spec"]["template"]["spec"]
    assert job["spec"]["parallelism"] >= 2 and "completions" not in job["spec"]
    assert spec["restartPolicy"] == "Never"
    maps = configmaps(objects)
    worker, = spec["containers"]
    assert worker["args"] == ["worker", "--study", "$(STUDY_NAME)"]
    create, = spec["initContainers"]
    env = environment(create, maps)
    args = [re.sub(r"\$\((\w+)\)", lambda m: env[m.group(1)], a) for a in create["args"]]
    assert args[:3] == ["study", "create", environment(worker, maps)["STUDY_NAME"]]
    assert env[defaults.ENV_URL] == maps["nas-config"]["database-url"]
    assert environment(worker, maps)[defaults.ENV_URL] == maps["nas-config"]["worker-database-url"]


def test_study_spec_flags_are_ones_nas_accepts(applied):
    """The create-study args, resolved, are a valid `nas study create` command line."""
    from nas.cli.study import study

    objects = applied["study"]
    create, = find(objects, "Job", "nas-study")["spec"]["template"]["spec"]["initContainers"]
    env = environment(create, configmaps(objects))
    args = [re.sub(r"\$\((\w+)\)", lambda m: env[m.group(1)], a) for a in create["args"]]
    assert args[:2] == ["study", "create"]
    parsed = study.commands["create"].make_context("create", args[2:])  # click.BadParameter if not
    expected = {"name": env["STUDY_NAME"], "mode": env["STUDY_MODE"], "task": env["STUDY_TASK"],
                "budget": int(env["STUDY_TRIALS"]), "generations": int(env["STUDY_GENERATIONS"]),
                "seeds": int(env["STUDY_SEEDS"]), "population": int(env["STUDY_POPULATION"])}
    assert {k: parsed.params[k] for k in expected} == expected


def test_postgres_overlay_takes_its_password_from_the_same_secret(rendered):
    objects = rendered["overlays/in-cluster-postgres"]
    db = find(objects, "StatefulSet", "nas-db")
    spec = db["spec"]["template"]["spec"]
    env = {e["name"]: e.get("value") for e in spec["containers"][0]["env"]}
    assert "POSTGRES_PASSWORD" not in env
    assert env["POSTGRES_PASSWORD_FILE"] == "/run/secrets/nas-db/password"
    mount = next(m for m in spec["containers"][0]["volumeMounts"] if m["name"] == "data")
    assert env["PGDATA"].startswith(mount["mountPath"] + "/")
    assert [t["metadata"]["name"] for t in db["spec"]["volumeClaimTemplates"]] == ["data"]
    service = find(objects, "Service", db["spec"]["serviceName"])
    assert service["spec"]["clusterIP"] == "None"
    assert "@nas-db:5432/" in configmaps(objects)["nas-config"]["database-url"]


def test_pgbouncer_overlay_pools_workers_only(rendered):
    objects = rendered["overlays/in-cluster-postgres-pgbouncer"]
    maps = configmaps(objects)
    assert "@nas-pgbouncer:5432/" in maps["nas-config"]["worker-database-url"]
    assert "@nas-db:5432/" in maps["nas-config"]["database-url"]
    bouncer = find(objects, "Deployment", "nas-pgbouncer")["spec"]["template"]["spec"]
    config_map = next(v["configMap"]["name"] for v in bouncer["volumes"] if "configMap" in v)
    ini = configparser.ConfigParser(inline_comment_prefixes=None, interpolation=None)
    ini.read_string(maps[config_map]["pgbouncer.ini"])
    assert ini["pgbouncer"]["pool_mode"] == "transaction"
    assert "host=nas-db" in ini["databases"]["nas"]
    auth_dir = next(m["mountPath"] for m in bouncer["containers"][0]["volumeMounts"] if m["name"] == "auth")
    assert ini["pgbouncer"]["auth_file"].startswith(auth_dir + "/")
    assert "auth" in {m["name"] for m in bouncer["initContainers"][0]["volumeMounts"]}
    assert next(v for v in bouncer["volumes"] if v["name"] == "auth")["emptyDir"]["medium"] == "Memory"
    find(objects, "Service", "nas-pgbouncer")


# --- the checks bite: doctored copies of the tree --------------------------------------------

def doctored(tmp_path: Path, kustomization: dict, files: dict[str, str] | None = None) -> Path:
    """A copy of deploy/kubernetes with one more overlay, `overlays/doctored`."""
    tree = tmp_path / "kubernetes"
    shutil.copytree(KUBE, tree)
    overlay = tree / "overlays" / "doctored"
    overlay.mkdir()
    (overlay / "kustomization.yaml").write_text(yaml.safe_dump(
        {"apiVersion": "kustomize.config.k8s.io/v1beta1", "kind": "Kustomization", **kustomization}))
    for name, text in (files or {}).items():
        (overlay / name).write_text(text)
    return overlay


def worker_patch(*ops: dict) -> dict:
    return {"target": {"kind": "Deployment", "name": "nas-worker"}, "patch": yaml.safe_dump(list(ops))}


ENV = "/spec/template/spec/containers/0/env/-"


@pytest.mark.parametrize("case, patch, expected", [
    ("password as an env value",
     worker_patch({"op": "add", "path": ENV, "value": {"name": "NAS_DATABASE_PASSWORD", "value": SENTINEL}}),
     "env NAS_DATABASE_PASSWORD carries a secret value"),
    ("password from secretKeyRef (an env value at run time)",
     worker_patch({"op": "add", "path": ENV, "value": {"name": "PGPASSWORD", "valueFrom": {
         "secretKeyRef": {"name": "nas-db", "key": "password"}}}}),
     "env PGPASSWORD takes a Secret's value"),
    ("password file outside the Secret mount",
     worker_patch({"op": "add", "path": ENV, "value": {"name": "NAS_DATABASE_PASSWORD_FILE",
                                                       "value": "/home/nas/pw"}}),
     "is not in a mounted Secret"),
    ("password inside the URL",
     worker_patch({"op": "add", "path": ENV, "value": {
         "name": "NAS_DATABASE_URL", "value": f"postgresql://nas_owner:{SENTINEL}@nas-db:5432/nas"}}),
     "a URL with a password"),
])
def test_secret_check_catches_a_doctored_copy(kubectl, tmp_path, case, patch, expected):
    overlay = doctored(tmp_path, {"resources": ["../../base"], "patches": [patch]})
    problems = secret_problems(render(kubectl, overlay), (SENTINEL,))
    assert any(expected in p for p in problems), (case, problems)


def test_thread_check_catches_a_doctored_copy(kubectl, tmp_path):
    overlay = doctored(tmp_path, {"resources": ["../../base"], "patches": [worker_patch(
        {"op": "replace", "path": "/spec/template/spec/containers/0/resources/requests/cpu", "value": "4"})]})
    assert any("cpu request 4 != limit 5" in p for p in thread_problems(render(kubectl, overlay)))


def test_secret_generated_from_a_file_stays_in_the_secret(kubectl, tmp_path):
    """An operator who keeps the password in a file next to an overlay (secretGenerator)
    gets a Secret every pod references by its generated name, and the value appears in no
    other object, plain or base64."""
    overlay = doctored(tmp_path, {
        "resources": ["../in-cluster-postgres-pgbouncer"],
        "secretGenerator": [{"name": "nas-db", "files": ["password=db_password"]}],
    }, {"db_password": SENTINEL})
    objects = render(kubectl, overlay)
    secret, = [o for o in objects if o["kind"] == "Secret"]
    assert base64.b64decode(secret["data"]["password"]).decode() == SENTINEL
    assert secret_problems(objects, (SENTINEL,)) == []
    names = {v["secret"]["secretName"] for _, s in pods(objects) for v in s["volumes"] if "secret" in v}
    assert names == {secret["metadata"]["name"]}
    assert len([o for o, s in pods(objects) if any("secret" in v for v in s["volumes"])]) == 5


# --- what runs for real ------------------------------------------------------------------------

@pytest.fixture
def owned_db(pg) -> str:
    """A database owned by the password-authenticated role, and that password in a file
    readable the way kubelet mounts a Secret for fsGroup 10001: root:10001, 0440."""
    name = "k8s_" + uuid.uuid4().hex[:10]
    admin(pg, f'CREATE DATABASE "{name}" OWNER {PASSWORD_USER}')
    return f"postgresql://{PASSWORD_USER}@127.0.0.1:{pg.port}/{name}"


def password_file(directory: Path) -> Path:
    directory.mkdir(parents=True)
    path = directory / "password"
    path.write_text(PASSWORD + "\n")
    if os.geteuid() == 0:
        os.chown(path, 0, NAS_UID)
    os.chmod(path, 0o440)
    return path


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def test_dashboard_wrapper_serves_without_the_password_on_argv_or_env(owned_db, tmp_path, nas_env):
    url = owned_db
    secret = password_file(tmp_path / "secret")
    env = {**nas_env, defaults.ENV_URL: url, defaults.ENV_PASSWORD_FILE: str(secret)}
    nas("study", "create", "k8s-dash", *SMALL, "-n", "2", env=env, check=True)
    port = free_port()
    env.update(NAS_DASHBOARD_HOST="127.0.0.1", NAS_DASHBOARD_PORT=str(port))
    proc = subprocess.Popen([sys.executable, str(KUBE / "base" / "dashboard.py")], env=env,
                            stdout=subprocess.PIPE, stderr=subprocess.STDOUT, cwd=tmp_path)
    try:
        def studies():
            try:
                with urllib.request.urlopen(f"http://127.0.0.1:{port}/api/studies", timeout=5) as r:
                    return r.status == 200 and r.read().decode()
            except OSError:
                assert proc.poll() is None, proc.stdout.read().decode()
                return None
        assert "k8s-dash" in wait_until(studies, timeout=60, what="optuna-dashboard to answer")
        exposed = Path(f"/proc/{proc.pid}/cmdline").read_bytes() + Path(f"/proc/{proc.pid}/environ").read_bytes()
        assert PASSWORD.encode() not in exposed
    finally:
        proc.terminate()
        output = proc.communicate(timeout=30)[0].decode()
    assert PASSWORD not in output and f"{PASSWORD_USER}:***@" in output


def test_dashboard_wrapper_fails_in_one_line_without_its_password(owned_db, tmp_path, nas_env):
    url = owned_db
    env = {**nas_env, defaults.ENV_URL: url, defaults.ENV_PASSWORD_FILE: str(tmp_path / "missing")}
    out = subprocess.run([sys.executable, str(KUBE / "base" / "dashboard.py")], env=env,
                         capture_output=True, text=True, timeout=60)
    assert out.returncode != 0 and "Traceback" not in out.stderr
    assert out.stderr.strip().splitlines() == [f"error: cannot read {defaults.ENV_PASSWORD_FILE} "
                                               f"{tmp_path / 'missing'}: No such file or directory"]


def baked_kernels(base: Path) -> Path:
    """A read-only copy of the compiled kernels, as the image bakes them (the worker copies
    it into its emptyDir instead of compiling for a minute)."""
    from nas.evolution.kernels import _numba

    current = Path(_numba.numba.config.CACHE_DIR)
    baked = base / "image-kernels"
    shutil.copytree(current, baked / current.name, ignore=shutil.ignore_patterns("*.lock"))
    for path in [baked, *baked.rglob("*")]:
        os.chmod(path, 0o755 if path.is_dir() else 0o644)
    return baked


def test_worker_runs_under_the_pod_security_context(owned_db, tmp_path, nas_env):
    """The worker pod's constraints, reproduced with a mount namespace and setpriv: the root
    filesystem read-only, only an emptyDir-like tmpfs writable (NAS_HOME, HOME, TMPDIR,
    the health file), uid/gid 10001 with no capabilities and no_new_privs, the password a
    root:10001 0440 file. A trial must finish and `nas health` must pass."""
    if os.geteuid() != 0 or not (shutil.which("unshare") and shutil.which("setpriv")):
        pytest.skip("needs root with unshare and setpriv (util-linux)")
    if subprocess.run(["unshare", "--mount", "true"], capture_output=True).returncode != 0:
        pytest.skip("mount namespaces are not allowed here (unshare --mount)")
    url = owned_db
    base = traversable(tmp_path)
    secret = password_file(base / "secret")
    env = {**nas_env, defaults.ENV_URL: url, defaults.ENV_PASSWORD_FILE: str(secret)}
    nas("study", "create", "k8s-ro", *SMALL, "-n", "1", env=env, check=True)
    scratch = base / "emptydir"
    scratch.mkdir()
    env.update({"HOME": f"{scratch}/home", defaults.ENV_HOME: f"{scratch}/home/.nas", "TMPDIR": str(scratch),
                defaults.ENV_HEALTH_FILE: f"{scratch}/nas-worker.alive", "PYTHONDONTWRITEBYTECODE": "1",
                defaults.ENV_THREADS: "1", defaults.ENV_KERNEL_CACHE_IMAGE: str(baked_kernels(base))})
    as_pod = ("setpriv --reuid=10001 --regid=10001 --clear-groups --inh-caps=-all "
              "--bounding-set=-all --no-new-privs --")
    script = (f"set -e; mount -o remount,bind,ro /; mount -t tmpfs -o mode=1777,size=256m emptydir {scratch}; "
              f"if touch {ROOT}/.nas-probe 2>/dev/null; then echo root filesystem writable; exit 9; fi; "
              f"mkdir -m 700 {scratch}/home; chown 10001:10001 {scratch}/home; "
              f"{as_pod} {sys.executable} -m nas worker --max-trials 1; "
              f"{as_pod} {sys.executable} -m nas health --max-age 600")
    out = subprocess.run(["unshare", "--mount", "--propagation", "private", "sh", "-c", script],
                         env=env, capture_output=True, text=True, timeout=300, cwd=ROOT)
    assert out.returncode == 0, out.stdout + out.stderr
    assert out.stdout.strip().endswith("healthy")
    assert PASSWORD not in out.stdout + out.stderr
    done = query(url.replace(f"{PASSWORD_USER}@", f"{PASSWORD_USER}:{PASSWORD}@"),
                 "SELECT count(*) FROM trials JOIN studies USING (study_id) "
                 "WHERE study_name = 'k8s-ro' AND state = 'COMPLETE'")
    assert done == [(1,)]


def test_pgbouncer_component_config_works_with_a_real_pgbouncer(applied, owned_db, tmp_path, nas_env):
    """The component's own pgbouncer.ini and userlist script, with only the addresses and
    paths of this machine swapped in, in front of the test PostgreSQL: a worker finishes a
    trial through it, and the settings nas asks for at connect are in force on the server.
    (Debian's pgbouncer here is 1.18; the component's image carries 1.25: every setting
    used is in both.)"""
    binary = ensure({"pgbouncer": "pgbouncer"})["pgbouncer"]
    objects = applied["overlays/in-cluster-postgres-pgbouncer"]
    bouncer = find(objects, "Deployment", "nas-pgbouncer")["spec"]["template"]["spec"]
    ini_map = next(v["configMap"]["name"] for v in bouncer["volumes"] if "configMap" in v)
    ini, script = configmaps(objects)[ini_map]["pgbouncer.ini"], bouncer["initContainers"][0]["command"][2]
    url = owned_db
    pg_port, dbname = int(url.rsplit(":", 1)[1].split("/")[0]), url.rsplit("/", 1)[1]
    work = traversable(tmp_path) / "bouncer"
    work.mkdir()
    secret = password_file(tmp_path / "secret")

    def userlist(password_path: Path) -> str:
        run = script.replace("/run/secrets/nas-db/password", str(password_path)) \
                    .replace("/etc/pgbouncer-auth", str(work)).replace('"nas_owner"', f'"{PASSWORD_USER}"')
        subprocess.run(["sh", "-c", run], check=True, timeout=30)
        return (work / "userlist.txt").read_text()

    tricky = tmp_path / "tricky"
    tricky.write_text('a"b c\n')
    assert userlist(tricky) == f'"{PASSWORD_USER}" "a""b c"\n'  # the auth_file format's quoting
    assert userlist(secret) == f'"{PASSWORD_USER}" "{PASSWORD}"\n'
    assert (work / "userlist.txt").stat().st_mode & 0o077 == 0
    port = free_port()
    local = (ini.replace("host=nas-db port=5432 dbname=nas", f"host=127.0.0.1 port={pg_port} dbname={dbname}")
                .replace("listen_addr = 0.0.0.0", "listen_addr = 127.0.0.1")
                .replace("listen_port = 5432", f"listen_port = {port}")
                .replace("/etc/pgbouncer-auth", str(work)))
    assert local.count(str(work)) == 1 and f"port={pg_port}" in local
    (work / "pgbouncer.ini").write_text(local)
    command = [binary, str(work / "pgbouncer.ini")]
    if os.geteuid() == 0:  # pgbouncer refuses to run as root, as the pod does (uid 70)
        shutil.chown(work, "nobody")
        shutil.chown(work / "userlist.txt", "nobody")
        command = ["setpriv", "--reuid=nobody", "--regid=nogroup", "--clear-groups", *command]
    proc = subprocess.Popen(command, stdout=subprocess.PIPE, stderr=subprocess.STDOUT)
    try:
        def listening():
            assert proc.poll() is None, proc.stdout.read().decode()
            with socket.socket() as s:
                return s.connect_ex(("127.0.0.1", port)) == 0
        wait_until(listening, timeout=30, what="pgbouncer to listen")
        env = {**nas_env, defaults.ENV_URL: url, defaults.ENV_PASSWORD_FILE: str(secret)}
        nas("study", "create", "k8s-pgb", *SMALL, "-n", "1", env=env, check=True)  # direct, as the Job's init
        pooled = f"postgresql://{PASSWORD_USER}@127.0.0.1:{port}/nas"
        nas("worker", "--max-trials", "1", "--threads", "1", env={**env, defaults.ENV_URL: pooled}, check=True)
        settings = query(pooled.replace("@", f":{PASSWORD}@"), "SELECT current_setting('search_path'), "
                         "current_setting('idle_in_transaction_session_timeout'), current_database()")
        assert settings == [("public", "30s", dbname)]
    finally:
        proc.terminate()
        log = proc.communicate(timeout=30)[0].decode()
    assert PASSWORD not in log
    done = query(url.replace(f"{PASSWORD_USER}@", f"{PASSWORD_USER}:{PASSWORD}@"),
                 "SELECT count(*) FROM trials JOIN studies USING (study_id) "
                 "WHERE study_name = 'k8s-pgb' AND state = 'COMPLETE'")
    assert done == [(1,)]
