"""Builds, from rendered files, the objects a cluster would add by itself, for `istioctl analyze`.

Many of istioctl's analyzers look at Pods (is a Gateway's selector matched by a gateway pod, does a
Service select any pod, does every pod in an injected namespace carry a proxy, ...). Offline there
are no Pods, so those analyzers would silently skip. This script makes them run:

  injector-config INSTALL OUTDIR
      From `istioctl manifest generate` output, writes the sidecar injector's template (config),
      its values (values.json) and the mesh config (mesh.yaml) that istiod would use, for
      `istioctl kube-inject`.
  pods FILE...
      Prints one Pod per Deployment/StatefulSet/DaemonSet found in FILEs (output of
      `istioctl kube-inject`), as the controller would create it: the pod template's labels,
      annotations and spec, in the workload's namespace.
"""
import pathlib
import sys

import yaml

WORKLOAD_KINDS = {"Deployment", "StatefulSet", "DaemonSet"}
# libyaml's parser when PyYAML has it: the generated Istio install is large.
LOADER = getattr(yaml, "CSafeLoader", yaml.SafeLoader)


def documents(path):
    with open(path) as stream:
        return [doc for doc in yaml.load_all(stream, Loader=LOADER) if isinstance(doc, dict)]


def injector_config(install, outdir):
    out = pathlib.Path(outdir)
    out.mkdir(parents=True, exist_ok=True)
    found = set()
    for doc in documents(install):
        if doc.get("kind") != "ConfigMap":
            continue
        name, data = doc["metadata"]["name"], doc.get("data", {})
        if name == "istio-sidecar-injector":
            (out / "config").write_text(data["config"])
            (out / "values.json").write_text(data["values"])
            found.add(name)
        elif name == "istio":
            (out / "mesh.yaml").write_text(data["mesh"])
            found.add(name)
    missing = {"istio-sidecar-injector", "istio"} - found
    if missing:
        raise SystemExit(f"{install} has no ConfigMap {', '.join(sorted(missing))}: is it istioctl manifest generate output?")


def pods(paths):
    result = []
    for path in paths:
        for doc in documents(path):
            if doc.get("kind") not in WORKLOAD_KINDS:
                continue
            meta, template = doc["metadata"], doc["spec"]["template"]
            template_meta = template.get("metadata") or {}
            pod_meta = {
                "name": f"{meta['name']}-0",
                "namespace": meta.get("namespace", "default"),
                "labels": template_meta.get("labels") or {},
            }
            if template_meta.get("annotations"):
                pod_meta["annotations"] = template_meta["annotations"]
            result.append({"apiVersion": "v1", "kind": "Pod", "metadata": pod_meta, "spec": template["spec"]})
    if not result:
        raise SystemExit("no workload found: nothing to make pods of")
    yaml.safe_dump_all(result, sys.stdout, sort_keys=False)


def main():
    if len(sys.argv) >= 4 and sys.argv[1] == "injector-config":
        injector_config(sys.argv[2], sys.argv[3])
    elif len(sys.argv) >= 3 and sys.argv[1] == "pods":
        pods(sys.argv[2:])
    else:
        raise SystemExit(__doc__)


if __name__ == "__main__":
    main()
