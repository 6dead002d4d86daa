"""The box runs Istio's configuration with the Istio-only telemetry switched off; this proves that
switch changes nothing else.

Usage: variants.py PRODUCTION_DIR BOX_DIR

Both directories hold box-istiod's dump (NAMESPACE/POD/{listeners,clusters,routes,endpoints}.json)
of the same cluster: PRODUCTION_DIR as istiod generates it for the deployed mesh, BOX_DIR with
PILOT_ENABLE_METADATA_EXCHANGE=false, PILOT_ENABLE_ALPN_FILTER=false and no default metrics
provider. Removing exactly the filters named in ISTIO_ONLY from the production variant must give
the box variant, resource for resource, field for field. Prints PASS/FAIL lines.
"""
import json
import pathlib
import sys

# Filters that only Istio's own Envoy build implements; upstream Envoy refuses their types.
ISTIO_ONLY = {"istio.metadata_exchange", "istio.stats", "istio.alpn"}
# The TLS ALPN token with which a client sidecar announces metadata exchange: offered only while
# the exchange is on. (Inbound filter chains still match on it either way.)
EXCHANGE_ALPN = "istio-peer-exchange"
KINDS = ("listeners", "clusters", "routes", "endpoints")


def load(directory):
    proxies = {}
    for listeners in sorted(pathlib.Path(directory).glob("*/*/listeners.json")):
        pod = listeners.parent
        # Resources in name order: the generator's order of listeners is not stable between runs.
        proxies[f"{pod.parent.name}/{pod.name}"] = {
            k: sorted(json.loads((pod / f"{k}.json").read_text()), key=lambda r: r.get("name") or r.get("clusterName", ""))
            for k in KINDS}
    return proxies


def without_istio_only(node, removed):
    """A copy of node without the Istio-only filters, counting what it removed by name."""
    if isinstance(node, list):
        kept = []
        for item in node:
            if isinstance(item, dict) and item.get("name") in ISTIO_ONLY:
                removed[item["name"]] = removed.get(item["name"], 0) + 1
                continue
            kept.append(without_istio_only(item, removed))
        return kept
    if isinstance(node, dict):
        kept = {}
        for key, value in node.items():
            if key == "alpnProtocols" and EXCHANGE_ALPN in value:
                removed[EXCHANGE_ALPN + " ALPN"] = removed.get(EXCHANGE_ALPN + " ALPN", 0) + 1
                kept[key] = [token for token in value if token != EXCHANGE_ALPN]
                continue
            value_kept = without_istio_only(value, removed)
            # A list that held only Istio-only filters is not generated at all without them.
            if isinstance(value, list) and value and not value_kept:
                continue
            kept[key] = value_kept
        return kept
    return node


def type_urls(node, found):
    if isinstance(node, dict):
        if isinstance(node.get("@type"), str):
            found.add(node["@type"])
        for value in node.values():
            type_urls(value, found)
    elif isinstance(node, list):
        for value in node:
            type_urls(value, found)
    return found


def first_difference(a, b, path=""):
    if type(a) is not type(b):
        return path or "/"
    if isinstance(a, dict):
        for key in sorted(set(a) | set(b)):
            if key not in a or key not in b:
                return f"{path}/{key}"
            found = first_difference(a[key], b[key], f"{path}/{key}")
            if found:
                return found
        return None
    if isinstance(a, list):
        if len(a) != len(b):
            return f"{path} (length {len(a)} vs {len(b)})"
        for index, (x, y) in enumerate(zip(a, b)):
            found = first_difference(x, y, f"{path}[{index}]")
            if found:
                return found
        return None
    return None if a == b else path


def main(production_dir, box_dir):
    production, box = load(production_dir), load(box_dir)
    failures = 0

    def result(ok, text):
        nonlocal failures
        print(f"{'PASS' if ok else 'FAIL'}: variants: {text}")
        failures += 0 if ok else 1

    result(production and set(production) == set(box),
           f"the same {len(production)} proxies in both variants ({', '.join(sorted(production))})")
    removed_total = {}
    for proxy in sorted(set(production) & set(box)):
        removed = {}
        stripped = {k: without_istio_only(production[proxy][k], removed) for k in KINDS}
        difference = first_difference(stripped, box[proxy])
        left = sorted(t for t in type_urls(box[proxy], set()) if "istio" in t.lower())
        counts = ", ".join(f"{n} {name}" for name, n in sorted(removed.items())) or "nothing"
        result(difference is None and not left,
               f"{proxy}: production minus Istio-only filters ({counts}) equals the box variant"
               + (f"; first difference at {difference}" if difference else "")
               + (f"; Istio-only types left in the box variant: {left}" if left else ""))
        for name, n in removed.items():
            removed_total[name] = removed_total.get(name, 0) + n
    result(set(removed_total) == ISTIO_ONLY | {EXCHANGE_ALPN + " ALPN"},
           f"the switch removes exactly the Istio-only filters, and each of them: {removed_total}")
    return 1 if failures else 0


if __name__ == "__main__":
    if len(sys.argv) != 3:
        raise SystemExit(__doc__)
    sys.exit(main(sys.argv[1], sys.argv[2]))
