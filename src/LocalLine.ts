/**
 * The waiters of one lock for one key, in arrival order: only the first of
 * them waits in the store's queue, the others wait their turn in memory. A
 * process with many waiters on a key thus holds one place in the shared
 * queue, sends one waiter's requests, and hands its turn on in arrival order.
 *
 * @since 0.2.0
 */
import { Clock, cancellableSleep } from './Clock.js'

/**
 * A waiter's turn: `done()` passes it on to the next waiter of the line (call
 * it once, when the waiter got its lease or gave up).
 *
 * @example
 * import { Turn } from 'leaselock'
 * const finish = (turn: Turn) => turn.done()
 *
 * @since 0.2.0
 */
export interface Turn {
  readonly done: () => void
}

/**
 * `enter(key, until, signal)` resolves with the waiter's turn once every
 * waiter that entered the line of `key` before it is done, or with
 * `undefined` if the clock reaches `until` or `signal` aborts first (the
 * waiter then leaves the line without a trace).
 *
 * @example
 * import { makeLocalLines, ManualClock } from 'leaselock'
 * const lines = makeLocalLines(new ManualClock())
 * const first = await lines.enter('k', 1_000)
 * const second = lines.enter('k', 1_000)
 * first?.done()
 * assert.ok((await second) !== undefined)
 *
 * @since 0.2.0
 */
export interface LocalLines {
  readonly enter: (key: string, until: number, signal?: AbortSignal) => Promise<Turn | undefined>
}

interface Place {
  /** Set once the place's turn came. */
  turn?: () => void
}

/**
 * Lines that wait on `clock`; a line is forgotten when its last waiter is done.
 *
 * @example
 * import { makeLocalLines, realClock } from 'leaselock'
 * const lines = makeLocalLines(realClock)
 * const turn = await lines.enter('k', performance.now() + 1_000)
 * turn?.done()
 *
 * @since 0.2.0
 */
export const makeLocalLines = (clock: Clock): LocalLines => {
  const lines = new Map<string, Array<Place>>()

  const leave = (key: string, place: Place): void => {
    const line = lines.get(key)
    if (line === undefined) return
    const at = line.indexOf(place)
    if (at < 0) return
    line.splice(at, 1)
    if (line.length === 0) lines.delete(key)
    else if (at === 0) line[0]!.turn?.()
  }

  const turnOf = (key: string, place: Place): Turn => {
    let passed = false
    return {
      done: () => {
        if (passed) return
        passed = true
        leave(key, place)
      }
    }
  }

  return {
    enter: async (key, until, signal) => {
      const place: Place = {}
      const line = lines.get(key)
      if (line === undefined) {
        lines.set(key, [place])
        return turnOf(key, place)
      }
      line.push(place)
      const came = new Promise<boolean>((resolve) => (place.turn = () => resolve(true)))
      const nap = cancellableSleep(clock, until - clock.now(), signal)
      const ours = await Promise.race([came, nap.done.then(() => false)])
      nap.cancel()
      if (ours) return turnOf(key, place)
      leave(key, place)
      return undefined
    }
  }
}
