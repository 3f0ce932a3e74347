// Mutation testing of the core (`npm run mutate`): StrykerJS mutates the core
// modules, builds the mutated copy once with tsc, then runs the fast model
// and unit tests of the core (no server needed) once per mutant. uvu has no
// Stryker runner, so the command runner runs them: every mutant runs the
// whole set. The property tests run fewer cases from a fixed seed
// (FC_NUM_RUNS, FC_SEED; `npm test` still runs them in full), chosen so that
// the model still produces every fault it asserts it produces.
// The survivors and why each one is equivalent: the README's Development section.

const tests = [
  'Lock',
  'KeepAlive',
  'RetryPolicy',
  'memory',
  'handoff',
  'properties',
  'Claims.*',
  'QueuedWait.*',
  'Handovers.*',
  'Tries.*',
  'LocalLine',
  'safety.*',
  'attack\\.memory',
  'mutants\\..*'
]

/** @type {import('@stryker-mutator/api/core').PartialStrykerOptions} */
export default {
  mutate: [
    'src/Lock.ts',
    'src/AcquireLoop.ts',
    'src/KeepAlive.ts',
    'src/RetryPolicy.ts',
    'src/QueuedWait.ts',
    'src/Claims.ts',
    'src/Handovers.ts',
    'src/Tries.ts',
    'src/LocalLine.ts',
    'adapters/memory.ts'
  ],
  testRunner: 'command',
  buildCommand: 'tsc -p tsconfig.json',
  // Stryker rewrites a tsconfig's `extends`/`references` through the compiler
  // API, which TypeScript 7 no longer has; ours has neither, so name no file
  // here and the rewrite is skipped.
  tsconfigFile: 'no-tsconfig-to-rewrite.json',
  commandRunner: {
    command: `FC_NUM_RUNS=50 FC_SEED=7 node --import ./dist/test/support/fcSeed.js node_modules/uvu/bin.js dist/test '^(${tests.join('|')})\\.test\\.js$'`
  },
  concurrency: 2,
  timeoutMS: 10_000,
  reporters: ['clear-text', 'progress', 'html', 'json'],
  htmlReporter: { fileName: 'reports/mutation/mutation.html' },
  jsonReporter: { fileName: 'reports/mutation/mutation.json' },
  clearTextReporter: { allowColor: false, logTests: false, reportScoreTable: true },
  tempDirName: '.stryker-tmp'
}
