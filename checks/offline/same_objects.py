"""Exits 1 (and says what differs) unless two rendered YAML files hold the same objects.

Usage: same_objects.py A.yaml B.yaml
"""
import sys

import yaml


def objects(path):
    with open(path) as stream:
        return [doc for doc in yaml.safe_load_all(stream) if doc]


def key(doc):
    return doc.get("kind"), (doc.get("metadata") or {}).get("namespace"), (doc.get("metadata") or {}).get("name")


def main():
    if len(sys.argv) != 3:
        raise SystemExit(__doc__)
    first, second = (objects(path) for path in sys.argv[1:])
    if first == second:
        return 0
    a, b = {key(d): d for d in first}, {key(d): d for d in second}
    for k in sorted(set(a) ^ set(b), key=str):
        print(f"{k} is only in {sys.argv[1] if k in a else sys.argv[2]}")
    for k in sorted(set(a) & set(b), key=str):
        if a[k] != b[k]:
            print(f"{k} differs between {sys.argv[1]} and {sys.argv[2]}")
    if set(a) == set(b) and all(a[k] == b[k] for k in a):
        print("same objects in another order")
    return 1


if __name__ == "__main__":
    sys.exit(main())
