import * as TE from 'fp-ts/lib/TaskEither.js'
import type { LockError } from '../../src/LockError.js'
import type { Store } from '../../src/Store.js'

/** A store wrapper that counts calls and can be told to fail or stall the next calls. */
export interface Instrumentation {
  readonly calls: { acquire: number; release: number; extend: number }
  /** Each operation named here fails with this error instead of reaching the store. */
  failing: Partial<Record<'acquire' | 'release' | 'extend', LockError>>
  /** Each `acquire` waits for this promise before it reaches the store. */
  gate: Promise<void> | undefined
}

export type InstrumentedStore<S extends Store = Store> = S & Instrumentation

export const instrument = <S extends Store>(store: S): InstrumentedStore<S> => {
  const self: InstrumentedStore<S> = {
    ...store,
    calls: { acquire: 0, release: 0, extend: 0 },
    failing: {},
    gate: undefined,
    acquire: (key, token, ttlMs) => () => {
      self.calls.acquire++
      const failure = self.failing.acquire
      if (failure !== undefined) return TE.left(failure)()
      return (self.gate ?? Promise.resolve()).then(() => store.acquire(key, token, ttlMs)())
    },
    release: (held) => () => {
      self.calls.release++
      const failure = self.failing.release
      return failure !== undefined ? TE.left(failure)() : store.release(held)()
    },
    extend: (held, ttlMs) => () => {
      self.calls.extend++
      const failure = self.failing.extend
      return failure !== undefined ? TE.left(failure)() : store.extend(held, ttlMs)()
    }
  }
  return self
}
