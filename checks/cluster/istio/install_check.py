"""Proves what checks/cluster/istio/local-overlay.yaml and the local hub/tag change in Istio's install.

  install_check.py install PRODUCT.yaml LOCAL.yaml HUB TAG
      PRODUCT.yaml: `istioctl manifest generate -f mesh/istio-install.yaml` with the release's
      hub/tag; LOCAL.yaml: the same plus the overlay and --set hub=HUB --set tag=TAG. Passes when
      the local install differs from the product's in exactly these places and nowhere else:
      istiod's and the gateway's images, istiod's two PILOT_ENABLE_* variables, the mesh's default
      metrics providers (none), and the same values where the install repeats them (the injector's
      values, the values ConfigMap).
  install_check.py injected INJECTED.yaml HUB TAG
      Every istio-proxy and istio-init container of `istioctl kube-inject` output (with the local
      install's injector) runs HUB/proxyv2:TAG.
Prints one PASS:/FAIL: line per check; exits 1 when any failed.
"""
import copy
import json
import sys

import yaml

LOADER = getattr(yaml, "CSafeLoader", yaml.SafeLoader)
ISTIOD = ("Deployment", "istio-system", "istiod")
GATEWAY = ("Deployment", "istio-system", "istio-ingressgateway")
MESH = ("ConfigMap", "istio-system", "istio")
LOCAL_ENV = {"PILOT_ENABLE_METADATA_EXCHANGE": "false", "PILOT_ENABLE_ALPN_FILTER": "false"}

failures = 0


def result(ok, what, detail=""):
    global failures
    if not ok:
        failures += 1
        if detail:
            print(f"    {detail}")
    print(f"{'PASS' if ok else 'FAIL'}: {what}")


def objects(path):
    with open(path) as stream:
        docs = [d for d in yaml.load_all(stream, Loader=LOADER) if isinstance(d, dict)]
    return {(d["kind"], d["metadata"].get("namespace"), d["metadata"]["name"]): d for d in docs}


def container(deployment, name):
    for c in deployment["spec"]["template"]["spec"]["containers"]:
        if c["name"] == name:
            return c
    raise SystemExit(f"{deployment['metadata']['name']} has no container {name}")


def pop_path(tree, path):
    """Removes tree[a][b]... and returns it (None when absent)."""
    for key in path[:-1]:
        tree = tree.get(key) if isinstance(tree, dict) else None
        if tree is None:
            return None
    return tree.pop(path[-1], None) if isinstance(tree, dict) else None


def check_values_blob(name, key, product, local, expected):
    """A JSON values blob: the expected entries present in the local one, the rest identical."""
    p, l = json.loads(product), json.loads(local)
    seen = []
    for path, value in expected.items():
        got = pop_path(l, path)
        pop_path(p, path)
        if got is not None:
            result(got == value, f"{name} {key}: {'.'.join(path)} is {json.dumps(value)}", f"found {json.dumps(got)}")
            seen.append(".".join(path))
    result(p == l, f"{name} {key}: nothing else differs from the product's install ({', '.join(seen)} set)")


def check_install(product_path, local_path, hub, tag):
    product, local = objects(product_path), objects(local_path)
    result(set(product) == set(local), f"the same {len(local)} objects as the product's install",
           f"only in the product's: {sorted(set(product) - set(local))}; only in the local: {sorted(set(local) - set(product))}")
    if set(product) != set(local):
        return
    product, local = copy.deepcopy(product), copy.deepcopy(local)

    p, l = container(product[ISTIOD], "discovery"), container(local[ISTIOD], "discovery")
    result(l["image"] == f"{hub}/pilot:{tag}", f"istiod runs {hub}/pilot:{tag}", f"found {l['image']}")
    local_env = {e["name"]: e.get("value") for e in l["env"] if e["name"] in LOCAL_ENV}
    result(local_env == LOCAL_ENV, "istiod's environment: PILOT_ENABLE_METADATA_EXCHANGE=false, PILOT_ENABLE_ALPN_FILTER=false",
           f"found {local_env}")
    result(not any(e["name"] in LOCAL_ENV for e in p["env"]), "the product's istiod keeps Istio's defaults for both (unset)")
    l["env"] = [e for e in l["env"] if e["name"] not in LOCAL_ENV]
    p["image"] = l["image"] = None

    p, l = container(product[GATEWAY], "istio-proxy"), container(local[GATEWAY], "istio-proxy")
    result(l["image"] == f"{hub}/proxyv2:{tag}", f"the ingress gateway runs {hub}/proxyv2:{tag}", f"found {l['image']}")
    p["image"] = l["image"] = None

    product_mesh = yaml.load(product[MESH]["data"]["mesh"], Loader=LOADER)
    local_mesh = yaml.load(local[MESH]["data"]["mesh"], Loader=LOADER)
    result(local_mesh.get("defaultProviders") == {"metrics": []},
           "mesh config: no default metrics provider (defaultProviders.metrics is empty)",
           f"found {local_mesh.get('defaultProviders')}")
    result(product_mesh.get("defaultProviders") == {"metrics": ["prometheus"]},
           "the product's mesh config keeps Istio's default metrics provider prometheus",
           f"found {product_mesh.get('defaultProviders')}")
    product_mesh.pop("defaultProviders", None)
    local_mesh.pop("defaultProviders", None)
    result(product_mesh == local_mesh, "mesh config: everything else is the product's (access log, REGISTRY_ONLY, proxy defaults, ...)")
    product[MESH]["data"]["mesh"] = local[MESH]["data"]["mesh"] = None

    injector_values = yaml.load(local[("ConfigMap", "istio-system", "istio-sidecar-injector")]["data"]["values"], Loader=LOADER)
    proxy_images = {"proxy": injector_values["global"]["proxy"]["image"],
                    "proxy_init": injector_values["global"]["proxy_init"]["image"]}
    result(proxy_images == {"proxy": "proxyv2", "proxy_init": "proxyv2"},
           "the injector's sidecar and istio-init images are both proxyv2 (under global.hub and global.tag)", f"found {proxy_images}")

    expected = {
        ("global", "hub"): hub,
        ("global", "tag"): tag,
        ("pilot", "env"): LOCAL_ENV,
        ("env",): LOCAL_ENV,
        ("meshConfig", "defaultProviders"): {"metrics": []},
    }
    for key in sorted(k for k in local if k[0] == "ConfigMap"):
        for data_key, value in sorted(local[key].get("data", {}).items()):
            if data_key.endswith("values"):
                check_values_blob(key[2], data_key, product[key]["data"][data_key], value, expected)
                product[key]["data"][data_key] = local[key]["data"][data_key] = None

    different = sorted(f"{k[0]} {k[1]}/{k[2]}" for k in local if product[k] != local[k])
    result(not different, "every other object and field is the product's install, byte for byte",
           f"also different: {different}")


def check_injected(path, hub, tag):
    image = f"{hub}/proxyv2:{tag}"
    found = {}
    with open(path) as stream:
        for doc in yaml.load_all(stream, Loader=LOADER):
            if not isinstance(doc, dict) or "template" not in doc.get("spec", {}):
                continue
            spec = doc["spec"]["template"]["spec"]
            for c in spec.get("initContainers", []) + spec.get("containers", []):
                if c["name"] in ("istio-proxy", "istio-init"):
                    found[f"{doc['metadata']['name']}/{c['name']}"] = c["image"]
    result(bool(found) and any(k.endswith("/istio-init") for k in found),
           f"injection: {len(found)} istio-proxy and istio-init containers in the injected workloads")
    wrong = {k: v for k, v in found.items() if v != image}
    result(bool(found) and not wrong, f"injection: each runs {image}", f"found {wrong}")


def main():
    args = sys.argv[1:]
    if len(args) == 5 and args[0] == "install":
        check_install(*args[1:])
    elif len(args) == 4 and args[0] == "injected":
        check_injected(*args[1:])
    else:
        raise SystemExit(__doc__)
    sys.exit(1 if failures else 0)


if __name__ == "__main__":
    main()
