// SPDX-License-Identifier: MIT
// The E2B surface's figures (tools/bench/e2b.sh sets the environment).
const { Sandbox } = await import(process.env.SBX_SDK)

const API = process.env.E2B_API_URL
const KEY = process.env.E2B_API_KEY
const ROUNDS = Number(process.env.ROUNDS || 30)
const PAUSE_ROUNDS = Number(process.env.PAUSE_ROUNDS || 5)
const CLIENTS = Number(process.env.CLIENTS || 100)
const SECONDS = Number(process.env.SECONDS || 60)

const pct = (v, p) => {
  const s = [...v].sort((a, b) => a - b)
  return s[Math.min(s.length - 1, Math.floor((p / 100) * s.length))]
}
const line = (name, v, base) => {
  let s = `  ${name.padEnd(46)} p50 ${pct(v, 50).toFixed(2).padStart(8)} ms  p99 ${pct(v, 99).toFixed(2).padStart(8)} ms`
  if (base) s += `  ratio ${(pct(v, 50) / pct(base, 50)).toFixed(2)}x  (+${(pct(v, 50) - pct(base, 50)).toFixed(2)} ms)`
  console.log(s)
}
const now = () => Number(process.hrtime.bigint()) / 1e6

// /v1: the same sandbox (the host image, /root, 300 s) and the same command.
async function v1(method, path, body) {
  const r = await fetch(API + path, { method, headers: { Authorization: `Bearer ${KEY}`, 'Content-Type': 'application/json' }, body: body && JSON.stringify(body) })
  const t = await r.text()
  if (r.status >= 300) throw new Error(`${method} ${path}: ${r.status} ${t}`)
  return t ? JSON.parse(t) : null
}
const v1spec = { image: 'host', workdir: '/root', limits: { timeout: 300 } }

// The E2B surface without the SDK: its wire, from the same fetch as /v1.
const envelope = (o) => {
  const b = Buffer.from(JSON.stringify(o))
  const h = Buffer.alloc(5)
  h.writeUInt32BE(b.length, 1)
  return Buffer.concat([h, b])
}
async function e2bWire() {
  const r = await fetch(API + '/v2/sandboxes', { method: 'POST', headers: { 'X-API-KEY': KEY, 'Content-Type': 'application/json' }, body: '{"templateID":"base"}' })
  const j = await r.json()
  const q = await fetch(API + '/process.Process/Start', {
    method: 'POST',
    headers: { 'E2b-Sandbox-Id': j.sandboxID, 'X-Access-Token': j.envdAccessToken, 'Content-Type': 'application/connect+json' },
    body: envelope({ process: { cmd: '/bin/bash', args: ['-l', '-c', 'true'] }, stdin: false }),
  })
  await q.arrayBuffer()
  const d = await fetch(API + '/sandboxes/' + j.sandboxID, { method: 'DELETE', headers: { 'X-API-KEY': KEY } })
  await d.arrayBuffer()
}

async function lifecycle() {
  console.log(`lifecycle (create + run('true') + kill), ${ROUNDS} rounds, interleaved:`)
  const sdk = [], raw = [], wire = []
  for (let i = 0; i < ROUNDS + 3; i++) {
    let t = now()
    const s = await Sandbox.create()
    await s.commands.run('true')
    await s.kill()
    const a = now() - t
    t = now()
    const b = await v1('POST', '/v1/sandboxes', v1spec)
    await v1('POST', `/v1/sandboxes/${b.id}/exec`, { cmd: ['/bin/bash', '-l', '-c', 'true'] })
    await v1('DELETE', `/v1/sandboxes/${b.id}`)
    const c = now() - t
    t = now()
    await e2bWire()
    const w = now() - t
    if (i >= 3) { // warm-up rounds aside
      sdk.push(a)
      raw.push(c)
      wire.push(w)
    }
  }
  line('/v1 from the same process (baseline)', raw)
  line('E2B surface, its wire without the SDK', wire, raw)
  line('E2B SDK', sdk, raw)
}

async function pause() {
  console.log(`pause and resume of a sandbox holding 256 MiB, ${PAUSE_ROUNDS} rounds:`)
  const hold = 'python3 -c "import time; b=bytearray(256<<20); b[::4096]=b\\"x\\"*(len(b)//4096); open(\'/tmp/ready\',\'w\').close(); time.sleep(3600)"'
  const p = [], r = [], ck = [], rs = []
  for (let i = 0; i < PAUSE_ROUNDS; i++) {
    const s = await Sandbox.create({ timeoutMs: 600000 })
    await s.commands.run(hold, { background: true })
    while (!(await s.files.exists('/tmp/ready'))) await new Promise((x) => setTimeout(x, 50))
    let t = now()
    if (!(await s.betaPause())) throw new Error('pause refused')
    p.push(now() - t)
    t = now()
    const again = await Sandbox.connect(s.sandboxId)
    r.push(now() - t)
    const n = (await again.commands.run('ps -eo rss,comm | awk \'/python3/ {print $1}\'')).stdout.trim()
    if (Number(n) < 250 * 1024) throw new Error(`the 256 MiB are not back (rss ${n} KiB)`)
    await again.kill()
    // baseline: /v1 checkpoint (stopping it) + restore of the same workload
    const b = await v1('POST', '/v1/sandboxes', v1spec)
    await v1('POST', `/v1/sandboxes/${b.id}/exec`, { cmd: ['sh', '-c', hold.replace('time.sleep(3600)', 'time.sleep(3600)') + ' >/dev/null 2>&1 &'] })
    for (;;) {
      const e = await v1('POST', `/v1/sandboxes/${b.id}/exec`, { cmd: ['test', '-e', '/tmp/ready'] })
      if (e.exit_code === 0) break
      await new Promise((x) => setTimeout(x, 50))
    }
    t = now()
    const snap = await v1('POST', `/v1/sandboxes/${b.id}/checkpoint`, {})
    ck.push(now() - t)
    t = now()
    const back = await v1('POST', `/v1/snapshots/${snap.id}/restore`, {})
    rs.push(now() - t)
    await v1('DELETE', `/v1/sandboxes/${back.id}`)
    await v1('DELETE', `/v1/sandboxes/${b.id}`).catch(() => {})
    await v1('DELETE', `/v1/snapshots/${snap.id}`)
  }
  line('/v1 checkpoint (baseline)', ck)
  line('E2B betaPause', p, ck)
  line('/v1 restore (baseline)', rs)
  line('E2B resume (connect)', r, rs)
  console.log(`  pause rate ${(pct(p, 50) / 1000 / 0.25).toFixed(2)} s/GiB (E2B publishes ~4 s/GiB); resume ${(pct(r, 50) / 1000).toFixed(3)} s (E2B: ~1 s)`)
}

async function clients() {
  console.log(`${CLIENTS} concurrent clients, each in its own sandbox, run('true') once a second for ${SECONDS} s:`)
  const sbxs = []
  for (let i = 0; i < CLIENTS; i += 10)
    sbxs.push(...(await Promise.all([...Array(Math.min(10, CLIENTS - i))].map(() => Sandbox.create({ timeoutMs: (SECONDS + 120) * 1000 })))))
  // one client alone first: the baseline
  const alone = []
  for (let i = 0; i < 30; i++) {
    const t = now()
    await sbxs[0].commands.run('true')
    alone.push(now() - t)
  }
  const lat = []
  let errors = 0, stuck = 0
  const end = Date.now() + SECONDS * 1000
  await Promise.all(sbxs.map(async (s, k) => {
    await new Promise((x) => setTimeout(x, (k * 1000) / CLIENTS)) // spread over the second
    while (Date.now() < end) {
      const next = Date.now() + 1000
      const t = now()
      try {
        const r = await Promise.race([s.commands.run('true'), new Promise((_, no) => setTimeout(() => no(new Error('stuck')), 10000))])
        if (r.exitCode !== 0) errors++
        lat.push(now() - t)
      } catch (e) {
        if (e.message === 'stuck') stuck++
        else errors++
      }
      await new Promise((x) => setTimeout(x, Math.max(0, next - Date.now())))
    }
  }))
  for (let i = 0; i < sbxs.length; i += 10) await Promise.all(sbxs.slice(i, i + 10).map((s) => s.kill()))
  line('one client alone (baseline)', alone)
  line(`${CLIENTS} clients`, lat, alone)
  console.log(`  ${lat.length} commands, ${errors} errors, ${stuck} stuck streams`)
  if (errors || stuck) process.exitCode = 1
}

await lifecycle()
await pause()
await clients()
