/**
 * How many runs a property makes: `n`, or fewer when the `FC_NUM_RUNS`
 * environment variable caps it (`npm run mutate` does, so that every mutant
 * is tested in reasonable time). Never more than `n`: `npm test` always runs
 * the full count.
 *
 * @example
 * fc.assert(property, { numRuns: numRuns(300) })
 */
export const numRuns = (n: number): number => {
  const cap = Number(process.env.FC_NUM_RUNS)
  return Number.isSafeInteger(cap) && cap > 0 ? Math.min(n, cap) : n
}
