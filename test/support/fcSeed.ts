/**
 * Preloaded by `npm run mutate` (`node --import`): when `FC_SEED` is set,
 * every property draws its cases from that seed, so that each mutant meets
 * the same cases and a run's survivors can be reproduced.
 */
import fc from 'fast-check'

const seed = Number(process.env.FC_SEED)
if (Number.isSafeInteger(seed)) fc.configureGlobal({ seed })
