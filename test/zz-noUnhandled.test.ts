import { suite } from 'uvu'
import * as assert from 'uvu/assert'
import { spawnSync } from 'node:child_process'
import { format } from 'node:util'
import { unhandled } from './support/noUnhandled.js'

// This file sorts last: uvu runs it after every other suite of the run.
const S = suite('no unhandled rejection or uncaught exception in the whole run')

const HOOK = new URL(`./support/noUnhandled${import.meta.url.endsWith('.ts') ? '.ts' : '.js'}`, import.meta.url).href

S('the hooks catch what they are for: a process with a stray rejection and a stray throw exits 1, naming both', () => {
  const script = `await import(${JSON.stringify(HOOK)}); Promise.reject(new Error('stray rejection')); setTimeout(() => { throw new Error('stray throw') }, 10)`
  const child = spawnSync(process.execPath, [...process.execArgv, '--input-type=module', '-e', script], { encoding: 'utf8', timeout: 10_000 })
  assert.is(child.status, 1, child.stderr)
  assert.match(child.stderr, 'unhandledRejection: Error: stray rejection')
  assert.match(child.stderr, 'uncaughtException: Error: stray throw')
  assert.match(child.stderr, '2 unhandled rejection(s) or exception(s) during the tests')
})

S('the process hooks recorded nothing during this run', async () => {
  // Let rejections of the last suite's leftovers surface (they are reported a tick later).
  await new Promise((resolve) => setTimeout(resolve, 50))
  const events = unhandled()
  assert.is(events.length, 0, events.map((e) => `${e.kind} at ${e.at}: ${format(e.error)}`).join('\n'))
})

S.run()
