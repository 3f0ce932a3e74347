/**
 * Preloaded by `npm test` (`node --import`): fails the run when uvu's summary
 * counts tests that neither passed nor were skipped. uvu swallows an error
 * thrown by a suite's `before` hook — that suite's tests are counted in
 * `Total` but never run, and the run would still exit 0.
 */
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
  return write(chunk, ...rest)
}) as typeof process.stdout.write

process.on('exit', () => {
  const missing = summary.total - summary.passed - summary.skipped
  if (summary.total >= 0 && missing > 0 && process.exitCode !== 1) {
    process.stderr.write(`\n  ${missing} test(s) counted but not passed: a failure uvu did not report (a suite's before hook threw?)\n`)
    process.exitCode = 1
  }
})
