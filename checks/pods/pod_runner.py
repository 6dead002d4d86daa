#!/usr/bin/env python3
"""Starts the kustomize-rendered Deployments and StatefulSets under Docker as a kubelet would.

One pod per workload (one replica proves the pod spec). Each container becomes a `docker run`
whose flags carry the pod spec's user, group, read-only root, capabilities, no_new_privs, seccomp,
volumes, environment and limits. What Docker does not do, this program does itself and says so:
the kubelet's runAsNonRoot verification, probes, the Secrets deploy.sh creates, and cluster DNS
names (Docker network dns_names). A field of the pod template that is neither mapped nor named as
cluster-only fails the check, so nothing in the spec is silently ignored.

It runs inside the check's network namespace: it reaches the pods on their IPs from outside the
containers, as the kubelet does from the node. One PASS/FAIL line per check, then a summary.
"""

import argparse
import base64
import json
import os
import re
import secrets
import socket
import struct
import subprocess
import sys
import threading
import time
import urllib.error
import urllib.request
from dataclasses import dataclass, field

import yaml

CLUSTER_DOMAIN = "cluster.local"
NETWORK = "paymesh-pods"
NETWORK_PREFIX = "10.88.0"
# The network's gateway is this namespace's side of the bridge: the cluster DNS answers there.
CLUSTER_DNS_ADDRESS = f"{NETWORK_PREFIX}.1"
LABEL = "paymesh-pods=1"
DOCKER = ["docker"]  # the CLI; --docker names it
PROBE_DEFAULTS = {"initialDelaySeconds": 0, "periodSeconds": 10, "timeoutSeconds": 1, "failureThreshold": 3}
# A pod that never gets ready stays unready without being restarted; give up on it after this.
READINESS_BUDGET_SECONDS = 120
ROOT_IMAGE_MESSAGE = "container has runAsNonRoot and image will run as root"

# What this runner maps onto docker run flags or does itself.
MAPPED_POD_FIELDS = {"containers", "securityContext", "volumes", "terminationGracePeriodSeconds",
                     "enableServiceLinks"}
MAPPED_CONTAINER_FIELDS = {"name", "image", "imagePullPolicy", "ports", "env", "resources", "securityContext",
                           "volumeMounts", "command", "args", "startupProbe", "readinessProbe", "livenessProbe"}
MAPPED_POD_SECURITY = {"runAsNonRoot", "runAsUser", "runAsGroup", "fsGroup", "supplementalGroups", "seccompProfile"}
MAPPED_CONTAINER_SECURITY = {"runAsNonRoot", "runAsUser", "runAsGroup", "readOnlyRootFilesystem",
                             "allowPrivilegeEscalation", "privileged", "capabilities", "seccompProfile"}
# What only a cluster acts on: named in the output, never claimed as tested here.
CLUSTER_ONLY_POD_FIELDS = {"serviceAccountName", "automountServiceAccountToken", "topologySpreadConstraints",
                           "affinity", "nodeSelector", "tolerations", "priorityClassName"}


class PodRefused(Exception):
    """The kubelet would not create this container (CreateContainerConfigError or similar)."""


class Results:
    def __init__(self):
        self.passed = 0
        self.failed = 0

    def check(self, ok, text, detail=""):
        if ok:
            self.passed += 1
            print(f"PASS: {text}", flush=True)
        else:
            self.failed += 1
            print(f"FAIL: {text}" + (f" ({detail})" if detail else ""), flush=True)
        return ok


def note(text):
    print(f"  {text}", flush=True)


@dataclass
class Pod:
    kind: str          # Deployment or StatefulSet
    workload: str
    namespace: str
    name: str
    spec: dict
    labels: dict
    address: str
    claims: list = field(default_factory=list)
    container_id: str = ""
    dns_names: list = field(default_factory=list)


class ClusterDns(threading.Thread):
    """The part of cluster DNS the pods use: a Service name (and a StatefulSet pod's name under its
    headless Service) answers with its pod's IP, any other name NXDOMAIN at once (there is no upstream here).
    Docker's own DNS in each container forwards here; without an answer it would wait for an
    upstream server the namespace cannot reach, and every lookup through the pod's search path
    would take seconds."""

    def __init__(self, records):
        super().__init__(daemon=True)
        self.records = records
        self.socket = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
        self.socket.bind((CLUSTER_DNS_ADDRESS, 53))

    def run(self):
        while True:
            query, peer = self.socket.recvfrom(4096)
            try:
                self.socket.sendto(self.answer(query), peer)
            except (IndexError, struct.error, UnicodeDecodeError):
                continue  # not a query we understand: no answer, as from a dropped packet

    def answer(self, query):
        identifier, flags = struct.unpack(">HH", query[:4])
        position, labels = 12, []
        while query[position]:
            labels.append(query[position + 1:position + 1 + query[position]].decode("ascii"))
            position += 1 + query[position]
        question_type = struct.unpack(">H", query[position + 1:position + 3])[0]
        question = query[12:position + 5]
        address = self.records.get(".".join(labels).lower())
        record = b""
        if address and question_type == 1:  # A; other types of a known name: no data
            record = b"\xc0\x0c" + struct.pack(">HHIH", 1, 1, 5, 4) + socket.inet_aton(address)
        # A response, authoritative, recursion available, the query's recursion-desired bit;
        # NXDOMAIN (3) for unknown names.
        flags = 0x8480 | (flags & 0x0100) | (0 if address else 3)
        return struct.pack(">HHHHHH", identifier, flags, 1, 1 if record else 0, 0, 0) + question + record


def docker(*args, check=True, timeout=300):
    result = subprocess.run([*DOCKER, *args], text=True, capture_output=True, timeout=timeout)
    if check and result.returncode != 0:
        raise RuntimeError(f"docker {' '.join(args[:2])}: {result.stderr.strip()}")
    return result


def inspect(kind, name):
    result = docker(kind, "inspect", name, check=False)
    return json.loads(result.stdout)[0] if result.returncode == 0 else None


def memory_bytes(quantity):
    units = {"Ki": 2**10, "Mi": 2**20, "Gi": 2**30, "k": 10**3, "M": 10**6, "G": 10**9, "": 1}
    match = re.fullmatch(r"([0-9.]+)([A-Za-z]*)", str(quantity))
    if not match or match.group(2) not in units:
        raise PodRefused(f"memory quantity {quantity!r} is not understood by this runner")
    return int(float(match.group(1)) * units[match.group(2)])


def cpu_millis(quantity):
    text = str(quantity)
    return int(text[:-1]) if text.endswith("m") else int(float(text) * 1000)


def memory_cgroup_limit(pid):
    """The memory limit the kernel enforces on a process (cgroup v1 or v2)."""
    for line in open(f"/proc/{pid}/cgroup"):
        number, controllers, path = line.strip().split(":", 2)
        if "memory" in controllers.split(","):
            return int(open(f"/sys/fs/cgroup/memory{path}/memory.limit_in_bytes").read())
        if number == "0" and os.path.exists(f"/sys/fs/cgroup{path}/memory.max"):
            return int(open(f"/sys/fs/cgroup{path}/memory.max").read().replace("max", "-1"))
    return -1


def security_context(pod_spec, container):
    """The container's fields win over the pod's, as in the API."""
    pod_context = pod_spec.get("securityContext") or {}
    merged = {key: pod_context[key] for key in ("runAsUser", "runAsGroup", "runAsNonRoot", "seccompProfile")
              if key in pod_context}
    merged.update(container.get("securityContext") or {})
    return merged


def verify_run_as_non_root(pod, container, image_user):
    """The kubelet's check before it creates a container; Docker has none."""
    context = security_context(pod.spec, container)
    if not context.get("runAsNonRoot"):
        return
    where = f'(pod: "{pod.name}_{pod.namespace}", container: {container["name"]})'
    if "runAsUser" in context:
        if int(context["runAsUser"]) == 0:
            raise PodRefused(f"container's runAsUser breaks non-root policy {where}")
        return
    user = image_user.split(":", 1)[0]
    if user == "" or user == "0":
        raise PodRefused(f"{ROOT_IMAGE_MESSAGE} {where}")
    if not user.isdigit():
        raise PodRefused(f"container has runAsNonRoot and image has non-numeric user ({user}), "
                         f"cannot verify user is non-root {where}")


def unmapped_fields(spec):
    """Fields of a pod template this runner neither maps nor names as cluster-only."""
    found = [key for key in spec if key not in MAPPED_POD_FIELDS | CLUSTER_ONLY_POD_FIELDS]
    found += [f"securityContext.{key}" for key in spec.get("securityContext") or {}
              if key not in MAPPED_POD_SECURITY]
    if spec.get("enableServiceLinks", True) is not False:
        found.append("enableServiceLinks (service link variables are not emulated)")
    for container in spec.get("containers") or []:
        name = container.get("name", "?")
        found += [f"{name}.{key}" for key in container if key not in MAPPED_CONTAINER_FIELDS]
        found += [f"{name}.securityContext.{key}" for key in container.get("securityContext") or {}
                  if key not in MAPPED_CONTAINER_SECURITY]
        if container.get("imagePullPolicy") == "Always":
            found.append(f"{name}.imagePullPolicy Always (nothing can be pulled here)")
    for volume in spec.get("volumes") or []:
        if "emptyDir" not in volume:
            found.append(f"volume {volume['name']} of type {sorted(set(volume) - {'name'})}")
    return found


class Runner:
    def __init__(self, arguments, results):
        self.arguments = arguments
        self.results = results
        self.documents = [d for d in yaml.safe_load_all(open(arguments.rendered)) if d]
        self.services = [d for d in self.documents if d["kind"] == "Service"]
        self.secrets = {(d["metadata"].get("namespace"), d["metadata"]["name"]): d
                        for d in self.documents if d["kind"] == "Secret"}
        self.image_overrides = dict(item.split("=", 1) for item in arguments.image_override)
        self.pods = []

    # ---- the plan: one pod per workload, Service names pointing at them

    def generate_deploy_secrets(self):
        for reference in self.arguments.secret:
            namespace, name = reference.split("/", 1)
            username = name.removesuffix("-credentials").replace("-", "_")
            self.secrets[(namespace, name)] = {"stringData": {"username": username,
                                                              "password": secrets.token_urlsafe(24)}}
            note(f"Secret {namespace}/{name}: username {username}, random password (deploy.sh creates it on a cluster)")

    def plan(self):
        workloads = [d for d in self.documents if d["kind"] in ("StatefulSet", "Deployment")]
        # Databases first: in a cluster an app would only be unready until its database is.
        workloads.sort(key=lambda d: (d["kind"] != "StatefulSet", d["metadata"]["name"]))
        for number, workload in enumerate(workloads):
            metadata, template = workload["metadata"], workload["spec"]["template"]
            suffix = "0" if workload["kind"] == "StatefulSet" else "pod"
            pod = Pod(workload["kind"], metadata["name"], metadata["namespace"], f"{metadata['name']}-{suffix}",
                      template["spec"], template["metadata"].get("labels", {}),
                      f"{NETWORK_PREFIX}.{10 + number}", workload["spec"].get("volumeClaimTemplates") or [])
            self.pods.append(pod)
            note(f"{workload['kind']} {pod.namespace}/{pod.workload}: {workload['spec'].get('replicas', 1)} "
                 f"replicas in the spec, one pod {pod.name} at {pod.address} here")
            unmapped = unmapped_fields(pod.spec)
            self.results.check(not unmapped, f"{pod.name}: every field of the pod template is mapped or cluster-only",
                               "not mapped: " + ", ".join(unmapped))
            self.note_cluster_only(workload)
        for service in self.services:
            self.add_service_names(service)

    @staticmethod
    def note_cluster_only(workload):
        spec, template = workload["spec"], workload["spec"]["template"]
        named = [key for key in ("strategy", "updateStrategy", "minReadySeconds", "revisionHistoryLimit")
                 if key in spec]
        named += [key for key in template["spec"] if key in CLUSTER_ONLY_POD_FIELDS]
        named += ["requests.memory (scheduling)" for c in template["spec"]["containers"]
                  if "memory" in ((c.get("resources") or {}).get("requests") or {})]
        named += [f"emptyDir {v['name']} sizeLimit (eviction)" for v in template["spec"].get("volumes") or []
                  if (v.get("emptyDir") or {}).get("sizeLimit")]
        named += [f"annotation {key}" for key in (template["metadata"].get("annotations") or {})]
        if named:
            note("cluster-only, not acted on here: " + ", ".join(named))

    def add_service_names(self, service):
        """A Service name resolves to its one pod; ports cannot be remapped by DNS."""
        namespace, name = service["metadata"]["namespace"], service["metadata"]["name"]
        selector = service["spec"].get("selector") or {}
        pod = next((p for p in self.pods if p.namespace == namespace and selector
                    and all(p.labels.get(k) == v for k, v in selector.items())), None)
        if pod is None:
            return
        fqdn = f"{name}.{namespace}.svc.{CLUSTER_DOMAIN}"
        pod.dns_names.append(fqdn)
        if service["spec"].get("clusterIP") == "None" and pod.kind == "StatefulSet":
            pod.dns_names.append(f"{pod.name}.{fqdn}")
        declared = {p.get("name"): p["containerPort"] for c in pod.spec["containers"] for p in c.get("ports") or []}
        for port in service["spec"].get("ports") or []:
            target = port.get("targetPort", port["port"])
            target = declared.get(target, target) if isinstance(target, str) else target
            self.results.check(target == port["port"],
                               f"Service {namespace}/{name} port {port['port']} reaches {pod.name}:{target} "
                               f"by its cluster DNS name", "port and targetPort differ: a DNS name cannot remap them")

    # ---- from the pod spec to docker run

    def image_for(self, container):
        image = container["image"]
        repository = image.split("@", 1)[0].rsplit(":", 1)[0]
        if repository in self.image_overrides:
            note(f"image {image} -> {self.image_overrides[repository]} (local stand-in: nothing can be pulled here)")
            return self.image_overrides[repository]
        return image

    def environment(self, pod, container):
        environment = {}
        for variable in container.get("env") or []:
            name, source = variable["name"], variable.get("valueFrom")
            if source is None:
                value = str(variable.get("value", ""))
                if "$(" in value:
                    raise PodRefused(f"env {name}: $(VAR) references are not expanded by this runner")
                environment[name] = value
            elif set(source) == {"secretKeyRef"}:
                environment[name] = self.secret_value(pod.namespace, source["secretKeyRef"])
            else:
                raise PodRefused(f"env {name}: source {sorted(source)} is not mapped by this runner")
        return environment

    def secret_value(self, namespace, reference):
        secret = self.secrets.get((namespace, reference["name"]))
        if secret is None:
            raise PodRefused(f'secret "{reference["name"]}" not found')
        key = reference["key"]
        if key in (secret.get("stringData") or {}):
            return secret["stringData"][key]
        if key in (secret.get("data") or {}):
            return base64.b64decode(secret["data"][key]).decode()
        raise PodRefused(f"couldn't find key {key} in Secret {namespace}/{reference['name']}")

    def fresh_volume(self, pod, name, fs_group, kind):
        """An empty directory, 0777 as the kubelet makes it; with fsGroup, that group and setgid."""
        volume = f"{pod.name}-{name}"
        docker("volume", "rm", "-f", volume, check=False)
        docker("volume", "create", "--label", LABEL, volume)
        mountpoint = inspect("volume", volume)["Mountpoint"]
        os.chmod(mountpoint, 0o777)
        if fs_group is not None:
            os.chown(mountpoint, 0, int(fs_group))
            os.chmod(mountpoint, 0o2777)
        note(f"{kind} {name} -> new docker volume {volume}" + (f", group {fs_group} with setgid (fsGroup)"
                                                              if fs_group is not None else ""))
        return volume

    def volume_flags(self, pod, container):
        volumes = {v["name"]: v for v in pod.spec.get("volumes") or []}
        claims = {c["metadata"]["name"] for c in pod.claims}
        fs_group = (pod.spec.get("securityContext") or {}).get("fsGroup")
        flags = []
        for mount in container.get("volumeMounts") or []:
            unmapped = set(mount) - {"name", "mountPath", "readOnly"}
            if unmapped:
                raise PodRefused(f"volumeMount {mount['name']}: {sorted(unmapped)} not mapped by this runner")
            name, target = mount["name"], mount["mountPath"]
            read_only = ",readonly" if mount.get("readOnly") else ""
            if name in claims:
                source = self.fresh_volume(pod, name, fs_group, "PVC")
            elif "emptyDir" not in volumes.get(name, {}):
                raise PodRefused(f"volume {name} is not an emptyDir or a claim of the pod")
            elif (volumes[name]["emptyDir"] or {}).get("medium") == "Memory":
                flags += ["--mount", f"type=tmpfs,destination={target},tmpfs-mode=1777"]
                continue
            else:
                source = self.fresh_volume(pod, name, fs_group, "emptyDir")
            flags += ["--mount", f"type=volume,source={source},destination={target},volume-nocopy=true{read_only}"]
        return flags

    @staticmethod
    def security_flags(pod, context):
        flags = []
        pod_context = pod.spec.get("securityContext") or {}
        if "runAsUser" in context:
            flags += ["--user", f"{context['runAsUser']}" + (f":{context['runAsGroup']}" if "runAsGroup" in context else "")]
        for group in list(pod_context.get("supplementalGroups") or []) + (
                [pod_context["fsGroup"]] if "fsGroup" in pod_context else []):
            flags += ["--group-add", str(group)]
        if context.get("readOnlyRootFilesystem"):
            flags.append("--read-only")
        for capability in (context.get("capabilities") or {}).get("drop") or []:
            flags += ["--cap-drop", capability]
        for capability in (context.get("capabilities") or {}).get("add") or []:
            flags += ["--cap-add", capability]
        if context.get("privileged"):
            flags.append("--privileged")
        # Unset means allowed in Kubernetes: no_new_privs only when the spec says false.
        if context.get("allowPrivilegeEscalation") is False:
            flags += ["--security-opt", "no-new-privileges"]
        seccomp = (context.get("seccompProfile") or {}).get("type")
        if seccomp in (None, "Unconfined"):
            flags += ["--security-opt", "seccomp=unconfined"]  # the kubelet's default
        elif seccomp != "RuntimeDefault":  # RuntimeDefault: Docker's default profile
            raise PodRefused(f"seccompProfile {seccomp} is not mapped by this runner")
        return flags

    @staticmethod
    def resource_flags(container):
        resources = container.get("resources") or {}
        limits, requests = resources.get("limits") or {}, resources.get("requests") or {}
        flags = []
        if "memory" in limits:
            memory = str(memory_bytes(limits["memory"]))
            flags += ["--memory", memory, "--memory-swap", memory]
        if "cpu" in limits:
            flags += ["--cpus", f"{cpu_millis(limits['cpu']) / 1000:g}"]
        if "cpu" in requests:
            # How the kubelet turns a CPU request into cgroup v1 cpu.shares.
            flags += ["--cpu-shares", str(max(2, cpu_millis(requests["cpu"]) * 1024 // 1000))]
        return flags

    def start_pod(self, pod, kubelet_checks=True):
        """Refuses (PodRefused) where the kubelet would, before anything is created."""
        if len(pod.spec["containers"]) != 1 or pod.spec.get("initContainers"):
            raise PodRefused("this runner starts pods of exactly one container")
        container = pod.spec["containers"][0]
        image = self.image_for(container)
        details = inspect("image", image)
        if details is None:
            raise PodRefused(f'image "{image}" is not present and nothing can be pulled here (ErrImageNeverPull)')
        if kubelet_checks:
            verify_run_as_non_root(pod, container, details["Config"].get("User") or "")
        context = security_context(pod.spec, container)
        env_file = os.path.join(self.arguments.work, f"env-{pod.name}")
        with open(os.open(env_file, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600), "w") as handle:
            handle.writelines(f"{key}={value}\n" for key, value in self.environment(pod, container).items())
        arguments = ["run", "--detach", "--name", f"k8s_{container['name']}_{pod.name}_{pod.namespace}",
                     "--label", LABEL, "--hostname", pod.name, "--pull", "never",
                     "--network", NETWORK, "--ip", pod.address, "--dns", CLUSTER_DNS_ADDRESS]
        # A pod's resolv.conf: its namespace's search path and ndots:5.
        for domain in (f"{pod.namespace}.svc.{CLUSTER_DOMAIN}", f"svc.{CLUSTER_DOMAIN}", CLUSTER_DOMAIN):
            arguments += ["--dns-search", domain]
        arguments += ["--dns-option", "ndots:5"]
        arguments += self.security_flags(pod, context)
        arguments += self.resource_flags(container)
        arguments += self.volume_flags(pod, container)
        if "terminationGracePeriodSeconds" in pod.spec:
            arguments += ["--stop-timeout", str(pod.spec["terminationGracePeriodSeconds"])]
        arguments += ["--env-file", env_file]
        command = [str(part) for part in container.get("command") or []]
        if command:  # command replaces the image's entrypoint; args replace its CMD
            arguments += ["--entrypoint", command[0], image, *command[1:]]
        else:
            arguments.append(image)
        arguments += [str(part) for part in container.get("args") or []]
        note("docker " + " ".join(arguments))
        pod.container_id = docker(*arguments).stdout.strip()

    # ---- probes, as the kubelet runs them

    def run_probe(self, pod, probe):
        timeout = probe.get("timeoutSeconds", PROBE_DEFAULTS["timeoutSeconds"])
        if "httpGet" in probe:
            http = probe["httpGet"]
            port = http["port"]
            if not str(port).isdigit():
                port = next(p["containerPort"] for p in pod.spec["containers"][0].get("ports") or []
                            if p.get("name") == port)
            url = f"{http.get('scheme', 'HTTP').lower()}://{pod.address}:{port}{http.get('path', '/')}"
            try:
                with urllib.request.urlopen(urllib.request.Request(url, headers={"User-Agent": "kube-probe/1.36"}),
                                            timeout=timeout) as response:
                    status = response.status
            except urllib.error.HTTPError as error:
                status = error.code
            except OSError as error:
                return False, f"GET {url}: {error}"
            # The kubelet accepts any 2xx or 3xx; this check wants 2xx.
            return 200 <= status < 300, f"GET {url} -> {status}"
        if "exec" in probe:
            command = probe["exec"]["command"]
            try:
                result = docker("exec", pod.container_id, *command, check=False, timeout=timeout + 5)
            except subprocess.TimeoutExpired:
                return False, f"exec {command}: timed out"
            return result.returncode == 0, f"exec {' '.join(command)} -> exit {result.returncode}"
        return False, f"probe type {sorted(probe)} is not mapped by this runner"

    def running(self, pod):
        details = inspect("container", pod.container_id)
        return bool(details and details["State"]["Running"])

    def wait_for_probe(self, pod, kind, probe):
        """initialDelaySeconds, then every periodSeconds until success, or failureThreshold failures
        (a readiness probe never restarts a pod: it gets a time budget instead)."""
        settings = {**PROBE_DEFAULTS, **probe}
        started = time.monotonic()
        time.sleep(settings["initialDelaySeconds"])
        failures = 0
        while True:
            if not self.running(pod):
                logs = docker("logs", "--tail", "30", pod.container_id, check=False)
                return False, "the container exited: " + (logs.stdout + logs.stderr).strip()[-3000:], 0
            ok, detail = self.run_probe(pod, probe)
            elapsed = time.monotonic() - started
            if ok:
                return True, detail, elapsed
            failures += 1
            if kind == "readiness" and elapsed > READINESS_BUDGET_SECONDS:
                return False, f"not ready after {elapsed:.0f}s, last: {detail}", elapsed
            if kind != "readiness" and failures >= settings["failureThreshold"]:
                return False, f"{failures} failures, last: {detail}", elapsed
            time.sleep(settings["periodSeconds"])

    def prove_probes(self, pod):
        container = pod.spec["containers"][0]
        for kind in ("startup", "readiness", "liveness"):
            probe = container.get(f"{kind}Probe")
            if not self.results.check(probe is not None, f"{pod.name}: has a {kind} probe"):
                continue
            ok, detail, seconds = self.wait_for_probe(pod, kind, probe)
            if not self.results.check(ok, f"{pod.name}: {kind} probe passes after {seconds:.1f}s ({detail})", detail):
                return False
        if pod.kind == "Deployment":
            logs = docker("logs", pod.container_id, check=False)
            for line in (logs.stdout + logs.stderr).splitlines()[-40:]:
                print(f"  {pod.name} log | {line}")
        return True

    # ---- what the kernel says about the running process

    def prove_process_context(self, pod):
        container = pod.spec["containers"][0]
        context = security_context(pod.spec, container)
        details = inspect("container", pod.container_id)
        pid = details["State"]["Pid"]
        status = dict(line.split(":", 1) for line in open(f"/proc/{pid}/status") if ":" in line)
        status = {key: value.strip() for key, value in status.items()}
        uids, gids, groups = status["Uid"].split(), status["Gid"].split(), status["Groups"].split()
        check = self.results.check
        if "runAsUser" in context:
            check(set(uids) == {str(context["runAsUser"])},
                  f"{pod.name}: process uid {'/'.join(uids)} is the spec's runAsUser {context['runAsUser']}")
        if "runAsGroup" in context:
            check(set(gids) == {str(context["runAsGroup"])},
                  f"{pod.name}: process gid {'/'.join(gids)} is the spec's runAsGroup {context['runAsGroup']}")
        fs_group = (pod.spec.get("securityContext") or {}).get("fsGroup")
        if fs_group is not None:
            check(str(fs_group) in groups, f"{pod.name}: fsGroup {fs_group} among the process's groups {groups}")
        if context.get("readOnlyRootFilesystem"):
            root = next(line.split() for line in open(f"/proc/{pid}/mountinfo") if line.split()[4] == "/")
            check("ro" in root[5].split(","), f"{pod.name}: root filesystem mounted read-only ({root[5]})")
        if "ALL" in (context.get("capabilities") or {}).get("drop", []):
            check(int(status["CapEff"], 16) == 0 and int(status["CapBnd"], 16) == 0,
                  f"{pod.name}: no capabilities (CapEff {status['CapEff']}, CapBnd {status['CapBnd']})")
        if context.get("allowPrivilegeEscalation") is False:
            check(status.get("NoNewPrivs") == "1", f"{pod.name}: no_new_privs set (NoNewPrivs {status.get('NoNewPrivs')})")
        if (context.get("seccompProfile") or {}).get("type") == "RuntimeDefault":
            check(status.get("Seccomp") == "2", f"{pod.name}: seccomp filter on (Seccomp {status.get('Seccomp')})")
        limit = ((container.get("resources") or {}).get("limits") or {}).get("memory")
        if limit:
            cgroup_limit = memory_cgroup_limit(pid)
            check(cgroup_limit == memory_bytes(limit),
                  f"{pod.name}: memory cgroup limit {cgroup_limit} bytes is the spec's {limit}")
        image_user = (inspect("image", details["Image"]) or {}).get("Config", {}).get("User", "")
        if pod.kind == "Deployment" and "runAsUser" in context:
            expected = f"{context['runAsUser']}:{context.get('runAsGroup', context['runAsUser'])}"
            check(image_user == expected, f"{pod.name}: the image's USER {image_user or '(root)'} is the pod's "
                                          f"runAsUser:runAsGroup {expected}")
        entrypoint = " ".join(details["Config"].get("Entrypoint") or [])
        cache = re.search(r"-XX:AOTCache=(\S+)", entrypoint)
        if cache:
            mapped = cache.group(1) in open(f"/proc/{pid}/maps").read()
            check(mapped, f"{pod.name}: the JVM runs from its AOT cache {cache.group(1)} under the pod's settings",
                  "the cache is not mapped: the JVM rejected it (-Xlog:aot tells why)")

    # ---- the flow, the databases, the numbers

    def run_flow(self):
        invoice = next((p for p in self.pods if p.workload == "invoice-app" and p.container_id), None)
        port = invoice.spec["containers"][0]["ports"][0]["containerPort"]
        url = f"http://{invoice.address}:{port}"
        note(f"INVOICE_URL={url} ./test.sh --flow-only")
        result = subprocess.run([os.path.join(self.arguments.root, "test.sh"), "--flow-only"], text=True,
                                capture_output=True, env={**os.environ, "INVOICE_URL": url}, timeout=600)
        for line in (result.stdout + result.stderr).splitlines():
            print(f"  | {line}")
        summary = re.findall(r"^.*\d+ passed, \d+ failed.*$", result.stdout, re.MULTILINE)
        self.results.check(result.returncode == 0,
                           f"test.sh --flow-only passes: client -> invoice-app pod -> payment-provider pod by its "
                           f"Service name ({summary[-1].strip() if summary else 'no summary'})",
                           f"exit {result.returncode}")

    def prove_state_in_databases(self):
        """An app given DB_URL must keep its state in its database pod."""
        for pod in self.pods:
            if pod.kind != "Deployment" or not pod.container_id:
                continue
            env = {v["name"]: v.get("value", "") for v in pod.spec["containers"][0].get("env") or []}
            match = re.fullmatch(r"jdbc:postgresql://([^:/]+)(?::\d+)?/([^?]+).*", env.get("DB_URL", ""))
            if not match:
                note(f"{pod.name}: no DB_URL in the pod spec, so no database to look at")
                continue
            host, database = match.groups()
            database_pod = next((p for p in self.pods if host in p.dns_names and p.container_id), None)
            if not self.results.check(database_pod is not None, f"{pod.name}: its database {host} runs as a pod"):
                continue
            query = (f"select (select count(*) from pg_stat_activity where datname = current_database() "
                     f"and client_addr = '{pod.address}') || ' ' || "
                     f"(select coalesce(sum(n_tup_ins + n_tup_upd), 0) from pg_stat_user_tables)")
            result = docker("exec", database_pod.container_id, "sh", "-c",
                            f'PGPASSWORD="$POSTGRES_PASSWORD" psql -h 127.0.0.1 -U "$POSTGRES_USER" -d {database} '
                            f'-Atc "{query}"', check=False)
            counts = result.stdout.split()
            connections, rows = (int(counts[0]), int(counts[1])) if len(counts) == 2 else (0, 0)
            self.results.check(connections > 0 and rows > 0,
                               f"{pod.name} keeps its state in {database_pod.name}: database {database} has "
                               f"{connections} connections from {pod.address} and {rows} rows written",
                               result.stderr.strip())

    def report_memory(self):
        print("\nPod memory after the flow (cgroup usage and limit as docker stats shows them; process RSS):")
        for pod in self.pods:
            if not pod.container_id:
                continue
            usage = docker("stats", "--no-stream", "--format", "{{.MemUsage}}", pod.container_id).stdout.strip()
            pid = inspect("container", pod.container_id)["State"]["Pid"]
            rss = next((line.split(":", 1)[1].strip() for line in open(f"/proc/{pid}/status")
                        if line.startswith("VmRSS:")), "?")
            print(f"  {pod.namespace + '/' + pod.name:32s} {usage:24s} RSS {rss}")

    # ---- part 1: the kubelet refuses an image that runs as root

    def prove_refused(self, image, expected, description):
        template = next(p for p in self.pods if p.workload == "invoice-app")
        spec = json.loads(json.dumps(template.spec))
        # The original setup: runAsNonRoot without runAsUser, so the image decides the user.
        for context in [spec.get("securityContext") or {}] + [c.get("securityContext") or {} for c in spec["containers"]]:
            context.pop("runAsUser", None)
            context.pop("runAsGroup", None)
        spec["containers"][0]["image"] = image
        if not self.results.check(inspect("image", image) is not None, f"{description}: the image {image} exists"):
            return
        pod = Pod(template.kind, template.workload, template.namespace, "invoice-app-as-root", spec,
                  template.labels, f"{NETWORK_PREFIX}.200")
        try:
            self.start_pod(pod)
        except PodRefused as refusal:
            created = inspect("container", f"k8s_{spec['containers'][0]['name']}_{pod.name}_{pod.namespace}")
            self.results.check(expected in str(refusal) and created is None,
                               f"{description} + runAsNonRoot is refused before anything is created: "
                               f"CreateContainerConfigError: {refusal}")
        else:
            docker("rm", "-f", pod.container_id, check=False)
            self.results.check(False, f"{description} + runAsNonRoot is refused", "the pod was started")
            return
        if (inspect("image", image)["Config"].get("User") or "0").split(":")[0] != "0":
            return
        # Docker itself has no such check: the same flags without it start the image as root.
        try:
            self.start_pod(pod, kubelet_checks=False)
            time.sleep(2)
            details = inspect("container", pod.container_id)
            pid = details["State"]["Pid"]
            uid = next(line.split()[1] for line in open(f"/proc/{pid}/status") if line.startswith("Uid:")) \
                if pid else "(exited)"
            self.results.check(uid == "0", f"Docker alone runs {description} as uid {uid}: the refusal "
                                           f"is the kubelet's, which this runner reproduces")
        finally:
            if pod.container_id:
                docker("rm", "-f", pod.container_id, check=False)

    # ---- everything, in a cluster's order

    def run(self):
        self.generate_deploy_secrets()
        self.plan()
        # What a killed run may have left in the data root (the teardown removes it otherwise).
        docker("network", "rm", NETWORK, check=False)
        docker("network", "create", "--subnet", f"{NETWORK_PREFIX}.0/24", "--gateway", CLUSTER_DNS_ADDRESS,
               "--label", LABEL, NETWORK)
        ClusterDns({name: pod.address for pod in self.pods for name in pod.dns_names}).start()
        note(f"network {NETWORK}: one pod network; cluster DNS at {CLUSTER_DNS_ADDRESS} answers "
             + ", ".join(name for pod in self.pods for name in pod.dns_names))
        for pod in self.pods:
            try:
                self.start_pod(pod)
                self.results.check(True, f"{pod.namespace}/{pod.name} created from the rendered {pod.kind}")
            except (PodRefused, RuntimeError) as error:
                self.results.check(False, f"{pod.namespace}/{pod.name} created from the rendered {pod.kind}", str(error))
                continue
            if pod.kind == "StatefulSet":
                self.prove_probes(pod)
        apps_ready = all([self.prove_probes(p) for p in self.pods if p.kind == "Deployment" and p.container_id])
        for pod in self.pods:
            if pod.container_id and self.running(pod):
                self.prove_process_context(pod)
        workloads = {p.workload for p in self.pods if p.container_id}
        if self.results.check(apps_ready and {"invoice-app", "payment-provider"} <= workloads,
                              "invoice-app and payment-provider pods are up for the flow"):
            self.run_flow()
            self.prove_state_in_databases()
            for pod in self.pods:
                if pod.container_id:
                    ok, detail = self.run_probe(pod, pod.spec["containers"][0]["livenessProbe"])
                    self.results.check(ok and self.running(pod), f"{pod.name}: still running and live after the flow",
                                       detail)
        self.report_memory()
        print()
        if any(p.workload == "invoice-app" for p in self.pods):
            for image, expected, description in self.arguments.refused_image:
                self.prove_refused(image, expected, description)


def main():
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--rendered", required=True, help="output of kubectl kustomize manifests/")
    parser.add_argument("--docker", default="docker", help="the docker CLI to use")
    parser.add_argument("--work", required=True, help="a private directory for env files")
    parser.add_argument("--root", required=True, help="the repository, for test.sh")
    parser.add_argument("--image-override", action="append", default=[],
                        help="REPOSITORY=IMAGE: run IMAGE wherever the spec names REPOSITORY:any-tag")
    parser.add_argument("--secret", action="append", default=[],
                        help="NAMESPACE/NAME: a Secret deploy.sh creates (keys username, password)")
    parser.add_argument("--refused-image", action="append", default=[], nargs=3,
                        metavar=("IMAGE", "EXPECTED_MESSAGE", "DESCRIPTION"),
                        help="an image the kubelet must refuse under invoice-app's pod spec without runAsUser")
    arguments = parser.parse_args()
    DOCKER[0] = arguments.docker
    results = Results()
    try:
        Runner(arguments, results).run()
    except Exception as error:  # a crash is a failed check, with the reason
        results.check(False, "the pod runner ran to its end", f"{type(error).__name__}: {error}")
        raise
    finally:
        print(f"runner: {results.passed} passed, {results.failed} failed", flush=True)
    return 0 if results.failed == 0 else 1


if __name__ == "__main__":
    sys.exit(main())
