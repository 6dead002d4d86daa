"""Proves the offline checks catch the mistakes they exist for.

Usage: mutations.py RENDERED_DIR WORK_DIR

Each mutation copies the rendered set (manifests.yaml, mesh.yaml, istio-install.yaml), breaks it
in one deliberate way, runs the whole pipeline (check-render.sh: schemas, istioctl, checkov,
invariant tests) on the copy and records which tools failed. A mutation no tool catches is a
failure, and so is an unbroken copy that does not pass: a check that fails on everything proves
nothing. Prints one PASS/FAIL line per mutation and a table of mutation x tool.
"""
import concurrent.futures
import copy
import pathlib
import re
import shutil
import subprocess
import sys

import yaml

HERE = pathlib.Path(__file__).resolve().parent
FILES = {"manifests": "manifests.yaml", "mesh": "mesh.yaml", "install": "istio-install.yaml"}
TOOLS = ["kubeconform", "istioctl-install", "kube-inject", "istioctl-analyze", "cluster-analyze", "checkov", "pytest"]
RESULT_LINE = re.compile(r"^(PASS|FAIL): ([a-z-]+):")
WORKERS = 2


class NotFound(Exception):
    pass


def find(docs, kind, namespace, name):
    for doc in docs:
        meta = doc.get("metadata") or {}
        if doc.get("kind") == kind and meta.get("namespace") == namespace and meta.get("name") == name:
            return doc
    raise NotFound(f"{kind} {namespace}/{name}")


def remove(docs, kind, namespace, name):
    docs.remove(find(docs, kind, namespace, name))


def container(docs, kind, namespace, name):
    return find(docs, kind, namespace, name)["spec"]["template"]["spec"]["containers"][0]


def payment_allow_rule(s):
    return find(s["mesh"], "AuthorizationPolicy", "payment", "payment-provider-from-invoice-app")["spec"]["rules"][0]


# ---------- the mutations: name -> (what it breaks, function changing the parsed set) ----------

def mtls_permissive(s):
    find(s["mesh"], "PeerAuthentication", "istio-system", "default")["spec"]["mtls"]["mode"] = "PERMISSIVE"


def port_level_exception(s):
    s["mesh"].append({
        "apiVersion": "security.istio.io/v1", "kind": "PeerAuthentication",
        "metadata": {"name": "payment-provider", "namespace": "payment"},
        "spec": {"selector": {"matchLabels": {"app.kubernetes.io/name": "payment-provider"}},
                 "mtls": {"mode": "STRICT"}, "portLevelMtls": {"8082": {"mode": "DISABLE"}}}})


def second_principal(s):
    payment_allow_rule(s)["from"][0]["source"]["principals"].append("cluster.local/ns/payment/sa/payment-provider")


def from_to_split(s):
    policy = find(s["mesh"], "AuthorizationPolicy", "payment", "payment-provider-from-invoice-app")
    rule = policy["spec"]["rules"][0]
    policy["spec"]["rules"] = [{"from": rule["from"]}, {"to": rule["to"]}]


def negative_match(s):
    payment_allow_rule(s)["from"][0]["source"] = {"notPrincipals": ["cluster.local/ns/default/sa/default"]}


def allow_nothing_removed(s):
    remove(s["mesh"], "AuthorizationPolicy", "payment", "allow-nothing")


def database_wrong_principal(s):
    policy = find(s["mesh"], "AuthorizationPolicy", "invoice", "invoice-db-from-invoice-app")
    policy["spec"]["rules"][0]["from"][0]["source"]["principals"] = ["cluster.local/ns/payment/sa/payment-provider"]


def gateway_route_to_payment(s):
    s["mesh"].append({
        "apiVersion": "networking.istio.io/v1", "kind": "VirtualService",
        "metadata": {"name": "payments-from-gateway", "namespace": "invoice"},
        "spec": {"hosts": ["*"], "gateways": ["istio-system/paymesh-gateway"],
                 "http": [{"match": [{"uri": {"prefix": "/payments"}}],
                           "route": [{"destination": {"host": "payment-provider.payment.svc.cluster.local",
                                                      "port": {"number": 8082}}}]}]}})


def invoice_app_identity_changed(s):
    find(s["manifests"], "ServiceAccount", "invoice", "invoice-app")["metadata"]["name"] = "invoice"
    find(s["manifests"], "Deployment", "invoice", "invoice-app")["spec"]["template"]["spec"]["serviceAccountName"] = "invoice"


def gateway_hosts_opened(s):
    find(s["mesh"], "Gateway", "istio-system", "paymesh-gateway")["spec"]["servers"][0]["hosts"] = ["*/*"]


def gateway_selector_wrong(s):
    find(s["mesh"], "Gateway", "istio-system", "paymesh-gateway")["spec"]["selector"] = {"istio": "ingress-gateway"}


def route_to_missing_service(s):
    vs = find(s["mesh"], "VirtualService", "invoice", "invoice-app-from-gateway")
    vs["spec"]["http"][0]["route"][0]["destination"]["host"] = "invoices-app.invoice.svc.cluster.local"


def run_as_root(s):
    container(s["manifests"], "Deployment", "invoice", "invoice-app")["securityContext"]["runAsUser"] = 0


def misspelled_kubernetes_field(s):
    sc = container(s["manifests"], "Deployment", "payment", "payment-provider")["securityContext"]
    sc["readOnlyRootFileSystem"] = sc.pop("readOnlyRootFilesystem")


def misspelled_istio_field(s):
    tcp = find(s["mesh"], "DestinationRule", "payment", "payment-provider")["spec"]["trafficPolicy"]["connectionPool"]["tcp"]
    tcp["maxConnection"] = tcp.pop("maxConnections")


def unknown_istio_enum(s):
    find(s["mesh"], "DestinationRule", "invoice", "invoice-app")["spec"]["trafficPolicy"]["tls"]["mode"] = "ISTIO_MUTAL"


def unknown_kubernetes_enum(s):
    container(s["manifests"], "Deployment", "invoice", "invoice-app")["imagePullPolicy"] = "Sometimes"


def probe_removed(s):
    del container(s["manifests"], "Deployment", "payment", "payment-provider")["livenessProbe"]


def image_latest(s):
    container(s["manifests"], "Deployment", "invoice", "invoice-app")["image"] = "paymesh/invoice-app:latest"


def metrics_not_merged(s):
    annotations = find(s["manifests"], "Deployment", "payment", "payment-provider")["spec"]["template"]["metadata"]["annotations"]
    for key in ("prometheus.io/scrape", "prometheus.io/port", "prometheus.io/path"):
        del annotations[key]


def token_mounted(s):
    find(s["manifests"], "Deployment", "payment", "payment-provider")["spec"]["template"]["spec"][
        "automountServiceAccountToken"] = True


def port_name_without_protocol(s):
    find(s["manifests"], "Service", "payment", "payment-provider")["spec"]["ports"][0]["name"] = "web"


def network_policy_namespace_dropped(s):
    # Without its namespaceSelector the peer means "invoice-app pods in namespace payment": none.
    policy = find(s["manifests"], "NetworkPolicy", "payment", "payment-provider-from-invoice-app")
    del policy["spec"]["ingress"][0]["from"][0]["namespaceSelector"]


def network_policy_opened(s):
    policy = find(s["manifests"], "NetworkPolicy", "payment", "payment-provider-from-invoice-app")
    policy["spec"]["ingress"][0]["from"].append({"namespaceSelector": {}})


def rollout_drops_capacity(s):
    find(s["manifests"], "Deployment", "invoice", "invoice-app")["spec"]["strategy"]["rollingUpdate"]["maxUnavailable"] = 1


def disruption_budget_removed(s):
    remove(s["manifests"], "PodDisruptionBudget", "payment", "payment-provider")


def install_unknown_value(s):
    s["install"]["spec"]["meshConfig"]["outboundTrafficPolicy"]["mode"] = "REGISTRY_ONY"


def install_misspelled_field(s):
    gateway = s["install"]["spec"]["components"]["ingressGateways"][0]
    gateway["k8s"]["resource"] = gateway["k8s"].pop("resources")


MUTATIONS = [
    ("mtls-permissive", "mesh-wide PeerAuthentication mode PERMISSIVE", mtls_permissive),
    ("mtls-port-exception", "a PeerAuthentication with portLevelMtls DISABLE on 8082", port_level_exception),
    ("second-principal", "payment-provider's ALLOW admits a second principal", second_principal),
    ("from-to-split", "payment-provider's from and to in two rules (ORed)", from_to_split),
    ("negative-match", "payment-provider's ALLOW uses notPrincipals", negative_match),
    ("allow-nothing-removed", "namespace payment loses allow-nothing", allow_nothing_removed),
    ("db-wrong-principal", "invoice-db admits payment-provider instead of invoice-app", database_wrong_principal),
    ("identity-changed", "invoice-app runs as ServiceAccount invoice; the policies still name invoice-app", invoice_app_identity_changed),
    ("gateway-hosts-opened", "the Gateway admits VirtualServices of every namespace (*/*)", gateway_hosts_opened),
    ("gateway-routes-payments", "a VirtualService routes /payments through the gateway to payment-provider", gateway_route_to_payment),
    ("gateway-selector", "the Gateway selects istio: ingress-gateway", gateway_selector_wrong),
    ("route-missing-host", "the gateway route names a Service that does not exist", route_to_missing_service),
    ("run-as-root", "invoice-app runAsUser: 0", run_as_root),
    ("misspelled-k8s-field", "readOnlyRootFileSystem (capital S) in payment-provider", misspelled_kubernetes_field),
    ("misspelled-istio-field", "maxConnection in a DestinationRule", misspelled_istio_field),
    ("unknown-istio-enum", "DestinationRule tls.mode ISTIO_MUTAL", unknown_istio_enum),
    ("unknown-k8s-enum", "imagePullPolicy: Sometimes", unknown_kubernetes_enum),
    ("probe-removed", "payment-provider without livenessProbe", probe_removed),
    ("image-latest", "image paymesh/invoice-app:latest", image_latest),
    ("token-mounted", "payment-provider automountServiceAccountToken: true", token_mounted),
    ("metrics-not-merged", "payment-provider without its prometheus.io annotations", metrics_not_merged),
    ("port-name", "Service port named web (no protocol prefix)", port_name_without_protocol),
    ("netpol-opened", "payment-provider's NetworkPolicy admits every namespace", network_policy_opened),
    ("netpol-namespace-dropped", "payment-provider's NetworkPolicy peer without its namespaceSelector", network_policy_namespace_dropped),
    ("max-unavailable", "invoice-app rolling update maxUnavailable: 1", rollout_drops_capacity),
    ("pdb-removed", "payment-provider without PodDisruptionBudget", disruption_budget_removed),
    ("install-enum", "IstioOperator outboundTrafficPolicy REGISTRY_ONY", install_unknown_value),
    ("install-field", "IstioOperator ingress gateway k8s.resource (misspelled)", install_misspelled_field),
]


def load(directory):
    sets = {}
    for key, name in FILES.items():
        with open(directory / name) as stream:
            docs = [d for d in yaml.safe_load_all(stream) if isinstance(d, dict)]
        sets[key] = docs[0] if key == "install" else docs
    return sets


def write(sets, directory):
    directory.mkdir(parents=True)
    for key, name in FILES.items():
        with open(directory / name, "w") as stream:
            if key == "install":
                yaml.safe_dump(sets[key], stream, sort_keys=False)
            else:
                yaml.safe_dump_all(sets[key], stream, sort_keys=False)


def run_pipeline(directory):
    """Runs check-render.sh on a directory; returns the tools that failed and the output."""
    completed = subprocess.run([str(HERE / "check-render.sh"), str(directory)], capture_output=True, text=True, check=False)
    output = completed.stdout + completed.stderr
    results = {}
    for line in output.splitlines():
        m = RESULT_LINE.match(line)
        if m:
            results[m.group(2)] = m.group(1)
    if set(results) != set(TOOLS):
        raise RuntimeError(f"check-render.sh reported {sorted(results)}, expected {TOOLS}:\n{output}")
    (directory / "checks.log").write_text(output)
    return [tool for tool in TOOLS if results[tool] == "FAIL"], output


def main():
    if len(sys.argv) != 3:
        raise SystemExit(__doc__)
    source, work = pathlib.Path(sys.argv[1]), pathlib.Path(sys.argv[2])
    shutil.rmtree(work, ignore_errors=True)
    base = load(source)
    jobs = {}
    for name, _, mutate in [("unbroken", "the rendered set as it is", None)] + MUTATIONS:
        sets = copy.deepcopy(base)
        if mutate is not None:
            try:
                mutate(sets)
            except (NotFound, KeyError, IndexError) as missing:
                jobs[name] = missing
                continue
            if sets == base:
                jobs[name] = RuntimeError("the mutation changed nothing")
                continue
        write(sets, work / name)
        jobs[name] = work / name
    failures = 0
    rows = {}
    with concurrent.futures.ThreadPoolExecutor(max_workers=WORKERS) as pool:
        futures = {name: pool.submit(run_pipeline, target) for name, target in jobs.items() if isinstance(target, pathlib.Path)}
        baseline, baseline_output = futures["unbroken"].result()
        if baseline:
            failures += 1
            print(baseline_output)
            print(f"FAIL: mutations: the unbroken copy already fails {', '.join(baseline)}; no mutation result means anything")
        else:
            print("PASS: mutations: the unbroken copy passes every tool")
        for name, description, _ in MUTATIONS:
            target = jobs[name]
            if not isinstance(target, pathlib.Path):
                failures += 1
                print(f"FAIL: mutation {name}: cannot apply ({target}); the rendered set changed, update mutations.py")
                continue
            caught, _ = futures[name].result()
            rows[name] = caught
            if caught:
                print(f"PASS: mutation {name} ({description}) caught by {', '.join(caught)}")
            else:
                failures += 1
                print(f"FAIL: mutation {name} ({description}) caught by no tool; see {work / name / 'checks.log'}")
    print()
    width = max(len(n) for n, _, _ in MUTATIONS)
    print(" " * width + "  " + "  ".join(TOOLS))
    for name, _, _ in MUTATIONS:
        caught = rows.get(name, [])
        cells = ["X".center(len(t)) if t in caught else ".".center(len(t)) for t in TOOLS]
        print(name.ljust(width) + "  " + "  ".join(cells))
    return 1 if failures else 0


if __name__ == "__main__":
    sys.exit(main())
