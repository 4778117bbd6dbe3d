// SPDX-License-Identifier: MIT
// What the cases share: sandboxes that go at the end, raw HTTP, the admin socket.
import fs from 'node:fs'
import http from 'node:http'
import { Sandbox } from 'e2b'

export const API = process.env.E2B_API_URL
export const KEY = process.env.E2B_API_KEY
export const KEY_B = process.env.SBX_TOKEN_B

// A sandbox of the default template, killed when @fn is done with it.
export async function withSandbox(opts, fn) {
  const sbx = await Sandbox.create({ timeoutMs: 120000, ...opts })
  try {
    return await fn(sbx)
  } finally {
    await sbx.kill().catch(() => {})
  }
}

// A request to sbxd's listener: { status, headers, body (text), json }.
export async function raw(method, path, { headers = {}, body } = {}) {
  const r = await fetch(API + path, { method, headers, body })
  const text = await r.text()
  let json
  try {
    json = JSON.parse(text)
  } catch {}
  return { status: r.status, headers: r.headers, body: text, json }
}

// The envd headers of @sbx (its id, its token) for raw data-plane requests.
export function envdHeaders(sbx, extra = {}) {
  return {
    'E2b-Sandbox-Id': sbx.sandboxId,
    'E2b-Sandbox-Port': '49983',
    'X-Access-Token': sbx.envdAccessToken,
    ...extra,
  }
}

// A Connect envelope of @obj (flags 0).
export function envelope(obj, flags = 0) {
  const json = Buffer.from(JSON.stringify(obj))
  const head = Buffer.alloc(5)
  head[0] = flags
  head.writeUInt32BE(json.length, 1)
  return Buffer.concat([head, json])
}

// The envelopes of a Connect stream's body.
export function envelopes(buf) {
  const out = []
  for (let off = 0; off + 5 <= buf.length; ) {
    const n = buf.readUInt32BE(off + 1)
    out.push({ flags: buf[off], msg: JSON.parse(buf.subarray(off + 5, off + 5 + n).toString()) })
    off += 5 + n
  }
  return out
}

// GET of sbxd's /v1 API over its unix socket, as the host's admin.
export function admin(path, method = 'GET') {
  return new Promise((resolve, reject) => {
    const req = http.request({ socketPath: process.env.SBX_SOCKET, path, method }, (res) => {
      let data = ''
      res.on('data', (d) => (data += d))
      res.on('end', () => {
        try {
          resolve(JSON.parse(data))
        } catch {
          resolve(data)
        }
      })
    })
    req.on('error', reject)
    req.end()
  })
}

export const sleep = (ms) => new Promise((r) => setTimeout(r, ms))

// Waits until @fn() is truthy (polling every 50 ms, @ms at most).
export async function until(fn, ms = 5000, what = 'condition') {
  const end = Date.now() + ms
  for (;;) {
    const v = await fn()
    if (v) return v
    if (Date.now() > end) throw new Error(`timed out waiting for ${what}`)
    await sleep(50)
  }
}

// Whether host process @pid is there (the kernel's word, not a record's).
export const alive = (pid) => fs.existsSync(`/proc/${pid}`)

// How many inotify instances sbxd holds (its descriptors, as /proc shows them).
export function inotifyFds() {
  const dir = `/proc/${process.env.SBXD_PID}/fd`
  return fs.readdirSync(dir).filter((f) => {
    try {
      return fs.readlinkSync(`${dir}/${f}`) === 'anon_inode:inotify'
    } catch {
      return false
    }
  }).length
}
