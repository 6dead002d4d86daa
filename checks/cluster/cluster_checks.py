"""Helpers of checks/cluster/run.sh that read and write Kubernetes objects.

  namespaces RENDERED
      Prints the Namespace objects of a rendered set (what deploy.sh applies before anything else).
  refusals MANIFESTS MESH OUTDIR
      Writes broken copies of real objects of the render, one file each, and OUTDIR/index.tsv:
      file, a regular expression the API server's refusal must match, what is broken.
  pods INJECTED OUTDIR
      Writes one Pod per workload of `istioctl kube-inject` output (as its controller would make
      it) to OUTDIR/NAMESPACE.NAME.yaml.
  violations POD OUTDIR
      Writes copies of one injected Pod that break the Pod Security Standards, and OUTDIR/index.tsv:
      file, the lowest level that refuses it (baseline or restricted), what is broken.
  compare-pods MANIFESTS CLUSTER_JSON
      CLUSTER_JSON is `kubectl get pods,replicasets -A -o json`. For every Deployment and
      StatefulSet of the render: its controller made the pods it should, and every field the
      rendered pod template sets (containers, images, commands, env, security contexts,
      resources, probes, volumes) is in each pod with the same value. Prints PASS/FAIL lines.
"""
import copy
import json
import pathlib
import re
import sys
from decimal import Decimal

import yaml

WORKLOAD_KINDS = ("Deployment", "StatefulSet")
QUANTITY_SUFFIXES = {"": 1, "m": Decimal("0.001"), "k": 10**3, "M": 10**6, "G": 10**9, "T": 10**12,
                     "Ki": 2**10, "Mi": 2**20, "Gi": 2**30, "Ti": 2**40}


def documents(path):
    with open(path) as stream:
        return [doc for doc in yaml.safe_load_all(stream) if isinstance(doc, dict)]


def find(docs, kind, name, namespace=None):
    for doc in docs:
        meta = doc["metadata"]
        if doc["kind"] == kind and meta["name"] == name and (namespace is None or meta.get("namespace") == namespace):
            return copy.deepcopy(doc)
    raise SystemExit(f"the render has no {kind} {namespace}/{name}: the refusal checks need it")


def write(path, doc):
    pathlib.Path(path).write_text(yaml.safe_dump(doc, sort_keys=False))


def namespaces(rendered):
    ns = [doc for doc in documents(rendered) if doc["kind"] == "Namespace"]
    if not ns:
        raise SystemExit(f"{rendered} has no Namespace")
    yaml.safe_dump_all(ns, sys.stdout, sort_keys=False)


def refusals(manifests_path, mesh_path, outdir):
    manifests, mesh = documents(manifests_path), documents(mesh_path)
    out = pathlib.Path(outdir)
    out.mkdir(parents=True, exist_ok=True)
    cases = []

    def case(name, doc, expected, what):
        write(out / f"{name}.yaml", doc)
        cases.append((f"{name}.yaml", expected, what))

    app = find(manifests, "Deployment", "invoice-app", "invoice")
    doc = copy.deepcopy(app)
    doc["spec"]["replica"] = 2
    case("schema-unknown-field", doc, r'unknown field "spec\.replica"',
         "schema: Deployment invoice-app with a misspelled field (spec.replica)")
    doc = copy.deepcopy(app)
    doc["spec"]["replicas"] = "two"
    case("schema-wrong-type", doc, r'replicas:two\]\]": unrecognized type: int32',
         "schema: Deployment invoice-app with replicas: \"two\"")
    doc = copy.deepcopy(app)
    doc["spec"]["template"]["spec"]["containers"][0]["env"].append({"name": "PAYMENT=URL", "value": "x"})
    case("validation-env-name", doc, r"env\[[0-9]+\]\.name: Invalid value",
         "validation: Deployment invoice-app with an environment variable named 'PAYMENT=URL'")

    doc = copy.deepcopy(app)
    labels = {"app.kubernetes.io/name": "invoice-app-renamed"}
    doc["spec"]["selector"]["matchLabels"] = labels
    doc["spec"]["template"]["metadata"]["labels"].update(labels)
    case("immutable-deployment-selector", doc, r"spec\.selector: Invalid value.*field is immutable",
         "immutable: the selector of Deployment invoice-app changed")
    database = find(manifests, "StatefulSet", "invoice-db", "invoice")
    doc = copy.deepcopy(database)
    doc["spec"]["volumeClaimTemplates"][0]["spec"]["resources"]["requests"]["storage"] = "5Gi"
    case("immutable-statefulset-claims", doc, r"updates to statefulset spec for fields other than .* are forbidden",
         "immutable: the volume claim size of StatefulSet invoice-db changed")
    service = find(manifests, "Service", "invoice-db", "invoice")
    doc = copy.deepcopy(service)
    doc["spec"]["clusterIP"] = "10.96.0.99"
    case("immutable-service-cluster-ip", doc, r"spec\.clusterIPs?(\[0\])?: Invalid value.*(immutable|may not change)",
         "immutable: headless Service invoice-db given a cluster IP")

    policy = next(d for d in manifests if d["kind"] == "NetworkPolicy"
                  and any(r.get("ports") for r in d["spec"].get("ingress") or []))
    doc = copy.deepcopy(policy)
    rule = next(r for r in doc["spec"].get("ingress") or [] if r.get("ports"))
    rule["ports"][0]["port"] = 70000
    case("validation-network-policy-port", doc, r"must be between 1 and 65535",
         f"validation: NetworkPolicy {policy['metadata']['name']} with port 70000")

    peer = find(mesh, "PeerAuthentication", "default", "istio-system")
    doc = copy.deepcopy(peer)
    doc["spec"]["mtls"]["mode"] = "STRICTEST"
    case("istio-enum-mtls-mode", doc, r'spec\.mtls\.mode: Unsupported value: "STRICTEST"',
         "Istio enum: PeerAuthentication mode STRICTEST")
    doc = copy.deepcopy(peer)
    doc["spec"]["portLevelMtls"] = {"8080": {"mode": "PERMISSIVE"}}
    case("istio-cel-port-level-mtls", doc, r"portLevelMtls requires selector",
         "Istio CEL rule: mesh-wide PeerAuthentication with port-level PERMISSIVE and no selector")

    allow = next(d for d in mesh if d["kind"] == "AuthorizationPolicy" and (d["spec"].get("action") or "ALLOW") == "ALLOW"
                 and d["spec"].get("rules") and d["spec"].get("selector"))
    doc = copy.deepcopy(allow)
    doc["spec"]["action"] = "ALLOWED"
    case("istio-enum-authorization-action", doc, r'spec\.action: Unsupported value: "ALLOWED"',
         f"Istio enum: AuthorizationPolicy {allow['metadata']['name']} with action ALLOWED")
    doc = copy.deepcopy(allow)
    doc["spec"]["rule"] = doc["spec"].pop("rules")
    case("istio-unknown-field", doc, r'unknown field "spec\.rule"',
         f"Istio schema: AuthorizationPolicy {allow['metadata']['name']} with rules misspelled as rule")
    doc = copy.deepcopy(allow)
    doc["spec"]["targetRefs"] = [{"kind": "Service", "group": "", "name": "payment-provider"}]
    case("istio-cel-selector-and-target", doc, r"only one of targetRefs or selector can be set",
         f"Istio CEL rule: AuthorizationPolicy {allow['metadata']['name']} with a selector and targetRefs")

    route = next(d for d in mesh if d["kind"] == "VirtualService" and any("timeout" in h for h in d["spec"].get("http") or []))
    doc = copy.deepcopy(route)
    next(h for h in doc["spec"]["http"] if "timeout" in h)["timeout"] = "0s"
    case("istio-cel-duration", doc, r"must be a valid duration greater than 1ms",
         f"Istio CEL rule: VirtualService {route['metadata']['name']} with timeout 0s")

    with open(out / "index.tsv", "w") as index:
        for row in cases:
            index.write("\t".join(row) + "\n")


def claim_volumes(workload, ordinal=0):
    """The volumes a StatefulSet's controller adds to pod ORDINAL, one per volume claim template."""
    return [{"name": claim["metadata"]["name"],
             "persistentVolumeClaim": {"claimName": f"{claim['metadata']['name']}-{workload['metadata']['name']}-{ordinal}"}}
            for claim in workload["spec"].get("volumeClaimTemplates") or []]


def pods(injected, outdir):
    out = pathlib.Path(outdir)
    out.mkdir(parents=True, exist_ok=True)
    count = 0
    for doc in documents(injected):
        if doc["kind"] not in WORKLOAD_KINDS:
            continue
        meta, template = doc["metadata"], doc["spec"]["template"]
        template["spec"]["volumes"] = claim_volumes(doc) + (template["spec"].get("volumes") or [])
        pod = {"apiVersion": "v1", "kind": "Pod",
               "metadata": {"name": f"{meta['name']}-injected", "namespace": meta["namespace"],
                            "labels": template["metadata"].get("labels") or {},
                            "annotations": template["metadata"].get("annotations") or {}},
               "spec": template["spec"]}
        write(out / f"{meta['namespace']}.{meta['name']}.yaml", pod)
        count += 1
    if count == 0:
        raise SystemExit(f"{injected} holds no Deployment or StatefulSet")


def violations(pod_path, outdir):
    pod = documents(pod_path)[0]
    out = pathlib.Path(outdir)
    out.mkdir(parents=True, exist_ok=True)
    cases = []

    def case(name, level, what, change):
        doc = copy.deepcopy(pod)
        doc["metadata"]["name"] = f"{pod['metadata']['name']}-{name}"
        change(doc["spec"], next(c for c in doc["spec"]["containers"] if c["name"] != "istio-proxy"))
        write(out / f"{name}.yaml", doc)
        cases.append((f"{name}.yaml", level, what))

    case("privileged", "baseline", "an app container with privileged: true",
         lambda spec, c: c["securityContext"].update(privileged=True, allowPrivilegeEscalation=True))
    case("host-network", "baseline", "hostNetwork: true", lambda spec, c: spec.update(hostNetwork=True))
    case("host-path", "baseline", "a hostPath volume of /",
         lambda spec, c: spec.setdefault("volumes", []).append({"name": "host", "hostPath": {"path": "/"}}))
    case("sys-admin", "baseline", "an app container adding capability SYS_ADMIN",
         lambda spec, c: c["securityContext"]["capabilities"].update(add=["SYS_ADMIN"]))
    case("root-user", "restricted", "an app container running as root (runAsNonRoot: false, runAsUser: 0)",
         lambda spec, c: c["securityContext"].update(runAsNonRoot=False, runAsUser=0))
    case("privilege-escalation", "restricted", "an app container with allowPrivilegeEscalation: true",
         lambda spec, c: c["securityContext"].update(allowPrivilegeEscalation=True))
    case("net-raw", "restricted", "an app container adding capability NET_RAW",
         lambda spec, c: c["securityContext"]["capabilities"].update(add=["NET_RAW"]))
    with open(out / "index.tsv", "w") as index:
        for row in cases:
            index.write("\t".join(row) + "\n")


# ---- compare-pods


def quantity(value):
    match = re.fullmatch(r"([0-9.]+)(m|k|M|G|T|Ki|Mi|Gi|Ti)?", str(value))
    if not match:
        return None
    return Decimal(match.group(1)) * QUANTITY_SUFFIXES[match.group(2) or ""]


def differences(expected, actual, path):
    """Every value `expected` sets that `actual` lacks or holds differently (actual may add fields)."""
    if isinstance(expected, dict):
        if not isinstance(actual, dict):
            return [f"{path}: expected an object, found {actual!r}"]
        found = []
        for key, value in expected.items():
            if key not in actual:
                found.append(f"{path}.{key}: missing (expected {value!r})")
            else:
                found += differences(value, actual[key], f"{path}.{key}")
        return found
    if isinstance(expected, list):
        if not isinstance(actual, list) or len(actual) != len(expected):
            return [f"{path}: expected {len(expected)} items, found {actual!r}"]
        if all(isinstance(item, dict) and "name" in item for item in expected):
            # Named items (containers, env, volumes, ports) are matched by name, in any order.
            by_name = {item.get("name"): item for item in actual if isinstance(item, dict)}
            return [problem for want in expected
                    for problem in (differences(want, by_name[want["name"]], f"{path}[{want['name']}]")
                                    if want["name"] in by_name else [f"{path}[{want['name']}]: missing"])]
        found = []
        for number, (want, have) in enumerate(zip(expected, actual)):
            found += differences(want, have, f"{path}[{number}]")
        return found
    if expected == actual:
        return []
    if re.search(r"\.(requests|limits)\.", path) and quantity(expected) is not None and quantity(expected) == quantity(actual):
        return []
    return [f"{path}: expected {expected!r}, found {actual!r}"]


def owned_by(obj, kind, name):
    return any(ref["kind"] == kind and ref["name"] == name and ref.get("controller")
               for ref in obj["metadata"].get("ownerReferences") or [])


def compare_pods(manifests_path, cluster_path):
    with open(cluster_path) as stream:
        items = json.load(stream)["items"]
    cluster_pods = [i for i in items if i["kind"] == "Pod"]
    replica_sets = [i for i in items if i["kind"] == "ReplicaSet"]
    failed = 0
    workloads = [d for d in documents(manifests_path) if d["kind"] in WORKLOAD_KINDS]
    if not workloads:
        raise SystemExit(f"{manifests_path} has no Deployment or StatefulSet")
    for workload in workloads:
        meta, spec = workload["metadata"], workload["spec"]
        namespace, name, kind = meta["namespace"], meta["name"], workload["kind"]
        in_namespace = [p for p in cluster_pods if p["metadata"]["namespace"] == namespace]
        if kind == "Deployment":
            owners = [rs["metadata"]["name"] for rs in replica_sets
                      if rs["metadata"]["namespace"] == namespace and owned_by(rs, "Deployment", name)]
            made = [p for p in in_namespace if any(owned_by(p, "ReplicaSet", rs) for rs in owners)]
            # Without a node no pod becomes ready; a Deployment still creates all its replicas at once.
            expected_count = spec.get("replicas", 1)
            how = f"through ReplicaSet {', '.join(owners) or '(none)'}"
        else:
            made = [p for p in in_namespace if owned_by(p, "StatefulSet", name)]
            ordered = spec.get("podManagementPolicy", "OrderedReady") == "OrderedReady"
            # OrderedReady makes pod N+1 only once pod N is ready, which needs a node (stage 2).
            expected_count = 1 if ordered else spec.get("replicas", 1)
            how = "pod 0 first (OrderedReady)" if ordered else "in parallel"
        problems = []
        if len(made) != expected_count:
            problems.append(f"{len(made)} pods, expected {expected_count}")
        template = spec["template"]
        for pod in made:
            pod_name = pod["metadata"]["name"]
            expected = copy.deepcopy(template["spec"])
            if kind == "StatefulSet":
                ordinal = int(pod_name.rsplit("-", 1)[1])
                expected["volumes"] = claim_volumes(workload, ordinal) + (expected.get("volumes") or [])
            problems += [f"{pod_name}: {d}" for d in differences(expected, pod["spec"], "spec")]
            problems += [f"{pod_name}: {d}" for d in differences(template["metadata"].get("labels") or {},
                                                                  pod["metadata"].get("labels") or {}, "labels")]
            problems += [f"{pod_name}: {d}" for d in differences(template["metadata"].get("annotations") or {},
                                                                  pod["metadata"].get("annotations") or {}, "annotations")]
            names = [c["name"] for c in pod["spec"]["containers"]] + [c["name"] for c in pod["spec"].get("initContainers") or []]
            wanted = [c["name"] for c in template["spec"]["containers"]] + [c["name"] for c in template["spec"].get("initContainers") or []]
            if names != wanted:
                problems.append(f"{pod_name}: containers {names}, the template has {wanted}")
        label = (f"{kind} {namespace}/{name}: its controller made {len(made)} pod(s) ({how}) whose spec holds every "
                 f"field of the rendered template (containers, image, env, securityContext, resources, probes)")
        if problems:
            failed += 1
            print("\n".join(f"    {p}" for p in problems))
            print(f"FAIL: {label}")
        else:
            print(f"PASS: {label}")
    return failed


def main():
    command, arguments = (sys.argv[1], sys.argv[2:]) if len(sys.argv) > 1 else ("", [])
    if command == "namespaces" and len(arguments) == 1:
        namespaces(*arguments)
    elif command == "refusals" and len(arguments) == 3:
        refusals(*arguments)
    elif command == "pods" and len(arguments) == 2:
        pods(*arguments)
    elif command == "violations" and len(arguments) == 2:
        violations(*arguments)
    elif command == "compare-pods" and len(arguments) == 2:
        # The FAIL lines carry the result; a non-zero exit means the comparison itself broke.
        compare_pods(*arguments)
    else:
        raise SystemExit(__doc__)


if __name__ == "__main__":
    main()
