"""Regenerate deploy/k8s/schemas/ (the Kubernetes JSON schemas tests/e2e/test_manifests.py checks
the manifests with) from the schemas kubernetes-validate ships on PyPI (themselves generated from
Kubernetes' OpenAPI document, "strict": unknown fields are errors).

    pip download --no-deps kubernetes-validate==1.37.0 && \
      python tests/manifests/k8s_schemas.py kubernetes_validate-1.37.0-py3-none-any.whl

Keeps only the kinds the manifests use and the definitions they reach, so the tree holds a few
hundred KiB instead of the whole 22 MB set, and the check needs no network at run time.
"""
import json
import os
import sys
import zipfile

VERSION = "v1.33.0-local-strict"
KINDS = ["configmap-v1", "secret-v1", "service-v1", "deployment-apps-v1", "statefulset-apps-v1",
         "poddisruptionbudget-policy-v1"]
OUT = os.path.join(os.path.dirname(__file__), "..", "..", "deploy", "k8s", "schemas", VERSION)


REMOTE = "/api/_definitions.json#/$defs/"  # refs resolve against https://kubernetes.io/api/
LOCAL = "_definitions.json#/$defs/"  # rewritten: relative to the file, so no network is needed


def refs(node, found):
    """Collect the definition names node refers to, rewriting each $ref to LOCAL in place."""
    if isinstance(node, dict):
        r = node.get("$ref")
        if isinstance(r, str):
            for prefix in (REMOTE, LOCAL, "#/$defs/"):
                if r.startswith(prefix):
                    name = r[len(prefix):]
                    found.add(name)
                    node["$ref"] = LOCAL + name
                    break
            else:
                raise ValueError(f"unexpected $ref {r}")
        for v in node.values():
            refs(v, found)
    elif isinstance(node, list):
        for v in node:
            refs(v, found)


def main(wheel):
    base = f"kubernetes_validate/kubernetes-json-schema/{VERSION}/"
    with zipfile.ZipFile(wheel) as z:
        defs = json.loads(z.read(base + "_definitions.json"))["$defs"]
        kinds = {k: json.loads(z.read(f"{base}{k}.json")) for k in KINDS}
    need, todo = set(), set()
    for schema in kinds.values():
        refs(schema, todo)
    while todo:
        name = todo.pop()
        if name in need:
            continue
        need.add(name)
        refs(defs[name], todo)
    os.makedirs(OUT, exist_ok=True)
    with open(os.path.join(OUT, "_definitions.json"), "w") as f:
        json.dump({"$schema": "https://json-schema.org/draft/2020-12/schema",
                   "$defs": {n: defs[n] for n in sorted(need)}}, f, indent=1, sort_keys=True)
    for k, schema in kinds.items():
        schema.pop("$id", None)
        with open(os.path.join(OUT, f"{k}.json"), "w") as f:
            json.dump(schema, f, indent=1, sort_keys=True)
    print(f"{len(kinds)} kinds, {len(need)} definitions into {os.path.normpath(OUT)}")


if __name__ == "__main__":
    main(sys.argv[1])
