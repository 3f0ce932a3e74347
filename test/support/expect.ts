import { LockException } from '../../src/LockError.js'

/** The LockException a call throws (synchronously or as a rejection); fails the test if it throws nothing or something else. */
export const thrown = async (f: () => unknown): Promise<LockException> => {
  try {
    await f()
  } catch (e) {
    if (e instanceof LockException) return e
    throw new Error(`expected a LockException, got ${String(e)}`)
  }
  throw new Error('expected a LockException, nothing was thrown')
}

/** Waits `ms` of real time. */
export const sleep = (ms: number): Promise<void> => new Promise((resolve) => setTimeout(resolve, ms))
