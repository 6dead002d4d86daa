"""The system's security model and pod rules, as tests over the rendered manifests.

Each test reads what `kustomize build` produced (not the sources), so what is checked is what
deploy.sh applies. The names below are the system's own (docs/architecture.md describes who may
call whom); each test says what broke.
"""
import json
import pathlib
import re
import xml.etree.ElementTree as ET

import pytest

ROOT = pathlib.Path(__file__).resolve().parents[2]
ROOT_NAMESPACE = "istio-system"
APP_NAMESPACES = {"invoice", "payment"}
INVOICE_APP_PRINCIPAL = "cluster.local/ns/invoice/sa/invoice-app"
INGRESS_GATEWAY_SELECTOR = {"istio": "ingressgateway"}
# Service port names Istio reads as a protocol: <protocol> or <protocol>-<suffix>.
ISTIO_PORT_PROTOCOLS = ("http", "http2", "https", "grpc", "grpc-web", "tcp", "tls", "udp", "mongo", "mysql", "redis")
# Which workload may reach each database, by the agreed names.
DATABASE_CLIENTS = {("invoice", "invoice-db"): "invoice-app", ("payment", "payment-db"): "payment-provider"}
NEGATIVE_FIELD = re.compile(r"^not[A-Z]")
# Where Helidon serves each service's own metrics (the observe feature, on the service's port).
APP_METRICS_PATH = "/observe/metrics"
# The images deploy.sh builds; their tag in manifests/ is the services' version.
APP_IMAGE = re.compile(r"^paymesh/[a-z-]+:(?P<tag>[^@]+)$")
RELEASE_TAG = re.compile(r"\d+\.\d+\.\d+(-[0-9A-Za-z.-]+)?")
POM = "{http://maven.apache.org/POM/4.0.0}"


# ---------- helpers ----------

def ns(obj):
    return obj["metadata"].get("namespace", "default")


def ident(obj):
    return f"{obj['kind']} {ns(obj)}/{obj['metadata']['name']}"


def pod_labels(workload):
    return (workload["spec"]["template"].get("metadata") or {}).get("labels") or {}


def pod_spec(workload):
    return workload["spec"]["template"]["spec"]


def selects(match_labels, labels):
    return all(labels.get(k) == v for k, v in (match_labels or {}).items())


def workload(rendered, namespace, name):
    for w in rendered.workloads():
        if ns(w) == namespace and w["metadata"]["name"] == name:
            return w
    pytest.fail(f"workload {namespace}/{name} is not in the rendered manifests")


def principal_of(w):
    sa = pod_spec(w).get("serviceAccountName") or "default"
    return f"cluster.local/ns/{ns(w)}/sa/{sa}"


def policies_applying_to(rendered, w, action="ALLOW"):
    """AuthorizationPolicies with this action that apply to workload w (its namespace's and the root namespace's)."""
    found = []
    for p in rendered.of_kind("AuthorizationPolicy"):
        spec = p.get("spec") or {}
        if (spec.get("action") or "ALLOW") != action:
            continue
        if ns(p) not in (ns(w), ROOT_NAMESPACE):
            continue
        selector = spec.get("selector") or {}
        if selects(selector.get("matchLabels"), pod_labels(w)):
            found.append(p)
    return found


def effective(container, spec, field):
    """A securityContext field as the kubelet applies it: the container's, else the pod's."""
    value = (container.get("securityContext") or {}).get(field)
    return value if value is not None else (spec.get("securityContext") or {}).get(field)


def ingress_gateway_deployment(rendered):
    for d in rendered.of_kind("Deployment", rendered.install):
        if d["metadata"]["name"] == "istio-ingressgateway":
            return d
    pytest.fail("istioctl manifest generate of mesh/istio-install.yaml produced no istio-ingressgateway Deployment")


def host_namespace(host, default_namespace):
    """The namespace a route destination host names (short names are the route's namespace)."""
    parts = host.split(".")
    if len(parts) == 1:
        return default_namespace
    if len(parts) == 2 or host.endswith(".svc.cluster.local") or host.endswith(".svc"):
        return parts[1]
    return None  # an external name: not a Service of the cluster


def gateway_objects_bound_to_ingress(rendered):
    gateways = []
    for g in rendered.of_kind("Gateway"):
        if selects(g["spec"].get("selector"), pod_labels(ingress_gateway_deployment(rendered))):
            gateways.append(g)
    return gateways


def route_destinations(vs):
    spec = vs["spec"]
    for kind in ("http", "tcp", "tls"):
        for route in spec.get(kind) or []:
            for dest in route.get("route") or []:
                yield dest["destination"]
            if route.get("mirror"):
                yield route["mirror"]
            for mirror in route.get("mirrors") or []:
                yield mirror["destination"]


# ---------- mutual TLS ----------

def test_mesh_wide_strict_peer_authentication(rendered):
    mesh_wide = [p for p in rendered.of_kind("PeerAuthentication")
                 if ns(p) == ROOT_NAMESPACE and not (p.get("spec") or {}).get("selector")]
    assert len(mesh_wide) == 1, f"expected one mesh-wide PeerAuthentication in {ROOT_NAMESPACE}, found {len(mesh_wide)}"
    mode = ((mesh_wide[0].get("spec") or {}).get("mtls") or {}).get("mode")
    assert mode == "STRICT", f"{ident(mesh_wide[0])} has mtls.mode {mode!r}, not STRICT"


def test_no_peer_authentication_weakens_mtls(rendered):
    problems = []
    for p in rendered.of_kind("PeerAuthentication"):
        spec = p.get("spec") or {}
        mode = (spec.get("mtls") or {}).get("mode")
        if mode != "STRICT":
            problems.append(f"{ident(p)}: mtls.mode {mode!r} (only STRICT is allowed)")
        if spec.get("portLevelMtls"):
            problems.append(f"{ident(p)}: portLevelMtls {spec['portLevelMtls']} makes a port exception")
    assert not problems, "mTLS weakened: " + "; ".join(problems)


def test_destination_rules_keep_istio_mutual_tls(rendered):
    problems = []
    for d in rendered.of_kind("DestinationRule"):
        policy = d["spec"].get("trafficPolicy") or {}
        policies = [policy] + [p for p in policy.get("portLevelSettings") or []]
        policies += [s.get("trafficPolicy") or {} for s in d["spec"].get("subsets") or []]
        for p in policies:
            mode = (p.get("tls") or {}).get("mode")
            if mode not in (None, "ISTIO_MUTUAL"):
                problems.append(f"{ident(d)}: tls.mode {mode}")
    assert not problems, "a DestinationRule turns off the mesh's mTLS: " + "; ".join(problems)


# ---------- authorization ----------

def test_app_namespaces_are_injected(rendered):
    injected = {n["metadata"]["name"] for n in rendered.of_kind("Namespace")
                if (n["metadata"].get("labels") or {}).get("istio-injection") == "enabled"}
    assert APP_NAMESPACES <= injected, f"namespaces without istio-injection: enabled: {sorted(APP_NAMESPACES - injected)}"


@pytest.mark.parametrize("namespace", sorted(APP_NAMESPACES))
def test_allow_nothing_in_app_namespace(rendered, namespace):
    policy = rendered.named("AuthorizationPolicy", namespace, "allow-nothing")
    assert policy is not None, f"namespace {namespace} has no AuthorizationPolicy allow-nothing"
    assert not policy.get("spec"), f"{ident(policy)} must have an empty spec (deny by default), has {policy.get('spec')}"


def test_payment_provider_admits_only_invoice_app(rendered):
    invoice_app = workload(rendered, "invoice", "invoice-app")
    assert principal_of(invoice_app) == INVOICE_APP_PRINCIPAL, (
        f"invoice-app runs as {principal_of(invoice_app)}, not {INVOICE_APP_PRINCIPAL}: "
        "payment-provider's policy would admit an identity nobody has")
    assert rendered.named("ServiceAccount", "invoice", pod_spec(invoice_app)["serviceAccountName"]), (
        "invoice-app's ServiceAccount is not in the rendered manifests")
    provider = workload(rendered, "payment", "payment-provider")
    allows = policies_applying_to(rendered, provider)
    allows = [p for p in allows if (p.get("spec") or {}).get("rules")]
    assert len(allows) == 1, f"payment-provider must have exactly one ALLOW policy with rules, has {[ident(p) for p in allows]}"
    rules = allows[0]["spec"]["rules"]
    assert len(rules) == 1, (
        f"{ident(allows[0])} has {len(rules)} rules; rules are ORed, so only one rule (with from and to) is allowed")
    rule = rules[0]
    assert rule.get("from") and rule.get("to"), (
        f"{ident(allows[0])}: from and to must be in the same rule (from={rule.get('from')}, to={rule.get('to')})")
    sources = [f["source"] for f in rule["from"]]
    assert sources == [{"principals": [INVOICE_APP_PRINCIPAL]}], (
        f"{ident(allows[0])} admits {sources}; it must admit exactly principal {INVOICE_APP_PRINCIPAL}")
    assert not rule.get("when"), f"{ident(allows[0])}: unexpected conditions {rule.get('when')}"


def test_invoice_app_admits_only_the_ingress_gateway(rendered):
    gateway = ingress_gateway_deployment(rendered)
    gateway_principal = f"cluster.local/ns/{ns(gateway)}/sa/{pod_spec(gateway)['serviceAccountName']}"
    app = workload(rendered, "invoice", "invoice-app")
    allows = [p for p in policies_applying_to(rendered, app) if (p.get("spec") or {}).get("rules")]
    assert allows, "invoice-app has no ALLOW policy: the gateway could not reach it"
    for p in allows:
        for rule in p["spec"]["rules"]:
            sources = [f["source"] for f in rule.get("from") or []]
            assert sources == [{"principals": [gateway_principal]}] and rule.get("to"), (
                f"{ident(p)} rule {rule} must admit exactly {gateway_principal} with a `to`")


@pytest.mark.parametrize("database", sorted(DATABASE_CLIENTS), ids=lambda d: f"{d[0]}/{d[1]}")
def test_database_admits_only_its_app_on_5432(rendered, database):
    namespace, name = database
    db = workload(rendered, namespace, name)
    client = workload(rendered, namespace, DATABASE_CLIENTS[database])
    allows = [p for p in policies_applying_to(rendered, db) if (p.get("spec") or {}).get("rules")]
    assert len(allows) == 1, f"{namespace}/{name} must have exactly one ALLOW policy with rules, has {[ident(p) for p in allows]}"
    rules = allows[0]["spec"]["rules"]
    expected = [{"from": [{"source": {"principals": [principal_of(client)]}}], "to": [{"operation": {"ports": ["5432"]}}]}]
    assert rules == expected, f"{ident(allows[0])} rules are {rules}; expected only {principal_of(client)} on port 5432"


def test_allow_policies_use_positive_matches_only(rendered):
    problems = []
    for p in rendered.of_kind("AuthorizationPolicy"):
        spec = p.get("spec") or {}
        if (spec.get("action") or "ALLOW") != "ALLOW":
            continue
        for rule in spec.get("rules") or []:
            fields = [k for f in rule.get("from") or [] for k in (f.get("source") or {})]
            fields += [k for t in rule.get("to") or [] for k in (t.get("operation") or {})]
            fields += ["notValues" for c in rule.get("when") or [] if c.get("notValues")]
            problems += [f"{ident(p)}: {k}" for k in fields if NEGATIVE_FIELD.match(k)]
    assert not problems, "ALLOW policies with negative matches admit by what a caller is not: " + "; ".join(problems)


def test_no_allow_policy_in_the_root_namespace(rendered):
    root = [ident(p) for p in rendered.of_kind("AuthorizationPolicy")
            if ns(p) == ROOT_NAMESPACE and ((p.get("spec") or {}).get("action") or "ALLOW") == "ALLOW"
            and (p.get("spec") or {}).get("rules")]
    assert not root, f"ALLOW policies in the root namespace apply mesh-wide: {root}"


# ---------- ingress ----------

def test_gateway_selects_the_ingress_gateway(rendered):
    gateways = rendered.of_kind("Gateway")
    assert gateways, "no Gateway in the rendered mesh configuration"
    labels = pod_labels(ingress_gateway_deployment(rendered))
    for g in gateways:
        selector = g["spec"].get("selector") or {}
        assert selector == INGRESS_GATEWAY_SELECTOR, f"{ident(g)} selector {selector} is not {INGRESS_GATEWAY_SELECTOR}"
        assert selects(selector, labels), f"{ident(g)} selector {selector} matches no label of the ingress gateway pods {labels}"


def test_gateway_hosts_admit_only_the_invoice_namespace(rendered):
    for g in rendered.of_kind("Gateway"):
        for server in g["spec"].get("servers") or []:
            for host in server.get("hosts") or []:
                namespace = host.split("/", 1)[0] if "/" in host else "*"
                if namespace == ".":
                    namespace = ns(g)
                assert namespace == "invoice", (
                    f"{ident(g)} host {host!r} lets VirtualServices of namespace {namespace!r} bind to the ingress gateway")


def test_nothing_routes_to_payment_through_the_gateway(rendered):
    bound = {(ns(g), g["metadata"]["name"]) for g in gateway_objects_bound_to_ingress(rendered)}
    problems = []
    for vs in rendered.of_kind("VirtualService"):
        refs = vs["spec"].get("gateways") or []
        refs = {tuple(r.split("/", 1)) if "/" in r else (ns(vs), r) for r in refs if r != "mesh"}
        if not refs & bound:
            continue
        if ns(vs) == "payment":
            problems.append(f"{ident(vs)} in namespace payment is bound to the ingress gateway")
        for dest in route_destinations(vs):
            host = dest.get("host", "")
            if host_namespace(host, ns(vs)) == "payment" or host.split(".")[0] == "payment-provider":
                problems.append(f"{ident(vs)} routes gateway traffic to {host}")
        if vs["spec"].get("http") and any(r.get("delegate") for r in vs["spec"]["http"]):
            problems.append(f"{ident(vs)} delegates gateway routes, which this check cannot follow")
    assert not problems, "; ".join(problems)


# ---------- pods ----------

def test_container_security_context(workload, container, group):
    spec = pod_spec(workload)
    where = f"{ident(workload)} {group[:-1]} {container['name']}"
    uid = effective(container, spec, "runAsUser")
    assert isinstance(uid, int) and uid > 0, f"{where}: runAsUser is {uid!r}, must be a numeric non-root uid"
    assert effective(container, spec, "runAsNonRoot") is True, f"{where}: runAsNonRoot is not true"
    sc = container.get("securityContext") or {}
    assert sc.get("readOnlyRootFilesystem") is True, f"{where}: readOnlyRootFilesystem is not true"
    assert sc.get("allowPrivilegeEscalation") is False, f"{where}: allowPrivilegeEscalation is not false"
    assert not sc.get("privileged"), f"{where}: privileged"
    caps = sc.get("capabilities") or {}
    assert "ALL" in (caps.get("drop") or []), f"{where}: capabilities do not drop ALL"
    assert not caps.get("add"), f"{where}: adds capabilities {caps.get('add')}"
    seccomp = (effective(container, spec, "seccompProfile") or {}).get("type")
    assert seccomp == "RuntimeDefault", f"{where}: seccompProfile type is {seccomp!r}, not RuntimeDefault"


def test_container_resources(workload, container, group):
    resources = container.get("resources") or {}
    missing = [f"{kind}.{r}" for kind in ("requests", "limits") for r in ("cpu", "memory")
               if not (resources.get(kind) or {}).get(r)]
    assert not missing, f"{ident(workload)} container {container['name']} lacks {', '.join(missing)}"


def test_container_probes(workload, container, group):
    missing = [p for p in ("startupProbe", "readinessProbe", "livenessProbe") if not container.get(p)]
    assert not missing, f"{ident(workload)} container {container['name']} has no {', '.join(missing)}"
    named = {p["name"] for p in container.get("ports") or [] if p.get("name")}
    for probe in ("startupProbe", "readinessProbe", "livenessProbe"):
        port = (container[probe].get("httpGet") or container[probe].get("tcpSocket") or {}).get("port")
        if isinstance(port, str):
            assert port in named, f"{ident(workload)} {probe} uses port {port!r}, which the container does not name"


# Init containers run to completion and take no probes.
test_container_probes.main_containers_only = True


def test_container_image_is_pinned(workload, container, group):
    """A public image is pinned by digest: a tag, even a long one, can be moved to other bytes.
    The project's own images are built by deploy.sh and loaded onto the node, never pulled; their
    tag is the release version (test_one_version_of_the_services) and must be one."""
    image = container.get("image", "")
    where = f"{ident(workload)} container {container['name']} image {image!r}"
    own = APP_IMAGE.match(image)
    if own:
        assert RELEASE_TAG.fullmatch(own.group("tag")), f"{where}: our image's tag is not a release version"
        return
    name, _, digest = image.partition("@")
    assert re.fullmatch(r"sha256:[0-9a-f]{64}", digest), f"{where} is not pinned by a sha256 digest"
    tag = name.rsplit("/", 1)[-1].partition(":")[2]
    assert tag and tag != "latest", f"{where}: the tag beside the digest must say which version it is"


def test_workload_has_its_own_service_account(rendered, workload):
    spec = pod_spec(workload)
    name = spec.get("serviceAccountName")
    assert name and name != "default", f"{ident(workload)} runs as the default ServiceAccount"
    account = rendered.named("ServiceAccount", ns(workload), name)
    assert account is not None, f"{ident(workload)} uses ServiceAccount {name}, which is not rendered"
    others = [ident(w) for w in rendered.workloads()
              if ident(w) != ident(workload) and ns(w) == ns(workload) and pod_spec(w).get("serviceAccountName") == name]
    assert not others, f"{ident(workload)} shares ServiceAccount {name} with {others}"
    automount = spec.get("automountServiceAccountToken")
    if automount is None:
        automount = account.get("automountServiceAccountToken", True)
    assert automount is False, f"{ident(workload)} mounts a Kubernetes API token (automountServiceAccountToken)"


def test_workload_selector_matches_its_pods(workload):
    selector = workload["spec"]["selector"].get("matchLabels") or {}
    assert selector and selects(selector, pod_labels(workload)), (
        f"{ident(workload)} selector {selector} does not match its pod labels {pod_labels(workload)}")


def test_deployment_rolls_out_without_losing_capacity(deployment):
    workload = deployment
    strategy = workload["spec"].get("strategy") or {}
    assert strategy.get("type", "RollingUpdate") == "RollingUpdate", f"{ident(workload)} strategy is {strategy.get('type')}"
    max_unavailable = (strategy.get("rollingUpdate") or {}).get("maxUnavailable")
    assert max_unavailable in (0, "0%"), f"{ident(workload)} rollingUpdate.maxUnavailable is {max_unavailable!r}, not 0"


# The single-replica databases have no budget: one of zero disruptions would block every node drain.
def test_deployment_has_a_disruption_budget(rendered, deployment):
    workload = deployment
    budgets = [p for p in rendered.of_kind("PodDisruptionBudget")
               if ns(p) == ns(workload) and selects(p["spec"]["selector"].get("matchLabels"), pod_labels(workload))]
    assert len(budgets) == 1, f"{ident(workload)} is covered by {len(budgets)} PodDisruptionBudgets, not one"
    spec = budgets[0]["spec"]
    replicas = workload["spec"].get("replicas", 1)
    assert ("minAvailable" in spec) != ("maxUnavailable" in spec), \
        f"{ident(budgets[0])} must set exactly one of minAvailable and maxUnavailable"
    if "maxUnavailable" in spec:
        may_leave = pods_of(spec["maxUnavailable"], replicas)
    else:
        may_leave = replicas - pods_of(spec["minAvailable"], replicas)
    assert may_leave >= 1, f"{ident(budgets[0])} allows no disruption of {replicas} pods: node drains would hang"
    assert replicas - may_leave >= 1, f"{ident(budgets[0])} lets every one of {replicas} pods go at once"


def pods_of(value, replicas):
    """A PodDisruptionBudget count: an integer, or a percentage of the replicas that the
    disruption controller rounds up (for minAvailable and maxUnavailable alike)."""
    if isinstance(value, int):
        return value
    m = re.fullmatch(r"(\d+)%", str(value))
    assert m, f"{value!r} is neither a pod count nor a percentage"
    share = int(m.group(1)) * replicas
    return -(-share // 100)


# ---------- services ----------

def test_service_ports_name_their_protocol(rendered):
    problems = []
    for s in rendered.of_kind("Service"):
        for port in s["spec"].get("ports") or []:
            name = port.get("name", "")
            if not any(name == p or name.startswith(p + "-") for p in ISTIO_PORT_PROTOCOLS):
                problems.append(f"{ident(s)} port {port.get('port')} name {name!r}")
    assert not problems, "Service ports Istio would have to guess the protocol of: " + "; ".join(problems)


def test_services_select_pods_and_name_real_ports(rendered):
    for s in rendered.of_kind("Service"):
        selector = s["spec"].get("selector") or {}
        targets = [w for w in rendered.workloads() if ns(w) == ns(s) and selector and selects(selector, pod_labels(w))]
        assert targets, f"{ident(s)} selector {selector} matches no pod"
        for port in s["spec"].get("ports") or []:
            target = port.get("targetPort", port["port"])
            for w in targets:
                ports = [p for c in pod_spec(w)["containers"] for p in c.get("ports") or []]
                ok = any(p.get("name") == target for p in ports) if isinstance(target, str) else \
                    any(p["containerPort"] == target for p in ports)
                assert ok, f"{ident(s)} targetPort {target!r} is no container port of {ident(w)}"


def test_service_urls_in_env_point_at_rendered_services(rendered):
    url = re.compile(r"^(?:jdbc:)?[a-z]+://([a-z0-9-]+)\.([a-z0-9-]+)\.svc\.cluster\.local:(\d+)")
    seen = 0
    for w in rendered.workloads():
        for c in pod_spec(w)["containers"]:
            for env in c.get("env") or []:
                m = url.match(str(env.get("value", "")))
                if not m:
                    continue
                seen += 1
                service = rendered.named("Service", m.group(2), m.group(1))
                assert service, f"{ident(w)} env {env['name']} names Service {m.group(2)}/{m.group(1)}, which is not rendered"
                ports = [p["port"] for p in service["spec"]["ports"]]
                assert int(m.group(3)) in ports, f"{ident(w)} env {env['name']} uses port {m.group(3)}, {ident(service)} has {ports}"
    assert seen >= 3, f"expected the payment-provider URL and two database URLs in the env, found {seen}"


# ---------- network policies ----------

def _ingress_rules(rendered, namespace, labels):
    """The NetworkPolicy ingress rules that admit traffic into pods with these labels."""
    rules, isolated = [], False
    for p in rendered.of_kind("NetworkPolicy"):
        if ns(p) != namespace or not selects(p["spec"]["podSelector"].get("matchLabels"), labels):
            continue
        if "Ingress" in (p["spec"].get("policyTypes") or ["Ingress"]):
            isolated = True
            rules += [(p, r) for r in p["spec"].get("ingress") or []]
    return isolated, rules


def _peer_is(peer, policy_namespace, namespace, pod_match):
    """True when a peer of a NetworkPolicy in `policy_namespace` admits exactly pods matching
    pod_match in `namespace`. A peer without a namespaceSelector means the policy's own namespace,
    not the caller's."""
    namespace_selector = peer.get("namespaceSelector")
    if namespace_selector is None:
        same_ns = namespace == policy_namespace
    else:
        same_ns = namespace_selector == {"matchLabels": {"kubernetes.io/metadata.name": namespace}}
    return same_ns and "ipBlock" not in peer and (peer.get("podSelector") or {}) == (
        {"matchLabels": pod_match} if pod_match else {})


def _scrape_rule(rule):
    ports = {p.get("port") for p in rule.get("ports") or []}
    return rule.get("ports") and ports <= {15020, 15090} and all(
        peer.get("namespaceSelector") == {"matchLabels": {"kubernetes.io/metadata.name": ROOT_NAMESPACE}}
        and not peer.get("podSelector") and "ipBlock" not in peer for peer in rule.get("from") or [{}])


# What each team namespace admits: (workload, caller namespace, caller pod labels, ports).
NETWORK_INTENT = {
    ("payment", "payment-provider"): [("invoice", {"app.kubernetes.io/name": "invoice-app"}, {8082})],
    ("payment", "payment-db"): [("payment", {"app.kubernetes.io/name": "payment-provider"}, {5432})],
    ("invoice", "invoice-app"): [(ROOT_NAMESPACE, {"istio": "ingressgateway"}, {8081})],
    ("invoice", "invoice-db"): [("invoice", {"app.kubernetes.io/name": "invoice-app"}, {5432})],
}


@pytest.mark.parametrize("target", sorted(NETWORK_INTENT), ids=lambda t: f"{t[0]}/{t[1]}")
def test_network_policy_admits_only_the_intended_callers(rendered, target):
    namespace, name = target
    w = workload(rendered, namespace, name)
    isolated, rules = _ingress_rules(rendered, namespace, pod_labels(w))
    assert isolated, f"no NetworkPolicy isolates {namespace}/{name}: every pod may connect to it"
    intent = NETWORK_INTENT[target]
    for policy, rule in rules:
        if _scrape_rule(rule):
            continue  # Prometheus in istio-system scraping the proxy's metrics ports
        peers = rule.get("from")
        ports = {p.get("port") for p in rule.get("ports") or []}
        assert peers and rule.get("ports"), f"{ident(policy)} admits {'any source' if not peers else 'any port'} into {namespace}/{name}"
        for peer in peers:
            assert any(_peer_is(peer, namespace, caller_ns, labels) and ports <= allowed
                       for caller_ns, labels, allowed in intent), (
                f"{ident(policy)} admits {peer} on ports {sorted(ports)} into {namespace}/{name}; "
                f"only {intent} (and istio-system on 15020/15090) are intended")
    # The intended callers are really admitted, and the labels they use are the callers' real labels.
    for caller_ns, labels, allowed in intent:
        assert any(any(_peer_is(peer, namespace, caller_ns, labels) for peer in rule.get("from") or [])
                   and allowed <= {p.get("port") for p in rule.get("ports") or []} for _, rule in rules), (
            f"{namespace}/{name} does not admit {caller_ns} pods {labels} on {sorted(allowed)}")
        if caller_ns != ROOT_NAMESPACE:
            callers = [c for c in rendered.workloads() if ns(c) == caller_ns and selects(labels, pod_labels(c))]
            assert callers, f"no pod in {caller_ns} carries {labels}: the rule for {namespace}/{name} admits nobody"


def test_ingress_gateway_pods_carry_the_labels_network_policy_admits(rendered):
    labels = pod_labels(ingress_gateway_deployment(rendered))
    assert selects({"istio": "ingressgateway"}, labels), f"ingress gateway pod labels {labels}"


@pytest.mark.parametrize("namespace", sorted(APP_NAMESPACES))
def test_namespace_denies_ingress_by_default(rendered, namespace):
    deny = [p for p in rendered.of_kind("NetworkPolicy") if ns(p) == namespace and p["spec"]["podSelector"] in ({}, None)
            and "Ingress" in (p["spec"].get("policyTypes") or []) and not p["spec"].get("ingress")]
    assert deny, f"namespace {namespace} has no default-deny ingress NetworkPolicy"


# ---------- values the API server checks but the OpenAPI schemas do not list ----------

ENUMS = {
    "imagePullPolicy": {"Always", "IfNotPresent", "Never"},
    "protocol": {"TCP", "UDP", "SCTP"},
    "restartPolicy": {"Always", "OnFailure", "Never"},
    "dnsPolicy": {"ClusterFirst", "ClusterFirstWithHostNet", "Default", "None"},
    "whenUnsatisfiable": {"DoNotSchedule", "ScheduleAnyway"},
    "podManagementPolicy": {"OrderedReady", "Parallel"},
    "unhealthyPodEvictionPolicy": {"IfHealthyBudget", "AlwaysAllow"},
    "policyTypes": {"Ingress", "Egress"},
    "accessModes": {"ReadWriteOnce", "ReadOnlyMany", "ReadWriteMany", "ReadWriteOncePod"},
}
TYPE_ENUMS = {
    "Service": {"ClusterIP", "NodePort", "LoadBalancer", "ExternalName"},
    "seccompProfile": {"RuntimeDefault", "Localhost", "Unconfined"},
    "strategy": {"RollingUpdate", "Recreate"},
    "updateStrategy": {"RollingUpdate", "OnDelete"},
}


def _walk(node, path, found):
    if isinstance(node, dict):
        for key, value in node.items():
            if key in ENUMS:
                for v in value if isinstance(value, list) else [value]:
                    if isinstance(v, str) and v not in ENUMS[key]:
                        found.append(f"{path}.{key}={v!r}")
            if key in TYPE_ENUMS and isinstance(value, dict) and value.get("type") not in TYPE_ENUMS[key] | {None}:
                found.append(f"{path}.{key}.type={value.get('type')!r}")
            _walk(value, f"{path}.{key}", found)
    elif isinstance(node, list):
        for i, value in enumerate(node):
            _walk(value, f"{path}[{i}]", found)


def test_kubernetes_enum_values(rendered):
    found = []
    for o in rendered.objects:
        if "istio.io" in o.get("apiVersion", ""):
            continue  # Istio's enums are in its CRD schemas, checked by kubeconform
        _walk(o.get("spec") or {}, ident(o), found)
        if o["kind"] == "Service" and (o["spec"].get("type") or "ClusterIP") not in TYPE_ENUMS["Service"]:
            found.append(f"{ident(o)} type {o['spec'].get('type')!r}")
    assert not found, "values the API server refuses: " + "; ".join(found)


# ---------- images ----------

@pytest.mark.parametrize("dockerfile", ["Dockerfile"])
def test_dockerfile_base_images_pinned_and_user_numeric(dockerfile):
    text = (ROOT / dockerfile).read_text()
    defaults = dict(re.findall(r"^ARG\s+(\w+)=(\S+)", text, re.M))
    froms = re.findall(r"^FROM\s+(\S+)(?:\s+AS\s+(\S+))?", text, re.M | re.I)
    assert froms, f"{dockerfile} has no FROM"
    stages = set()
    for image, stage in froms:
        if stage:
            stages.add(stage)
        if image in stages - {stage}:
            continue  # an earlier stage of this file, itself built on a checked base image
        m = re.fullmatch(r"\$\{?(\w+)\}?", image)
        resolved = defaults.get(m.group(1)) if m else image
        assert resolved, f"{dockerfile}: FROM {image} has no ARG default"
        tag = resolved.split("@")[0].rsplit("/", 1)[-1].partition(":")[2]
        assert tag and tag != "latest", f"{dockerfile}: base image {resolved} is not pinned to a tag"
    users = re.findall(r"^USER\s+(\S+)", text, re.M)
    assert users, f"{dockerfile} sets no USER: the image would run as root"
    uid = users[-1].split(":")[0]
    assert uid.isdigit() and int(uid) > 0, f"{dockerfile}: USER {users[-1]} is not a numeric non-root uid"


# ---------- observability ----------

def injected_twin(rendered, workload):
    for o in rendered.injected:
        meta = o.get("metadata") or {}
        if o.get("kind") == workload["kind"] and meta.get("namespace") == ns(workload) and meta.get("name") == workload["metadata"]["name"]:
            return o
    pytest.fail(f"{ident(workload)} is missing from the output of istioctl kube-inject")


def test_app_metrics_reach_prometheus_through_the_merge(rendered, deployment):
    """Prometheus scrapes each pod once, on its proxy; the proxy serves the app's metrics only
    when the pod's prometheus.io annotations named them and the injector moved them into the
    proxy's ISTIO_PROMETHEUS_ANNOTATIONS."""
    injected = injected_twin(rendered, deployment)
    annotations = (injected["spec"]["template"].get("metadata") or {}).get("annotations") or {}
    status_port = str((rendered.mesh_config.get("defaultConfig") or {}).get("statusPort", 15020))
    assert (annotations.get("prometheus.io/scrape"), annotations.get("prometheus.io/port"), annotations.get("prometheus.io/path")) \
        == ("true", status_port, "/stats/prometheus"), \
        f"{ident(deployment)}: the injected pod is not scraped on its proxy's merged metrics ({status_port}, /stats/prometheus): {annotations}"
    spec = injected["spec"]["template"]["spec"]
    proxies = [c for c in (spec.get("initContainers") or []) + spec["containers"] if c["name"] == "istio-proxy"]
    assert len(proxies) == 1, f"{ident(deployment)}: the injected pod has {len(proxies)} istio-proxy containers"
    merged = {e["name"]: e.get("value") for e in proxies[0].get("env") or []}.get("ISTIO_PROMETHEUS_ANNOTATIONS")
    assert merged, (f"{ident(deployment)}: the proxy has no ISTIO_PROMETHEUS_ANNOTATIONS, so it serves its own metrics only; "
                    f"give the pod template prometheus.io/scrape, port and path for {APP_METRICS_PATH}")
    app_container = pod_spec(deployment)["containers"][0]
    http_port = next((p["containerPort"] for p in app_container.get("ports") or [] if p.get("name") == "http"), None)
    assert json.loads(merged) == {"scrape": "true", "port": str(http_port), "path": APP_METRICS_PATH}, \
        f"{ident(deployment)}: the proxy merges {merged}, not the app's {APP_METRICS_PATH} on its http port {http_port}"


# ---------- versions ----------

def test_version_label_is_the_image_version(workload):
    """app.kubernetes.io/version (what Kiali and kubectl show) is the version the image runs."""
    labels = pod_labels(workload)
    image = pod_spec(workload)["containers"][0]["image"]
    tag = image.split("@", 1)[0].rsplit(":", 1)[1]
    version = labels.get("app.kubernetes.io/version")
    assert version and (tag == version or tag.startswith(version + "-")), \
        f"{ident(workload)} is labelled version {version!r} but runs {image}"
    assert (workload["metadata"].get("labels") or {}).get("app.kubernetes.io/version") == version, \
        f"{ident(workload)}: its own version label differs from its pods' ({version!r})"


def test_one_version_of_the_services(rendered):
    """The services' version is the tag of their images in manifests/ (deploy.sh builds exactly
    those); the Maven build, whose poms must spell it out, carries the same one."""
    tags = set()
    for w in rendered.workloads():
        for c in pod_spec(w)["containers"]:
            m = APP_IMAGE.match(c["image"])
            if m:
                tags.add(m.group("tag"))
    assert len(tags) == 1, f"the services' images carry several versions in manifests/: {sorted(tags)}"
    version = tags.pop()
    found = {}
    for pom in [ROOT / "pom.xml", *sorted(ROOT.glob("*/pom.xml"))]:
        project = ET.parse(pom).getroot()
        name = pom.relative_to(ROOT)
        if project.findtext(f"{POM}version"):
            found[f"{name} version"] = project.findtext(f"{POM}version")
        if project.findtext(f"{POM}parent/{POM}groupId") == "dev.paymesh":
            found[f"{name} parent version"] = project.findtext(f"{POM}parent/{POM}version")
    assert found and all(v == version for v in found.values()), \
        f"the images are tagged {version} in manifests/, the poms say {found}"
