// SPDX-License-Identifier: MIT
// Bad input on the E2B surface: clear errors, nothing changed.
import assert from 'node:assert/strict'
import { raw, envdHeaders, envelope, envelopes, withSandbox, admin, KEY } from './lib.mjs'

export default {
  async connect_envelopes() {
    await withSandbox({}, async (sbx) => {
      const start = (body, ct = 'application/connect+json') =>
        raw('POST', '/process.Process/Start', { headers: envdHeaders(sbx, { 'Content-Type': ct }), body })
      const good = envelope({ process: { cmd: '/bin/echo', args: ['hi'] }, stdin: false })
      const ok = await fetch(process.env.E2B_API_URL + '/process.Process/Start', {
        method: 'POST', headers: envdHeaders(sbx, { 'Content-Type': 'application/connect+json' }), body: good })
      const evs = envelopes(Buffer.from(await ok.arrayBuffer()))
      assert.ok(evs[0].msg.event.start.pid > 0)
      assert.equal(Buffer.from(evs[1].msg.event.data.stdout, 'base64').toString(), 'hi\n')
      assert.equal(evs.at(-2).msg.event.end.status, 'exit status 0')
      assert.deepEqual(evs.at(-1), { flags: 2, msg: {} })
      const bad = [
        good.subarray(0, 3), // cut head
        good.subarray(0, good.length - 1), // cut message
        Buffer.concat([good, good]), // two messages
        envelope({ process: { cmd: '/bin/true' } }, 1), // compressed
        envelope({ process: { cmd: '/bin/true' } }, 2), // end-of-stream as a request
        Buffer.from([0, 0xff, 0xff, 0xff, 0xff]), // 4 GiB announced
        envelope([1, 2]), // not an object
        Buffer.concat([Buffer.from([0, 0, 0, 0, 5]), Buffer.from('{"a":')]), // not JSON
        envelope({ process: { cmd: 7 } }),
        envelope({ process: { cmd: '/bin/true', args: 'x' } }),
        envelope({ process: { cmd: '/bin/true', envs: { 'A=B': 'c' } } }),
        envelope({ process: { cmd: '/bin/true' }, pty: { size: { cols: 0, rows: 5 } } }),
        envelope({ process: { cmd: '/bin/true', args: Array(300).fill('a') } }),
        envelope({ process: { cmd: '/bin/true', args: ['a\u0000b'] } }), // a NUL says less than asked
        envelope({ process: { cmd: '/bin/true\u0000x' } }),
      ]
      for (const b of bad) {
        const r = await start(b)
        assert.equal(r.status, 200) // a stream's error is in its last envelope
        const e = envelopes(Buffer.from(r.body, 'latin1'))
        assert.equal(e.length, 1, r.body)
        assert.equal(e[0].flags, 2)
        assert.equal(e[0].msg.error.code, 'invalid_argument', r.body)
        assert.ok(e[0].msg.error.message.length > 5)
      }
      assert.equal((await start(good, 'application/json')).body.includes('invalid_argument'), true)
      // unary calls: JSON bodies, errors as Connect's
      const unary = (method, body) =>
        raw('POST', `/process.Process/${method}`, { headers: envdHeaders(sbx, { 'Content-Type': 'application/json' }), body })
      for (const [m, b] of [['SendInput', '{"process":{"pid":1},"input":{"stdin":"!!notbase64"}}'], ['SendSignal', '{"process":{"pid":1},"signal":"SIGNAL_SIGSTOP"}'], ['List', '[]'], ['SendSignal', '{"process":{}}'], ['Nope', '{}']]) {
        const r = await unary(m, b)
        assert.ok(r.status >= 400, `${m}: ${r.status}`)
        assert.ok(['invalid_argument', 'not_found', 'unimplemented'].includes(r.json.code), `${m}: ${r.body}`)
      }
      // no process came of any of it
      const listed = await unary('List', '{}')
      assert.deepEqual(listed.json, { processes: [] })
    })
  },

  async files_bad_input() {
    await withSandbox({}, async (sbx) => {
      const h = envdHeaders(sbx)
      // a path that climbs stays in the sandbox's root
      await sbx.commands.run('echo inside > /tmp/esc.txt')
      const esc = await raw('GET', '/files?path=' + encodeURIComponent('/../../../../tmp/esc.txt'), { headers: h })
      assert.equal(esc.status, 200)
      assert.equal(esc.body, 'inside\n')
      const link = await sbx.commands.run('ln -s /../../../../etc /tmp/up && echo ok')
      assert.equal(link.stdout, 'ok\n')
      const viaLink = await raw('GET', '/files?path=' + encodeURIComponent('/tmp/up/passwd'), { headers: h })
      assert.equal(viaLink.body, (await sbx.commands.run('cat /etc/passwd')).stdout)
      for (const q of ['', '?path=', '?path=%zz', '?path=%2Ftmp%00x']) {
        const r = await raw('GET', '/files' + q, { headers: h })
        assert.equal(r.status, 400, q)
        assert.equal(r.json.code, 400)
      }
      const mp = (parts, boundary = 'XyZ') => {
        let s = ''
        for (const [name, fname, data] of parts)
          s += `--${boundary}\r\nContent-Disposition: form-data; name="${name}"; filename="${fname}"\r\nContent-Type: application/octet-stream\r\n\r\n${data}\r\n`
        return s + `--${boundary}--\r\n`
      }
      const post = (body, ct = 'multipart/form-data; boundary=XyZ', q = '') =>
        raw('POST', '/files' + q, { headers: { ...h, 'Content-Type': ct }, body })
      const dup = await post(mp([['file', '/tmp/x', 'a'], ['file', '/tmp/x', 'b']]))
      assert.equal(dup.status, 400)
      assert.equal((await post('--XyZ\r\nContent-Disposition: form-data; name="file"; filename="/tmp/y"\r\n\r\nno end')).status, 400)
      assert.equal((await post(mp([['file', '/tmp/z', 'a']]), 'multipart/form-data')).status, 400)
      assert.equal((await post('raw', 'application/octet-stream')).status, 400) // no path
      assert.equal((await post(mp([['file', '/tmp', 'a']]))).status, 400) // a directory
      assert.equal((await post(mp([['file', '/proc/1/environ', 'a']]))).status >= 400, true)
      for (const [k, v] of [['bad key', 'x'], ['k', 'caf\u00e9'], ['k'.repeat(65), 'x']]) {
        const r = await raw('POST', '/files?path=%2Ftmp%2Fmeta', { headers: { ...h, 'Content-Type': 'application/octet-stream', [`X-Metadata-${k}`]: v }, body: 'x' }).catch((e) => ({ status: 'refused by the client', e }))
        assert.ok(r.status === 400 || r.status === 'refused by the client', `${k}: ${r.status}`)
      }
      const gz = await raw('POST', '/files?path=%2Ftmp%2Fg', { headers: { ...h, 'Content-Type': 'application/octet-stream', 'Content-Encoding': 'gzip' }, body: 'not gzip at all' })
      assert.equal(gz.status, 400)
      assert.match(gz.json.message, /gzip/)
      const br = await raw('POST', '/files?path=%2Ftmp%2Fg', { headers: { ...h, 'Content-Type': 'application/octet-stream', 'Content-Encoding': 'br' }, body: 'x' })
      assert.equal(br.status, 400)
      // a bomb: 1 KB that inflates past --max-body (16 MiB) is refused, not held
      const { gzipSync } = await import('node:zlib')
      const bomb = gzipSync(Buffer.alloc(32 << 20))
      const big = await raw('POST', '/files?path=%2Ftmp%2Fbomb', { headers: { ...h, 'Content-Type': 'application/octet-stream', 'Content-Encoding': 'gzip' }, body: bomb })
      assert.equal(big.status, 413)
      // none of them wrote anything
      assert.equal((await sbx.commands.run('ls /tmp/x /tmp/y /tmp/z /tmp/g /tmp/bomb /tmp/meta 2>/dev/null | wc -l')).stdout.trim(), '0')
      // a good one, octet-stream, and the SDK reads it back
      const ok = await post('body bytes', 'application/octet-stream', '?path=%2Ftmp%2Fraw.txt')
      assert.equal(ok.status, 200)
      assert.equal(ok.json[0].path, '/tmp/raw.txt')
      assert.equal(await sbx.files.read('/tmp/raw.txt'), 'body bytes')
    })
  },

  async control_plane_bad_input() {
    const before = (await admin('/v1/sandboxes')).sandboxes.length
    const post = (path, body) => raw('POST', path, { headers: { 'X-API-KEY': KEY, 'Content-Type': 'application/json' }, body })
    for (const body of ['', 'nope', '[]', '{"templateID":""}', '{"envVars":{"A=B":"c"}}', '{"metadata":{"k":7}}', '{"network":{"allowOut":"x"},"allow_internet_access":true}', '{"timeout":"10"}', `{"templateID":"${'a'.repeat(300)}"}`]) {
      const r = await post('/v2/sandboxes', body)
      assert.ok(r.status === 400 || r.status === 404, `${body}: ${r.status} ${r.body}`)
      assert.equal(r.json.code, r.status)
    }
    for (const q of ['?limit=0', '?limit=abc', '?state=sleeping', '?nextToken=ffffffffffff', '?metadata=%zz']) {
      const r = await raw('GET', '/v2/sandboxes' + q, { headers: { 'X-API-KEY': KEY } })
      assert.equal(r.status, 400, q)
    }
    const r = await raw('POST', '/sandboxes/0123456789ab/timeout', { headers: { 'X-API-KEY': KEY }, body: '{"timeout":"x"}' })
    assert.equal(r.status, 404)
    assert.equal((await admin('/v1/sandboxes')).sandboxes.length, before)
  },
}
