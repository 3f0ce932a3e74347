/**
 * Calls a component's `close` must wait for.
 *
 * @since 0.4.0
 */

/**
 * Runs `run` and keeps its settlement (never rejecting) in `inFlight` until it
 * settles, so that `close` can wait for every call under way; answers `run`'s
 * own promise.
 *
 * @example
 * import { track } from 'leaselock'
 * const inFlight = new Set<Promise<void>>()
 * const answer = track(inFlight, async () => 42)
 * assert.strictEqual(inFlight.size, 1)
 * assert.strictEqual(await answer, 42)
 *
 * @since 0.4.0
 */
export const track = <A>(inFlight: Set<Promise<void>>, run: () => Promise<A>): Promise<A> => {
  const running = run()
  const settled = running.then(
    () => undefined,
    () => undefined
  )
  inFlight.add(settled)
  void settled.then(() => inFlight.delete(settled))
  return running
}
