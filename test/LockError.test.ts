import { test } from 'uvu'
import * as assert from 'uvu/assert'
import {
  LockError,
  LockException,
  aborted,
  code,
  configError,
  connectFailed,
  driverFailure,
  invalidArgument,
  message,
  noConnection,
  notHeld,
  notOpened,
  timeout
} from '../src/LockError.js'

const table: ReadonlyArray<[LockError, string, RegExp]> = [
  [invalidArgument('ttlMs bad'), 'INVALID_ARGUMENT', /^ttlMs bad$/],
  [timeout('lock_2', 3, 1_250.4), 'LOCK_TIMEOUT', /^Acquiring lock lock_2 failed on timeout \(3 attempts in 1250 ms\)$/],
  [notHeld('k'), 'NOT_HELD', /Lock k is not held/],
  [driverFailure('k', new Error('ECONNRESET'), true), 'DRIVER_FAILURE', /k: outcome unknown: ECONNRESET/],
  [driverFailure('k', 'refused', false), 'DRIVER_FAILURE', /k: request failed: refused/],
  [driverFailure('k', { errno: 1 }, false), 'DRIVER_FAILURE', /\{"errno":1\}/],
  [aborted('k', new Error('shutdown')), 'ABORTED', /aborted: shutdown/],
  [notOpened, 'NOT_OPENED', /^Connection is not opened$/],
  [noConnection, 'NO_CONNECTION', /^Connection is not configured$/],
  [connectFailed('127.0.0.1:6379', new Error('ECONNREFUSED')), 'CONNECT_FAILED', /^Cannot connect to 127.0.0.1:6379: ECONNREFUSED$/],
  [configError(['a: bad', 'b: worse']), 'INVALID_CONFIG', /a: bad; b: worse/]
]

for (const [error, expectedCode, pattern] of table) {
  test(`${error._tag} has code ${expectedCode} and a clear message`, () => {
    assert.is(code(error), expectedCode)
    assert.match(message(error), pattern)
    const thrown = new LockException(error, 'trace-1')
    assert.instance(thrown, Error)
    assert.is(thrown.code, expectedCode)
    assert.is(thrown.traceId, 'trace-1')
    assert.is(thrown.error, error)
    assert.is(thrown.message, message(error))
  })
}

test('a driver failure keeps its cause on the thrown error', () => {
  const cause = new Error('socket closed')
  assert.is(new LockException(driverFailure('k', cause, true)).cause, cause)
  assert.is(new LockException(notOpened).traceId, undefined)
})

test.run()
