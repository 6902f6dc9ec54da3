"""The container deployments run what the local stack runs (issue 13, "production parity").

- deploy/compose/docker-compose.yml loads in compose-go, the Compose specification's reference
  loader (schema validation, interpolation, merges, references), built from the Go module proxy
  (tests/manifests/compose-check); `docker compose config` would need an engine.
- every object of deploy/k8s/hearlers.yaml validates with check-jsonschema (PyPI) against the
  strict Kubernetes v1.33 schemas kept in deploy/k8s/schemas/ (no network at run time).
- both run every server the local stack runs (deploy/local/servers.sh), MongoDB as the read store,
  the image (deploy/Dockerfile) holds every server binary, and every variable of the gateway's
  template is set in both.
Each checker is also shown to refuse a broken copy, so a green run means something.
"""
import json
import os
import re
import subprocess
import sys
import tempfile

import yaml

from conftest import ROOT

COMPOSE = os.path.join(ROOT, "deploy", "compose", "docker-compose.yml")
K8S = os.path.join(ROOT, "deploy", "k8s", "hearlers.yaml")
SCHEMAS = os.path.join(ROOT, "deploy", "k8s", "schemas", "v1.33.0-local-strict")
TEMPLATE = os.path.join(ROOT, "deploy", "gateway", "nginx.conf.template")
CHECK_JSONSCHEMA = os.path.join(os.path.dirname(sys.executable), "check-jsonschema")
BUILD = os.environ.get("HL_BUILD_DIR", os.path.join(ROOT, "build"))


def local_servers():
    """The servers deploy/local/servers.sh starts by default."""
    with open(os.path.join(ROOT, "deploy", "local", "servers.sh")) as f:
        m = re.search(r"names=\((command-server[^)]*)\)", f.read())
    names = m.group(1).split()
    assert "command-server" in names and "stream-listener" in names, names
    return names


def compose_check(path):
    binary = os.path.join(BUILD, "compose-check")
    src = os.path.join(ROOT, "tests", "manifests", "compose-check")
    subprocess.run(["go", "build", "-o", binary, "."], cwd=src, check=True, timeout=600,
                   env=dict(os.environ, GOFLAGS="-mod=mod"))
    return subprocess.run([binary, path], capture_output=True, text=True, timeout=120,
                          env=dict(os.environ, HL_TOKEN_SECRET="manifest-test",
                                   HL_PAYMENT_SECRET="sk_test_manifest"))


def test_compose_loads_in_compose_go_and_runs_every_server():
    out = compose_check(COMPOSE)
    assert out.returncode == 0, out.stderr
    project = json.loads(out.stdout)
    services = project["services"]
    for name in local_servers():
        assert name in services, f"compose has no {name} service"
        assert services[name]["image"] == "hearlers:dev"
        assert services[name]["command"][0] == name
    for infra in ("postgres", "kafka", "topics", "registry", "connect", "mongo", "gateway"):
        assert infra in services, infra
    assert "ferretdb" not in services, "production runs MongoDB, not FerretDB"
    assert services["mongo"]["image"].startswith("mongo:7")
    for name in ("projector", "query-server", "stream-listener"):
        assert services[name]["environment"]["HL_MONGO_URI"].startswith("mongodb://mongo:"), name
    env = services["gateway"]["environment"]
    for var in ("HL_GATEWAY_COMMAND_SERVERS", "HL_GATEWAY_QUERY_SERVERS",
                "HL_GATEWAY_STREAM_SERVERS"):
        for host, port in re.findall(r"server ([a-z0-9-]+):(\d+)", env[var]):
            assert host in services, f"{var} names {host}, which is no service"
    assert "stream-listener:8083" in env["HL_GATEWAY_STREAM_SERVERS"]
    for name, svc in services.items():
        for vol in svc.get("volumes") or []:
            if vol["type"] == "bind":
                assert os.path.exists(vol["source"]), f"{name} mounts missing {vol['source']}"
        if svc.get("build"):
            b = svc["build"]
            assert os.path.isfile(os.path.join(b["context"], b["dockerfile"])), b


def test_compose_go_refuses_a_broken_file():
    with open(COMPOSE) as f:
        text = f.read()
    broken = text.replace("    image: mongo:7\n", "    imagee: mongo:7\n", 1)
    assert broken != text
    with tempfile.NamedTemporaryFile("w", suffix=".yml", dir=os.path.dirname(COMPOSE),
                                     delete=False) as f:
        f.write(broken)
    try:
        out = compose_check(f.name)
    finally:
        os.unlink(f.name)
    assert out.returncode != 0 and "imagee" in out.stderr, out.stderr


def k8s_docs():
    with open(K8S) as f:
        return [d for d in yaml.safe_load_all(f) if d]


def schema_for(doc):
    group = doc["apiVersion"].split("/")
    name = doc["kind"].lower() + "-" + ("-".join([group[0].split(".")[0], group[1]])
                                        if len(group) == 2 else group[0])
    path = os.path.join(SCHEMAS, name + ".json")
    assert os.path.isfile(path), f"no schema kept for {doc['kind']} {doc['apiVersion']}: {path}"
    return path


def check_jsonschema(docs):
    """Validate docs (a list of k8s objects) with check-jsonschema; returns failures (text)."""
    failures = []
    with tempfile.TemporaryDirectory() as tmp:
        by_schema = {}
        for i, doc in enumerate(docs):
            path = os.path.join(tmp, f"{i:02d}-{doc['kind']}-{doc['metadata']['name']}.yaml")
            with open(path, "w") as f:
                yaml.safe_dump(doc, f)
            by_schema.setdefault(schema_for(doc), []).append(path)
        for schema, files in by_schema.items():
            out = subprocess.run([CHECK_JSONSCHEMA, "--schemafile", schema, *files],
                                 capture_output=True, text=True, timeout=300)
            if out.returncode != 0:
                failures.append(out.stdout + out.stderr)
    return failures


def test_k8s_objects_validate_against_the_kubernetes_schemas():
    docs = k8s_docs()
    assert not check_jsonschema(docs)
    deployments = {d["metadata"]["name"]: d for d in docs if d["kind"] == "Deployment"}
    services = {d["metadata"]["name"] for d in docs if d["kind"] == "Service"}
    for name in local_servers():
        assert name in deployments, f"k8s has no {name} Deployment"
        (container,) = [c for c in deployments[name]["spec"]["template"]["spec"]["containers"]
                        if c["name"] == name]
        assert container["command"][0] == name
    config = next(d for d in docs if d["kind"] == "ConfigMap" and d["metadata"]["name"] == "hearlers")
    assert config["data"]["HL_MONGO_URI"].startswith("mongodb://mongo:")
    gateway = next(d for d in docs if d["kind"] == "ConfigMap"
                   and d["metadata"]["name"] == "hearlers-gateway")
    for host in re.findall(r"server ([a-z0-9-]+):\d+", " ".join(
            gateway["data"][v] for v in ("HL_GATEWAY_COMMAND_SERVERS", "HL_GATEWAY_QUERY_SERVERS",
                                         "HL_GATEWAY_STREAM_SERVERS"))):
        assert host in services, f"the gateway names {host}, which is no Service"


def test_k8s_runs_two_of_each_server_with_a_disruption_budget():
    """Issue 16: every server and the gateway with replicas: 2, a PodDisruptionBudget keeping
    one of them, the projectors in one named consumer group."""
    docs = k8s_docs()
    deployments = {d["metadata"]["name"]: d for d in docs if d["kind"] == "Deployment"}
    budgets = {d["spec"]["selector"]["matchLabels"]["app"]: d["spec"] for d in docs
               if d["kind"] == "PodDisruptionBudget"}
    for name in [*local_servers(), "gateway"]:
        assert deployments[name]["spec"]["replicas"] >= 2, name
        assert budgets.get(name, {}).get("minAvailable") == 1, name
    (projector,) = [c for c in deployments["projector"]["spec"]["template"]["spec"]["containers"]
                    if c["name"] == "projector"]
    assert {"name": "HL_PROJECTOR_GROUP", "value": "hearlers-projector"} in projector["env"]


def test_check_jsonschema_refuses_a_broken_object():
    docs = k8s_docs()
    dep = next(d for d in docs if d["kind"] == "Deployment")
    dep["spec"]["replicass"] = 2
    failures = check_jsonschema([dep])
    assert failures and "replicass" in failures[0], failures


def test_every_gateway_variable_is_set_in_both_deployments():
    with open(TEMPLATE) as f:
        wanted = set(re.findall(r"\$\{(HL_[A-Z0-9_]+)\}", f.read()))
    assert len(wanted) > 10, wanted
    with open(COMPOSE) as f:
        compose_env = yaml.safe_load(f)["services"]["gateway"]["environment"]
    gateway = next(d for d in k8s_docs() if d["kind"] == "ConfigMap"
                   and d["metadata"]["name"] == "hearlers-gateway")
    assert not sorted(wanted - set(compose_env)), "compose gateway lacks these"
    assert not sorted(wanted - set(gateway["data"])), "k8s gateway ConfigMap lacks these"


def test_the_image_holds_every_server():
    with open(os.path.join(ROOT, "deploy", "Dockerfile")) as f:
        text = f.read()
    for name in local_servers():
        assert re.search(rf"/build/[a-z-]+/{name}\b", text), f"the image lacks {name}"
    with open(os.path.join(ROOT, "deploy", "local", "deps.sh")) as f:
        deps = f.read()
    build_pkgs = re.search(r"BUILD_PKGS=\(([^)]*)\)", deps).group(1).split()
    for pkg in build_pkgs:
        if pkg.startswith("lib") and pkg.endswith("-dev") and pkg != "libcmocka-dev":
            assert pkg in text, f"the image's build stage lacks {pkg} (deploy/local/deps.sh has it)"
