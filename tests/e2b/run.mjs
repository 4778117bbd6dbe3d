// SPDX-License-Identifier: MIT
// The E2B SDK's cases against a running sbxd (tests/integ/test-e2b.sh starts it and sets
// E2B_API_URL, E2B_SANDBOX_URL, E2B_API_KEY, SBX_TOKEN_B, SBX_SOCKET).
// Usage: node run.mjs --list | node run.mjs CASE
import lifecycle from './lifecycle.mjs'
import commands from './commands.mjs'
import pty from './pty.mjs'
import files from './files.mjs'
import pause from './pause.mjs'
import auth from './auth.mjs'
import input from './input.mjs'
import network from './lab/network.mjs'

// lab/: cases that need test-net.sh's network lab (run from there, not listed here)
const cases = { ...lifecycle, ...commands, ...pty, ...files, ...pause, ...auth, ...input }
const lab = { ...network }

const name = process.argv[2]
if (name === '--list') {
  console.log(Object.keys(cases).join('\n'))
  process.exit(0)
}
if (lab[name]) cases[name] = lab[name]
if (!cases[name]) {
  console.error(`no case ${name}`)
  process.exit(2)
}
try {
  await cases[name]()
  process.exit(0)
} catch (e) {
  console.error(e && e.stack ? e.stack : e)
  process.exit(1)
}
