"""Writes self-contained strict JSON schemas of the Kubernetes API kinds for kubeconform.

The PyPI package kubernetes-validate ships, per Kubernetes version, one strict schema per kind
(additionalProperties: false on every object the API defines) whose $refs all point into one
shared _definitions.json under an https $id. kubeconform loads one schema file per kind and must
not reach the network, so each kind's file is written here with the definitions it needs
embedded under $defs and its references made local.

Usage: k8s_schemas.py KUBERNETES_VERSION OUTPUT_DIR   (e.g. 1.36.0 .tools/schemas/kubernetes)
Writes OUTPUT_DIR/v<version>-standalone-strict/<kind>-<group>-<version>.json, the file names
kubeconform's default schema template asks for.
"""
import json
import pathlib
import sys

import kubernetes_validate

# Kind files refer into the shared file; the shared file refers into itself.
REF_PREFIXES = ("/api/_definitions.json#/$defs/", "#/$defs/")


def definition_name(ref):
    """The definition a $ref names, or None for any other reference."""
    if isinstance(ref, str):
        for prefix in REF_PREFIXES:
            if ref.startswith(prefix):
                return ref[len(prefix):]
    return None


def referenced_names(node, found):
    """Adds to `found` the definition names that `node` refers to, directly or not."""
    if isinstance(node, dict):
        name = definition_name(node.get("$ref"))
        if name is not None:
            found.add(name)
        for value in node.values():
            referenced_names(value, found)
    elif isinstance(node, list):
        for value in node:
            referenced_names(value, found)


def localised(node):
    """A copy of `node` whose references point into the document's own $defs."""
    if isinstance(node, dict):
        copy = {key: localised(value) for key, value in node.items()}
        name = definition_name(copy.get("$ref"))
        if name is not None:
            copy["$ref"] = "#/$defs/" + name
        return copy
    if isinstance(node, list):
        return [localised(value) for value in node]
    return node


def closure(schema, definitions):
    """Every definition reachable from `schema`."""
    pending = set()
    referenced_names(schema, pending)
    done = set()
    while pending:
        name = pending.pop()
        if name in done:
            continue
        if name not in definitions:
            raise SystemExit(f"definition {name} is referenced but missing")
        done.add(name)
        referenced_names(definitions[name], pending)
    return done


def main():
    if len(sys.argv) != 3:
        raise SystemExit(__doc__)
    version, output = sys.argv[1], pathlib.Path(sys.argv[2])
    source = pathlib.Path(kubernetes_validate.__file__).parent / "kubernetes-json-schema" / f"v{version}-local-strict"
    if not source.is_dir():
        raise SystemExit(f"kubernetes-validate has no strict schemas for Kubernetes {version} ({source})")
    definitions = json.loads((source / "_definitions.json").read_text())["$defs"]
    target = output / f"v{version}-standalone-strict"
    target.mkdir(parents=True, exist_ok=True)
    written = 0
    for path in sorted(source.glob("*.json")):
        schema = json.loads(path.read_text())
        if "x-kubernetes-group-version-kind" not in schema:
            continue  # only API kinds are validated as documents
        standalone = localised(schema)
        standalone.pop("$id", None)
        standalone["$defs"] = {name: localised(definitions[name]) for name in sorted(closure(schema, definitions))}
        (target / path.name).write_text(json.dumps(standalone, separators=(",", ":")))
        written += 1
    if written < 100:
        raise SystemExit(f"only {written} kinds found in {source}: the package layout changed")
    print(f"wrote {written} Kubernetes {version} kind schemas to {target}")


if __name__ == "__main__":
    main()
