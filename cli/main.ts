#!/usr/bin/env node
/**
 * The `leaselock` command: `leaselock run … -- COMMAND` and
 * `leaselock inspect KEY` (see `leaselock --help`).
 *
 * @since 0.3.0
 */
import { readFileSync } from 'node:fs'
import { EXIT, parseCommand, usage } from './args.js'
import { inspectKey } from './inspect.js'
import { runUnderLease } from './run.js'

const say = (line: string): void => {
  process.stderr.write(`${line}\n`)
}
const print = (text: string): void => {
  process.stdout.write(`${text}\n`)
}

const main = async (args: ReadonlyArray<string>): Promise<number> => {
  const command = parseCommand(args)
  if (command._tag === 'Left') {
    say(`leaselock: ${command.left.message}\n(leaselock --help for usage)`)
    return EXIT.usage
  }
  switch (command.right._tag) {
    case 'Help':
      print(usage)
      return 0
    case 'Version': {
      const pkg = JSON.parse(readFileSync(new URL('../../package.json', import.meta.url), 'utf8')) as { version: string }
      print(pkg.version)
      return 0
    }
    case 'Run':
      return runUnderLease(command.right, say)
    case 'Inspect':
      return inspectKey(command.right, print, say)
  }
}

main(process.argv.slice(2)).then(
  (status) => {
    process.exitCode = status
    // Every connection is closed by now; a client that left a handle open must not hold the exit up.
    setTimeout(() => process.exit(status), 2_000).unref()
  },
  (e: unknown) => {
    say(`leaselock: ${e instanceof Error ? (e.stack ?? e.message) : String(e)}`)
    process.exitCode = 1
  }
)
