/** Counting the TCP connections a test's code starts. */
import { Socket } from 'node:net'

/** The port a `Socket#connect` call targets (its arguments come normalized as `[options, callback]` from `net.connect`). */
const portOf = (args: ReadonlyArray<unknown>): number | undefined => {
  const first = Array.isArray(args[0]) ? (args[0] as unknown[])[0] : args[0]
  const port = typeof first === 'object' && first !== null ? (first as { port?: unknown }).port : first
  return port === undefined ? undefined : Number(port)
}

/**
 * Counts the TCP connections this process starts to `port` while `run` runs
 * (to any port when none is given: clients of other tests may still be
 * reconnecting in the background, so name the port whenever you can).
 */
export const connectsDuring = async <A>(run: () => Promise<A>, port?: number): Promise<{ result: A; connects: number }> => {
  const original = Socket.prototype.connect
  let connects = 0
  Socket.prototype.connect = function (this: Socket, ...args: Parameters<Socket['connect']>) {
    if (port === undefined || portOf(args) === port) connects++
    return original.apply(this, args)
  } as Socket['connect']
  try {
    return { result: await run(), connects }
  } finally {
    Socket.prototype.connect = original
  }
}
