// SPDX-License-Identifier: MIT
// Sandboxes: create, connect, list, getInfo, setTimeout, kill, isRunning, metrics.
import assert from 'node:assert/strict'
import { Sandbox, NotFoundError, SandboxError } from 'e2b'
import { admin, alive, withSandbox, raw, KEY, sleep, until } from './lib.mjs'

export default {
  async create_info_and_kill() {
    const t0 = Date.now()
    const sbx = await Sandbox.create({ metadata: { owner: 'ci', 'k y': 'v=1/é' }, envs: { GREETING: 'hi there' }, timeoutMs: 90000 })
    assert.match(sbx.sandboxId, /^[0-9a-f]{12}$/)
    const info = await sbx.getInfo()
    assert.equal(info.sandboxId, sbx.sandboxId)
    assert.equal(info.templateId, 'base')
    assert.equal(info.state, 'running')
    assert.deepEqual(info.metadata, { owner: 'ci', 'k y': 'v=1/é' })
    const ttl = info.endAt.getTime() - info.startedAt.getTime()
    assert.ok(ttl >= 89000 && ttl <= 91000, `timeout 90 s, endAt - startedAt = ${ttl}`)
    assert.ok(info.startedAt.getTime() >= t0 - 1000)
    // The create's envs are every command's; the sandbox is real: its own pid namespace.
    const r = await sbx.commands.run('echo "$GREETING"; echo $$; cat /proc/1/comm')
    assert.equal(r.stdout, 'hi there\n' + r.stdout.split('\n')[1] + '\nsbx-init\n')
    // The host's view: a running sandbox of this tenant with the labels as metadata.
    const h = await admin(`/v1/sandboxes/${sbx.sandboxId}`)
    assert.equal(h.state, 'running')
    assert.equal(h.labels.owner, 'ci')
    assert.equal(h.limits.timeout_s, 90)
    assert.equal(await sbx.isRunning(), true)
    assert.ok(alive(h.pid), 'its sbx-init runs on the host')
    assert.equal(await sbx.kill(), true)
    assert.equal(await sbx.isRunning(), false)
    await until(() => !alive(h.pid), 5000, 'its sbx-init to be gone')
    // Gone for the API and for the host (its processes, its cgroup).
    await assert.rejects(Sandbox.getInfo(sbx.sandboxId), NotFoundError)
    assert.equal(await Sandbox.kill(sbx.sandboxId), false)
    // removed, as a DELETE of /v1 removes it; no sbx-init of it is left
    const after = await admin(`/v1/sandboxes/${sbx.sandboxId}`)
    assert.equal(after.error.code, 'not_found', JSON.stringify(after))
    assert.equal((await admin('/v1/health')).sandboxes.live, 0)
  },

  async connect_and_static_calls() {
    await withSandbox({}, async (sbx) => {
      const again = await Sandbox.connect(sbx.sandboxId)
      assert.equal(again.sandboxId, sbx.sandboxId)
      assert.equal((await again.commands.run('echo same')).stdout, 'same\n')
      await sbx.files.write('/tmp/mark', 'x')
      assert.equal(await again.files.read('/tmp/mark'), 'x')
      const info = await Sandbox.getInfo(sbx.sandboxId)
      assert.equal(info.state, 'running')
      await assert.rejects(Sandbox.connect('000000000000'), NotFoundError)
    })
  },

  async set_timeout_and_expiry() {
    const sbx = await Sandbox.create({ timeoutMs: 60000 })
    await sbx.setTimeout(2000)
    const info = await sbx.getInfo()
    assert.ok(info.endAt.getTime() - Date.now() < 3000)
    // connect only extends: a shorter timeout leaves the deadline
    await Sandbox.connect(sbx.sandboxId, { timeoutMs: 1000 })
    const info2 = await sbx.getInfo()
    assert.ok(Math.abs(info2.endAt.getTime() - info.endAt.getTime()) < 1500)
    await sleep(3500)
    assert.equal(await sbx.isRunning(), false)
    await assert.rejects(sbx.getInfo(), NotFoundError)
    const h = await admin(`/v1/sandboxes/${sbx.sandboxId}`)
    assert.equal(h.reason, 'timeout')
  },

  async list_filters_and_pages() {
    const tag = 'run-' + Date.now()
    const made = []
    try {
      for (let i = 0; i < 5; i++)
        made.push(await Sandbox.create({ metadata: { tag, i: String(i), sp: 'a b&c' } }))
      const pager = Sandbox.list({ query: { metadata: { tag } }, limit: 2 })
      const seen = []
      while (pager.hasNext) seen.push(...(await pager.nextItems()))
      assert.equal(seen.length, 5)
      assert.deepEqual(new Set(seen.map((s) => s.sandboxId)), new Set(made.map((s) => s.sandboxId)))
      for (const s of seen) {
        assert.equal(s.state, 'running')
        assert.equal(s.metadata.tag, tag)
        assert.equal(s.templateId, 'base')
        assert.ok(s.cpuCount >= 1 && s.memoryMB >= 1)
      }
      const one = await Sandbox.list({ query: { metadata: { tag, i: '3', sp: 'a b&c' } } }).nextItems()
      assert.deepEqual(one.map((s) => s.sandboxId), [made[3].sandboxId])
      const none = await Sandbox.list({ query: { metadata: { tag, i: '9' } } }).nextItems()
      assert.equal(none.length, 0)
      const paused = await Sandbox.list({ query: { metadata: { tag }, state: ['paused'] } }).nextItems()
      assert.equal(paused.length, 0)
      // by start: newest first, or oldest with order asc; started after a time; a template
      const desc = await Sandbox.list({ query: { metadata: { tag } } }).nextItems()
      assert.deepEqual(desc.map((s) => s.sandboxId), made.map((s) => s.sandboxId).reverse())
      const asc = await Sandbox.list({ query: { metadata: { tag } }, order: 'asc' }).nextItems()
      assert.deepEqual(asc.map((s) => s.sandboxId), made.map((s) => s.sandboxId))
      const third = desc.find((s) => s.sandboxId === made[2].sandboxId).startedAt
      const late = await Sandbox.list({ query: { metadata: { tag }, startedAfter: third } }).nextItems()
      assert.deepEqual(late.map((s) => s.sandboxId).sort(), made.slice(2).map((s) => s.sandboxId).sort())
      assert.equal((await Sandbox.list({ query: { metadata: { tag }, template: 'base' } }).nextItems()).length, 5)
      assert.equal((await Sandbox.list({ query: { metadata: { tag }, template: 'other' } }).nextItems()).length, 0)
    } finally {
      for (const s of made) await s.kill()
    }
  },

  async metrics() {
    await withSandbox({}, async (sbx) => {
      // 64 MB into its writable layer (/root; /tmp is a tmpfs of its own)
      await sbx.commands.run('head -c 64000000 /dev/zero > /root/fill')
      const m = await sbx.getMetrics()
      assert.equal(m.length, 1)
      assert.ok(m[0].cpuCount >= 1)
      assert.ok(m[0].memTotal > 0)
      assert.ok(m[0].memUsed > 0, `memUsed ${m[0].memUsed}`)
      assert.ok(m[0].diskUsed >= 60e6, `diskUsed ${m[0].diskUsed}`)
      assert.ok(m[0].diskTotal >= m[0].diskUsed)
      assert.ok(m[0].timestamp instanceof Date)
      // sbx's own meter says the same of memory (the cgroup's)
      const u = await admin(`/v1/sandboxes/${sbx.sandboxId}/usage`)
      assert.ok(u.memory_bytes > 0)
    })
  },

  async unknown_template_and_bad_create() {
    const before = (await admin('/v1/sandboxes')).sandboxes.length
    await assert.rejects(Sandbox.create('no-such-template'), (e) => e instanceof SandboxError && /no-such-template/.test(e.message))
    const r = await raw('POST', '/sandboxes', { headers: { 'X-API-KEY': KEY, 'Content-Type': 'application/json' }, body: '{"templateID": 7}' })
    assert.equal(r.status, 400)
    assert.equal(r.json.code, 400)
    assert.match(r.json.message, /templateID/)
    const r2 = await raw('POST', '/v2/sandboxes', { headers: { 'X-API-KEY': KEY }, body: '{"templateID":"base","bogus":1}' })
    assert.equal(r2.status, 400)
    assert.match(r2.json.message, /bogus/)
    const r3 = await raw('POST', '/v2/sandboxes', { headers: { 'X-API-KEY': KEY }, body: '{"templateID":"base","metadata":{"sbx.e2b.id":"x"}}' })
    assert.equal(r3.status, 400)
    const r4 = await raw('POST', '/v2/sandboxes', { headers: { 'X-API-KEY': KEY }, body: '{"templateID":"base","timeout":-1}' })
    assert.equal(r4.status, 400)
    // nothing was made of any of them
    assert.equal((await admin('/v1/sandboxes')).sandboxes.length, before)
  },

  async from_a_warm_template() {
    // a template of alice's: a sandbox with a file, checkpointed, named
    const v1 = (method, path, body) =>
      raw(method, path, { headers: { Authorization: `Bearer ${KEY}`, 'Content-Type': 'application/json' }, body: body && JSON.stringify(body) })
    const made = (await v1('POST', '/v1/sandboxes', { image: 'host' })).json
    await v1('POST', `/v1/sandboxes/${made.id}/exec`, { cmd: ['sh', '-c', 'echo baked > /root/baked.txt'] })
    const snap = (await v1('POST', `/v1/sandboxes/${made.id}/checkpoint`, {})).json
    assert.ok(snap.id, JSON.stringify(snap))
    const t = await v1('POST', '/v1/templates', { name: 'baked', snapshot: snap.id })
    assert.equal(t.status, 201, t.body)
    try {
      const sbx = await Sandbox.create('baked', { timeoutMs: 90000 })
      try {
        assert.equal(await sbx.files.read('/root/baked.txt'), 'baked\n')
        const info = await sbx.getInfo()
        const ttl = info.endAt.getTime() - Date.now()
        assert.ok(ttl > 80000 && ttl <= 91000, `timeout 90 s: ${ttl}`)
      } finally {
        await sbx.kill()
      }
      // what a template's sandbox cannot take is refused by name, not dropped
      await assert.rejects(Sandbox.create('baked', { metadata: { k: 'v' } }), /metadata/)
    } finally {
      await v1('DELETE', '/v1/templates/baked')
      await v1('DELETE', `/v1/snapshots/${snap.id}`)
    }
  },
}
