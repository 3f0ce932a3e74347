/**
 * An adversarial model of clients and a server: memory-store clients with
 * settings of their own over shared data, on a discrete-event clock, where
 * every request and reply can be delayed (reordering them), a request lost
 * before it ran, a reply lost after it ran, a request run twice, and every
 * handover notification delayed, lost or delivered twice. All choices come
 * from a tape of integers that fast-check generates and shrinks (an empty
 * tape is a perfect network).
 */
import * as E from 'fp-ts/lib/Either.js'
import type * as TE from 'fp-ts/lib/TaskEither.js'
import { ManualClock } from '../../src/Clock.js'
import { LockError, driverFailure } from '../../src/LockError.js'
import type { Store, WaitQueue } from '../../src/Store.js'
import { MemoryStore, memoryStore } from '../../adapters/memory.js'

/** Integers in [0, max] read off a tape; 0 once it runs out. */
export interface Tape {
  readonly next: (max: number) => number
}

export const tapeOf = (values: ReadonlyArray<number>): Tape => {
  let i = 0
  return { next: (max) => (i < values.length ? values[i++]! % (max + 1) : 0) }
}

/** What the adversary did, summed over runs: each kind must happen for the property to mean something. */
export interface Faults {
  lostRequests: number
  lostReplies: number
  duplicates: number
  stalls: number
  lostNotifications: number
  lateNotifications: number
  repeatedNotifications: number
}

export const noFaults = (): Faults => ({
  lostRequests: 0,
  lostReplies: 0,
  duplicates: 0,
  stalls: 0,
  lostNotifications: 0,
  lateNotifications: 0,
  repeatedNotifications: 0
})

/** How long a lost request or reply takes to be reported (the driver's deadline). */
const DEADLINE_MS = 300

/** A delay: mostly short, sometimes a stall longer than most claim TTLs. */
const delay = (tape: Tape, faults: Faults): number => {
  if (tape.next(7) !== 7) return tape.next(20)
  faults.stalls++
  return 100 + tape.next(1_200)
}

/** A clock where time moves only when every process waits: the next timer fires. */
export const simulation = () => {
  const clock = new ManualClock()
  const idle = (): Promise<void> => new Promise((resolve) => setImmediate(resolve))
  /** Runs until `done` settles (or time passes `limit`), firing timers one by one. */
  const run = async <A>(done: Promise<A>, limit = 1_000_000): Promise<A> => {
    let settled = false
    void done.then(
      () => (settled = true),
      () => (settled = true)
    )
    for (;;) {
      await idle()
      await idle()
      if (settled) return done
      if (clock.now() > limit) throw new Error(`the simulation ran past ${limit} ms`)
      // Nothing due: give work still in flight a few more turns before calling it stalled.
      for (let i = 0; i < 20 && !settled && clock.pending() === 0; i++) await idle()
      if (settled) return done
      if (!clock.advanceToNext()) throw new Error(`the simulation stalled at ${clock.now()} with nothing scheduled`)
    }
  }
  /** Fires every timer left (after the processes finished). */
  const drain = async (): Promise<void> => {
    await idle()
    while (clock.advanceToNext()) await idle()
  }
  /** Runs `work` while a monitor calls `check` at every millisecond that something happens, then fires every timer left. */
  const monitored = async (work: Promise<unknown>, check: () => void): Promise<void> => {
    let running = true
    const monitor = (async () => {
      while (running) {
        check()
        await clock.sleep(1)
      }
    })()
    await run(work)
    running = false
    await run(monitor)
    await drain()
  }
  return { clock, run, drain, monitored }
}

/**
 * The adversary between a client and the model server: `through(key, token,
 * exec)` runs a request (`exec`) as a hostile network would deliver it.
 */
export const hostileCalls =
  (
    clock: ManualClock,
    tape: Tape,
    faults: Faults,
    /** Called with every token that a fault touched (its leftovers are explained). */
    faulted: (token: string) => void = () => undefined
  ) =>
  <A>(key: string, token: string, exec: () => TE.TaskEither<LockError, A>): TE.TaskEither<LockError, A> =>
  async () => {
    await clock.sleep(delay(tape, faults))
    const fault = tape.next(19)
    if (fault === 16) {
      faults.lostRequests++
      faulted(token)
      await clock.sleep(DEADLINE_MS)
      return E.left(driverFailure(key, new Error('request lost'), true))
    }
    const reply = await exec()()
    if (fault === 18) {
      faults.duplicates++
      faulted(token)
      void clock.sleep(delay(tape, faults)).then(exec())
    }
    await clock.sleep(delay(tape, faults))
    if (fault === 17) {
      faults.lostReplies++
      faulted(token)
      await clock.sleep(DEADLINE_MS)
      return E.left(driverFailure(key, new Error('reply lost'), true))
    }
    return reply
  }

/** One client's connection to the model server: its store with the adversary in the way. */
export const hostileStore = (
  base: MemoryStore,
  clock: ManualClock,
  tape: Tape,
  faults: Faults,
  /** Called with every token that a fault touched (its leftovers are explained). */
  faulted: (token: string) => void = () => undefined
): Store => {
  const through = hostileCalls(clock, tape, faults, faulted)
  const queue: WaitQueue | undefined =
    base.queue === undefined
      ? undefined
      : {
          acquireOrEnqueue: (key, token, ttl, wait) => through(key, token, () => base.queue!.acquireOrEnqueue(key, token, ttl, wait)),
          awaitHandoff: base.queue.awaitHandoff,
          poll: (key, token, ttl, wait) => through(key, token, () => base.queue!.poll(key, token, ttl, wait)),
          leave: (key, token) => through(key, token, () => base.queue!.leave(key, token))
        }
  return {
    name: base.name,
    checkKey: base.checkKey,
    checkTtl: base.checkTtl,
    acquire: (key, token, ttl) => through(key, token, () => base.acquire(key, token, ttl)),
    release: (held) => through(held.key, held.token, () => base.release(held)),
    extend: (held, ttl) => through(held.key, held.token, () => base.extend(held, ttl)),
    ...(queue === undefined ? {} : { queue })
  }
}

/** A notification path that delays (often past a claim TTL), drops or repeats what it carries. */
export const hostileDelivery =
  (clock: ManualClock, tape: Tape, faults: Faults) =>
  (notify: () => void): void => {
    const fate = tape.next(5)
    if (fate === 1) {
      faults.lostNotifications++
      return
    }
    const wait = fate >= 4 ? 20 + tape.next(1_500) : tape.next(20)
    if (wait > 100) faults.lateNotifications++
    void clock.sleep(wait).then(notify)
    if (fate === 2) {
      faults.repeatedNotifications++
      void clock.sleep(tape.next(1_500)).then(notify)
    }
  }

/** The server's data with a client per process, each with its own claim TTL and notification path. */
export const modelServer = (clock: ManualClock): MemoryStore => memoryStore({ clock })
