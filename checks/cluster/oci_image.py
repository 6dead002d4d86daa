"""Writes a one-layer OCI image archive that `ctr images import` reads: static binaries on an
empty root filesystem, for the images the node of checks/cluster runs that no registry can
give it (the pod sandbox, CoreDNS, the local-path provisioner, the NetworkPolicy enforcer).

    python oci_image.py OUTPUT.tar NAME:TAG ENTRYPOINT SOURCE=PATH_IN_IMAGE...
"""

import gzip
import hashlib
import io
import json
import sys
import tarfile


def blob(data):
    digest = "sha256:" + hashlib.sha256(data).hexdigest()
    return digest, data


def layer(files):
    """A gzipped tar of the files, owned by root, executable, with their parent folders."""
    raw = io.BytesIO()
    with tarfile.open(fileobj=raw, mode="w", format=tarfile.PAX_FORMAT) as archive:
        folders = set()
        for _, target in files:
            parts = target.strip("/").split("/")[:-1]
            for depth in range(1, len(parts) + 1):
                folders.add("/".join(parts[:depth]))
        for folder in sorted(folders):
            info = tarfile.TarInfo(folder)
            info.type = tarfile.DIRTYPE
            info.mode = 0o755
            archive.addfile(info)
        for source, target in files:
            with open(source, "rb") as handle:
                data = handle.read()
            info = tarfile.TarInfo(target.strip("/"))
            info.size = len(data)
            info.mode = 0o755
            archive.addfile(info, io.BytesIO(data))
    uncompressed = raw.getvalue()
    # mtime 0: the same binaries always give the same layer digest.
    compressed = gzip.compress(uncompressed, mtime=0)
    return uncompressed, compressed


def main(output, name, entrypoint, *mappings):
    files = [mapping.split("=", 1) for mapping in mappings]
    uncompressed, compressed = layer(files)
    layer_digest, layer_data = blob(compressed)
    config = {
        "architecture": "amd64",
        "os": "linux",
        "config": {"Entrypoint": [entrypoint], "User": "65534:65534"},
        "rootfs": {"type": "layers", "diff_ids": ["sha256:" + hashlib.sha256(uncompressed).hexdigest()]},
    }
    config_digest, config_data = blob(json.dumps(config, sort_keys=True).encode())
    manifest = {
        "schemaVersion": 2,
        "mediaType": "application/vnd.oci.image.manifest.v1+json",
        "config": {"mediaType": "application/vnd.oci.image.config.v1+json", "digest": config_digest,
                   "size": len(config_data)},
        "layers": [{"mediaType": "application/vnd.oci.image.layer.v1.tar+gzip", "digest": layer_digest,
                    "size": len(layer_data)}],
    }
    manifest_digest, manifest_data = blob(json.dumps(manifest, sort_keys=True).encode())
    index = {
        "schemaVersion": 2,
        "manifests": [{
            "mediaType": "application/vnd.oci.image.manifest.v1+json", "digest": manifest_digest,
            "size": len(manifest_data), "platform": {"architecture": "amd64", "os": "linux"},
            "annotations": {"io.containerd.image.name": name,
                            "org.opencontainers.image.ref.name": name.rsplit(":", 1)[1]},
        }],
    }
    with tarfile.open(output, "w") as archive:
        entries = [("oci-layout", json.dumps({"imageLayoutVersion": "1.0.0"}).encode()),
                   ("index.json", json.dumps(index).encode())]
        for digest, data in ((layer_digest, layer_data), (config_digest, config_data),
                             (manifest_digest, manifest_data)):
            entries.append(("blobs/sha256/" + digest.split(":", 1)[1], data))
        for path, data in entries:
            info = tarfile.TarInfo(path)
            info.size = len(data)
            info.mode = 0o644
            archive.addfile(info, io.BytesIO(data))
    print(f"{name} {manifest_digest}")


if __name__ == "__main__":
    if len(sys.argv) < 5:
        sys.exit(__doc__)
    main(*sys.argv[1:])
