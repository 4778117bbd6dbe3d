#!/usr/bin/env python3
# SPDX-License-Identifier: MIT
"""An OCI image archive (what `ctr images import` reads) of an sbx image's root:
one uncompressed layer, its config (env, command) from the image's manifest.json.
usage: mkimage.py IMAGE_DIR OUT.tar NAME"""
import hashlib
import io
import json
import os
import sys
import tarfile


def blob(tar, data, media):
    digest = hashlib.sha256(data).hexdigest()
    info = tarfile.TarInfo("blobs/sha256/" + digest)
    info.size = len(data)
    info.mode = 0o644
    tar.addfile(info, io.BytesIO(data))
    return {"mediaType": media, "digest": "sha256:" + digest, "size": len(data)}


def main():
    image, out, name = sys.argv[1:4]
    with open(os.path.join(image, "manifest.json")) as f:
        manifest = json.load(f)
    layer = io.BytesIO()
    with tarfile.open(fileobj=layer, mode="w", format=tarfile.PAX_FORMAT) as lt:
        root = os.path.join(image, "rootfs")
        for entry in sorted(os.listdir(root)):
            lt.add(os.path.join(root, entry), arcname=entry,
                   filter=lambda t: (setattr(t, "uid", 0), setattr(t, "gid", 0),
                                     setattr(t, "uname", ""), setattr(t, "gname", ""), t)[-1])
    layer = layer.getvalue()
    env = manifest.get("env") or {"PATH": "/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin"}
    env = [k + "=" + v for k, v in env.items()] if isinstance(env, dict) else env
    config = {
        "architecture": "amd64",
        "os": "linux",
        "config": {"Env": env, "Cmd": ["/bin/sh"], "WorkingDir": "/"},
        "rootfs": {"type": "layers", "diff_ids": ["sha256:" + hashlib.sha256(layer).hexdigest()]},
    }
    with tarfile.open(out, "w") as tar:
        lay = blob(tar, layer, "application/vnd.oci.image.layer.v1.tar")
        cfg = blob(tar, json.dumps(config).encode(), "application/vnd.oci.image.config.v1+json")
        man = blob(tar, json.dumps({"schemaVersion": 2,
                                    "mediaType": "application/vnd.oci.image.manifest.v1+json",
                                    "config": cfg, "layers": [lay]}).encode(),
                   "application/vnd.oci.image.manifest.v1+json")
        man["annotations"] = {"io.containerd.image.name": name,
                              "org.opencontainers.image.ref.name": name.rsplit(":", 1)[-1]}
        man["platform"] = {"architecture": "amd64", "os": "linux"}
        for path, data in (("oci-layout", {"imageLayoutVersion": "1.0.0"}),
                           ("index.json", {"schemaVersion": 2, "manifests": [man]})):
            raw = json.dumps(data).encode()
            info = tarfile.TarInfo(path)
            info.size = len(raw)
            info.mode = 0o644
            tar.addfile(info, io.BytesIO(raw))


if __name__ == "__main__":
    main()
