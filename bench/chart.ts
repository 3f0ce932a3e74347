/**
 * A hand-written SVG of the results (pure): horizontal bar charts of
 * uncontended latency (p50 and p99), throughput, and contention busy %.
 *
 * @since 0.1.0
 */
import { runMedians, runRatios } from './handoff.js'
import type { Results } from './report.js'

/**
 * One bar chart: a row per category, a bar per series in each row.
 *
 * @since 0.1.0
 */
export interface Panel {
  readonly title: string
  readonly axis: string
  readonly series: ReadonlyArray<{ readonly name: string; readonly color: string }>
  readonly rows: ReadonlyArray<{ readonly label: string; readonly values: ReadonlyArray<number>; readonly note?: string }>
  /** Fixed axis maximum (e.g. 100 for percentages); otherwise from the data. */
  readonly max?: number
  /** A logarithmic axis (powers of ten) for values spanning several orders of magnitude. */
  readonly log?: boolean
  /** A dashed reference line, e.g. a target. */
  readonly marker?: { readonly value: number; readonly label: string }
  /** Formats a bar's value label. */
  readonly format: (x: number) => string
}

const escape = (s: string): string => s.replace(/&/g, '&amp;').replace(/</g, '&lt;').replace(/>/g, '&gt;').replace(/"/g, '&quot;')

/**
 * A "nice" tick step (1, 2 or 5 × 10^k) giving about `ticks` intervals up to `max`.
 *
 * @example
 * import { niceStep } from './chart.js'
 * assert.strictEqual(niceStep(230, 5), 50)
 *
 * @since 0.1.0
 */
export const niceStep = (max: number, ticks: number): number => {
  if (!(max > 0)) return 1
  const raw = max / ticks
  const magnitude = Math.pow(10, Math.floor(Math.log10(raw)))
  const m = raw / magnitude
  return (m <= 1 ? 1 : m <= 2 ? 2 : m <= 5 ? 5 : 10) * magnitude
}

const WIDTH = 980
const LEFT = 250
const RIGHT = 140
const BAR = 14
const GAP = 12

const tickLabel = (x: number): string => (x >= 1e6 ? `${x / 1e6}M` : x >= 1e4 ? `${x / 1e3}k` : String(Number(x.toPrecision(6))))

interface Axis {
  readonly max: number
  readonly ticks: ReadonlyArray<number>
  /** Where a value sits along the axis, 0 to 1 (clamped). */
  readonly position: (v: number) => number
}

const clamp01 = (x: number): number => Math.min(Math.max(x, 0), 1)

const linearAxis = (dataMax: number): Axis => {
  const step = niceStep(dataMax, 5)
  const max = Math.max(step, Math.ceil(dataMax / step - 1e-9) * step)
  return {
    max,
    ticks: Array.from({ length: Math.round(max / step) + 1 }, (_, i) => i * step),
    position: (v) => clamp01(v / max)
  }
}

const logAxis = (values: ReadonlyArray<number>): Axis => {
  const lo = Math.floor(Math.log10(Math.min(...values, 1)))
  const hi = Math.max(lo + 1, Math.ceil(Math.log10(Math.max(...values, 10))))
  return {
    max: Math.pow(10, hi),
    ticks: Array.from({ length: hi - lo + 1 }, (_, i) => Math.pow(10, lo + i)),
    position: (v) => (v > 0 ? clamp01((Math.log10(v) - lo) / (hi - lo)) : 0)
  }
}

/** Renders one panel at vertical offset `top`; returns its SVG and height. */
const panel = (p: Panel, top: number): { svg: string; height: number } => {
  const plotWidth = WIDTH - LEFT - RIGHT
  const finite = p.rows.flatMap((r) => r.values.filter((v) => Number.isFinite(v) && (p.log !== true || v > 0)))
  const dataMax = Math.max(p.marker?.value ?? 0, ...finite, 0)
  const axis = p.log === true ? logAxis(finite) : linearAxis(p.max ?? dataMax)
  const x = (v: number): number => LEFT + axis.position(v) * plotWidth
  const axisMax = axis.max
  const rowHeight = p.series.length * BAR + GAP
  const legendY = top + 44
  const plotTop = top + 62
  const plotHeight = Math.max(p.rows.length, 1) * rowHeight
  const out: string[] = []
  out.push(`<text x="${LEFT}" y="${top + 22}" class="title">${escape(p.title)}</text>`)
  p.series.forEach((s, i) => {
    const lx = LEFT + i * 150
    out.push(`<rect x="${lx}" y="${legendY - 10}" width="12" height="12" fill="${s.color}"/>`)
    out.push(`<text x="${lx + 18}" y="${legendY}" class="legend">${escape(s.name)}</text>`)
  })
  for (const t of axis.ticks) {
    out.push(`<line x1="${x(t)}" y1="${plotTop}" x2="${x(t)}" y2="${plotTop + plotHeight}" class="grid"/>`)
    out.push(`<text x="${x(t)}" y="${plotTop + plotHeight + 16}" class="tick" text-anchor="middle">${tickLabel(t)}</text>`)
  }
  out.push(`<line x1="${LEFT}" y1="${plotTop}" x2="${LEFT}" y2="${plotTop + plotHeight}" class="axis"/>`)
  out.push(`<line x1="${LEFT}" y1="${plotTop + plotHeight}" x2="${LEFT + plotWidth}" y2="${plotTop + plotHeight}" class="axis"/>`)
  out.push(
    `<text x="${LEFT + plotWidth / 2}" y="${plotTop + plotHeight + 36}" class="axislabel" text-anchor="middle">${escape(p.axis)}</text>`
  )
  p.rows.forEach((row, r) => {
    const y0 = plotTop + r * rowHeight + GAP / 2
    out.push(
      `<text x="${LEFT - 8}" y="${y0 + (p.series.length * BAR) / 2 + 4}" class="label" text-anchor="end">${escape(row.label)}</text>`
    )
    row.values.forEach((v, i) => {
      const y = y0 + i * BAR
      const color = p.series[i]?.color ?? '#888'
      if (!Number.isFinite(v)) {
        out.push(`<text x="${LEFT + 4}" y="${y + BAR - 3}" class="value">not measured</text>`)
        return
      }
      const w = Math.max(x(v) - LEFT, 1)
      out.push(`<rect x="${LEFT}" y="${y + 1}" width="${w.toFixed(1)}" height="${BAR - 2}" fill="${color}"/>`)
      const clipped = v > axisMax ? ' (off scale)' : ''
      out.push(`<text x="${(LEFT + w + 4).toFixed(1)}" y="${y + BAR - 3}" class="value">${escape(p.format(v) + clipped)}</text>`)
    })
    if (row.note !== undefined)
      out.push(`<text x="${LEFT + plotWidth + 8}" y="${y0 + (p.series.length * BAR) / 2 + 4}" class="note">${escape(row.note)}</text>`)
  })
  if (p.marker !== undefined) {
    const mx = x(p.marker.value)
    out.push(`<line x1="${mx}" y1="${plotTop - 4}" x2="${mx}" y2="${plotTop + plotHeight}" class="marker"/>`)
    out.push(`<text x="${mx + 4}" y="${plotTop - 6}" class="markerlabel">${escape(p.marker.label)}</text>`)
  }
  return { svg: out.join('\n'), height: plotTop - top + plotHeight + 56 }
}

/**
 * Stacks panels into one standalone SVG document under a title.
 *
 * @example
 * import { svg } from './chart.js'
 * assert.ok(svg('t', []).startsWith('<svg'))
 *
 * @since 0.1.0
 */
export const svg = (title: string, panels: ReadonlyArray<Panel>): string => {
  let top = 40
  const parts: string[] = []
  for (const p of panels) {
    const { svg: s, height } = panel(p, top)
    parts.push(s)
    top += height
  }
  return [
    `<svg xmlns="http://www.w3.org/2000/svg" width="${WIDTH}" height="${top}" viewBox="0 0 ${WIDTH} ${top}" font-family="Helvetica, Arial, sans-serif">`,
    '<style>',
    '.title{font-size:15px;font-weight:bold;fill:#222}.legend,.label{font-size:12px;fill:#222}',
    '.tick,.value,.note{font-size:11px;fill:#444}.axislabel{font-size:12px;fill:#222}',
    '.grid{stroke:#e4e4e4;stroke-width:1}.axis{stroke:#555;stroke-width:1}',
    '.marker{stroke:#c0392b;stroke-width:1.5;stroke-dasharray:5,4}.markerlabel{font-size:11px;fill:#c0392b}',
    '</style>',
    `<rect width="${WIDTH}" height="${top}" fill="#fff"/>`,
    `<text x="${WIDTH / 2}" y="24" text-anchor="middle" style="font-size:17px;font-weight:bold;fill:#111">${escape(title)}</text>`,
    ...parts,
    '</svg>',
    ''
  ].join('\n')
}

const usFormat = (x: number): string => (x >= 100 ? `${Math.round(x)} µs` : `${x.toFixed(1)} µs`)

/**
 * The chart of a run: latency p50/p99, throughput, contention busy % with the 80% target, the handoff against the ring floor, and calls to a dead server.
 *
 * @example
 * import { resultsChart } from './chart.js'
 * // writeFileSync('bench.svg', resultsChart(results))
 *
 * @since 0.1.0
 */
export const resultsChart = (r: Results): string => {
  const label = (id: string): string => {
    const e = r.contestants.find((c) => c.id === id)
    return e === undefined ? id : `${e.label}${e.kind === 'ours' ? ' (ours)' : e.kind === 'floor' ? ' (floor)' : ''}`
  }
  const ids = (o: Readonly<Record<string, unknown>>): string[] => r.contestants.map((c) => c.id).filter((id) => id in o)
  const panels: Panel[] = []
  const latency = ids(r.latency)
  if (latency.length > 0)
    panels.push({
      title: 'Uncontended acquire + release latency (lower is better)',
      axis: 'microseconds per acquire + release pair (log scale)',
      log: true,
      series: [
        { name: 'p50', color: '#2c6fbb' },
        { name: 'p99', color: '#9cc3ea' }
      ],
      rows: latency.map((id) => {
        const o = r.latency[id]
        return { label: label(id), values: o?.ok === true ? [o.figures.p50 * 1000, o.figures.p99 * 1000] : [Number.NaN, Number.NaN] }
      }),
      format: usFormat
    })
  const tp = ids(r.throughput)
  if (tp.length > 0)
    panels.push({
      title: `Throughput, ${r.settings.concurrency} concurrent lockers on distinct keys (higher is better)`,
      axis: 'acquire + release pairs per second',
      series: [{ name: 'ops/s', color: '#3a9d5d' }],
      rows: tp.map((id) => {
        const o = r.throughput[id]
        return { label: label(id), values: [o?.ok === true ? o.figures.opsPerSec : Number.NaN] }
      }),
      format: (x) => String(Math.round(x))
    })
  const cont = ids(r.contention)
  if (cont.length > 0)
    panels.push({
      title: `Contention: ${r.settings.workers} processes, one key, hold ${r.settings.holdMs} ms, pause ${r.settings.pauseMs} ms (higher is better)`,
      axis: 'busy %: share of the time someone waited during which the lock was held',
      series: [{ name: 'busy %', color: '#d9822b' }],
      rows: cont.map((id) => {
        const o = r.contention[id]
        return o?.ok === true
          ? { label: label(id), values: [o.figures.busy * 100], note: `wait p99 ${o.figures.waitMs.p99.toFixed(1)} ms` }
          : { label: label(id), values: [Number.NaN] }
      }),
      max: 100,
      marker: { value: 80, label: 'target 80%' },
      format: (x) => `${x.toFixed(1)}%`
    })
  const handoff = r.handoff ?? []
  if (handoff.length > 0)
    panels.push({
      title: `Handoff against its floor, the raw ring: hold ${r.settings.holdMs} ms, pause ${r.settings.pauseMs} ms, medians of the rounds (higher is better)`,
      axis: 'busy %: share of the time someone waited during which the lock was held',
      series: [
        { name: 'leaselock redis', color: '#d9822b' },
        { name: 'raw ring (floor)', color: '#999999' }
      ],
      rows: handoff.map((run) => {
        const x = runRatios(run).median
        const m = runMedians(run)
        return {
          label: `${run.workers} processes`,
          values: [m.oursBusy * 100, m.floorBusy * 100],
          note: `${Number.isFinite(x.busyXFloor) ? x.busyXFloor.toFixed(3) : '-'}x busy, ${Number.isFinite(x.waitP99XFloor) ? x.waitP99XFloor.toFixed(2) : '-'}x p99`
        }
      }),
      max: 100,
      format: (x) => `${x.toFixed(1)}%`
    })
  const dead = Object.entries(r.deadServer ?? {})
  if (dead.length > 0)
    panels.push({
      title: 'A dead server: one call while it is up and while it is down (lower is better)',
      axis: 'microseconds per tryAcquire, p50',
      series: [
        { name: 'server up', color: '#2c6fbb' },
        { name: 'server down', color: '#c0392b' }
      ],
      rows: dead.map(([backend, o]) =>
        o.ok
          ? {
              label: `leaselock ${backend}`,
              values: [o.figures.upCallMs.p50 * 1000, o.figures.downCallMs.p50 * 1000],
              note: `${o.figures.connectsPerSecond.toFixed(1)} connects/s, back in ${Math.round(o.figures.recoverMs)} ms`
            }
          : { label: `leaselock ${backend}`, values: [Number.NaN, Number.NaN] }
      ),
      format: usFormat
    })
  return svg(`leaselock benchmark — ${r.generatedAt.slice(0, 10)}${r.settings.quick ? ' (quick run)' : ''}`, panels)
}
