"""pytest wiring of the invariant tests: which rendered set they read.

  pytest --rendered DIR checks/offline/test_invariants.py
DIR holds manifests.yaml, mesh.yaml and what check-render.sh derives from them in DIR/derived/:
istio-install.gen.yaml, manifests.injected.yaml and injector/mesh.yaml.
"""
import functools
import pathlib

import pytest
import yaml

# libyaml's parser when PyYAML has it: the generated Istio install is large.
LOADER = getattr(yaml, "CSafeLoader", yaml.SafeLoader)


class Rendered:
    """The objects of one rendered set, and lookups the tests share."""

    def __init__(self, directory):
        self.directory = pathlib.Path(directory)
        self.objects = self._load("manifests.yaml") + self._load("mesh.yaml")

    @functools.cached_property
    def install(self):
        """What `istioctl manifest generate` made of the IstioOperator (empty if it failed)."""
        path = self.directory / "derived" / "istio-install.gen.yaml"
        return self._load(path.name, path.parent) if path.exists() else []

    @functools.cached_property
    def injected(self):
        """The workloads after `istioctl kube-inject` (empty if that step failed)."""
        path = self.directory / "derived" / "manifests.injected.yaml"
        return self._load(path.name, path.parent) if path.exists() else []

    @functools.cached_property
    def mesh_config(self):
        """The mesh config of the generated install, as istiod and the injector read it."""
        path = self.directory / "derived" / "injector" / "mesh.yaml"
        return (yaml.load(path.read_text(), Loader=LOADER) or {}) if path.exists() else {}

    def _load(self, name, directory=None):
        with open((directory or self.directory) / name) as stream:
            return [doc for doc in yaml.load_all(stream, Loader=LOADER) if isinstance(doc, dict)]

    def of_kind(self, kind, objects=None):
        return [o for o in (self.objects if objects is None else objects) if o.get("kind") == kind]

    def named(self, kind, namespace, name, objects=None):
        for o in self.of_kind(kind, objects):
            if o["metadata"].get("namespace") == namespace and o["metadata"]["name"] == name:
                return o
        return None

    def workloads(self):
        return [o for o in self.objects if o.get("kind") in ("Deployment", "StatefulSet", "DaemonSet")]


def pytest_addoption(parser):
    parser.addoption("--rendered", required=True, help="directory of the rendered set to check")


@functools.lru_cache(maxsize=None)
def load(directory):
    return Rendered(directory)


@pytest.fixture(scope="session")
def rendered(request):
    return load(request.config.getoption("--rendered"))


def pytest_generate_tests(metafunc):
    """Parametrizes tests over the workloads (`workload`, or `deployment` for Deployments only) and
    containers (`container`; a test marked with the attribute main_containers_only skips init containers)."""
    if not {"workload", "deployment", "container"} & set(metafunc.fixturenames):
        return
    data = load(metafunc.config.getoption("--rendered"))
    if "container" in metafunc.fixturenames:
        cases, ids = [], []
        groups = ("containers",) if getattr(metafunc.function, "main_containers_only", False) else ("initContainers", "containers")
        for w in data.workloads():
            spec = w["spec"]["template"]["spec"]
            for group in groups:
                for c in spec.get(group) or []:
                    cases.append((w, c, group))
                    ids.append(f"{w['metadata'].get('namespace')}/{w['metadata']['name']}/{c['name']}")
        metafunc.parametrize("workload,container,group", cases, ids=ids)
    else:
        name = "deployment" if "deployment" in metafunc.fixturenames else "workload"
        workloads = [w for w in data.workloads() if name == "workload" or w["kind"] == "Deployment"]
        metafunc.parametrize(name, workloads,
                             ids=[f"{w['kind']}/{w['metadata'].get('namespace')}/{w['metadata']['name']}" for w in workloads])
