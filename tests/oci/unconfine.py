#!/usr/bin/env python3
# SPDX-License-Identifier: MIT
"""Tampers with a CRIU checkpoint as an attacker who can write its images would: every
task's core-N.img gets seccomp mode "disabled" and no_new_privs 0, so that a restore that
trusted its images would give the container's processes neither. A restore must refuse it.

CRIU's image framing (two 32-bit magics, then a 32-bit little-endian size and a protobuf
message); core.proto: CoreEntry.thread_core = 5, ThreadCoreEntry.seccomp_mode = 11 and
.creds = 10, CredsEntry.no_new_privs = 18.

usage: unconfine.py IMAGES_DIR"""
import glob
import os
import struct
import sys


def varint(b, i):
    n = shift = 0
    while True:
        c = b[i]
        i += 1
        n |= (c & 0x7F) << shift
        shift += 7
        if not c & 0x80:
            return n, i


def enc_varint(n):
    out = bytearray()
    while True:
        c = n & 0x7F
        n >>= 7
        out.append(c | (0x80 if n else 0))
        if not n:
            return bytes(out)


def parse(b):
    """[field, wire type, value]: an int for a varint, bytes for the others."""
    out, i = [], 0
    while i < len(b):
        key, i = varint(b, i)
        num, wt = key >> 3, key & 7
        if wt == 0:
            v, i = varint(b, i)
        elif wt == 2:
            n, i = varint(b, i)
            v, i = b[i:i + n], i + n
        elif wt == 1:
            v, i = b[i:i + 8], i + 8
        elif wt == 5:
            v, i = b[i:i + 4], i + 4
        else:
            raise ValueError(f"wire type {wt}")
        out.append([num, wt, v])
    return out


def serialize(fields):
    out = bytearray()
    for num, wt, v in fields:
        out += enc_varint(num << 3 | wt)
        if wt == 0:
            out += enc_varint(v)
        elif wt == 2:
            out += enc_varint(len(v)) + v
        else:
            out += v
    return bytes(out)


def set_varint(fields, num, value):
    for f in fields:
        if f[0] == num:
            f[2] = value
            return
    fields.append([num, 0, value])


def edit(fields, num, fn):
    for f in fields:
        if f[0] == num and f[1] == 2:
            f[2] = serialize(fn(parse(f[2])))
    return fields


def unconfine_thread(tc):
    set_varint(tc, 11, 0)  # seccomp_mode: disabled
    return edit(tc, 10, lambda creds: (set_varint(creds, 18, 0), creds)[1])


def main():
    n = 0
    for path in glob.glob(os.path.join(sys.argv[1], "core-*.img")):
        data = open(path, "rb").read()
        size = struct.unpack_from("<I", data, 8)[0]
        core = edit(parse(data[12:12 + size]), 5, unconfine_thread)
        body = serialize(core)
        open(path, "wb").write(data[:8] + struct.pack("<I", len(body)) + body + data[12 + size:])
        n += 1
    if not n:
        sys.exit("no core images")


main()
