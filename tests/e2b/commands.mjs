// SPDX-License-Identifier: MIT
// commands: run, background, streams, envs, cwd, user, timeouts, list, kill, stdin,
// connect, wait.
import assert from 'node:assert/strict'
import { createHash } from 'node:crypto'
import { CommandExitError, NotFoundError, TimeoutError, InvalidArgumentError } from 'e2b'
import { admin, withSandbox, sleep, until } from './lib.mjs'

export default {
  async run_output_exit_codes() {
    await withSandbox({}, async (sbx) => {
      const r = await sbx.commands.run('printf "a\\nb"; printf "err1\\n" >&2; printf "\\xc3\\xa9\\xe2\\x82\\xac"')
      assert.equal(r.exitCode, 0)
      assert.equal(r.stdout, 'a\nbé€')
      assert.equal(r.stderr, 'err1\n')
      assert.equal(r.error, undefined)
      // exit codes, and the output before them
      const e = await sbx.commands.run('echo partial; echo bad >&2; exit 42').catch((x) => x)
      assert.ok(e instanceof CommandExitError, String(e))
      assert.equal(e.exitCode, 42)
      assert.equal(e.stdout, 'partial\n')
      assert.equal(e.stderr, 'bad\n')
      assert.match(e.error, /exit status 42/)
      // 1 MiB of binary output arrives whole, in order
      const big = await sbx.commands.run('head -c 1048576 /dev/urandom | tee /tmp/big | sha256sum | cut -d" " -f1; base64 -w0 /tmp/big')
      const [sum, b64] = big.stdout.split('\n')
      assert.equal(createHash('sha256').update(Buffer.from(b64, 'base64')).digest('hex'), sum)
      // a missing program, a missing directory: the shell's answer, and an invalid argument
      const nf = await sbx.commands.run('no-such-program-xyz').catch((x) => x)
      assert.equal(nf.exitCode, 127)
      await assert.rejects(sbx.commands.run('true', { cwd: '/no/such/dir' }), InvalidArgumentError)
    })
  },

  async envs_cwd_user() {
    await withSandbox({ envs: { A: 'from-create', B: 'b' } }, async (sbx) => {
      const r = await sbx.commands.run('echo "$A $B $C"; pwd', { envs: { A: 'from-run', C: 'c d' }, cwd: '/tmp' })
      assert.equal(r.stdout, 'from-run b c d\n/tmp\n')
      assert.equal((await sbx.commands.run('pwd')).stdout, '/root\n')
      assert.equal((await sbx.commands.run('echo "$HOME $USER"; whoami')).stdout, '/root root\nroot\n')
      assert.equal((await sbx.commands.run('pwd', { cwd: '~' })).stdout, '/root\n')
      assert.equal((await sbx.commands.run('id -u', { user: 'root' })).stdout, '0\n')
      assert.equal((await sbx.commands.run('id -u', { user: 'user' })).stdout, '0\n')
      await assert.rejects(sbx.commands.run('id', { user: 'mallory' }), InvalidArgumentError)
    })
  },

  async streaming_background_and_wait() {
    await withSandbox({}, async (sbx) => {
      const events = []
      const h = await sbx.commands.run('for i in 1 2 3; do echo out$i; echo err$i >&2; sleep 0.2; done; exit 3', {
        background: true,
        onStdout: (d) => events.push(['o', d, Date.now()]),
        onStderr: (d) => events.push(['e', d, Date.now()]),
      })
      assert.ok(h.pid > 1)
      const listed = await sbx.commands.list()
      const me = listed.find((p) => p.pid === h.pid)
      assert.ok(me, JSON.stringify(listed))
      assert.equal(me.cmd, '/bin/bash')
      assert.deepEqual(me.args.slice(0, 2), ['-l', '-c'])
      const r = await h.wait().catch((x) => x)
      assert.ok(r instanceof CommandExitError)
      assert.equal(r.exitCode, 3)
      assert.equal(events.filter((e) => e[0] === 'o').map((e) => e[1]).join(''), 'out1\nout2\nout3\n')
      assert.equal(events.filter((e) => e[0] === 'e').map((e) => e[1]).join(''), 'err1\nerr2\nerr3\n')
      // streamed as they came: the first arrived well before the last
      assert.ok(events[events.length - 1][2] - events[0][2] >= 300)
      assert.ok(!(await sbx.commands.list()).some((p) => p.pid === h.pid))
    })
  },

  async kill_and_timeout_end_the_process() {
    await withSandbox({}, async (sbx) => {
      const h = await sbx.commands.run('sleep 300', { background: true })
      assert.equal(await sbx.commands.kill(h.pid), true)
      const r = await h.wait().catch((x) => x)
      assert.ok(r instanceof CommandExitError)
      assert.match(r.error, /signal: killed/)
      assert.equal(await sbx.commands.kill(h.pid), false)
      assert.equal(await sbx.commands.kill(999999), false)
      // the process itself is gone: no sleep in the sandbox's process table
      assert.equal((await sbx.commands.run('ps -eo comm | grep -c "^sleep$" || true')).stdout.trim(), '0')
      // a timeout kills it too
      const t0 = Date.now()
      await assert.rejects(sbx.commands.run('sleep 300', { timeoutMs: 700 }), TimeoutError)
      assert.ok(Date.now() - t0 < 5000)
      await until(async () => (await sbx.commands.run('ps -eo comm | grep -c "^sleep$" || true')).stdout.trim() === '0', 5000, 'the timed-out sleep to go')
    })
  },

  async stdin_and_close() {
    await withSandbox({}, async (sbx) => {
      const h = await sbx.commands.run('sha256sum', { background: true, stdin: true })
      const chunk = 'x'.repeat(100000)
      for (let i = 0; i < 5; i++) await sbx.commands.sendStdin(h.pid, chunk)
      await sbx.commands.closeStdin(h.pid)
      const r = await h.wait()
      assert.equal(r.stdout.split(' ')[0], createHash('sha256').update(chunk.repeat(5)).digest('hex'))
      // without stdin: EOF at once
      assert.equal((await sbx.commands.run('wc -c')).stdout.trim(), '0')
      await assert.rejects(sbx.commands.sendStdin(999999, 'x'), NotFoundError)
    })
  },

  async connect_to_running_command() {
    await withSandbox({}, async (sbx) => {
      const h = await sbx.commands.run('for i in $(seq 1 8); do echo tick$i; sleep 0.25; done', { background: true })
      await h.disconnect()
      await sleep(300)
      // still running without a reader
      assert.ok((await sbx.commands.list()).some((p) => p.pid === h.pid))
      let got = ''
      const again = await sbx.commands.connect(h.pid, { onStdout: (d) => (got += d) })
      const r = await again.wait()
      assert.equal(r.exitCode, 0)
      assert.match(got, /tick8\n$/)
      assert.ok(!got.startsWith('tick1\n'), 'output from the connect on, not replayed')
      await assert.rejects(sbx.commands.connect(h.pid), NotFoundError)
    })
  },

  async many_commands_in_parallel() {
    await withSandbox({}, async (sbx) => {
      const rs = await Promise.all([...Array(20).keys()].map((i) => sbx.commands.run(`echo ${i}; sleep 0.1`)))
      rs.forEach((r, i) => assert.equal(r.stdout, `${i}\n`))
      // the host holds nothing of them after
      const u = await admin(`/v1/sandboxes/${sbx.sandboxId}`)
      assert.equal(u.state, 'running')
    })
  },

  async stdin_while_the_pipe_is_full() {
    await withSandbox({}, async (sbx) => {
      // the command reads nothing for a while: its pipe fills, writes wait, more comes
      const h = await sbx.commands.run('sleep 1; sha256sum', { background: true, stdin: true })
      // 280 KB while it sleeps: 64 KiB in its pipe, the rest waiting in sbxd (256 KiB at most)
      const parts = [...Array(4).keys()].map((i) => String.fromCharCode(97 + i).repeat(70000))
      for (const p of parts) await sbx.commands.sendStdin(h.pid, p)
      await sbx.commands.closeStdin(h.pid)
      const r = await h.wait()
      assert.equal(r.stdout.split(' ')[0], createHash('sha256').update(parts.join('')).digest('hex'))
      // a queue past its bound is refused, not kept
      const slow = await sbx.commands.run('sleep 30', { background: true, stdin: true })
      let refused = null
      for (let i = 0; i < 8 && !refused; i++) await sbx.commands.sendStdin(slow.pid, 'y'.repeat(100000)).catch((e) => (refused = e))
      assert.ok(refused && /wait for its stdin already/.test(refused.message), String(refused))
      await sbx.commands.kill(slow.pid)
    })
  },

  async readers_of_one_process_are_bounded() {
    await withSandbox({}, async (sbx) => {
      const h = await sbx.commands.run('sleep 30', { background: true })
      const readers = []
      for (let i = 0; i < 16; i++) readers.push(await sbx.commands.connect(h.pid))
      await assert.rejects(sbx.commands.connect(h.pid), /16 readers, the most/)
      // sbxd is alive and serves
      assert.equal((await sbx.commands.run('echo ok')).stdout, 'ok\n')
      for (const r of readers) await r.disconnect()
      assert.equal(await sbx.commands.kill(h.pid), true)
    })
  },

  async kept_processes_are_bounded() {
    await withSandbox({}, async (sbx) => {
      const hs = []
      for (let i = 0; i < 64; i++) hs.push(await sbx.commands.run('sleep 300', { background: true }))
      await assert.rejects(sbx.commands.run('sleep 300', { background: true }), /64 processes/)
      // room again once some end; the sandbox's own process table agrees (60 sleeps: the
      // refused one never started)
      for (const h of hs.slice(0, 4)) await h.kill()
      await until(async () => (await sbx.commands.list()).length === 60, 5000, 'the killed ones to go')
      assert.equal((await sbx.commands.run('ps -eo comm | grep -c "^sleep$"')).stdout.trim(), '60')
    })
  },
}
