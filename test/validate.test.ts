import { test } from 'uvu'
import * as assert from 'uvu/assert'
import * as E from 'fp-ts/lib/Either.js'
import { validateKey, validateTimeout, validateTtl } from '../src/validate.js'

const messageOf = (e: E.Either<{ _tag: string; message?: string }, unknown>): string => {
  if (E.isRight(e) || e.left._tag !== 'InvalidArgument') throw new Error('expected InvalidArgument')
  return e.left.message ?? ''
}

const cases: ReadonlyArray<[string, () => E.Either<any, unknown>, RegExp]> = [
  ['empty key', () => validateKey(''), /key must be a non-empty string, got ""/],
  ['number key', () => validateKey(42), /key .* got 42/],
  ['null key', () => validateKey(null), /key .* got null/],
  ['undefined key', () => validateKey(undefined), /key .* got undefined/],
  ['object key', () => validateKey({}), /key .* got \[object Object\]/],
  ['function key', () => validateKey(() => 1), /key .* got a function/],
  ['lone surrogate key', () => validateKey('a\uD800b'), /well-formed/],
  ['long key is shortened in the message', () => validateKey(42n), /key .* got 42/],
  ['ttl 0', () => validateTtl(0), /ttlMs must be a safe integer of milliseconds above the drift allowance .* got 0/],
  ['ttl 2, within the drift allowance', () => validateTtl(2), /at least 3\), got 2$/],
  ['ttl negative', () => validateTtl(-5), /got -5/],
  ['ttl fractional', () => validateTtl(1.5), /got 1.5/],
  ['ttl NaN', () => validateTtl(NaN), /got NaN/],
  ['ttl Infinity', () => validateTtl(Infinity), /got Infinity/],
  ['ttl string', () => validateTtl('3000'), /got "3000"/],
  ['ttl unsafe', () => validateTtl(2 ** 60), /ttlMs/],
  ['timeout negative', () => validateTimeout(-1), /timeoutMs must be a non-negative safe integer .* got -1/],
  ['timeout NaN', () => validateTimeout(NaN), /got NaN/],
  ['timeout boolean', () => validateTimeout(true), /got true/]
]

for (const [name, run, pattern] of cases) {
  test(`rejects ${name}`, () => {
    assert.match(messageOf(run()), pattern)
  })
}

test('long keys are cut short in messages', () => {
  const msg = messageOf(validateKey(42) as any)
  assert.ok(msg.length < 100)
  const long = 'x'.repeat(1000) + '\uD800'
  assert.ok(messageOf(validateKey(long)).length < 200)
})

test('accepts good values', () => {
  assert.equal(validateKey('jobs:nightly'), E.right('jobs:nightly'))
  assert.equal(validateKey('ключ 🔒'), E.right('ключ 🔒'))
  assert.equal(validateTtl(3), E.right(3))
  assert.equal(validateTimeout(0), E.right(0))
})

test.run()
