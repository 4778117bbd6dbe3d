// SPDX-License-Identifier: MIT
// Keys, access tokens, tenants: raw HTTP (the SDK always sends what it has).
import assert from 'node:assert/strict'
import { Sandbox, AuthenticationError } from 'e2b'
import { raw, envdHeaders, withSandbox, admin, KEY, KEY_B } from './lib.mjs'

export default {
  async control_plane_keys() {
    for (const headers of [{}, { 'X-API-KEY': 'sbx_bogus' }, { Authorization: `Bearer ${KEY}` }]) {
      const r = await raw('GET', '/v2/sandboxes', { headers })
      assert.equal(r.status, 401, JSON.stringify(headers))
      assert.equal(r.json.code, 401)
      assert.equal(typeof r.json.message, 'string')
    }
    await assert.rejects(Sandbox.list({ apiKey: 'sbx_wrong' }).nextItems(), AuthenticationError)
    const ok = await raw('GET', '/v2/sandboxes', { headers: { 'X-API-KEY': KEY } })
    assert.equal(ok.status, 200)
    assert.ok(Array.isArray(ok.json))
  },

  async tenants_see_their_own() {
    await withSandbox({}, async (sbx) => {
      const b = { apiKey: KEY_B }
      await assert.rejects(Sandbox.getInfo(sbx.sandboxId, b), /not found/)
      assert.equal(await Sandbox.kill(sbx.sandboxId, b), false)
      await assert.rejects(Sandbox.connect(sbx.sandboxId, b), /not found/)
      const theirs = await Sandbox.list(b).nextItems()
      assert.ok(!theirs.some((s) => s.sandboxId === sbx.sandboxId))
      for (const path of [`/sandboxes/${sbx.sandboxId}/timeout`, `/sandboxes/${sbx.sandboxId}/pause`]) {
        const r = await raw('POST', path, { headers: { 'X-API-KEY': KEY_B }, body: '{"timeout":1}' })
        assert.equal(r.status, 404)
        assert.equal(r.json.code, 404)
      }
      assert.equal(await sbx.isRunning(), true)
    })
  },

  async data_plane_tokens() {
    await withSandbox({}, async (sbx) => {
      await withSandbox({}, async (other) => {
        const body = '{}'
        const call = (headers) =>
          raw('POST', '/process.Process/List', { headers: { 'Content-Type': 'application/json', ...headers }, body })
        assert.equal((await call(envdHeaders(sbx))).status, 200)
        const none = await call({ 'E2b-Sandbox-Id': sbx.sandboxId })
        assert.equal(none.status, 401)
        assert.equal(none.json.code, 'unauthenticated')
        assert.equal((await call(envdHeaders(sbx, { 'X-Access-Token': '0'.repeat(32) }))).status, 401)
        // one sandbox's token opens no other
        assert.equal((await call(envdHeaders(other, { 'X-Access-Token': sbx.envdAccessToken }))).status, 401)
        // the tenant's key is not a sandbox token
        assert.equal((await call(envdHeaders(sbx, { 'X-Access-Token': KEY }))).status, 401)
        const files = await raw('GET', '/files?path=%2Fetc%2Fhostname', { headers: { 'E2b-Sandbox-Id': sbx.sandboxId } })
        assert.equal(files.status, 401)
        // a killed sandbox answers 502 (the SDK's "not running") to its token's holder;
        // to anyone else an id that runs, one that ran and one that never did look alike
        const id = other.sandboxId
        const tok = other.envdAccessToken
        await other.kill()
        assert.equal((await call({ 'E2b-Sandbox-Id': id, 'X-Access-Token': tok })).status, 502)
        assert.equal((await raw('GET', '/health', { headers: { 'E2b-Sandbox-Id': id, 'X-Access-Token': tok } })).status, 502)
        for (const [i, t] of [[id, sbx.envdAccessToken], ['0123456789ab', tok], [sbx.sandboxId, tok], ['0123456789ab', '']])
          assert.equal((await call({ 'E2b-Sandbox-Id': i, 'X-Access-Token': t })).status, 401, `${i} ${t}`)
        assert.equal((await raw('GET', '/health', { headers: envdHeaders(sbx) })).status, 204)
      })
    })
  },

  async reserved_labels_stay_sbxds() {
    await withSandbox({}, async (victim) => {
      // /v1 refuses labels of sbxd's own: nobody can claim another sandbox's E2B id
      for (const labels of [{ 'sbx.e2b.id': victim.sandboxId }, { 'sbx.e2b.template': 'x' }, { 'sbx.anything': '1' }]) {
        const r = await raw('POST', '/v1/sandboxes', { headers: { Authorization: `Bearer ${KEY_B}`, 'Content-Type': 'application/json' }, body: JSON.stringify({ image: 'host', labels }) })
        assert.equal(r.status, 400, JSON.stringify(labels))
        assert.match(r.json.error.message, /sbx\./)
      }
      const m = await raw('POST', '/v2/sandboxes', { headers: { 'X-API-KEY': KEY_B }, body: JSON.stringify({ metadata: { 'sbx.e2b.id': victim.sandboxId } }) })
      assert.equal(m.status, 400)
      // bob's connect to alice's id finds nothing, and gets no token
      const c = await raw('POST', `/v2/sandboxes/${victim.sandboxId}/connect`, { headers: { 'X-API-KEY': KEY_B }, body: '{}' })
      assert.equal(c.status, 404)
      assert.ok(!c.body.includes(victim.envdAccessToken))
      assert.equal((await admin('/v1/sandboxes')).sandboxes.filter((s) => s.tenant === 'bob').length, 0)
    })
  },
}
