/**
 * Records every unhandled promise rejection and uncaught exception of the test
 * process, from the moment the first test file imports this module (uvu imports
 * every file before it runs any suite, so the hooks cover the whole run).
 *
 * `test/zz-noUnhandled.test.ts`, which sorts last, fails when anything was
 * recorded; whatever happens after it ran (or if it never ran) still fails the
 * process through its exit code. Each event is printed when it happens, so the
 * test that caused it can be found in the output.
 */
import { format } from 'node:util'

/** One unhandled event, with what the process said about it. */
export interface Unhandled {
  readonly kind: 'unhandledRejection' | 'uncaughtException'
  readonly error: unknown
  readonly at: string
}

interface Recorder {
  readonly events: Array<Unhandled>
}

const KEY = Symbol.for('leaselock.test.noUnhandled')

const install = (): Recorder => {
  const recorder: Recorder = { events: [] }
  const record = (kind: Unhandled['kind']) => (error: unknown) => {
    recorder.events.push({ kind, error, at: new Date().toISOString() })
    console.error(`\n[noUnhandled] ${kind}: ${format(error)}`)
  }
  process.on('unhandledRejection', record('unhandledRejection'))
  process.on('uncaughtException', record('uncaughtException'))
  process.on('exit', () => {
    if (recorder.events.length === 0) return
    console.error(`[noUnhandled] ${recorder.events.length} unhandled rejection(s) or exception(s) during the tests`)
    process.exitCode = 1
  })
  return recorder
}

const registry = globalThis as typeof globalThis & { [KEY]?: Recorder }
const recorder: Recorder = (registry[KEY] ??= install())

/** Everything recorded so far. */
export const unhandled = (): ReadonlyArray<Unhandled> => recorder.events
