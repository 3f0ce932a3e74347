/** A bench `Results` with nothing measured, for report tests to fill in what they check. */
import { parseSettings } from '../../bench/args.js'
import { Results, definitions } from '../../bench/report.js'

export const emptyResults = (over: Partial<Results> = {}): Results => ({
  generatedAt: '2026-01-02T03:04:05.000Z',
  settings: parseSettings([]) as Exclude<ReturnType<typeof parseSettings>, 'help'>,
  machine: { cores: 2 },
  servers: { notes: [], versions: {} },
  libraries: {},
  contestants: [],
  latency: {},
  throughput: {},
  contention: {},
  definitions,
  ...over
})
