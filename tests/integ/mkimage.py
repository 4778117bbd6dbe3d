#!/usr/bin/env python3
# SPDX-License-Identifier: MIT
"""Writes image archives for the image tests: docker-save tars and OCI layouts (as tars
or directories) of a busybox image, and hostile ones.

  mkimage.py docker OUT.tar [--pad MIB]   two layers: busybox; then /app, a whiteout, an
                                           opaque directory, Env/Cmd/WorkingDir/User
  mkimage.py oci OUT.tar|OUTDIR             the same as an OCI layout (gzip layers)
  mkimage.py hostile KIND OUT.tar         one layer with one attack: dotdot, absolute,
                                           symlink-out, hardlink-out, hardlink-abs, device,
                                           setuid, truncated, digest, big, opaque-xattr,
                                           deep, dirs, dir-with-data, many-layers,
                                           fifo-manifest
"""
import gzip
import hashlib
import io
import json
import os
import sys
import tarfile

BUSYBOX = "/bin/busybox"


def info(name, kind=tarfile.REGTYPE, mode=0o644, size=0, **kw):
    t = tarfile.TarInfo(name)
    t.type = kind
    t.mode = mode
    t.size = size
    t.mtime = 1700000000
    for k, v in kw.items():
        setattr(t, k, v)
    return t


def layer(entries):
    """A tar (bytes) of (TarInfo, data or None) pairs."""
    buf = io.BytesIO()
    with tarfile.open(fileobj=buf, mode="w", format=tarfile.PAX_FORMAT) as tf:
        for ti, data in entries:
            if data is not None:
                ti.size = len(data)
                tf.addfile(ti, io.BytesIO(data))
            else:
                tf.addfile(ti)
    return buf.getvalue()


def busybox_layer(pad_mib=0):
    bb = open(BUSYBOX, "rb").read()
    e = [(info("bin", tarfile.DIRTYPE, 0o755), None),
         (info("bin/busybox", mode=0o755), bb)]
    for applet in ("sh", "ls", "cat", "echo", "id", "sleep", "stat", "test", "pwd", "env",
                   "true", "wc", "head"):
        e.append((info("bin/" + applet, tarfile.SYMTYPE, 0o777, linkname="busybox"), None))
    for d in ("etc", "tmp", "old", "old/keep", "data"):
        e.append((info(d, tarfile.DIRTYPE, 0o1777 if d == "tmp" else 0o755), None))
    e.append((info("etc/passwd"), b"root:x:0:0:root:/root:/bin/sh\napp:x:1000:1000::/home/app:/bin/sh\n"))
    e.append((info("etc/group"), b"root:x:0:\napp:x:1000:\n"))
    e.append((info("old/gone.txt"), b"lower\n"))
    e.append((info("old/keep/x"), b"x\n"))
    e.append((info("data/lower.txt"), b"lower\n"))
    if pad_mib:
        # Incompressible, so that the archive is as large as asked.
        e.append((info("pad.bin"), os.urandom(pad_mib << 20)))
    return layer(e)


def app_layer():
    return layer([
        (info("app", tarfile.DIRTYPE, 0o755, uid=1000, gid=1000), None),
        (info("app/hello.sh", mode=0o755, uid=1000, gid=1000), b"#!/bin/sh\necho hello from the image\n"),
        (info("old/.wh.gone.txt"), b""),
        (info("data/.wh..wh..opq"), b""),
        (info("data/upper.txt"), b"upper\n"),
    ])


CONFIG = {
    "architecture": "amd64", "os": "linux",
    "config": {"Env": ["PATH=/bin", "GREETING=hi there"], "Entrypoint": ["/bin/sh"],
               "Cmd": ["-c", "sleep 1000"], "WorkingDir": "/app", "User": "app"},
}


def sha(b):
    return hashlib.sha256(b).hexdigest()


def docker_tar(out, layers, config=CONFIG, diff_ids=None):
    cfg = dict(config)
    cfg["rootfs"] = {"type": "layers", "diff_ids": diff_ids or ["sha256:" + sha(l) for l in layers]}
    cfgb = json.dumps(cfg).encode()
    entries = [(info(sha(cfgb) + ".json"), cfgb)]
    paths = []
    for l in layers:
        d = sha(l)
        entries.append((info(d, tarfile.DIRTYPE, 0o755), None))
        entries.append((info(d + "/layer.tar"), l))
        paths.append(d + "/layer.tar")
    man = [{"Config": sha(cfgb) + ".json", "RepoTags": ["test:latest"], "Layers": paths}]
    entries.append((info("manifest.json"), json.dumps(man).encode()))
    open(out, "wb").write(layer(entries))


def oci(out, layers):
    blobs = {}
    descs = []
    for l in layers:
        gz = gzip.compress(l, mtime=0)
        blobs[sha(gz)] = gz
        descs.append({"mediaType": "application/vnd.oci.image.layer.v1.tar+gzip",
                      "digest": "sha256:" + sha(gz), "size": len(gz)})
    cfg = dict(CONFIG)
    cfg["rootfs"] = {"type": "layers", "diff_ids": ["sha256:" + sha(l) for l in layers]}
    cfgb = json.dumps(cfg).encode()
    blobs[sha(cfgb)] = cfgb
    man = json.dumps({"schemaVersion": 2, "mediaType": "application/vnd.oci.image.manifest.v1+json",
                      "config": {"mediaType": "application/vnd.oci.image.config.v1+json",
                                 "digest": "sha256:" + sha(cfgb), "size": len(cfgb)},
                      "layers": descs}).encode()
    blobs[sha(man)] = man
    index = json.dumps({"schemaVersion": 2, "manifests": [
        {"mediaType": "application/vnd.oci.image.manifest.v1+json", "digest": "sha256:" + sha(man),
         "size": len(man), "platform": {"os": "linux", "architecture": "amd64"}}]}).encode()
    files = {"oci-layout": b'{"imageLayoutVersion":"1.0.0"}', "index.json": index}
    for h, b in blobs.items():
        files["blobs/sha256/" + h] = b
    if out.endswith(".tar"):
        entries = [(info("blobs", tarfile.DIRTYPE, 0o755), None),
                   (info("blobs/sha256", tarfile.DIRTYPE, 0o755), None)]
        entries += [(info(k), v) for k, v in files.items()]
        open(out, "wb").write(layer(entries))
    else:
        for k, v in files.items():
            os.makedirs(os.path.dirname(os.path.join(out, k)), exist_ok=True)
            open(os.path.join(out, k), "wb").write(v)


def hostile(kind, out):
    base = busybox_layer()
    if kind == "dotdot":
        bad = layer([(info("../../../../tmp/sbx-escape-dotdot"), b"pwned\n")])
    elif kind == "absolute":
        # Made relative: it lands inside the image, never at the host's path.
        bad = layer([(info("/srv/sbx-escape-absolute"), b"inside\n")])
    elif kind == "symlink-out":
        bad = layer([(info("escape", tarfile.SYMTYPE, 0o777, linkname="/tmp"), None),
                     (info("escape/sbx-escape-symlink"), b"pwned\n"),
                     (info("rel", tarfile.SYMTYPE, 0o777, linkname="../../../../../tmp"), None),
                     (info("rel/sbx-escape-symlink2"), b"pwned\n")])
    elif kind == "hardlink-out":
        bad = layer([(info("shadow", tarfile.LNKTYPE, 0o644, linkname="../../../../etc/shadow"), None)])
    elif kind == "hardlink-abs":
        bad = layer([(info("shadow", tarfile.LNKTYPE, 0o644, linkname="/etc/shadow"), None)])
    elif kind == "device":
        bad = layer([(info("dev-sda", tarfile.BLKTYPE, 0o666, devmajor=8, devminor=0), None),
                     (info("mem", tarfile.CHRTYPE, 0o666, devmajor=1, devminor=1), None)])
    elif kind == "setuid":
        bad = layer([(info("bin/su-copy", mode=0o4755), b"#!/bin/sh\nid\n"),
                      (info("bin/sg-copy", mode=0o2755), b"#!/bin/sh\n")])
    elif kind == "opaque-xattr":
        t = info("redir", tarfile.DIRTYPE, 0o755)
        t.pax_headers = {"SCHILY.xattr.trusted.overlay.redirect": "/etc",
                         "SCHILY.xattr.trusted.overlay.opaque": "y"}
        bad = layer([(t, None), (info("redir/f"), b"x\n")])
    elif kind == "big":
        # 4 MiB of zeros: small compressed, over a 3 MiB --max-image once unpacked.
        bad = layer([(info("zeros"), bytes(4 << 20))])
        gz = gzip.compress(bad)
        docker_tar(out, [base, gz], diff_ids=["sha256:" + sha(base), "sha256:" + sha(gz)])
        return
    elif kind == "deep":
        bad = layer([(info("/".join(["d"] * 300) + "/f"), b"x")])
    elif kind == "dirs":
        # Inodes that hold no data still cost: 1500 directories.
        bad = layer([(info(f"d{i}", tarfile.DIRTYPE, 0o755), None) for i in range(1500)])
    elif kind == "dir-with-data":
        # A directory and a hard link declaring data (a pax size), which unpacking would
        # skip: 80 MiB behind each, compressed to little.
        raw = b""
        for typ, name in ((tarfile.DIRTYPE, "dir"), (tarfile.LNKTYPE, "hl")):
            t = info(name, typ, 0o755, linkname="bin/busybox")
            t.pax_headers = {"size": str(80 << 20)}
            raw += t.tobuf(tarfile.PAX_FORMAT) + b"A" * (80 << 20)
        gz = gzip.compress(raw + bytes(1024), 1)
        docker_tar(out, [base, gz], diff_ids=["sha256:" + sha(base), "sha256:" + sha(gz)])
        return
    elif kind == "many-layers":
        layers = [base] + [layer([(info(f"f{i}"), b"x")]) for i in range(70)]
        docker_tar(out, layers)
        return
    elif kind == "fifo-manifest":
        open(out, "wb").write(layer([(info("manifest.json", tarfile.FIFOTYPE), None),
                                     (info("index.json", tarfile.FIFOTYPE), None)]))
        return
    elif kind in ("truncated", "digest"):
        bad = layer([(info("file"), os.urandom(100000))])
    else:
        sys.exit("unknown kind " + kind)
    if kind == "digest":
        docker_tar(out, [base, bad], diff_ids=["sha256:" + sha(base), "sha256:" + "0" * 64])
        return
    if kind == "truncated":
        diff = ["sha256:" + sha(base), "sha256:" + sha(bad[:60000])]
        docker_tar(out, [base, bad[:60000]], diff_ids=diff)
        return
    docker_tar(out, [base, bad])


def main():
    a = sys.argv[1:]
    if len(a) >= 2 and a[0] == "docker":
        pad = int(a[3]) if len(a) > 3 and a[2] == "--pad" else 0
        docker_tar(a[1], [busybox_layer(pad), app_layer()])
    elif len(a) == 2 and a[0] == "oci":
        oci(a[1], [busybox_layer(), app_layer()])
    elif len(a) == 3 and a[0] == "hostile":
        hostile(a[1], a[2])
    else:
        sys.exit(__doc__)


if __name__ == "__main__":
    main()
