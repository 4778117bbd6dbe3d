// SPDX-License-Identifier: MIT
// files: read, write, list, exists, getInfo, remove, rename, makeDir, watchDir.
import assert from 'node:assert/strict'
import { createHash, randomBytes } from 'node:crypto'
import { NotFoundError, FileNotFoundError, InvalidArgumentError } from 'e2b'
import { withSandbox, inotifyFds, sleep, until } from './lib.mjs'

const sha = (b) => createHash('sha256').update(b).digest('hex')

export default {
  async read_write_formats() {
    await withSandbox({}, async (sbx) => {
      const info = await sbx.files.write('/tmp/t/hello.txt', 'héllo\n')
      assert.equal(info.path, '/tmp/t/hello.txt')
      assert.equal(info.name, 'hello.txt')
      assert.equal(info.type, 'file')
      assert.equal(await sbx.files.read('/tmp/t/hello.txt'), 'héllo\n')
      assert.equal((await sbx.commands.run('cat /tmp/t/hello.txt')).stdout, 'héllo\n')
      // bytes: 3 MiB of random data, hashed on both sides
      const data = randomBytes(3 << 20)
      await sbx.files.write('/tmp/blob.bin', data.buffer.slice(data.byteOffset, data.byteOffset + data.length))
      assert.equal((await sbx.commands.run('sha256sum /tmp/blob.bin')).stdout.split(' ')[0], sha(data))
      const back = await sbx.files.read('/tmp/blob.bin', { format: 'bytes' })
      assert.equal(sha(Buffer.from(back)), sha(data))
      const blob = await sbx.files.read('/tmp/blob.bin', { format: 'blob' })
      assert.equal(sha(Buffer.from(await blob.arrayBuffer())), sha(data))
      const stream = await sbx.files.read('/tmp/blob.bin', { format: 'stream' })
      const parts = []
      for await (const p of stream) parts.push(Buffer.from(p))
      assert.equal(sha(Buffer.concat(parts)), sha(data))
      // relative paths are the home directory's; an empty file is empty
      await sbx.files.write('rel.txt', '')
      assert.equal(await sbx.files.read('/root/rel.txt'), '')
      // several files in one request
      const many = await sbx.files.write([
        { path: '/tmp/m/a.txt', data: 'A' },
        { path: '/tmp/m/sub/b.txt', data: 'B' },
      ])
      assert.deepEqual(many.map((f) => f.path), ['/tmp/m/a.txt', '/tmp/m/sub/b.txt'])
      assert.equal((await sbx.commands.run('cat /tmp/m/a.txt /tmp/m/sub/b.txt')).stdout, 'AB')
      // compressed on the way (Content-Encoding: gzip), and a stream as the data
      const z = randomBytes(200000)
      await sbx.files.write('/tmp/z.bin', z.buffer.slice(z.byteOffset, z.byteOffset + z.length), { gzip: true })
      assert.equal((await sbx.commands.run('sha256sum /tmp/z.bin')).stdout.split(' ')[0], sha(z))
      await sbx.files.write('/tmp/s.txt', new Blob(['from a ', 'stream']).stream())
      assert.equal(await sbx.files.read('/tmp/s.txt'), 'from a stream')
      assert.equal(await sbx.files.read('/tmp/s.txt', { gzip: true }), 'from a stream')
      // metadata: user.e2b.* extended attributes, read back by getInfo and list
      const wm = await sbx.files.write('/tmp/meta/m.txt', 'm', { metadata: { Owner: 'agent-7', stage: 'draft v2' } })
      assert.deepEqual(wm.metadata, { owner: 'agent-7', stage: 'draft v2' })
      assert.deepEqual((await sbx.files.getInfo('/tmp/meta/m.txt')).metadata, { owner: 'agent-7', stage: 'draft v2' })
      assert.deepEqual((await sbx.files.list('/tmp/meta'))[0].metadata, { owner: 'agent-7', stage: 'draft v2' })
      assert.equal((await sbx.commands.run("python3 -c \"import os; print(os.getxattr('/tmp/meta/m.txt', 'user.e2b.stage').decode())\"")).stdout, 'draft v2\n')
      assert.equal((await sbx.files.getInfo('/tmp/m/a.txt')).metadata, undefined)
      // overwritten in place
      await sbx.files.write('/tmp/m/a.txt', 'A2')
      assert.equal(await sbx.files.read('/tmp/m/a.txt'), 'A2')
      await assert.rejects(sbx.files.read('/tmp/none.txt'), FileNotFoundError)
      await assert.rejects(sbx.files.read('/tmp'), InvalidArgumentError)
    })
  },

  async list_info_and_changes() {
    await withSandbox({}, async (sbx) => {
      await sbx.commands.run('mkdir -p /tmp/d/x/y && echo 12345 > /tmp/d/f.txt && ln -s f.txt /tmp/d/link && echo z > /tmp/d/x/y/z && chmod 640 /tmp/d/f.txt')
      const one = await sbx.files.list('/tmp/d')
      assert.deepEqual(one.map((e) => [e.name, e.type]), [['f.txt', 'file'], ['link', 'symlink'], ['x', 'dir']])
      assert.equal(one[1].symlinkTarget, 'f.txt')
      const f = one.find((e) => e.name === 'f.txt')
      assert.equal(f.size, 6)
      assert.equal(f.path, '/tmp/d/f.txt')
      assert.equal(f.mode, 0o640)
      assert.equal(f.permissions, '-rw-r-----')
      assert.equal(f.owner, 'root')
      assert.ok(f.modifiedTime instanceof Date && Math.abs(f.modifiedTime - Date.now()) < 60000)
      const deep = await sbx.files.list('/tmp/d', { depth: 3 })
      assert.deepEqual(deep.map((e) => e.path), ['/tmp/d/f.txt', '/tmp/d/link', '/tmp/d/x', '/tmp/d/x/y', '/tmp/d/x/y/z'])
      assert.equal(await sbx.files.exists('/tmp/d/x/y/z'), true)
      assert.equal(await sbx.files.exists('/tmp/d/nope'), false)
      const gi = await sbx.files.getInfo('/tmp/d/x')
      assert.equal(gi.type, 'dir')
      assert.equal(gi.name, 'x')
      await assert.rejects(sbx.files.getInfo('/tmp/d/nope'), FileNotFoundError)
      await assert.rejects(sbx.files.list('/tmp/d/nope'), FileNotFoundError)
      assert.equal(await sbx.files.makeDir('/tmp/new/a/b'), true)
      assert.equal(await sbx.files.makeDir('/tmp/new/a/b'), false)
      const moved = await sbx.files.rename('/tmp/d/f.txt', '/tmp/new/moved.txt')
      assert.equal(moved.path, '/tmp/new/moved.txt')
      assert.equal(moved.type, 'file')
      assert.equal(await sbx.files.read('/tmp/new/moved.txt'), '12345\n')
      assert.equal(await sbx.files.exists('/tmp/d/f.txt'), false)
      await sbx.files.remove('/tmp/d')
      assert.equal((await sbx.commands.run('ls /tmp/d 2>&1 || echo gone')).stdout.trim().endsWith('gone'), true)
      await sbx.files.remove('/tmp/d') // a missing one is no error
    })
  },

  async watch_dir_events() {
    await withSandbox({}, async (sbx) => {
      await sbx.files.makeDir('/tmp/w')
      const evs = []
      const h = await sbx.files.watchDir('/tmp/w', (e) => evs.push(`${e.type}:${e.name}`), { recursive: true })
      await sbx.files.write('/tmp/w/a.txt', 'x')
      await sbx.commands.run('mkdir /tmp/w/sub; sleep 0.3; echo hi > /tmp/w/sub/b.txt; mv /tmp/w/a.txt /tmp/w/c.txt; chmod 600 /tmp/w/c.txt; rm /tmp/w/c.txt')
      await until(() => evs.includes('remove:c.txt'), 5000, 'the remove event')
      await h.stop()
      assert.deepEqual(evs, ['create:a.txt', 'write:a.txt', 'create:sub', 'create:sub/b.txt', 'write:sub/b.txt', 'rename:a.txt', 'create:c.txt', 'chmod:c.txt', 'remove:c.txt'])
      // with each event's entry, when asked
      const withEntry = []
      const he = await sbx.files.watchDir('/tmp/w', (e) => withEntry.push(e), { includeEntry: true })
      await sbx.files.write('/tmp/w/e.txt', 'entry!')
      await until(() => withEntry.some((e) => e.type === 'write' && e.name === 'e.txt'), 5000, 'the entry event')
      await he.stop()
      const we = withEntry.find((e) => e.type === 'write' && e.name === 'e.txt')
      assert.equal(we.entry.name, 'e.txt')
      assert.equal(we.entry.path, '/tmp/w/e.txt')
      assert.equal(we.entry.type, 'file')
      assert.equal(we.entry.owner, 'root')
      assert.ok(we.entry.size >= 0 && we.entry.modifiedTime instanceof Date)
      // without recursion, changes below are not seen
      const flat = []
      const h2 = await sbx.files.watchDir('/tmp/w', (e) => flat.push(`${e.type}:${e.name}`))
      await sbx.commands.run('echo deep > /tmp/w/sub/deep.txt; echo top > /tmp/w/top.txt')
      await until(() => flat.includes('write:top.txt'), 5000, 'the top-level write')
      await h2.stop()
      assert.ok(!flat.some((e) => e.includes('deep')), JSON.stringify(flat))
      await assert.rejects(sbx.files.watchDir('/tmp/none', () => {}), FileNotFoundError)
      await assert.rejects(sbx.files.watchDir('/proc', () => {}), InvalidArgumentError)
      // four watches a sandbox: each an inotify instance of sbxd's, gone with its stop
      // (the watches stopped above go once sbxd sees their connections close; it holds
      // no inotify instance of its own)
      await until(() => inotifyFds() === 0, 5000, 'the earlier watches to be let go')
      const base = 0
      const four = []
      for (let i = 0; i < 4; i++) four.push(await sbx.files.watchDir('/tmp', () => {}))
      assert.equal(inotifyFds(), base + 4)
      await assert.rejects(sbx.files.watchDir('/tmp', () => {}), /too many directories watched/)
      for (const w of four) await w.stop()
      await until(() => inotifyFds() === base, 5000, 'the watches to be let go')
      // the watched directory goes: its watch ends, and sbxd serves on
      let ended = false
      await sbx.files.makeDir('/tmp/gone')
      await sbx.files.watchDir('/tmp/gone', () => {}, { onExit: () => (ended = true) })
      await sbx.commands.run('rmdir /tmp/gone')
      await until(() => ended, 5000, 'the watch of a removed directory to end')
      assert.equal((await sbx.commands.run('echo alive')).stdout, 'alive\n')
      await sleep(100)
    })
  },
}
