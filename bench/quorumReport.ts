/**
 * The quorum comparison of a run (pure): leaselock's quorum lease against
 * node-redlock on the same three servers, with fencing on and off, and the
 * price of a quorum over leaselock on a single server.
 *
 * @since 0.1.0
 */
import type { Results } from './report.js'
import { table } from './report.js'
import { ratio } from './stats.js'

const QUORUM = 'leaselock-quorum'
const NO_FENCE = 'leaselock-quorum-nofence'
const REDLOCK = 'redlock-quorum'
const SINGLE = 'leaselock-redis'

/**
 * The ratios the quorum comparison rests on (NaN when a figure is missing):
 * each a figure of ours divided by the same figure of the other.
 *
 * @since 0.1.0
 */
export interface QuorumSummary {
  /** Quorum (fenced) latency over leaselock on one server: the price of the quorum. */
  readonly priceOfQuorum: { readonly p50: number; readonly mean: number }
  /** Quorum latency with fencing over without: the price of the fence rounds. */
  readonly priceOfFencing: { readonly p50: number; readonly mean: number }
  /** Ours (fenced, and without fencing) over node-redlock on the same servers. */
  readonly versusRedlock: { readonly p50: number; readonly mean: number; readonly p50NoFence: number; readonly meanNoFence: number }
  /** node-redlock's throughput over ours: how many times its cost per pair ours pays. */
  readonly throughputCostVersusRedlock: number
}

/**
 * @example
 * import { quorumSummary } from './quorumReport.js'
 * assert.ok(Number.isNaN(quorumSummary({ latency: {}, throughput: {} }).priceOfQuorum.p50))
 *
 * @since 0.1.0
 */
export const quorumSummary = (r: Pick<Results, 'latency' | 'throughput'>): QuorumSummary => {
  const lat = (id: string, stat: 'p50' | 'mean'): number | undefined => {
    const o = r.latency[id]
    return o?.ok === true ? o.figures[stat] : undefined
  }
  const ops = (id: string): number | undefined => {
    const o = r.throughput[id]
    return o?.ok === true ? o.figures.opsPerSec : undefined
  }
  const over = (a: string, b: string, stat: 'p50' | 'mean'): number => ratio(lat(a, stat), lat(b, stat))
  return {
    priceOfQuorum: { p50: over(QUORUM, SINGLE, 'p50'), mean: over(QUORUM, SINGLE, 'mean') },
    priceOfFencing: { p50: over(QUORUM, NO_FENCE, 'p50'), mean: over(QUORUM, NO_FENCE, 'mean') },
    versusRedlock: {
      p50: over(QUORUM, REDLOCK, 'p50'),
      mean: over(QUORUM, REDLOCK, 'mean'),
      p50NoFence: over(NO_FENCE, REDLOCK, 'p50'),
      meanNoFence: over(NO_FENCE, REDLOCK, 'mean')
    },
    throughputCostVersusRedlock: ratio(ops(REDLOCK), ops(QUORUM))
  }
}

const fx = (x: number | undefined, digits = 2): string => (x !== undefined && Number.isFinite(x) ? x.toFixed(digits) : '-')
const us = (ms: number | undefined): string => (ms === undefined ? '-' : ms * 1000 >= 100 ? String(Math.round(ms * 1000)) : (ms * 1000).toFixed(1))

/**
 * The quorum table printed with the others: one row per quorum contestant and
 * the single-server lock, side by side; `undefined` when no quorum ran.
 *
 * @example
 * import { quorumTable } from './quorumReport.js'
 * // quorumTable(results) -> multi-line text, or undefined
 *
 * @since 0.1.0
 */
export const quorumTable = (r: Results): string | undefined => {
  const ids = [QUORUM, NO_FENCE, REDLOCK, SINGLE].filter((id) => r.contestants.some((c) => c.id === id))
  if (!ids.some((id) => id !== SINGLE)) return undefined
  const rows = ids.map((id) => {
    const e = r.contestants.find((c) => c.id === id)!
    const l = r.latency[id]
    const t = r.throughput[id]
    const c = r.contention[id]
    const lf = l?.ok === true ? l.figures : undefined
    const cf = c?.ok === true ? c.figures : undefined
    return [
      `${e.label}${e.kind === 'ours' ? ' *' : ''}`,
      us(lf?.p50),
      us(lf?.mean),
      fx(ratio(lf?.mean, r.latency[SINGLE]?.ok === true ? r.latency[SINGLE].figures.mean : undefined)),
      fx(ratio(lf?.mean, r.latency[REDLOCK]?.ok === true ? r.latency[REDLOCK].figures.mean : undefined)),
      t?.ok === true ? String(Math.round(t.figures.opsPerSec)) : '-',
      cf === undefined ? '-' : fx(cf.busy * 100, 1),
      cf === undefined ? '-' : fx(cf.waitMs.p99, 1),
      cf === undefined ? '-' : cf.shares.counts.join('/'),
      cf === undefined ? '-' : String(cf.overlaps.count)
    ]
  })
  return table(
    ['library', 'p50 us', 'mean us', 'mean x 1 server', 'mean x redlock x3', 'pairs/s', 'busy %', 'wait p99 ms', 'shares', 'overlaps'],
    rows,
    1
  )
}
