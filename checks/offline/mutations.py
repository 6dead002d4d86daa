"""Proves the offline checks catch the mistakes they exist for.

Usage: mutations.py RENDERED_DIR WORK_DIR

Each mutation copies the rendered set (manifests.yaml, mesh.yaml, istio-install.yaml), breaks it
in one deliberate way, runs the whole pipeline (check-render.sh: schemas, istioctl, checkov,
invariant tests) on the copy and records which tools failed, and for checkov and pytest which
checks and tests. Each mutation names what must catch it; it passes only when exactly those
failed, and a pytest test that fails by an exception other than its assertion counts as a crash,
not a catch. An unbroken copy, and copies changed in ways that keep their meaning (EQUIVALENTS),
must pass everything: a check that fails on everything proves nothing. Prints one PASS/FAIL line
per mutation and a table of mutation x tool.
"""
import concurrent.futures
import copy
import pathlib
import re
import shutil
import xml.etree.ElementTree as ET
import subprocess
import sys

import yaml

HERE = pathlib.Path(__file__).resolve().parent
FILES = {"manifests": "manifests.yaml", "mesh": "mesh.yaml", "install": "istio-install.yaml"}
TOOLS = ["kubeconform", "istioctl-install", "kube-inject", "istioctl-analyze", "cluster-analyze", "checkov", "pytest"]
RESULT_LINE = re.compile(r"^(PASS|FAIL): ([a-z-]+):")
CHECKOV_FINDING = re.compile(r"^\s*(CKV\w*_\d+) ")
# A pytest failure raised by the test's own verdict; anything else (KeyError, TypeError...) is a crash.
VERDICTS = ("AssertionError", "assert ", "Failed:")
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


def image_movable_tag(s):
    container(s["manifests"], "StatefulSet", "invoice", "invoice-db")["image"] = "postgres:17.11-bookworm"


def budget_blocks_drains(s):
    spec = find(s["manifests"], "PodDisruptionBudget", "payment", "payment-provider")["spec"]
    del spec["maxUnavailable"]
    spec["minAvailable"] = "100%"


def budget_as_percentage(s):
    # 66% of 3 replicas, rounded up as the disruption controller does: 2 stay, 1 may go, as before.
    spec = find(s["manifests"], "PodDisruptionBudget", "invoice", "invoice-app")["spec"]
    del spec["maxUnavailable"]
    spec["minAvailable"] = "66%"


def install_unknown_value(s):
    s["install"]["spec"]["meshConfig"]["outboundTrafficPolicy"]["mode"] = "REGISTRY_ONY"


def install_misspelled_field(s):
    gateway = s["install"]["spec"]["components"]["ingressGateways"][0]
    gateway["k8s"]["resource"] = gateway["k8s"].pop("resources")


# A broken install generates no ingress gateway: the tests that need its pods fail with it.
INSTALL_MISSING = ("test_app_metrics_reach_prometheus_through_the_merge,test_gateway_selects_the_ingress_gateway,"
                   "test_ingress_gateway_pods_carry_the_labels_network_policy_admits,"
                   "test_invoice_app_admits_only_the_ingress_gateway,test_nothing_routes_to_payment_through_the_gateway")

# name, what it breaks, the change, what must catch it (tool, or tool:checks/tests that fail).
MUTATIONS = [
    ("mtls-permissive", "mesh-wide PeerAuthentication mode PERMISSIVE", mtls_permissive,
     "pytest:test_mesh_wide_strict_peer_authentication,test_no_peer_authentication_weakens_mtls"),
    ("mtls-port-exception", "a PeerAuthentication with portLevelMtls DISABLE on 8082", port_level_exception,
     "pytest:test_no_peer_authentication_weakens_mtls"),
    ("second-principal", "payment-provider's ALLOW admits a second principal", second_principal,
     "pytest:test_payment_provider_admits_only_invoice_app"),
    ("from-to-split", "payment-provider's from and to in two rules (ORed)", from_to_split,
     "pytest:test_payment_provider_admits_only_invoice_app"),
    ("negative-match", "payment-provider's ALLOW uses notPrincipals", negative_match,
     "pytest:test_allow_policies_use_positive_matches_only,test_payment_provider_admits_only_invoice_app"),
    ("allow-nothing-removed", "namespace payment loses allow-nothing", allow_nothing_removed,
     "pytest:test_allow_nothing_in_app_namespace"),
    ("db-wrong-principal", "invoice-db admits payment-provider instead of invoice-app", database_wrong_principal,
     "pytest:test_database_admits_only_its_app_on_5432"),
    ("identity-changed", "invoice-app runs as ServiceAccount invoice; the policies still name invoice-app", invoice_app_identity_changed,
     "pytest:test_database_admits_only_its_app_on_5432,test_payment_provider_admits_only_invoice_app"),
    ("gateway-hosts-opened", "the Gateway admits VirtualServices of every namespace (*/*)", gateway_hosts_opened,
     "pytest:test_gateway_hosts_admit_only_the_invoice_namespace"),
    ("gateway-routes-payments", "a VirtualService routes /payments through the gateway to payment-provider", gateway_route_to_payment,
     "pytest:test_nothing_routes_to_payment_through_the_gateway"),
    ("gateway-selector", "the Gateway selects istio: ingress-gateway", gateway_selector_wrong,
     "cluster-analyze pytest:test_gateway_selects_the_ingress_gateway"),
    ("route-missing-host", "the gateway route names a Service that does not exist", route_to_missing_service,
     "cluster-analyze"),
    ("run-as-root", "invoice-app runAsUser: 0", run_as_root,
     "checkov:CKV_K8S_40 pytest:test_container_security_context"),
    ("misspelled-k8s-field", "readOnlyRootFileSystem (capital S) in payment-provider", misspelled_kubernetes_field,
     "kubeconform checkov:CKV_K8S_22 pytest:test_container_security_context"),
    ("misspelled-istio-field", "maxConnection in a DestinationRule", misspelled_istio_field,
     "kubeconform"),
    ("unknown-istio-enum", "DestinationRule tls.mode ISTIO_MUTAL", unknown_istio_enum,
     "kubeconform istioctl-analyze cluster-analyze pytest:test_destination_rules_keep_istio_mutual_tls"),
    ("unknown-k8s-enum", "imagePullPolicy: Sometimes", unknown_kubernetes_enum,
     "pytest:test_kubernetes_enum_values"),
    ("probe-removed", "payment-provider without livenessProbe", probe_removed,
     "checkov:CKV_K8S_8 pytest:test_container_probes"),
    ("image-latest", "image paymesh/invoice-app:latest", image_latest,
     "checkov:CKV_K8S_14 pytest:test_container_image_is_pinned,test_one_version_of_the_services,test_version_label_is_the_image_version"),
    ("image-movable-tag", "invoice-db's postgres image by tag only, its digest dropped", image_movable_tag,
     "pytest:test_container_image_is_pinned"),
    ("pdb-blocks-drains", "payment-provider's PodDisruptionBudget minAvailable: 100%", budget_blocks_drains,
     "pytest:test_deployment_has_a_disruption_budget"),
    ("token-mounted", "payment-provider automountServiceAccountToken: true", token_mounted,
     "checkov:CKV_K8S_38 pytest:test_workload_has_its_own_service_account"),
    ("metrics-not-merged", "payment-provider without its prometheus.io annotations", metrics_not_merged,
     "pytest:test_app_metrics_reach_prometheus_through_the_merge"),
    ("port-name", "Service port named web (no protocol prefix)", port_name_without_protocol,
     "pytest:test_service_ports_name_their_protocol"),
    ("netpol-opened", "payment-provider's NetworkPolicy admits every namespace", network_policy_opened,
     "pytest:test_network_policy_admits_only_the_intended_callers"),
    ("netpol-namespace-dropped", "payment-provider's NetworkPolicy peer without its namespaceSelector", network_policy_namespace_dropped,
     "pytest:test_network_policy_admits_only_the_intended_callers"),
    ("max-unavailable", "invoice-app rolling update maxUnavailable: 1", rollout_drops_capacity,
     "pytest:test_deployment_rolls_out_without_losing_capacity"),
    ("pdb-removed", "payment-provider without PodDisruptionBudget", disruption_budget_removed,
     "pytest:test_deployment_has_a_disruption_budget"),
    ("install-enum", "IstioOperator outboundTrafficPolicy REGISTRY_ONY", install_unknown_value,
     "istioctl-install kube-inject cluster-analyze pytest:" + INSTALL_MISSING),
    ("install-field", "IstioOperator ingress gateway k8s.resource (misspelled)", install_misspelled_field,
     "istioctl-install kube-inject cluster-analyze pytest:" + INSTALL_MISSING),
]


# Changes that keep the meaning: each must pass every tool, so no check rejects a valid form.
EQUIVALENTS = [
    ("pdb-percentage", "invoice-app's PodDisruptionBudget as minAvailable: 66% of 3 replicas", budget_as_percentage),
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
    """Runs check-render.sh on a directory. Returns what failed, as {tool: names}: for pytest the
    tests (without their parameters), for checkov the check ids, for the other tools nothing more
    than the tool; and the pytest tests that crashed instead of failing their assertion."""
    completed = subprocess.run([str(HERE / "check-render.sh"), str(directory)], capture_output=True, text=True, check=False)
    output = completed.stdout + completed.stderr
    (directory / "checks.log").write_text(output)
    results = {}
    for line in output.splitlines():
        m = RESULT_LINE.match(line)
        if m:
            results[m.group(2)] = m.group(1)
    if set(results) != set(TOOLS):
        raise RuntimeError(f"check-render.sh reported {sorted(results)}, expected {TOOLS}:\n{output}")
    failed = {tool: frozenset() for tool in TOOLS if results[tool] == "FAIL"}
    if "checkov" in failed:
        failed["checkov"] = frozenset(m.group(1) for m in map(CHECKOV_FINDING.match, output.splitlines()) if m)
    crashes = []
    report = directory / "derived" / "invariants.xml"
    if report.exists():
        tests = set()
        for case in ET.parse(report).getroot().iter("testcase"):
            name = case.get("name").split("[", 1)[0]
            if case.find("error") is not None:
                crashes.append(f"{case.get('name')}: error")
            failure = case.find("failure")
            if failure is not None:
                tests.add(name)
                if not (failure.get("message") or "").startswith(VERDICTS):
                    crashes.append(f"{case.get('name')}: {failure.get('message')}")
        if "pytest" in failed:
            failed["pytest"] = frozenset(tests)
    elif "pytest" in failed:
        crashes.append("pytest wrote no report")
    return failed, crashes


def parse_expected(spec):
    """'pytest:test_a,test_b checkov:CKV_K8S_20 kubeconform' -> {tool: frozenset(names)}."""
    expected = {}
    for word in spec.split():
        tool, _, names = word.partition(":")
        assert tool in TOOLS, f"unknown tool {tool} in {spec!r}"
        expected[tool] = frozenset(names.split(",")) if names else frozenset()
    return expected


def describe(failed):
    return " ".join(f"{tool}:{','.join(sorted(names))}" if names else tool
                    for tool, names in failed.items()) or "nothing"


def main():
    if len(sys.argv) != 3:
        raise SystemExit(__doc__)
    source, work = pathlib.Path(sys.argv[1]), pathlib.Path(sys.argv[2])
    shutil.rmtree(work, ignore_errors=True)
    base = load(source)
    cases = [("unbroken", "the rendered set as it is", None, "")]
    cases += [(name, description, change, "") for name, description, change in EQUIVALENTS]
    cases += MUTATIONS
    jobs = {}
    for name, _, mutate, _ in cases:
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
        for name, description, _, spec in cases:
            kind = "mutation" if spec else "unchanged"
            target = jobs[name]
            if not isinstance(target, pathlib.Path):
                failures += 1
                print(f"FAIL: {kind} {name}: cannot apply ({target}); the rendered set changed, update mutations.py")
                continue
            failed, crashes = futures[name].result()
            rows[name] = failed
            expected = parse_expected(spec)
            if failed == expected and not crashes:
                verdict = f"caught by {describe(failed)}" if spec else "passes every tool"
                print(f"PASS: {kind} {name} ({description}) {verdict}")
                continue
            failures += 1
            print(f"FAIL: {kind} {name} ({description}): expected {describe(expected)}, failed {describe(failed)}"
                  + (f"; crashed: {'; '.join(crashes)}" if crashes else "") + f"; see {target / 'checks.log'}")
    print()
    width = max(len(case[0]) for case in cases)
    print(" " * width + "  " + "  ".join(TOOLS))
    for name, _, _, spec in MUTATIONS:
        failed = rows.get(name, {})
        cells = ["X".center(len(t)) if t in failed else ".".center(len(t)) for t in TOOLS]
        print(name.ljust(width) + "  " + "  ".join(cells))
    return 1 if failures else 0


if __name__ == "__main__":
    sys.exit(main())
