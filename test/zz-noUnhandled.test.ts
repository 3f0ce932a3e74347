import { suite } from 'uvu'
import * as assert from 'uvu/assert'
import { format } from 'node:util'
import { unhandled } from './support/noUnhandled.js'

// This file sorts last: uvu runs it after every other suite of the run.
const S = suite('no unhandled rejection or uncaught exception in the whole run')

S('the process hooks recorded nothing', async () => {
  // Let rejections of the last suite's leftovers surface (they are reported a tick later).
  await new Promise((resolve) => setTimeout(resolve, 50))
  const events = unhandled()
  assert.is(events.length, 0, events.map((e) => `${e.kind} at ${e.at}: ${format(e.error)}`).join('\n'))
})

S.run()
