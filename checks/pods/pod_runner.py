#!/usr/bin/env python3
"""Runs the kustomize-rendered Deployments and StatefulSets under Docker the way a kubelet would.

Each workload becomes one pod (one replica is enough to prove the pod spec works): its
containers are started with `docker run` flags that carry the pod spec's security context,
volumes, environment and resource limits; where Docker has no equivalent (the kubelet's
runAsNonRoot verification, probes, cluster DNS names, service links) this program does the
kubelet's part itself and says so. It runs inside the check's network namespace, so it reaches
the pods on their IPs from outside the containers, as the kubelet does from the node.

Prints one PASS/FAIL line per check and `RUNNER DONE` when it got to the end.
"""

import argparse
import base64
import json
import os
import re
import secrets
import socket
import subprocess
import sys
import time
import urllib.error
import urllib.request
from dataclasses import dataclass, field
from typing import Optional

import yaml

CLUSTER_DOMAIN = "cluster.local"
NETWORK_NAME = "paymesh-cluster"
NETWORK_SUBNET = "10.88.0.0/24"
FIRST_POD_ADDRESS = 10
# The kubelet's defaults for probe fields the spec leaves out.
PROBE_DEFAULTS = {"periodSeconds": 10, "timeoutSeconds": 1, "failureThreshold": 3,
                  "successThreshold": 1, "initialDelaySeconds": 0}
KUBELET_USER_AGENT = "kube-probe/1.33"
NON_ROOT_IMAGE_USER_MESSAGE = "container has runAsNonRoot and image will run as root"


class PodRefused(Exception):
    """The kubelet would not create this container (CreateContainerConfigError)."""


class Results:
    def __init__(self):
        self.passed = 0
        self.failed = 0

    def check(self, ok: bool, text: str, detail: str = "") -> bool:
        if ok:
            self.passed += 1
            print(f"PASS: {text}", flush=True)
        else:
            self.failed += 1
            print(f"FAIL: {text}" + (f" ({detail})" if detail else ""), flush=True)
        return ok


def note(text: str) -> None:
    print(f"  {text}", flush=True)


@dataclass
class Pod:
    workload_kind: str
    workload_name: str
    namespace: str
    name: str
    spec: dict
    labels: dict
    address: str
    claim_templates: list = field(default_factory=list)
    container_ids: dict = field(default_factory=dict)


class Docker:
    def __init__(self, binary: str):
        self.binary = binary

    def run(self, *args, check=True, timeout=300, capture=True) -> subprocess.CompletedProcess:
        result = subprocess.run([self.binary, *args], text=True, timeout=timeout,
                                capture_output=capture)
        if check and result.returncode != 0:
            raise RuntimeError(f"docker {' '.join(args[:3])} failed: {result.stderr.strip()}")
        return result

    def inspect(self, kind: str, name: str) -> Optional[dict]:
        result = self.run(kind, "inspect", name, check=False)
        if result.returncode != 0:
            return None
        return json.loads(result.stdout)[0]


# ---------------------------------------------------------------- quantities

def memory_bytes(quantity: str) -> int:
    units = {"Ki": 2**10, "Mi": 2**20, "Gi": 2**30, "Ti": 2**40,
             "k": 10**3, "M": 10**6, "G": 10**9, "T": 10**12, "": 1}
    match = re.fullmatch(r"([0-9.]+)([A-Za-z]*)", str(quantity))
    if not match or match.group(2) not in units:
        raise ValueError(f"unsupported memory quantity {quantity!r}")
    return int(float(match.group(1)) * units[match.group(2)])


def cpu_millis(quantity: str) -> int:
    text = str(quantity)
    if text.endswith("m"):
        return int(text[:-1])
    return int(float(text) * 1000)


# ---------------------------------------------------------------- the kubelet's rules

def effective_security_context(pod_spec: dict, container: dict) -> dict:
    """Container fields win over the pod's, as in the API (runAsUser, runAsGroup, ...)."""
    pod_context = pod_spec.get("securityContext") or {}
    container_context = container.get("securityContext") or {}
    merged = {key: pod_context[key] for key in
              ("runAsUser", "runAsGroup", "runAsNonRoot", "seccompProfile", "seLinuxOptions")
              if key in pod_context}
    merged.update(container_context)
    return merged


def verify_run_as_non_root(pod: Pod, container: dict, image_user: str) -> None:
    """The kubelet's check before creating a container; Docker has no such check."""
    context = effective_security_context(pod.spec, container)
    if not context.get("runAsNonRoot"):
        return
    where = f'(pod: "{pod.name}_{pod.namespace}", container: {container["name"]})'
    if "runAsUser" in context:
        if int(context["runAsUser"]) == 0:
            raise PodRefused(f"container's runAsUser breaks non-root policy {where}")
        return
    user = image_user.split(":", 1)[0] if image_user else ""
    if user == "":
        raise PodRefused(f"{NON_ROOT_IMAGE_USER_MESSAGE} {where}")
    if not user.isdigit():
        raise PodRefused(f"container has runAsNonRoot and image has non-numeric user ({user}), "
                         f"cannot verify user is non-root {where}")
    if int(user) == 0:
        raise PodRefused(f"{NON_ROOT_IMAGE_USER_MESSAGE} {where}")


def expand_references(text: str, environment: dict) -> str:
    """$(VAR) in command, args and env values, as the kubelet expands them; $$ escapes."""
    def replace(match):
        if match.group(0) == "$$":
            return "$"
        name = match.group(1)
        return environment.get(name, match.group(0))
    return re.sub(r"\$\$|\$\(([A-Za-z_][A-Za-z0-9_.-]*)\)", replace, text)


def service_link_variables(services: list, namespace: str, addresses: dict) -> dict:
    """enableServiceLinks (on by default): FOO_SERVICE_HOST etc. for each Service of the namespace."""
    variables = {}
    for service in services:
        if service["metadata"].get("namespace") != namespace:
            continue
        address = addresses.get((namespace, service["metadata"]["name"]))
        if not address:
            continue
        prefix = service["metadata"]["name"].upper().replace("-", "_")
        ports = service["spec"].get("ports") or []
        if not ports:
            continue
        first = ports[0]
        variables[f"{prefix}_SERVICE_HOST"] = address
        variables[f"{prefix}_SERVICE_PORT"] = str(first["port"])
        variables[f"{prefix}_PORT"] = f"{first.get('protocol', 'TCP').lower()}://{address}:{first['port']}"
        for port in ports:
            protocol = port.get("protocol", "TCP")
            base = f"{prefix}_PORT_{port['port']}_{protocol}"
            if port.get("name"):
                variables[f"{prefix}_SERVICE_PORT_{port['name'].upper().replace('-', '_')}"] = str(port["port"])
            variables[base] = f"{protocol.lower()}://{address}:{port['port']}"
            variables[f"{base}_PROTO"] = protocol.lower()
            variables[f"{base}_PORT"] = str(port["port"])
            variables[f"{base}_ADDR"] = address
    return variables


# ---------------------------------------------------------------- the runner

class Runner:
    def __init__(self, arguments, results: Results):
        self.arguments = arguments
        self.results = results
        self.docker = Docker(arguments.docker)
        self.work = arguments.work
        documents = [d for d in yaml.safe_load_all(open(arguments.rendered)) if d]
        self.documents = documents
        self.services = [d for d in documents if d.get("kind") == "Service"]
        self.config_maps = {(d["metadata"].get("namespace"), d["metadata"]["name"]): d
                            for d in documents if d.get("kind") == "ConfigMap"}
        self.secrets = {(d["metadata"].get("namespace"), d["metadata"]["name"]): d
                        for d in documents if d.get("kind") == "Secret"}
        self.image_overrides = dict(item.split("=", 1) for item in arguments.image_override)
        self.pods: list[Pod] = []
        self.service_addresses: dict = {}
        self.service_aliases: dict = {}

    # ---- plan

    def plan(self) -> None:
        workloads = [d for d in self.documents if d.get("kind") in ("StatefulSet", "Deployment")]
        # Databases first: in a cluster the apps would just be unready until their database is.
        workloads.sort(key=lambda d: (d["kind"] != "StatefulSet", d["metadata"]["name"]))
        for number, workload in enumerate(workloads):
            metadata = workload["metadata"]
            template = workload["spec"]["template"]
            name = (f"{metadata['name']}-0" if workload["kind"] == "StatefulSet"
                    else f"{metadata['name']}-pod")
            pod = Pod(workload["kind"], metadata["name"], metadata.get("namespace", "default"),
                      name, template["spec"], template["metadata"].get("labels", {}),
                      self.address(number), workload["spec"].get("volumeClaimTemplates") or [])
            self.pods.append(pod)
            note(f"{workload['kind']} {pod.namespace}/{metadata['name']}: "
                 f"{workload['spec'].get('replicas', 1)} replicas in the spec, one pod {pod.name} "
                 f"at {pod.address} here")
            self.note_cluster_only_fields(workload)
        for service in self.services:
            namespace = service["metadata"].get("namespace", "default")
            selector = service["spec"].get("selector") or {}
            matches = [p for p in self.pods if p.namespace == namespace and selector
                       and all(p.labels.get(k) == v for k, v in selector.items())]
            if not matches:
                continue
            pod = matches[0]
            service_name = service["metadata"]["name"]
            fqdn = f"{service_name}.{namespace}.svc.{CLUSTER_DOMAIN}"
            self.service_addresses[(namespace, service_name)] = pod.address
            aliases = self.service_aliases.setdefault(pod.name, [])
            aliases.append(fqdn)
            if service["spec"].get("clusterIP") == "None" and pod.workload_kind == "StatefulSet":
                aliases.append(f"{pod.name}.{fqdn}")
            self.check_service_ports(service, pod)

    @staticmethod
    def note_cluster_only_fields(workload: dict) -> None:
        """Fields that only a cluster acts on: named, so nobody thinks they were exercised here."""
        template = workload["spec"]["template"]
        spec = template["spec"]
        present = [key for key in ("strategy", "updateStrategy", "minReadySeconds") if key in workload["spec"]]
        present += [key for key in ("affinity", "topologySpreadConstraints", "nodeSelector", "tolerations",
                                    "priorityClassName", "serviceAccountName") if key in spec]
        if spec.get("automountServiceAccountToken") is not False:
            present.append("service account token (automounted: not emulated)")
        for container in spec.get("containers") or []:
            present += [f"{container['name']}.{key}" for key in ("lifecycle",) if key in container]
            requests = (container.get("resources") or {}).get("requests") or {}
            if "memory" in requests:
                present.append(f"{container['name']}.requests.memory (scheduling only)")
        annotations = template.get("metadata", {}).get("annotations") or {}
        present += [f"annotation {key}" for key in annotations]
        if present:
            note("cluster-only, not acted on here: " + ", ".join(present))

    def address(self, number: int) -> str:
        network = NETWORK_SUBNET.split("/")[0].rsplit(".", 1)[0]
        return f"{network}.{FIRST_POD_ADDRESS + number}"

    def check_service_ports(self, service: dict, pod: Pod) -> None:
        """DNS aliases point at the pod, so a Service port must equal the port the pod listens on."""
        container_ports = {}
        for container in pod.spec["containers"]:
            for port in container.get("ports") or []:
                container_ports[port.get("name", str(port["containerPort"]))] = port["containerPort"]
        for port in service["spec"].get("ports") or []:
            target = port.get("targetPort", port["port"])
            target = container_ports.get(target, target) if isinstance(target, str) else target
            self.results.check(
                target == port["port"],
                f"Service {service['metadata']['namespace']}/{service['metadata']['name']} port "
                f"{port['port']} reaches {pod.name}:{target} by its cluster DNS name",
                "port and targetPort differ; a DNS alias cannot remap ports")

    # ---- start

    def create_network(self) -> None:
        # Leftovers of an interrupted run would block the fixed container names.
        leftovers = self.docker.run("ps", "-aq", "--filter", "label=paymesh-pods=1").stdout.split()
        if leftovers:
            self.docker.run("rm", "-f", *leftovers)
        self.docker.run("network", "rm", NETWORK_NAME, check=False)
        self.docker.run("network", "create", "--subnet", NETWORK_SUBNET, NETWORK_NAME)
        note(f"network {NETWORK_NAME} {NETWORK_SUBNET}: one pod network; Service names are DNS "
             f"aliases of the pods (Docker's embedded DNS), search path as in a pod's resolv.conf")

    def image_for(self, container: dict) -> str:
        image = container["image"]
        repository = image.rsplit(":", 1)[0] if ":" in image.split("/")[-1] else image
        if repository in self.image_overrides:
            substitute = self.image_overrides[repository]
            note(f"image {image} -> {substitute} (local stand-in; the public image cannot be pulled here)")
            return substitute
        return image

    def image_user(self, image: str) -> str:
        details = self.docker.inspect("image", image)
        if details is None:
            raise PodRefused(f'image "{image}" is not present with pull policy of Never/IfNotPresent '
                             f"and no registry reachable (ErrImageNeverPull)")
        return details["Config"].get("User") or ""

    def secret_value(self, namespace: str, name: str, key: str) -> str:
        secret = self.secrets.get((namespace, name))
        if secret is None:
            raise PodRefused(f'secret "{name}" not found')
        if key in (secret.get("stringData") or {}):
            return secret["stringData"][key]
        if key in (secret.get("data") or {}):
            return base64.b64decode(secret["data"][key]).decode()
        raise PodRefused(f"couldn't find key {key} in Secret {namespace}/{name}")

    def config_map_value(self, namespace: str, name: str, key: str) -> str:
        config_map = self.config_maps.get((namespace, name))
        if config_map is None or key not in (config_map.get("data") or {}):
            raise PodRefused(f"configmap {namespace}/{name} key {key} not found")
        return config_map["data"][key]

    def environment(self, pod: Pod, container: dict) -> dict:
        environment = {}
        if pod.spec.get("enableServiceLinks", True):
            environment.update(service_link_variables(self.services, pod.namespace,
                                                      self.service_addresses))
        for source in container.get("envFrom") or []:
            prefix = source.get("prefix", "")
            if "secretRef" in source:
                secret = self.secrets.get((pod.namespace, source["secretRef"]["name"])) or {}
                for key in list((secret.get("data") or {})) + list((secret.get("stringData") or {})):
                    environment[prefix + key] = self.secret_value(pod.namespace, source["secretRef"]["name"], key)
            if "configMapRef" in source:
                config_map = self.config_maps.get((pod.namespace, source["configMapRef"]["name"])) or {}
                for key, value in (config_map.get("data") or {}).items():
                    environment[prefix + key] = value
        for variable in container.get("env") or []:
            name = variable["name"]
            if "value" in variable:
                environment[name] = expand_references(str(variable["value"]), environment)
                continue
            source = variable.get("valueFrom") or {}
            if "secretKeyRef" in source:
                reference = source["secretKeyRef"]
                environment[name] = self.secret_value(pod.namespace, reference["name"], reference["key"])
            elif "configMapKeyRef" in source:
                reference = source["configMapKeyRef"]
                environment[name] = self.config_map_value(pod.namespace, reference["name"], reference["key"])
            elif "fieldRef" in source:
                environment[name] = self.field_value(pod, source["fieldRef"]["fieldPath"])
            elif "resourceFieldRef" in source:
                environment[name] = self.resource_value(container, source["resourceFieldRef"])
            else:
                raise PodRefused(f"env {name}: unsupported source {source}")
        return environment

    def field_value(self, pod: Pod, path: str) -> str:
        values = {"metadata.name": pod.name, "metadata.namespace": pod.namespace,
                  "status.podIP": pod.address, "spec.nodeName": "paymesh-pods",
                  "spec.serviceAccountName": pod.spec.get("serviceAccountName", "default"),
                  "status.hostIP": "10.231.77.2"}
        match = re.fullmatch(r"metadata\.labels\['(.+)'\]", path)
        if match:
            return pod.labels.get(match.group(1), "")
        if path not in values:
            raise PodRefused(f"fieldRef {path} is not supported by this runner")
        return values[path]

    @staticmethod
    def resource_value(container: dict, reference: dict) -> str:
        resource = reference["resource"]
        section, name = resource.split(".", 1)
        quantity = ((container.get("resources") or {}).get(section) or {}).get(name)
        if quantity is None:
            raise PodRefused(f"resourceFieldRef {resource} has no value in the spec")
        divisor = reference.get("divisor", "1")
        if name == "cpu":
            return str(-(-cpu_millis(quantity) // cpu_millis(divisor)))
        return str(-(-memory_bytes(quantity) // memory_bytes(divisor)))

    def prepare_volume(self, pod: Pod, volume_name: str, fs_group: Optional[int], kind: str) -> str:
        """A fresh Docker volume per pod volume, owned the way the kubelet leaves it."""
        docker_volume = f"{pod.name}-{volume_name}"
        self.docker.run("volume", "rm", "-f", docker_volume, check=False)
        self.docker.run("volume", "create", "--label", "paymesh-pods=1", docker_volume)
        mountpoint = self.docker.inspect("volume", docker_volume)["Mountpoint"]
        # emptyDir and local-path PVs start as an empty 0777 directory; with fsGroup the kubelet
        # hands it to that group with the setgid bit so new files stay in the group.
        os.chmod(mountpoint, 0o777)
        if fs_group is not None:
            os.chown(mountpoint, 0, fs_group)
            os.chmod(mountpoint, 0o2777)
        note(f"{kind} {volume_name} -> docker volume {docker_volume}"
             + (f" (group {fs_group}, setgid, as fsGroup makes it)" if fs_group is not None else ""))
        return docker_volume

    def write_files_volume(self, pod: Pod, volume_name: str, files: dict, mode: int) -> str:
        directory = os.path.join(self.work, "volumes", pod.name, volume_name)
        os.makedirs(directory, exist_ok=True)
        os.chmod(directory, 0o755)
        for key, value in files.items():
            path = os.path.join(directory, key)
            with open(path, "w") as handle:
                handle.write(value)
            os.chmod(path, mode)
        return directory

    def volume_flags(self, pod: Pod, container: dict, prepared: dict) -> list:
        flags = []
        volumes = {v["name"]: v for v in pod.spec.get("volumes") or []}
        for template in pod.claim_templates:
            volumes[template["metadata"]["name"]] = {"name": template["metadata"]["name"],
                                                     "persistentVolumeClaim": template}
        fs_group = (pod.spec.get("securityContext") or {}).get("fsGroup")
        for mount in container.get("volumeMounts") or []:
            if mount.get("subPathExpr"):
                raise PodRefused(f"volumeMount {mount['name']}: subPathExpr is not supported by this runner")
            volume = volumes.get(mount["name"])
            if volume is None:
                raise PodRefused(f"volume {mount['name']} is not defined in the pod")
            read_only = ",readonly" if mount.get("readOnly") else ""
            target = mount["mountPath"]
            if "emptyDir" in volume and (volume["emptyDir"] or {}).get("medium") == "Memory":
                size = (volume["emptyDir"] or {}).get("sizeLimit")
                options = f"type=tmpfs,destination={target},tmpfs-mode=1777"
                if size:
                    options += f",tmpfs-size={memory_bytes(size)}"
                flags += ["--mount", options]
                note(f"emptyDir {mount['name']} (medium Memory) -> tmpfs at {target}")
            elif "emptyDir" in volume or "persistentVolumeClaim" in volume:
                kind = "emptyDir" if "emptyDir" in volume else "PVC"
                if mount["name"] not in prepared:
                    prepared[mount["name"]] = self.prepare_volume(pod, mount["name"], fs_group, kind)
                if mount.get("subPath"):
                    # Docker 20.10 has no volume subpath: bind the subdirectory, created as the
                    # kubelet creates it on first use.
                    root = self.docker.inspect("volume", prepared[mount["name"]])["Mountpoint"]
                    source = os.path.normpath(os.path.join(root, mount["subPath"]))
                    if not source.startswith(root + os.sep):
                        raise PodRefused(f"volumeMount {mount['name']}: subPath escapes the volume")
                    if not os.path.isdir(source):
                        os.makedirs(source)
                        os.chmod(source, 0o2777 if fs_group is not None else 0o777)
                        if fs_group is not None:
                            os.chown(source, 0, fs_group)
                    flags += ["--mount", f"type=bind,source={source},destination={target}{read_only}"]
                else:
                    flags += ["--mount", f"type=volume,source={prepared[mount['name']]},destination={target},"
                                         f"volume-nocopy=true{read_only}"]
            elif "secret" in volume:
                name = volume["secret"]["secretName"]
                keys = ["username", "password"]
                secret = self.secrets.get((pod.namespace, name)) or {}
                keys = list((secret.get("data") or {})) + list((secret.get("stringData") or {})) or keys
                files = {key: self.secret_value(pod.namespace, name, key) for key in keys}
                mode = volume["secret"].get("defaultMode", 0o644)
                directory = self.write_files_volume(pod, mount["name"], files, mode)
                flags += ["--mount", f"type=bind,source={directory},destination={target},readonly"]
            elif "configMap" in volume:
                config_map = self.config_maps.get((pod.namespace, volume["configMap"]["name"])) or {}
                mode = volume["configMap"].get("defaultMode", 0o644)
                directory = self.write_files_volume(pod, mount["name"], config_map.get("data") or {}, mode)
                flags += ["--mount", f"type=bind,source={directory},destination={target},readonly"]
            else:
                raise PodRefused(f"volume {mount['name']}: type {sorted(volume)} not supported by this runner")
        return flags

    def security_flags(self, pod: Pod, container: dict, context: dict) -> list:
        flags = []
        pod_context = pod.spec.get("securityContext") or {}
        if "runAsUser" in context:
            user = str(context["runAsUser"])
            if "runAsGroup" in context:
                user += f":{context['runAsGroup']}"
            flags += ["--user", user]
        groups = list(pod_context.get("supplementalGroups") or [])
        if "fsGroup" in pod_context:
            groups.append(pod_context["fsGroup"])
        for group in groups:
            flags += ["--group-add", str(group)]
        if context.get("readOnlyRootFilesystem"):
            flags.append("--read-only")
        capabilities = context.get("capabilities") or {}
        for capability in capabilities.get("drop") or []:
            flags += ["--cap-drop", capability]
        for capability in capabilities.get("add") or []:
            flags += ["--cap-add", capability]
        if context.get("privileged"):
            flags.append("--privileged")
        # Unset means allowed in Kubernetes, so no_new_privs only when the spec says false.
        if context.get("allowPrivilegeEscalation") is False:
            flags += ["--security-opt", "no-new-privileges"]
        seccomp = (context.get("seccompProfile") or {}).get("type")
        if seccomp == "RuntimeDefault":
            pass  # Docker's default profile is the runtime default
        elif seccomp in (None, "Unconfined"):
            # The kubelet's default is Unconfined unless the spec asks for a profile.
            flags += ["--security-opt", "seccomp=unconfined"]
        else:
            raise PodRefused(f"seccompProfile {seccomp} is not supported by this runner")
        return flags

    def resource_flags(self, container: dict) -> list:
        resources = container.get("resources") or {}
        limits = resources.get("limits") or {}
        requests = resources.get("requests") or {}
        flags = []
        if "memory" in limits:
            memory = memory_bytes(limits["memory"])
            flags += ["--memory", str(memory), "--memory-swap", str(memory)]
        if "cpu" in limits:
            flags += ["--cpus", f"{cpu_millis(limits['cpu']) / 1000:g}"]
        if "cpu" in requests:
            # The kubelet turns the CPU request into cgroup cpu.shares this way.
            flags += ["--cpu-shares", str(max(2, cpu_millis(requests["cpu"]) * 1024 // 1000))]
        return flags

    def docker_run_arguments(self, pod: Pod, container: dict, image: str, prepared: dict,
                             network_flags: list) -> list:
        context = effective_security_context(pod.spec, container)
        environment = self.environment(pod, container)
        arguments = ["run", "--detach", "--name", f"k8s_{container['name']}_{pod.name}_{pod.namespace}",
                     "--label", "paymesh-pods=1", "--hostname", pod.name, "--pull", "never"]
        arguments += network_flags
        arguments += self.security_flags(pod, container, context)
        arguments += self.resource_flags(container)
        arguments += self.volume_flags(pod, container, prepared)
        if pod.spec.get("terminationGracePeriodSeconds") is not None:
            arguments += ["--stop-timeout", str(pod.spec["terminationGracePeriodSeconds"])]
        if container.get("workingDir"):
            arguments += ["--workdir", container["workingDir"]]
        env_file = os.path.join(self.work, f"env-{pod.name}-{container['name']}")
        with open(env_file, "w") as handle:
            for key, value in environment.items():
                if "\n" in value:
                    raise PodRefused(f"env {key}: multi-line values are not supported by this runner")
                handle.write(f"{key}={value}\n")
        os.chmod(env_file, 0o600)
        arguments += ["--env-file", env_file]
        command = [expand_references(str(a), environment) for a in container.get("command") or []]
        args = [expand_references(str(a), environment) for a in container.get("args") or []]
        if command:
            arguments += ["--entrypoint", command[0], image, *command[1:], *args]
        else:
            arguments += [image, *args]
        return arguments

    def network_flags(self, pod: Pod) -> list:
        namespace = pod.namespace
        flags = ["--network", NETWORK_NAME, "--ip", pod.address]
        for alias in self.service_aliases.get(pod.name, []):
            flags += ["--network-alias", alias]
        for domain in (f"{namespace}.svc.{CLUSTER_DOMAIN}", f"svc.{CLUSTER_DOMAIN}", CLUSTER_DOMAIN):
            flags += ["--dns-search", domain]
        flags += ["--dns-option", "ndots:5"]
        return flags

    def start_pod(self, pod: Pod, kubelet_checks: bool = True) -> None:
        """Refuses (PodRefused) exactly where the kubelet would, before creating anything."""
        containers = pod.spec["containers"]
        if len(containers) != 1:
            raise PodRefused(f"{len(containers)} containers: this runner starts single-container pods")
        prepared: dict = {}
        for init in pod.spec.get("initContainers") or []:
            image = self.image_for(init)
            verify_run_as_non_root(pod, init, self.image_user(image))
            arguments = self.docker_run_arguments(pod, init, image, prepared, self.network_flags_init(pod))
            container_id = self.docker.run(*arguments).stdout.strip()
            exit_code = self.docker.run("wait", container_id, timeout=600).stdout.strip()
            if exit_code != "0":
                raise RuntimeError(f"init container {init['name']} exited {exit_code}: "
                                   + self.docker.run("logs", container_id, check=False).stderr[-2000:])
        container = containers[0]
        image = self.image_for(container)
        image_user = self.image_user(image)
        if kubelet_checks:
            verify_run_as_non_root(pod, container, image_user)
        arguments = self.docker_run_arguments(pod, container, image, prepared, self.network_flags(pod))
        note("docker " + " ".join(arguments))
        pod.container_ids[container["name"]] = self.docker.run(*arguments).stdout.strip()

    @staticmethod
    def network_flags_init(pod: Pod) -> list:
        return ["--network", NETWORK_NAME]

    # ---- probes

    def run_probe(self, pod: Pod, container: dict, probe: dict) -> tuple[bool, str]:
        timeout = probe.get("timeoutSeconds", PROBE_DEFAULTS["timeoutSeconds"])
        if "httpGet" in probe:
            http = probe["httpGet"]
            port = self.resolve_port(container, http["port"])
            host = http.get("host", pod.address)
            url = f"{http.get('scheme', 'HTTP').lower()}://{host}:{port}{http.get('path', '/')}"
            request = urllib.request.Request(url, headers={"User-Agent": KUBELET_USER_AGENT})
            for header in http.get("httpHeaders") or []:
                request.add_header(header["name"], header["value"])
            try:
                with urllib.request.urlopen(request, timeout=timeout) as response:
                    status = response.status
            except urllib.error.HTTPError as error:
                status = error.code
            except (OSError, urllib.error.URLError) as error:
                return False, f"GET {url}: {error}"
            # The kubelet accepts 200-399; this check asks for 2xx.
            return 200 <= status < 300, f"GET {url} -> {status}"
        if "exec" in probe:
            command = probe["exec"]["command"]
            try:
                result = self.docker.run("exec", pod.container_ids[container["name"]], *command,
                                         check=False, timeout=max(timeout, 1) + 5)
            except subprocess.TimeoutExpired:
                return False, f"exec {command}: timed out"
            return result.returncode == 0, f"exec {' '.join(command)} -> exit {result.returncode}"
        if "tcpSocket" in probe:
            port = self.resolve_port(container, probe["tcpSocket"]["port"])
            try:
                with socket.create_connection((pod.address, port), timeout=timeout):
                    return True, f"tcp {pod.address}:{port} open"
            except OSError as error:
                return False, f"tcp {pod.address}:{port}: {error}"
        return False, f"unsupported probe {sorted(probe)}"

    @staticmethod
    def resolve_port(container: dict, port) -> int:
        if isinstance(port, int) or str(port).isdigit():
            return int(port)
        for declared in container.get("ports") or []:
            if declared.get("name") == port:
                return declared["containerPort"]
        raise ValueError(f"named port {port} not declared")

    def wait_for_probe(self, pod: Pod, container: dict, kind: str, probe: dict,
                       budget_seconds: Optional[float] = None) -> tuple[bool, str, float]:
        """Polls like the kubelet (initialDelaySeconds, then every periodSeconds) until success or
        failureThreshold failures (or a time budget for readiness, which never restarts a pod)."""
        settings = {**PROBE_DEFAULTS, **probe}
        started = time.monotonic()
        time.sleep(settings["initialDelaySeconds"])
        failures = 0
        detail = ""
        while True:
            if not self.container_running(pod, container):
                return False, "container is not running: " + self.container_tail(pod, container), 0
            ok, detail = self.run_probe(pod, container, probe)
            if ok:
                return True, detail, time.monotonic() - started
            failures += 1
            if budget_seconds is None and failures >= settings["failureThreshold"]:
                return False, f"{failures} failures, last: {detail}", time.monotonic() - started
            if budget_seconds is not None and time.monotonic() - started > budget_seconds:
                return False, f"not ready after {budget_seconds:.0f}s, last: {detail}", time.monotonic() - started
            time.sleep(settings["periodSeconds"] if kind != "readiness" else min(settings["periodSeconds"], 2))

    def container_running(self, pod: Pod, container: dict) -> bool:
        details = self.docker.inspect("container", pod.container_ids[container["name"]])
        return bool(details and details["State"]["Running"])

    def container_tail(self, pod: Pod, container: dict) -> str:
        result = self.docker.run("logs", "--tail", "20", pod.container_ids[container["name"]], check=False)
        return (result.stdout + result.stderr).strip()[-3000:]

    def prove_probes(self, pod: Pod) -> bool:
        container = pod.spec["containers"][0]
        all_ok = True
        startup = container.get("startupProbe")
        if startup:
            ok, detail, seconds = self.wait_for_probe(pod, container, "startup", startup)
            all_ok &= self.results.check(ok, f"{pod.name}: startup probe passes ({detail}, after {seconds:.1f}s)", detail)
            if not ok:
                return False
        for kind, key in (("readiness", "readinessProbe"), ("liveness", "livenessProbe")):
            probe = container.get(key)
            if not probe:
                all_ok &= self.results.check(False, f"{pod.name}: has a {kind} probe")
                continue
            budget = 120 if kind == "readiness" else None
            ok, detail, seconds = self.wait_for_probe(pod, container, kind, probe, budget)
            all_ok &= self.results.check(ok, f"{pod.name}: {kind} probe passes ({detail})", detail)
        if not startup:
            all_ok &= self.results.check(False, f"{pod.name}: has a startup probe")
        return all_ok

    # ---- what the kernel says about the running process

    def prove_process_context(self, pod: Pod) -> None:
        container = pod.spec["containers"][0]
        context = effective_security_context(pod.spec, container)
        details = self.docker.inspect("container", pod.container_ids[container["name"]])
        pid = details["State"]["Pid"]
        status = dict(line.split(":", 1) for line in open(f"/proc/{pid}/status").read().splitlines()
                      if ":" in line)
        uids = status["Uid"].split()
        gids = status["Gid"].split()
        groups = status["Groups"].split()
        expected_uid = str(context.get("runAsUser", ""))
        self.results.check(expected_uid != "" and set(uids) == {expected_uid},
                           f"{pod.name}: process runs as uid {'/'.join(uids)} (spec runAsUser {expected_uid or 'unset'})")
        if "runAsGroup" in context:
            self.results.check(set(gids) == {str(context["runAsGroup"])},
                               f"{pod.name}: process gid {'/'.join(gids)} (spec runAsGroup {context['runAsGroup']})")
        fs_group = (pod.spec.get("securityContext") or {}).get("fsGroup")
        if fs_group is not None:
            self.results.check(str(fs_group) in groups,
                               f"{pod.name}: fsGroup {fs_group} among the supplementary groups {groups}")
        root_mount = next(line.split() for line in open(f"/proc/{pid}/mountinfo")
                          if line.split()[4] == "/")
        root_read_only = "ro" in root_mount[5].split(",")
        if context.get("readOnlyRootFilesystem"):
            self.results.check(root_read_only and details["HostConfig"]["ReadonlyRootfs"],
                               f"{pod.name}: root filesystem is mounted read-only ({root_mount[5]})")
        if "ALL" in ((context.get("capabilities") or {}).get("drop") or []):
            self.results.check(int(status["CapEff"], 16) == 0 and int(status["CapBnd"], 16) == 0,
                               f"{pod.name}: no capabilities (CapEff {status['CapEff'].strip()}, "
                               f"CapBnd {status['CapBnd'].strip()})")
        if context.get("allowPrivilegeEscalation") is False:
            self.results.check(status.get("NoNewPrivs", "").strip() == "1",
                               f"{pod.name}: no_new_privs set (NoNewPrivs {status.get('NoNewPrivs', '?').strip()})")
        if (context.get("seccompProfile") or {}).get("type") == "RuntimeDefault":
            self.results.check(status.get("Seccomp", "").strip() == "2",
                               f"{pod.name}: seccomp filter active (Seccomp {status.get('Seccomp', '?').strip()})")
        limits = (container.get("resources") or {}).get("limits") or {}
        if "memory" in limits:
            self.results.check(details["HostConfig"]["Memory"] == memory_bytes(limits["memory"]),
                               f"{pod.name}: memory limit {limits['memory']} set on the cgroup "
                               f"({details['HostConfig']['Memory']} bytes)")

    # ---- the flow and the numbers

    def run_flow(self) -> None:
        invoice = next((p for p in self.pods if p.workload_name == "invoice-app"), None)
        if invoice is None:
            self.results.check(False, "test.sh --flow-only through the pods", "no invoice-app workload")
            return
        port = 8081
        for declared in invoice.spec["containers"][0].get("ports") or []:
            port = declared["containerPort"]
        url = f"http://{invoice.address}:{port}"
        note(f"INVOICE_URL={url} ./test.sh --flow-only")
        environment = {**os.environ, "INVOICE_URL": url}
        result = subprocess.run([os.path.join(self.arguments.root, "test.sh"), "--flow-only"],
                                text=True, capture_output=True, env=environment, timeout=600)
        for line in (result.stdout + result.stderr).splitlines():
            print(f"  | {line}")
        summary = [line for line in result.stdout.splitlines() if re.search(r"\d+ passed, \d+ failed", line)]
        self.results.check(result.returncode == 0,
                           f"test.sh --flow-only passes through the invoice-app and payment-provider pods "
                           f"({summary[-1] if summary else 'no summary'})",
                           f"exit {result.returncode}")

    def prove_state_in_databases(self) -> None:
        """An app with DB_URL must really keep its state in its database pod after the flow."""
        for pod in self.pods:
            if pod.workload_kind != "Deployment" or not pod.container_ids:
                continue
            container = pod.spec["containers"][0]
            url = next((v.get("value", "") for v in container.get("env") or [] if v["name"] == "DB_URL"), "")
            match = re.fullmatch(r"jdbc:postgresql://([^:/]+)(?::\d+)?/([^?]+).*", url)
            if not match:
                note(f"{pod.name}: no DB_URL in the pod spec, so no database to check")
                continue
            host, database = match.groups()
            database_pod = next((p for p in self.pods if host in self.service_aliases.get(p.name, [])), None)
            if database_pod is None or not database_pod.container_ids:
                self.results.check(False, f"{pod.name}: its database {host} runs as a pod")
                continue
            query = (f"select (select count(*) from pg_stat_activity where datname = current_database() "
                     f"and client_addr = '{pod.address}') || ' ' || "
                     f"(select coalesce(sum(n_tup_ins + n_tup_upd), 0) from pg_stat_user_tables)")
            database_container = next(iter(database_pod.container_ids.values()))
            result = self.docker.run("exec", database_container, "sh", "-c",
                                     f'psql -U "$POSTGRES_USER" -d {database} -Atc "{query}"', check=False)
            counts = result.stdout.split()
            connections, rows = (int(counts[0]), int(counts[1])) if len(counts) == 2 else (0, 0)
            self.results.check(connections > 0 and rows > 0,
                               f"{pod.name} keeps its state in {database_pod.name} (database {database}: "
                               f"{connections} connections from {pod.address}, {rows} rows written)",
                               result.stderr.strip())

    def report_memory(self) -> None:
        print("\nPod memory after the flow (cgroup usage as docker stats reports it; process RSS):")
        for pod in self.pods:
            for name, container_id in pod.container_ids.items():
                stats = self.docker.run("stats", "--no-stream", "--format", "{{.MemUsage}}", container_id,
                                        check=False).stdout.strip()
                pid = (self.docker.inspect("container", container_id) or {}).get("State", {}).get("Pid")
                rss = ""
                if pid:
                    for line in open(f"/proc/{pid}/status"):
                        if line.startswith("VmRSS:"):
                            rss = " ".join(line.split()[1:])
                print(f"  {pod.namespace + '/' + pod.name:38s} {stats:28s} RSS {rss}")

    # ---- part 1: the kubelet refuses a root image

    def prove_root_image_refused(self, image: str, expected: str, description: str) -> None:
        template = next((p for p in self.pods if p.workload_name == "invoice-app"), None)
        if template is None:
            self.results.check(False, f"runAsNonRoot refusal of {description}", "no invoice-app workload")
            return
        spec = json.loads(json.dumps(template.spec))
        # The original setup: runAsNonRoot without runAsUser, the image deciding the user.
        for context in [spec.get("securityContext") or {}] + \
                       [c.get("securityContext") or {} for c in spec["containers"]]:
            context.pop("runAsUser", None)
            context.pop("runAsGroup", None)
        spec["containers"][0]["image"] = image
        pod = Pod(template.workload_kind, template.workload_name, template.namespace,
                  "invoice-app-root-test", spec, template.labels, self.address(200))
        non_root = effective_security_context(spec, spec["containers"][0]).get("runAsNonRoot")
        if not self.results.check(bool(non_root), "the rendered invoice-app pod spec sets runAsNonRoot: true"):
            return
        try:
            self.start_pod(pod)
        except PodRefused as refusal:
            message = str(refusal)
            name = f"k8s_{spec['containers'][0]['name']}_{pod.name}_{pod.namespace}"
            created = self.docker.inspect("container", name)
            self.results.check(expected in message and created is None,
                               f"{description} + runAsNonRoot is refused, nothing created: "
                               f"CreateContainerConfigError: {message}")
            self.prove_docker_alone_runs_it_as_root(pod, description)
            return
        self.results.check(False, f"{description} + runAsNonRoot is refused", "the pod was started")

    def prove_docker_alone_runs_it_as_root(self, pod: Pod, description: str) -> None:
        """Docker has no runAsNonRoot: the same flags without the runner's check start the process
        as whatever the image says, which is why the runner does the kubelet's part."""
        try:
            self.start_pod(pod, kubelet_checks=False)
            container_id = pod.container_ids[pod.spec["containers"][0]["name"]]
            time.sleep(1)
            details = self.docker.inspect("container", container_id)
            pid = details["State"]["Pid"]
            uid = "exited"
            if pid:
                uid = next(line.split()[1] for line in open(f"/proc/{pid}/status") if line.startswith("Uid:"))
            user = details["Config"].get("User") or ""
            expected_uid = "0" if user in ("", "0") or user.startswith("0:") else None
            note(f"without the check, Docker starts {description} with user '{user}': process uid {uid}")
            if expected_uid is not None:
                self.results.check(uid == expected_uid,
                                   f"Docker alone starts {description} as uid {uid}: runAsNonRoot is "
                                   f"enforced by this runner, as the kubelet does, not by the runtime")
        finally:
            for container_id in pod.container_ids.values():
                self.docker.run("rm", "-f", container_id, check=False)

    # ---- main

    def run(self) -> None:
        self.plan()
        self.create_network()
        started = []
        for pod in self.pods:
            try:
                self.start_pod(pod)
                started.append(pod)
                self.results.check(True, f"{pod.namespace}/{pod.name} created from the rendered "
                                         f"{pod.workload_kind} {pod.workload_name}")
            except (PodRefused, RuntimeError) as error:
                self.results.check(False, f"{pod.namespace}/{pod.name} created", str(error))
            if pod.workload_kind == "StatefulSet" and pod in started:
                self.prove_probes(pod)
        for pod in started:
            if pod.workload_kind != "StatefulSet":
                self.prove_probes(pod)
        for pod in started:
            self.prove_process_context(pod)
        if {p.workload_name for p in started} >= {"invoice-app", "payment-provider"}:
            self.run_flow()
        else:
            self.results.check(False, "test.sh --flow-only through the pods", "the app pods did not start")
        self.prove_state_in_databases()
        self.report_memory()
        print()
        for image, expected, description in self.arguments.root_image:
            self.prove_root_image_refused(image, expected, description)


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--rendered", required=True)
    parser.add_argument("--docker", default="docker")
    parser.add_argument("--work", required=True)
    parser.add_argument("--root", required=True)
    parser.add_argument("--image-override", action="append", default=[],
                        help="REPOSITORY=IMAGE: run IMAGE wherever the spec names REPOSITORY:any-tag")
    parser.add_argument("--secret", action="append", default=[],
                        help="NAMESPACE/NAME: a Secret deploy.sh creates (keys username, password)")
    parser.add_argument("--root-image", action="append", default=[], nargs=3,
                        metavar=("IMAGE", "EXPECTED_MESSAGE", "DESCRIPTION"),
                        help="an image the kubelet must refuse under the invoice-app pod spec")
    arguments = parser.parse_args()
    results = Results()
    runner = Runner(arguments, results)
    for reference in arguments.secret:
        namespace, name = reference.split("/", 1)
        user = name.removesuffix("-credentials").replace("-", "_")
        runner.secrets[(namespace, name)] = {
            "metadata": {"name": name, "namespace": namespace},
            "stringData": {"username": user, "password": secrets.token_urlsafe(24)}}
        note(f"Secret {namespace}/{name} generated (username {user}, random password), as deploy.sh creates it")
    try:
        runner.run()
    finally:
        print(f"runner: {results.passed} passed, {results.failed} failed")
    print("RUNNER DONE")
    return 0 if results.failed == 0 else 1


if __name__ == "__main__":
    sys.exit(main())
