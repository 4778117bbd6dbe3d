// SPDX-License-Identifier: MIT
// betaPause and resume by connect: the same id, its files and processes, no compute
// while paused.
import assert from 'node:assert/strict'
import { Sandbox, NotFoundError } from 'e2b'
import { admin, alive, sleep, until } from './lib.mjs'

export default {
  async pause_and_resume() {
    const sbx = await Sandbox.create({ timeoutMs: 120000, metadata: { role: 'pausable' } })
    const id = sbx.sandboxId
    try {
      await sbx.files.write('/root/state.txt', 'kept across')
      // a process that counts, one that holds 64 MiB, one whose output is read after
      const counter = await sbx.commands.run('n=0; while :; do n=$((n+1)); echo $n > /tmp/n; sleep 0.1; done', { background: true })
      await sbx.commands.run('python3 -c "import time; b=bytearray(64<<20); time.sleep(3600)"', { background: true })
      let later = ''
      const talker = await sbx.commands.run('read x; echo "got $x"; sleep 0.5; echo done', { background: true, stdin: true, onStdout: (d) => (later += d) })
      await until(async () => Number((await sbx.commands.run('cat /tmp/n')).stdout) > 3, 5000, 'the counter')
      const before = await admin(`/v1/sandboxes/${id}`)
      assert.equal(await sbx.betaPause(), true)
      // paused: not running, listed as paused, nothing of it runs on the host
      assert.equal(await sbx.isRunning(), false)
      const info = await Sandbox.getInfo(id)
      assert.equal(info.state, 'paused')
      assert.deepEqual(info.metadata, { role: 'pausable' })
      const listed = await Sandbox.list({ query: { state: ['paused'], metadata: { role: 'pausable' } } }).nextItems()
      assert.deepEqual(listed.map((s) => s.sandboxId), [id])
      // on the host: stopped after its dump, its processes gone with it
      const h = await until(async () => {
        const x = await admin(`/v1/sandboxes/${before.id}`)
        return x.state === 'exited' && x
      }, 5000, 'the paused sandbox to stop')
      assert.equal(h.reason, 'checkpointed')
      assert.ok(before.pid > 1 && !alive(before.pid), 'no process of it left on the host')
      assert.equal((await admin('/v1/health')).sandboxes.live, 0)
      assert.equal(await Sandbox.pause(id), false) // paused already
      const n1 = Number((await admin('/v1/snapshots')).snapshots.length)
      assert.ok(n1 >= 1)
      await sleep(1000)
      // resumed under the same id
      const again = await Sandbox.connect(id, { timeoutMs: 60000 })
      assert.equal(again.sandboxId, id)
      assert.equal(await again.isRunning(), true)
      assert.equal(await again.files.read('/root/state.txt'), 'kept across')
      const procs = (await again.commands.list()).map((p) => p.pid)
      assert.ok(procs.includes(counter.pid) && procs.includes(talker.pid), JSON.stringify(procs))
      const a = Number((await again.commands.run('cat /tmp/n')).stdout)
      await until(async () => Number((await again.commands.run('cat /tmp/n')).stdout) > a + 2, 5000, 'the counter to go on')
      // the process it held: its memory is back, and it talks through the same pipes
      let heard = ''
      const c = await again.commands.connect(talker.pid, { onStdout: (d) => (heard += d) })
      await again.commands.sendStdin(talker.pid, 'ping\n')
      const r = await c.wait()
      assert.equal(r.exitCode, 0)
      assert.equal(heard, 'got ping\ndone\n')
      assert.equal(later, '', 'the pre-pause reader saw its stream cut, not the output')
      // the snapshot of the pause is gone (no storage billed for a running sandbox)
      assert.equal((await admin('/v1/snapshots')).snapshots.length, n1 - 1)
      // and it pauses again, and a kill of the paused one removes it
      assert.equal(await again.betaPause(), true)
      assert.equal(await Sandbox.kill(id), true)
      await assert.rejects(Sandbox.getInfo(id), NotFoundError)
      assert.equal((await admin('/v1/snapshots')).snapshots.length, n1 - 1)
    } finally {
      await Sandbox.kill(id).catch(() => {})
    }
  },

  async auto_pause_at_timeout() {
    const sbx = await Sandbox.create({ timeoutMs: 2000, lifecycle: { onTimeout: 'pause' } })
    const id = sbx.sandboxId
    try {
      await sbx.files.write('/root/auto.txt', 'paused, not killed')
      const info = await until(async () => {
        const i = await Sandbox.getInfo(id).catch(() => null)
        return i && i.state === 'paused' && i
      }, 15000, 'the timeout to pause it')
      assert.equal(info.lifecycle?.onTimeout ?? 'pause', 'pause')
      assert.equal(await sbx.isRunning(), false)
      const again = await Sandbox.connect(id, { timeoutMs: 60000 })
      assert.equal(await again.files.read('/root/auto.txt'), 'paused, not killed')
      // a sandbox without it is killed at its timeout, as ever
      const plain = await Sandbox.create({ timeoutMs: 1000 })
      await until(async () => !(await plain.isRunning()), 10000, 'the plain one to end')
      await assert.rejects(Sandbox.getInfo(plain.sandboxId), NotFoundError)
    } finally {
      await Sandbox.kill(id).catch(() => {})
    }
  },
}
