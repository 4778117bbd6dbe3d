// SPDX-License-Identifier: MIT
// pty: a real terminal inside the sandbox.
import assert from 'node:assert/strict'
import { CommandExitError } from 'e2b'
import { withSandbox, until } from './lib.mjs'

const enc = (s) => new TextEncoder().encode(s)

export default {
  async pty_terminal() {
    await withSandbox({}, async (sbx) => {
      let out = ''
      const dec = new TextDecoder()
      const term = await sbx.pty.create({ cols: 91, rows: 27, onData: (d) => (out += dec.decode(d, { stream: true })) })
      assert.ok(term.pid > 1)
      // a controlling terminal of its own, of the size asked, TERM set
      await sbx.pty.sendInput(term.pid, enc('tty; stty size; echo "T=$TERM"; test -t 0 && echo ISTTY\n'))
      await until(() => /ISTTY/.test(out.replace(/test -t 0 && echo ISTTY/g, '')), 5000, 'the terminal to answer')
      assert.match(out, /\/dev\/pts\/\d+\r\n/)
      assert.match(out, /27 91\r\n/)
      assert.match(out, /T=xterm-256color\r\n/)
      // resized: the program sees it
      await sbx.pty.resize(term.pid, { cols: 120, rows: 40 })
      out = ''
      await sbx.pty.sendInput(term.pid, enc('stty size\n'))
      await until(() => /40 120\r\n/.test(out), 5000, 'the new size')
      // ^C reaches the foreground job, not the shell
      out = ''
      await sbx.pty.sendInput(term.pid, enc('sleep 30; echo SLEPT\n'))
      await until(() => /sleep 30/.test(out), 5000, 'the echo of the command')
      await sbx.pty.sendInput(term.pid, new Uint8Array([3]))
      await sbx.pty.sendInput(term.pid, enc('echo "ALIVE $?"\n'))
      await until(() => /ALIVE 130/.test(out), 5000, 'the shell after ^C')
      assert.doesNotMatch(out, /\r\nSLEPT\r\n/)
      await sbx.pty.sendInput(term.pid, enc('exit 5\n'))
      const r = await term.wait().catch((x) => x)
      assert.ok(r instanceof CommandExitError)
      assert.equal(r.exitCode, 5)
    })
  },

  async pty_kill() {
    await withSandbox({}, async (sbx) => {
      const term = await sbx.pty.create({ cols: 80, rows: 24, onData: () => {} })
      assert.ok((await sbx.commands.list()).some((p) => p.pid === term.pid))
      assert.equal(await sbx.pty.kill(term.pid), true)
      const r = await term.wait().catch((x) => x)
      assert.match(String(r.error || r.message), /signal: killed/)
      assert.ok(!(await sbx.commands.list()).some((p) => p.pid === term.pid))
    })
  },
}
