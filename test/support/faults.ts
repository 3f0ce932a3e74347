/**
 * Helpers shared by the fault suites of both backends (a real server killed,
 * frozen, restarted): deadlines, timing, and what a failure must look like.
 */
import * as assert from 'uvu/assert'
import * as E from 'fp-ts/lib/Either.js'
import { LockError, message } from '../../src/LockError.js'
import { sleep } from './expect.js'

// Deadlines of these tests; the bounds asserted are deadline + SLACK (correctness, not speed).
export const COMMAND_MS = 500
export const CONNECT_MS = 1000
export const SLACK = 300

/** Runs `f`, answering its result and how long it took. */
export const timed = async <A>(f: () => Promise<A>): Promise<[A, number]> => {
  const t0 = performance.now()
  const a = await f()
  return [a, performance.now() - t0]
}

export const right = <A>(e: E.Either<LockError, A>, what: string): A => {
  if (E.isLeft(e)) throw new Error(`${what} failed: ${message(e.left)}`)
  return e.right
}

/** Asserts a DriverFailure, indeterminate or not as given (any when `undefined`). */
export const driverFailed = (r: E.Either<LockError, unknown>, what: string, indeterminate?: boolean): LockError => {
  assert.ok(E.isLeft(r), `${what}: expected a failure, got ${JSON.stringify(r, (_, v) => (typeof v === 'bigint' ? String(v) : v))}`)
  const e = r.left
  assert.is(e._tag, 'DriverFailure', `${what}: ${message(e)}`)
  if (indeterminate !== undefined) assert.is(e._tag === 'DriverFailure' && e.indeterminate, indeterminate, `${what}: indeterminate`)
  return e
}

/** Retries `f` every 50 ms until it answers a Right, for at most `ms`; answers how long that took. */
export const until = async <A>(ms: number, f: () => Promise<E.Either<unknown, A>>): Promise<[A, number]> => {
  const t0 = performance.now()
  for (;;) {
    const r = await f()
    if (E.isRight(r)) return [r.right, performance.now() - t0]
    if (performance.now() - t0 > ms) throw new Error(`still failing after ${ms} ms: ${JSON.stringify(r.left)}`)
    await sleep(50)
  }
}

/** SIGSTOP, and a moment for the signal to stop every thread of the server before anything is sent. */
export const freeze = async (s: { readonly pause: () => void }): Promise<void> => {
  s.pause()
  await sleep(50)
}
