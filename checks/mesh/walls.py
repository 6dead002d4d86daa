"""Every wall of the security model, tried by real traffic through the mesh box, and every
mutation of the security model that changes what traffic is allowed, caught by that traffic.

Used by box.py (`check`, `mutations`); the walls are listed in checks/mesh/README.md.
"""
import concurrent.futures
import json
import pathlib
import shutil
import subprocess
import sys
import time

import box as boxlib

HERE = pathlib.Path(__file__).resolve().parent
sys.path.insert(0, str(HERE.parent / "offline"))
import mutations as offline_mutations  # noqa: E402  (the offline stage's mutation catalogue)

PAYMENTS = "http://payment-provider.payment.svc.cluster.local:8082"
INVOICES = "http://invoice-app.invoice.svc.cluster.local:8081"
PAYMENT_PROBE = "http://payment-probe.payment.svc.cluster.local:8080"
GATEWAY = f"http://{boxlib.NODE_IP}:{boxlib.GATEWAY_NODE_PORT}"
RBAC_DENIED = "RBAC: access denied"
# The ALPN values Istio's client sidecars offer, which its inbound filter chains match on.
HTTP_ALPN = "istio-http/1.1,istio,http/1.1"
TCP_ALPN = "istio-peer-exchange,istio"
PAYMENT_ID = "box-probe-1"
RECORDS_PAYMENT = "payment-provider from invoice-app's pod: POST /payments/pay admitted (200)"

# Mutations of checks/offline/mutations.py that change what traffic is allowed, and those the box
# cannot see with the reason. The rest change no traffic (schemas, pod hardening, rollout).
NOT_SEEN = {
    "netpol-opened": "NetworkPolicies need a CNI that enforces them; the box has none",
    "netpol-namespace-dropped": "NetworkPolicies need a CNI that enforces them; the box has none",
}
TRAFFIC_MUTATIONS = [
    "mtls-permissive", "mtls-port-exception", "second-principal", "from-to-split", "negative-match",
    "allow-nothing-removed", "db-wrong-principal", "identity-changed", "gateway-hosts-opened",
    "gateway-routes-payments", "gateway-selector", "route-missing-host", "netpol-opened", "netpol-namespace-dropped",
]


class Outcome:
    def __init__(self, exit_code, status=None, body="", detail=""):
        self.exit_code, self.status, self.body, self.detail = exit_code, status, body, detail

    def __str__(self):
        if self.status:
            return f"{self.status} {self.body[:80]!r}"
        return self.detail or f"curl exit {self.exit_code}"


class Walls:
    def __init__(self, box):
        self.box = box
        self.passed = self.failed = 0

    def pod(self, name):
        return self.box.pod(name)

    def curl(self, pod_name, method, url, body=None, headers=(), from_node=False):
        args = ["curl", "-sS", "--max-time", "4", "-X", method, "-o", "-", "-w", "\n%{http_code}", url]
        for header in headers:
            args += ["-H", header]
        if body is not None:
            args += ["-H", "Content-Type: application/json", "--data", json.dumps(body)]
        if from_node:
            completed = boxlib.run(boxlib.in_netns(boxlib.NODE_NETNS, args), check=False)
        else:
            completed = self.box.in_pod(self.pod(pod_name), args)
        text, _, code = completed.stdout.rpartition("\n")
        status = code.strip() if code.strip() not in ("", "000") else None
        return Outcome(completed.returncode, status, text.strip(), completed.stderr.strip().splitlines()[-1:] and
                       f"curl exit {completed.returncode}: {completed.stderr.strip().splitlines()[-1]}")

    def probe(self, pod_name, *args, as_app=True):
        completed = self.box.in_pod(self.pod(pod_name), ["python3", str(HERE / "probe.py"), *args], as_app=as_app)
        return completed.stdout.strip() or completed.stderr.strip()

    def mtls(self, pod_name, identity, target, alpn, *request, ca="mesh"):
        cert, key, root = self.box.workload_certificate(identity, ca)
        # The probe trusts the mesh's root whichever CA signed its own certificate: the question
        # is whether the server accepts the client, not the reverse.
        return self.probe(pod_name, "mtls", target, str(cert), str(key), str(self.box.work / "pki/mesh-ca.crt"),
                          alpn, *request, as_app=False)

    def expect(self, name, outcome, ok):
        good = ok(outcome)
        self.passed += good
        self.failed += not good
        print(f"{'PASS' if good else 'FAIL'}: {name} -> {outcome}", flush=True)
        return good

    # ---- expectations
    @staticmethod
    def status(code):
        return lambda o: isinstance(o, Outcome) and o.status == str(code)

    @staticmethod
    def rbac(o):
        return isinstance(o, Outcome) and o.status == "403" and RBAC_DENIED in o.body

    @staticmethod
    def closed(o):
        # 52: empty reply, 56: connection reset: the sidecar closed the connection unanswered.
        return isinstance(o, Outcome) and o.status is None and o.exit_code in (52, 56)

    # ---- the walls
    def run_all(self):
        """Every probe; returns the names of those that failed."""
        def attempt(action):
            try:
                return action()
            except subprocess.TimeoutExpired:
                return Outcome(-1, detail="probe timed out")

        probes = self.probes()
        # The payment the GET probes read is recorded first; the rest are independent requests
        # from different pods: four at a time, reported in order.
        first = {index: attempt(probe[1]) for index, probe in enumerate(probes) if probe[0] == RECORDS_PAYMENT}
        with concurrent.futures.ThreadPoolExecutor(max_workers=4) as pool:
            rest = dict(zip((i for i in range(len(probes)) if i not in first),
                            pool.map(lambda probe: attempt(probe[1]), [p for i, p in enumerate(probes) if i not in first])))
        outcomes = [first.get(i, rest.get(i)) for i in range(len(probes))]
        return [name for (name, _, ok), outcome in zip(probes, outcomes) if not self.expect(name, outcome, ok)]

    def probes(self):
        app = lambda word: (lambda o: (o.startswith(word) if isinstance(o, str) else False))  # noqa: E731
        invoice_db = self.pod("invoice-db")["ip"]
        payment_db = self.pod("payment-db")["ip"]
        payment_provider = self.pod("payment-provider")["ip"]
        invoice_app_id = self.pod("invoice-app")["identity"]
        payment_provider_id = self.pod("payment-provider")["identity"]
        invoice_probe_id = self.pod("invoice-probe")["identity"]
        pay = {"id": PAYMENT_ID, "value": 1, "currency": "EUR"}
        return [
            ("flow: create and pay an invoice through the gateway (gateway -> invoice-app -> payment-provider, databases)",
             self.flow, lambda o: o == "paid"),
            ("gateway: GET /invoices answers 200", lambda: self.curl(None, "GET", f"{GATEWAY}/invoices", from_node=True),
             self.status(200)),
            ("gateway: POST /payments/pay is not routed (404)",
             lambda: self.curl(None, "POST", f"{GATEWAY}/payments/pay", pay, from_node=True), self.status(404)),
            ("gateway: GET /payments/ID is not routed (404)",
             lambda: self.curl(None, "GET", f"{GATEWAY}/payments/{PAYMENT_ID}", from_node=True), self.status(404)),
            ("gateway: an unknown path is not routed (404)",
             lambda: self.curl(None, "GET", f"{GATEWAY}/observe/health", from_node=True), self.status(404)),
            ("gateway: Host outsider.example, bound by a VirtualService of namespace probe, is not routed (404)",
             lambda: self.curl(None, "GET", f"{GATEWAY}/", headers=["Host: outsider.example"], from_node=True),
             self.status(404)),
            (RECORDS_PAYMENT,
             lambda: self.curl("invoice-app", "POST", f"{PAYMENTS}/payments/pay", pay), self.status(200)),
            ("payment-provider from invoice-app's pod: POST /payments/pay/batch admitted (200)",
             lambda: self.curl("invoice-app", "POST", f"{PAYMENTS}/payments/pay/batch", [pay]), self.status(200)),
            ("payment-provider from invoice-app's pod: GET /payments/ID admitted (200)",
             lambda: self.curl("invoice-app", "GET", f"{PAYMENTS}/payments/{PAYMENT_ID}"), self.status(200)),
            ("payment-provider from invoice-app's pod: GET /observe/health/ready refused (403 RBAC)",
             lambda: self.curl("invoice-app", "GET", f"{PAYMENTS}/observe/health/ready"), self.rbac),
            ("payment-provider from invoice-app's pod: DELETE /payments/ID refused (403 RBAC)",
             lambda: self.curl("invoice-app", "DELETE", f"{PAYMENTS}/payments/{PAYMENT_ID}"), self.rbac),
            ("payment-provider from another identity of namespace invoice (invoice-probe): 403 RBAC",
             lambda: self.curl("invoice-probe", "GET", f"{PAYMENTS}/payments/{PAYMENT_ID}"), self.rbac),
            ("payment-provider from another identity of namespace invoice (invoice-probe), POST: 403 RBAC",
             lambda: self.curl("invoice-probe", "POST", f"{PAYMENTS}/payments/pay", pay), self.rbac),
            ("payment-provider from another identity of namespace invoice (invoice-probe), POST batch: 403 RBAC",
             lambda: self.curl("invoice-probe", "POST", f"{PAYMENTS}/payments/pay/batch", [pay]), self.rbac),
            ("payment-provider from an identity of namespace payment (payment-probe): 403 RBAC",
             lambda: self.curl("payment-probe", "GET", f"{PAYMENTS}/payments/{PAYMENT_ID}"), self.rbac),
            ("payment-provider from its own identity (payment-provider's pod): 403 RBAC",
             lambda: self.curl("payment-provider", "GET", f"{PAYMENTS}/payments/{PAYMENT_ID}"), self.rbac),
            ("payment-provider from a third namespace (probe/outsider): 403 RBAC",
             lambda: self.curl("outsider", "GET", f"{PAYMENTS}/payments/{PAYMENT_ID}"), self.rbac),
            ("payment-provider from a pod without a sidecar: closed unanswered (STRICT mTLS)",
             lambda: self.curl("no-sidecar", "GET", f"{PAYMENTS}/payments/{PAYMENT_ID}"), self.closed),
            ("payment-provider, mTLS with invoice-app's SPIFFE id from another CA: handshake fails",
             lambda: self.mtls("no-sidecar", invoice_app_id, f"{payment_provider}:8082", HTTP_ALPN, "GET",
                               f"/payments/{PAYMENT_ID}", ca="rogue"), app("handshake-failed")),
            ("payment-provider, mTLS with invoice-app's SPIFFE id from the mesh CA: admitted (control)",
             lambda: self.mtls("no-sidecar", invoice_app_id, f"{payment_provider}:8082", HTTP_ALPN, "GET",
                               f"/payments/{PAYMENT_ID}"), app("http 200")),
            ("payment-provider, mTLS with invoice-probe's SPIFFE id from the mesh CA: 403 RBAC",
             lambda: self.mtls("no-sidecar", invoice_probe_id, f"{payment_provider}:8082", HTTP_ALPN, "GET",
                               f"/payments/{PAYMENT_ID}"), app("http 403 RBAC")),
            ("invoice-app from another identity of namespace invoice (invoice-probe): 403 RBAC",
             lambda: self.curl("invoice-probe", "GET", f"{INVOICES}/invoices"), self.rbac),
            ("invoice-app from a third namespace (probe/outsider): 403 RBAC",
             lambda: self.curl("outsider", "GET", f"{INVOICES}/invoices"), self.rbac),
            ("invoice-app from a pod without a sidecar: closed unanswered (STRICT mTLS)",
             lambda: self.curl("no-sidecar", "GET", f"{INVOICES}/invoices"), self.closed),
            ("a new workload of namespace payment without a policy (payment-probe) from probe/outsider: 403 RBAC (allow-nothing)",
             lambda: self.curl("outsider", "GET", f"{PAYMENT_PROBE}/"), self.rbac),
            ("invoice-db from invoice-app's pod, through both sidecars: PostgreSQL answers",
             lambda: self.probe("invoice-app", "postgres", "invoice-db.invoice.svc.cluster.local:5432"), app("answered")),
            ("payment-db from payment-provider's pod, through both sidecars: PostgreSQL answers",
             lambda: self.probe("payment-provider", "postgres", "payment-db.payment.svc.cluster.local:5432"), app("answered")),
            ("invoice-db, mTLS with payment-provider's identity: closed by RBAC",
             lambda: self.mtls("no-sidecar", payment_provider_id, f"{invoice_db}:5432", TCP_ALPN, "postgres"), app("closed")),
            ("payment-db, mTLS with invoice-app's identity: closed by RBAC",
             lambda: self.mtls("no-sidecar", invoice_app_id, f"{payment_db}:5432", TCP_ALPN, "postgres"), app("closed")),
            ("invoice-db, mTLS with invoice-app's identity: PostgreSQL answers (control)",
             lambda: self.mtls("no-sidecar", invoice_app_id, f"{invoice_db}:5432", TCP_ALPN, "postgres"), app("answered")),
            ("invoice-db from probe/outsider's pod, through its sidecar: closed by RBAC",
             lambda: self.probe("outsider", "postgres", "invoice-db.invoice.svc.cluster.local:5432"), app("closed")),
            ("invoice-db from a pod without a sidecar: closed (STRICT mTLS)",
             lambda: self.probe("no-sidecar", "postgres", "invoice-db.invoice.svc.cluster.local:5432"), app("closed")),
        ]

    def flow(self):
        """One invoice created and paid through the gateway, as a user does."""
        invoice_id = f"BOX{int(time.time() * 1000) % 10**9}"
        created = self.curl(None, "POST", f"{GATEWAY}/invoices", {"InvoiceId": invoice_id, "Value": 5, "Currency": "EUR"},
                            from_node=True)
        if created.status != "201":
            return f"create answered {created}"
        paid = self.curl(None, "POST", f"{GATEWAY}/invoices/pay", from_node=True)
        if paid.status != "200" or invoice_id not in paid.body:
            return f"pay answered {paid}"
        return "paid"

    # ---- health of the proxies themselves
    def proxies_accepted_everything(self, dump_dir):
        """Every proxy runs every listener and cluster istiod generated for it, none refused."""
        istiod_log = self.box.work / "logs" / "box-istiod.log"
        nacks = [line for line in istiod_log.read_text(errors="replace").splitlines() if "NACK" in line or "ACK ERROR" in line]
        self.expect("box-istiod: no proxy refused (NACKed) any configuration",
                    "\n".join(nacks[:3]) or "no NACK", lambda o: o == "no NACK")
        for pod in self.box.start_order():
            if not pod["proxy"]:
                continue
            key = f"{pod['namespace']}/{pod['name']}"
            stats = self.box.stats(pod)
            rejected = {k: v for k, v in stats.items() if k.endswith("update_rejected") and v}
            dump = json.loads(self.box.admin(pod, "/config_dump") or "{}")
            live = live_names(dump)
            expected = {kind: {r["name"] for r in json.loads((pathlib.Path(dump_dir) / key / f"{kind}.json").read_text())}
                        for kind in ("listeners", "clusters")}
            missing = {kind: sorted(expected[kind] - live.get(kind, set())) for kind in expected}
            missing = {k: v for k, v in missing.items() if v}
            self.expect(f"{key}: Envoy runs all {len(expected['listeners'])} listeners and {len(expected['clusters'])} "
                        "clusters istiod generated, none rejected",
                        f"missing {missing}, rejected {rejected}" if missing or rejected else "all live",
                        lambda o: o == "all live")

    def every_hop_mtls(self):
        """The flow's hops were mutual TLS: handshakes counted on each side by Envoy itself."""
        hops = [("istio-ingressgateway", "outbound|8081||invoice-app.invoice.svc.cluster.local"),
                ("invoice-app", "outbound|8082||payment-provider.payment.svc.cluster.local"),
                ("invoice-app", "outbound|5432||invoice-db.invoice.svc.cluster.local"),
                ("payment-provider", "outbound|5432||payment-db.payment.svc.cluster.local")]
        for pod_name, cluster in hops:
            stats = self.box.stats(self.pod(pod_name))
            # Istio names a cluster's stats after the cluster and a ';'.
            handshakes = stats.get(f"cluster.{cluster};.ssl.handshake", 0)
            self.expect(f"mTLS: {pod_name}'s sidecar -> {cluster.split('|')[-1]}: {handshakes} TLS handshakes",
                        handshakes, lambda n: n > 0)
        for pod_name in ("invoice-app", "payment-provider", "invoice-db", "payment-db"):
            stats = self.box.stats(self.pod(pod_name))
            inbound = stats.get("listener.0.0.0.0_15006.ssl.handshake", 0)
            self.expect(f"mTLS: {pod_name}'s sidecar completed {inbound} TLS handshakes inbound", inbound, lambda n: n > 0)


def live_names(config_dump):
    names = {"listeners": set(), "clusters": set()}
    for section in config_dump.get("configs", []):
        for item in section.get("dynamic_listeners", []):
            if "active_state" in item:
                names["listeners"].add(item["name"])
        for item in section.get("dynamic_active_clusters", []):
            names["clusters"].add(item["cluster"]["name"])
        for item in section.get("static_clusters", []):
            names["clusters"].add(item["cluster"]["name"])
    return names


def check(work):
    box = boxlib.Box(work)
    walls = Walls(box)
    walls.proxies_accepted_everything(pathlib.Path(work) / "xds" / "box")
    walls.run_all()
    walls.every_hop_mtls()
    return 1 if walls.failed else 0


# ---------------------------------------------------------------- mutations

def mutations(work, rendered):
    work, rendered = pathlib.Path(work), pathlib.Path(rendered)
    box = boxlib.Box(work)
    catalogue = {name: (what, change) for name, what, change, _ in offline_mutations.MUTATIONS}
    unknown = [m for m in TRAFFIC_MUTATIONS if m not in catalogue]
    if unknown:
        print(f"FAIL: mutations: {unknown} are not in checks/offline/mutations.py")
        return 1
    rows, failures = [], 0
    base = offline_mutations.load(rendered)
    for name in TRAFFIC_MUTATIONS:
        what, change = catalogue[name]
        if name in NOT_SEEN:
            rows.append((name, "not seen", NOT_SEEN[name]))
            continue
        started = time.monotonic()
        mutated = json.loads(json.dumps(base))
        change(mutated)
        try:
            caught = apply_and_probe(box, work, rendered, name, mutated, base)
        except Exception as error:  # noqa: BLE001 - a mutation the box could not apply is a failure
            print(f"FAIL: mutation {name} ({what}) could not be applied: {error}", flush=True)
            rows.append((name, "ERROR", str(error).splitlines()[0]))
            failures += 1
            continue
        rows.append((name, "caught" if caught else "MISSED", ", ".join(caught[:3]) if caught else what))
        ok = bool(caught)
        failures += not ok
        print(f"{'PASS' if ok else 'FAIL'}: mutation {name} ({what}) caught by traffic: "
              f"{len(caught)} probes changed, in {time.monotonic() - started:.0f} s", flush=True)
    restored = apply_and_probe(box, work, rendered, "unmutated", json.loads(json.dumps(base)), base)
    print(f"{'FAIL' if restored else 'PASS'}: the unmutated set, restored after the mutations, passes every probe"
          + (f" (failed: {restored})" if restored else ""))
    failures += bool(restored)
    print("\nmutation                 box        what the box saw")
    for name, verdict, detail in rows:
        print(f"{name:24} {verdict:10} {detail}")
    return 1 if failures else 0


def apply_and_probe(box, work, rendered, name, mutated, base):
    """Rebuilds what the cluster holds from a mutated set, pushes it through box-istiod, restarts
    the pods whose spec changed, and runs every probe quietly; returns the probes that failed."""
    target = work / "mutations" / name
    shutil.rmtree(target, ignore_errors=True)
    offline_mutations.write(mutated, target)
    if mutated["manifests"] == base["manifests"] and mutated["install"] == base["install"]:
        shutil.copytree(rendered / "derived", target / "derived")
    else:
        subprocess.run([str(HERE.parent / "offline/check-render.sh"), "--derive-only", str(target)], check=True,
                       capture_output=True, text=True)
    subprocess.run([sys.executable, str(HERE / "box.py"), "plan", str(target), str(target)], check=True,
                   capture_output=True, text=True)
    new_plan = json.loads((target / "plan.json").read_text())
    changed = [p for p in new_plan["pods"] if p != box.pods.get(f"{p['namespace']}/{p['name']}")]
    if {f"{p['namespace']}/{p['name']}" for p in new_plan["pods"]} != set(box.pods):
        raise SystemExit(f"mutation {name} changes the set of pods; the box cannot follow")
    versions = {key: config_versions(box, pod) for key, pod in box.pods.items() if pod["proxy"]}
    box.start_istiod(target)
    box.plan = new_plan
    box.pods = {f"{p['namespace']}/{p['name']}": p for p in new_plan["pods"]}
    not_started = []
    for pod in changed:
        box.stop_pod(pod)
        index = [f"{p['namespace']}/{p['name']}" for p in new_plan["pods"]].index(f"{pod['namespace']}/{pod['name']}")
        box.pod_network_up(pod, index)
        try:
            box.start_pod(pod, ready_timeout=30)
        except boxlib.BoxError as error:
            # A pod that never becomes ready is what a rollout of the mutation would show.
            not_started.append(f"{pod['namespace']}/{pod['name']} never became ready: {str(error).splitlines()[0]}")
    changed_keys = {f"{p['namespace']}/{p['name']}" for p in changed}
    for key, old in versions.items():
        if key in changed_keys:
            continue
        pod = box.pods[key]
        boxlib.wait_for(lambda: len(config_versions(box, pod)) == 2 and not (config_versions(box, pod) & old)
                        and settled(box, pod), 60, f"{key} to receive and apply the new configuration")
    # Routes follow their listeners in the same push; give them a moment to land.
    time.sleep(1.5)
    quiet = Walls(box)
    output = _capture(quiet.run_all)
    (target / "probes.log").write_text("\n".join(not_started + [output[1]]))
    return not_started + output[0]


def settled(box, pod):
    """No listener or cluster still warming: an updated listener serves only once it has warmed,
    and until then the old one answers."""
    stats = box.stats(pod)
    return (stats.get("listener_manager.total_listeners_warming", 1) == 0
            and stats.get("cluster_manager.warming_clusters", 1) == 0)


def config_versions(box, pod):
    """The versions of the last listener and cluster pushes the proxy accepted: istiod stamps each
    push with its time and a counter, so a new discovery server's pushes always differ."""
    versions = set()
    for line in box.admin(pod, "/stats?filter=version_text").splitlines():
        name, _, value = line.partition(": ")
        if name in ("listener_manager.lds.version_text", "cluster_manager.cds.version_text"):
            versions.add(f"{name}={value}")
    return versions


def _capture(function):
    import contextlib
    import io
    buffer = io.StringIO()
    with contextlib.redirect_stdout(buffer):
        result = function()
    return result, buffer.getvalue()
