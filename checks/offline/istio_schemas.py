"""Writes strict JSON schemas for kubeconform from Istio's CustomResourceDefinitions.

The API server validates a custom resource against its CRD's openAPIV3Schema and, under strict
field validation, rejects every field the schema does not declare unless a node says
x-kubernetes-preserve-unknown-fields. JSON Schema allows unknown fields by default, so this script
closes every object node (additionalProperties: false) that declares neither a map type
(additionalProperties) nor preserve-unknown-fields, turns `nullable` into a null type, and adds the
apiVersion, kind and metadata every object carries. metadata is the Kubernetes ObjectMeta from the
strict Kubernetes schemas, so a misspelled metadata field fails as it does on a cluster.

Usage: istio_schemas.py CRD_FILE KUBERNETES_SCHEMA_DIR OUTPUT_DIR
Writes OUTPUT_DIR/<group>/<kind>_<version>.json for every served version, the layout of
kubeconform's '{{.Group}}/{{.ResourceKind}}_{{.ResourceAPIVersion}}.json' schema template.
What the schemas cannot express, the CRDs' CEL rules (x-kubernetes-validations), is left to
`istioctl analyze`, which runs Istio's own validation of every field.
"""
import copy
import json
import pathlib
import sys

import yaml

OBJECT_META = "io.k8s.apimachinery.pkg.apis.meta.v1.ObjectMeta"


def strict(node):
    """A JSON Schema copy of an openAPIV3Schema node, closed to unknown fields."""
    if isinstance(node, list):
        return [strict(item) for item in node]
    if not isinstance(node, dict):
        return node
    result = {}
    for key, value in node.items():
        if key in ("properties", "patternProperties"):
            result[key] = {name: strict(child) for name, child in value.items()}
        elif key in ("items", "additionalProperties", "not") and isinstance(value, dict):
            result[key] = strict(value)
        elif key in ("allOf", "anyOf", "oneOf"):
            result[key] = strict(value)
        else:
            result[key] = value
    if result.pop("nullable", False) and isinstance(result.get("type"), str):
        result["type"] = [result["type"], "null"]
    is_object = result.get("type") == "object" or (isinstance(result.get("type"), list) and "object" in result["type"])
    if is_object and "additionalProperties" not in result and not result.get("x-kubernetes-preserve-unknown-fields"):
        result["additionalProperties"] = False
    return result


def object_meta(kubernetes_schema_dir):
    """ObjectMeta and the definitions it refers to, from a strict standalone Kubernetes schema."""
    deployment = json.loads((kubernetes_schema_dir / "deployment-apps-v1.json").read_text())
    definitions = deployment["$defs"]
    needed, pending = {}, [OBJECT_META]
    while pending:
        name = pending.pop()
        if name in needed:
            continue
        needed[name] = definitions[name]
        text = json.dumps(definitions[name])
        for other in definitions:
            if f'"#/$defs/{other}"' in text:
                pending.append(other)
    return needed


def document_schema(crd, version, meta_definitions):
    group, kind = crd["spec"]["group"], crd["spec"]["names"]["kind"]
    body = strict(copy.deepcopy(version["schema"]["openAPIV3Schema"]))
    properties = body.setdefault("properties", {})
    properties["apiVersion"] = {"type": "string", "enum": [f"{group}/{version['name']}"]}
    properties["kind"] = {"type": "string", "enum": [kind]}
    properties["metadata"] = {"$ref": f"#/$defs/{OBJECT_META}"}
    body["type"] = "object"
    body["additionalProperties"] = False
    body["required"] = sorted(set(body.get("required", [])) | {"apiVersion", "kind", "metadata"})
    body["$schema"] = "https://json-schema.org/draft/2020-12/schema"
    body["$defs"] = meta_definitions
    return body


def main():
    if len(sys.argv) != 4:
        raise SystemExit(__doc__)
    crd_file, kubernetes_dir, output = (pathlib.Path(arg) for arg in sys.argv[1:])
    meta_definitions = object_meta(kubernetes_dir)
    written = 0
    for crd in yaml.safe_load_all(crd_file.read_text()):
        if not crd or crd.get("kind") != "CustomResourceDefinition":
            continue
        group, kind = crd["spec"]["group"], crd["spec"]["names"]["kind"]
        for version in crd["spec"]["versions"]:
            if not version.get("served"):
                continue
            target = output / group / f"{kind.lower()}_{version['name']}.json"
            target.parent.mkdir(parents=True, exist_ok=True)
            target.write_text(json.dumps(document_schema(crd, version, meta_definitions), indent=1))
            written += 1
    if written < 10:
        raise SystemExit(f"only {written} Istio schemas written from {crd_file}")
    print(f"wrote {written} Istio CRD schemas to {output}")


if __name__ == "__main__":
    main()
