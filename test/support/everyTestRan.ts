/**
 * Preloaded by `npm test` (`node --import`): fails the run when uvu's summary
 * counts tests that neither passed nor were skipped. uvu swallows an error
 * thrown by a suite's `before` hook — that suite's tests are counted in
 * `Total` but never run, and the run would still exit 0.
 *
 * It also ends a run that its tests' leftovers keep alive (a client left
 * open, reconnecting to a server a suite stopped): 10 s after the summary it
 * names the ports still being connected to and exits with a failure, rather
 * than hang.
 */
import { Socket } from 'node:net'

/** When each port was last connected to, to name a leftover client. */
const lastConnect = new Map<string, number>()
const connect = Socket.prototype.connect
Socket.prototype.connect = function (this: Socket, ...args: Parameters<Socket['connect']>) {
  const first: unknown = Array.isArray(args[0]) ? (args[0] as unknown[])[0] : args[0]
  const port = typeof first === 'object' && first !== null ? (first as { port?: unknown }).port : first
  lastConnect.set(String(port), performance.now())
  return connect.apply(this, args)
} as Socket['connect']

const LINGER_MS = 10_000
const leftovers = (): void => {
  const now = performance.now()
  const ports = [...lastConnect].filter(([, at]) => now - at < LINGER_MS).map(([port]) => port)
  process.stderr.write(`\n  the run was still alive ${LINGER_MS / 1000} s after its summary (connecting to port(s) ${ports.join(', ') || 'none'}): a test left work behind\n`)
  process.exit(1)
}
const summary = { total: -1, passed: -1, skipped: -1 }
const write = process.stdout.write.bind(process.stdout)
const field = (text: string, name: string): number | undefined => {
  const m = new RegExp(`^\\s*${name}:\\s+(\\d+)`, 'm').exec(text)
  return m === null ? undefined : Number(m[1])
}
process.stdout.write = ((chunk: string | Uint8Array, ...rest: never[]) => {
  // eslint-disable-next-line no-control-regex
  const text = String(chunk).replace(/\u001b\[[0-9;]*m/g, '')
  summary.total = field(text, 'Total') ?? summary.total
  summary.passed = field(text, 'Passed') ?? summary.passed
  summary.skipped = field(text, 'Skipped') ?? summary.skipped
  if (field(text, 'Skipped') !== undefined) setTimeout(leftovers, LINGER_MS).unref()
  return write(chunk, ...rest)
}) as typeof process.stdout.write

process.on('exit', () => {
  const missing = summary.total - summary.passed - summary.skipped
  if (summary.total >= 0 && missing > 0 && process.exitCode !== 1) {
    process.stderr.write(`\n  ${missing} test(s) counted but not passed: a failure uvu did not report (a suite's before hook threw?)\n`)
    process.exitCode = 1
  }
})
