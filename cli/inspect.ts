/**
 * `leaselock inspect`: what the store tells about a key, as text or JSON.
 *
 * @since 0.3.0
 */
import * as E from 'fp-ts/lib/Either.js'
import { inspect, inspectionJson, showInspection } from '../src/Inspection.js'
import { message } from '../src/LockError.js'
import { EXIT, Inspect } from './args.js'
import { openStore } from './backend.js'

/**
 * Prints the inspection of `command.key` with `print` (stdout) and answers the
 * exit status: 0, or `EXIT.usage` for a key the backend refuses, or
 * `EXIT.unavailable` when the server cannot be reached or fails; `say` prints
 * why (stderr).
 *
 * @example
 * import { inspectKey } from './inspect.js'
 * const status = await inspectKey({ _tag: 'Inspect', backend: { _tag: 'Redis', url: 'redis://127.0.0.1:6379' }, key: 'nightly', json: true, connectTimeoutMs: 2_000 }, console.log, console.error)
 *
 * @since 0.3.0
 */
export const inspectKey = async (command: Inspect, print: (text: string) => void, say: (line: string) => void): Promise<number> => {
  const opened = await openStore(command.backend, command.connectTimeoutMs)
  if (E.isLeft(opened)) {
    say(`leaselock: ${message(opened.left)}`)
    return opened.left._tag === 'ConfigError' ? EXIT.usage : EXIT.unavailable
  }
  try {
    const seen = await inspect(opened.right.store, command.key)()
    if (E.isRight(seen)) {
      print(command.json ? JSON.stringify(inspectionJson(seen.right)) : showInspection(seen.right))
      return 0
    }
    const e = seen.left
    say(`leaselock: ${e._tag === 'Unsupported' ? e.why : message(e)}`)
    return e._tag === 'InvalidArgument' ? EXIT.usage : EXIT.unavailable
  } finally {
    await opened.right.close()
  }
}
