import { execFile } from 'node:child_process'
import { promisify } from 'node:util'

const run = promisify(execFile)

/**
 * Runs one command on 127.0.0.1:`port` with `redis-cli --json` and answers the
 * parsed reply (the tests' control channel to the deployments: independent of
 * the client under test); redis-cli prints some bulk strings (`INFO`) as plain
 * text, answered as a string. Rejects on an error reply (redis-cli prints it
 * and exits 0), when redis-cli fails, or after 5 s.
 */
export const cli = async (port: number, ...args: ReadonlyArray<string>): Promise<unknown> => {
  const { stdout } = await run('redis-cli', ['-2', '-h', '127.0.0.1', '-p', String(port), '--json', ...args], { timeout: 5_000 })
  const text = stdout.trim()
  if (text === '') return null
  try {
    return JSON.parse(text) as unknown
  } catch {
    if (/^(error:")?[A-Z]+ /.test(text) && !text.includes('\n')) throw new Error(`${args.join(' ')} on ${port}: ${text}`)
    return text
  }
}

/** Runs `redis-cli` with raw arguments (e.g. `--cluster create …`) and answers its output. */
export const cliRaw = async (args: ReadonlyArray<string>, timeoutMs = 30_000): Promise<string> => {
  const { stdout, stderr } = await run('redis-cli', args, { timeout: timeoutMs })
  return `${stdout}${stderr}`
}

/** `INFO <section>` as a map of its `field:value` lines. */
export const info = async (port: number, section: string): Promise<ReadonlyMap<string, string>> => {
  const text = String(await cli(port, 'INFO', section))
  return new Map(
    text
      .split(/\r?\n/)
      .filter((line) => line.includes(':') && !line.startsWith('#'))
      .map((line) => [line.slice(0, line.indexOf(':')), line.slice(line.indexOf(':') + 1)] as const)
  )
}

const sleep = (ms: number): Promise<void> => new Promise((resolve) => setTimeout(resolve, ms))

/** Polls `check` every `everyMs` until it answers true (errors count as false), or throws after `timeoutMs` naming `what`. */
export const eventually = async (what: string, check: () => Promise<boolean>, timeoutMs: number, everyMs = 100): Promise<number> => {
  const t0 = performance.now()
  let last: unknown
  for (;;) {
    try {
      if (await check()) return performance.now() - t0
    } catch (e) {
      last = e
    }
    if (performance.now() - t0 > timeoutMs) throw new Error(`${what}: not reached within ${timeoutMs} ms${last === undefined ? '' : ` (last error: ${String(last)})`}`)
    await sleep(everyMs)
  }
}

/** How often each command ran on a server since it started (`INFO commandstats`, scripts' own calls included), by lower-case name. */
export const commandCalls = async (port: number): Promise<ReadonlyMap<string, number>> => {
  const text = String(await cli(port, 'INFO', 'commandstats'))
  return new Map([...text.matchAll(/cmdstat_([a-z|_-]+):calls=(\d+)/g)].map((m) => [m[1]!, Number(m[2])] as const))
}
