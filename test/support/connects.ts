/** Counting the TCP connections a test's code starts. */
import { Socket } from 'node:net'

/** Counts the TCP connections this process starts while `run` runs. */
export const connectsDuring = async <A>(run: () => Promise<A>): Promise<{ result: A; connects: number }> => {
  const original = Socket.prototype.connect
  let connects = 0
  Socket.prototype.connect = function (this: Socket, ...args: Parameters<Socket['connect']>) {
    connects++
    return original.apply(this, args)
  } as Socket['connect']
  try {
    return { result: await run(), connects }
  } finally {
    Socket.prototype.connect = original
  }
}
