// SPDX-License-Identifier: MIT
// Networking through the E2B surface, in test-net.sh's lab (its "internet": 203.0.113.10
// and .11 with TCP servers; sbxd in a namespace whose only uplink leads there).
import assert from 'node:assert/strict'
import http from 'node:http'
import { Sandbox } from 'e2b'
import { until } from '../lib.mjs'

const LPORT = Number(new URL(process.env.E2B_API_URL).port)

// A GET through sbxd's listener with Host @host: { status, body }.
function get(host, headers = {}) {
  return new Promise((resolve) => {
    const req = http.get({ host: '127.0.0.1', port: LPORT, path: '/index.html', agent: false, headers: { Host: host, ...headers } }, (res) => {
      let body = ''
      res.on('data', (d) => (body += d))
      res.on('end', () => resolve({ status: res.statusCode, body }))
      res.on('error', (e) => resolve({ status: res.statusCode, body: `cut: ${e}` }))
      res.on('close', () => resolve({ status: res.statusCode, body: `closed: ${body}` }))
    })
    req.on('error', (e) => resolve({ status: 0, body: String(e) }))
    req.setTimeout(5000, () => req.destroy(new Error('timeout')))
  })
}

// Whether the sandbox reaches ADDR:PORT.
async function reaches(sbx, addr, port) {
  const r = await sbx.commands.run(`python3 -c "import socket; s=socket.socket(); s.settimeout(2); s.connect(('${addr}', ${port})); print('open')" 2>/dev/null || echo closed`)
  return r.stdout.trim() === 'open'
}

const serve = (sbx, text) =>
  sbx.commands.run(`cd /tmp && echo ${text} > index.html && exec python3 -m http.server 8000`, { background: true })

export default {
  async e2b_network() {
    const open = await Sandbox.create()
    const priv = await Sandbox.create({ network: { allowPublicTraffic: false } })
    const listed = await Sandbox.create({ network: { denyOut: ['0.0.0.0/0'], allowOut: ['203.0.113.10'] } })
    const cut = await Sandbox.create({ allowInternetAccess: false })
    try {
      // internet on by default; allow and deny lists; none
      assert.equal(await reaches(open, '203.0.113.10', 80), true)
      assert.equal(await reaches(open, '203.0.113.11', 80), true)
      assert.equal(await reaches(listed, '203.0.113.10', 80), true)
      assert.equal(await reaches(listed, '203.0.113.11', 80), false)
      assert.equal(await reaches(cut, '203.0.113.10', 80), false)
      assert.equal((await Sandbox.getInfo(cut.sandboxId)).allowInternetAccess, false)
      // getHost: every port, publicly unless asked otherwise
      await serve(open, 'hello-public')
      const host = open.getHost(8000)
      assert.equal(host, `8000-${open.sandboxId}.sbx.localhost`)
      await until(async () => (await get(host)).status === 200, 10000, 'the sandbox server')
      assert.deepEqual(await get(host), { status: 200, body: 'hello-public\n' })
      assert.equal(open.trafficAccessToken, undefined)
      await serve(priv, 'hello-private')
      const ph = priv.getHost(8000)
      assert.ok(priv.trafficAccessToken)
      assert.notEqual(priv.trafficAccessToken, priv.envdAccessToken) // port access is no more
      await until(async () => (await get(ph, { 'e2b-traffic-access-token': priv.trafficAccessToken })).status === 200, 10000, 'the private server')
      assert.equal((await get(ph)).status, 401)
      assert.equal((await get(ph, { 'e2b-traffic-access-token': '0'.repeat(32) })).status, 401)
      assert.equal((await get(ph, { 'e2b-traffic-access-token': open.envdAccessToken })).status, 401)
      assert.equal((await get(ph, { 'e2b-traffic-access-token': priv.envdAccessToken })).status, 401)
      assert.deepEqual(await get(ph, { 'e2b-traffic-access-token': priv.trafficAccessToken }), { status: 200, body: 'hello-private\n' })
      // a port nobody listens on; a sandbox without internet has no published port
      const none = await get(open.getHost(8001))
      assert.equal(none.status, 502)
      assert.match(none.body, /^\{"error".*nothing listens/) // whole, as its length says
      assert.equal((await get(cut.getHost(8000))).status, 404)
    } finally {
      for (const s of [open, priv, listed, cut]) await s.kill().catch(() => {})
    }
  },
}
