/**
 * Checked examples: every `@example` of the sources and every ```ts block of
 * the README, written out as modules, type-checked and compiled by the
 * project's own `tsc`, and run one after another in one Node process against
 * the built package (imported by its name, through its `exports` map).
 */
import { execFile } from 'node:child_process'
import { existsSync, mkdirSync, readFileSync, readdirSync, rmSync, writeFileSync } from 'node:fs'
import { dirname, join, relative } from 'node:path'
import { fileURLToPath } from 'node:url'

/** One example: where it comes from and its code. */
export interface Example {
  /** A file-name-safe id, unique in a run. */
  readonly id: string
  /** `src/Lock.ts:120` or `README.md:42`. */
  readonly where: string
  readonly code: string
}

/** The project folder: the nearest folder above this file with a package.json (from dist/test/support or from test/support). */
const findRoot = (dir: string): string => (existsSync(join(dir, 'package.json')) ? dir : findRoot(dirname(dir)))
export const root = findRoot(dirname(fileURLToPath(import.meta.url)))

const filesUnder = (dir: string): ReadonlyArray<string> =>
  readdirSync(join(root, dir), { withFileTypes: true }).flatMap((entry) =>
    entry.isDirectory() ? filesUnder(join(dir, entry.name)) : entry.name.endsWith('.ts') ? [join(dir, entry.name)] : []
  )

const safe = (text: string): string => text.replace(/[^A-Za-z0-9]+/g, '-')

/**
 * The `@example` sections of a TypeScript file's doc comments: from the
 * `@example` line to the next tag (`@since`) or the end of the comment.
 */
export const docExamples = (file: string, text: string): ReadonlyArray<Example> => {
  const lines = text.split('\n')
  const found: Example[] = []
  for (let i = 0; i < lines.length; i++) {
    if (lines[i]!.trim() !== '* @example') continue
    const start = i + 1
    const body: string[] = []
    for (i++; i < lines.length; i++) {
      const line = lines[i]!
      if (/^\s*\*\//.test(line) || /^\s*\* @\w/.test(line)) break
      body.push(line.replace(/^\s*\* ?/, ''))
    }
    found.push({ id: `${safe(file.replace(/\.ts$/, ''))}-${start}`, where: `${file}:${start}`, code: body.join('\n').trim() })
  }
  return found
}

/** Every `@example` in `src/` and `adapters/`. */
export const sourceExamples = (): ReadonlyArray<Example> =>
  ['src', 'adapters'].flatMap(filesUnder).flatMap((file) => docExamples(file, readFileSync(join(root, file), 'utf8')))

/** Every ```ts block of the README. */
export const readmeExamples = (): ReadonlyArray<Example> => {
  const lines = readFileSync(join(root, 'README.md'), 'utf8').split('\n')
  const found: Example[] = []
  for (let i = 0; i < lines.length; i++) {
    if (lines[i]!.trim() !== '```ts') continue
    const start = i + 1
    const body: string[] = []
    for (i++; i < lines.length && lines[i]!.trim() !== '```'; i++) body.push(lines[i]!)
    found.push({ id: `README-${start}`, where: `README.md:${start}`, code: body.join('\n') })
  }
  return found
}

/** An example as a module: docs-ts's convention of `assert` in scope unless the example imports its own. */
const moduleText = (e: Example): string =>
  `${/\bassert\./.test(e.code) && !/import .*\bassert\b/.test(e.code) ? "import * as assert from 'node:assert'\n" : ''}${e.code}\nexport {}\n`

/** What `check` found: type errors per example id, and the folder of the compiled modules. */
export interface Checked {
  readonly errors: ReadonlyMap<string, ReadonlyArray<string>>
  readonly outDir: string
}

const run = (file: string, args: ReadonlyArray<string>, options: { cwd: string; env?: NodeJS.ProcessEnv; timeout: number }): Promise<{ code: number; stdout: string; stderr: string }> =>
  new Promise((resolve) =>
    execFile(file, [...args], { ...options, maxBuffer: 64 * 1024 * 1024 }, (error, stdout, stderr) =>
      resolve({ code: error === null ? 0 : typeof error.code === 'number' ? error.code : 1, stdout, stderr })
    )
  )

/**
 * Writes the examples as modules under `<root>/.tmp/<name>/src`, type-checks
 * and compiles them with the project's `tsc` (strict, NodeNext, against the
 * built package's declarations), and answers each example's errors.
 */
export const check = async (name: string, examples: ReadonlyArray<Example>): Promise<Checked> => {
  const dir = join(root, '.tmp', name)
  rmSync(dir, { recursive: true, force: true })
  mkdirSync(join(dir, 'src'), { recursive: true })
  for (const e of examples) writeFileSync(join(dir, 'src', `${e.id}.ts`), moduleText(e))
  writeFileSync(
    join(dir, 'tsconfig.json'),
    JSON.stringify({
      compilerOptions: {
        target: 'ES2022',
        module: 'NodeNext',
        moduleResolution: 'NodeNext',
        lib: ['ES2023', 'ES2024.String'],
        types: ['node'],
        strict: true,
        skipLibCheck: true,
        rootDir: 'src',
        outDir: 'out'
      },
      include: ['src']
    })
  )
  const tsc = await run(process.execPath, [join(root, 'node_modules', 'typescript', 'bin', 'tsc'), '-p', dir, '--pretty', 'false'], { cwd: dir, timeout: 120_000 })
  const errors = new Map<string, string[]>()
  for (const line of tsc.stdout.split('\n')) {
    const match = /^src\/(.+?)\.ts\((\d+),\d+\): (error .*)$/.exec(line.trim())
    if (match === null) continue
    errors.set(match[1]!, [...(errors.get(match[1]!) ?? []), `line ${match[2]}: ${match[3]}`])
  }
  if (tsc.code !== 0 && errors.size === 0) throw new Error(`tsc failed without naming an example:\n${tsc.stdout}${tsc.stderr}`)
  return { errors, outDir: join(dir, 'out') }
}

/** How one example ran. */
export interface Ran {
  readonly id: string
  readonly ok: boolean
  readonly error?: string
  readonly ms: number
}

/** The runner: imports each compiled example in turn, each within its own deadline, and writes how each went. */
const runnerText = `
import { writeFileSync } from 'node:fs'
import { format } from 'node:util'
const [results, deadline, ...files] = process.argv.slice(2)
let current
let stray = []
process.on('unhandledRejection', (e) => stray.push('unhandled rejection: ' + format(e)))
process.on('uncaughtException', (e) => stray.push('uncaught exception: ' + format(e)))
const ran = []
for (const file of files) {
  stray = []
  const t0 = performance.now()
  let timer
  try {
    await Promise.race([
      import(file),
      new Promise((_, reject) => { timer = setTimeout(() => reject(new Error('did not finish within ' + deadline + ' ms')), Number(deadline)) })
    ])
    await new Promise((resolve) => setTimeout(resolve, 0))
    ran.push(stray.length === 0 ? { file, ok: true, ms: performance.now() - t0 } : { file, ok: false, error: stray.join('\\n'), ms: performance.now() - t0 })
  } catch (e) {
    ran.push({ file, ok: false, error: format(e), ms: performance.now() - t0 })
  } finally {
    clearTimeout(timer)
  }
}
writeFileSync(results, JSON.stringify(ran))
process.exit(0)
`

/**
 * Runs the compiled examples one after another in one Node process (with
 * `env` added to its environment), each within `deadlineMs`; an example fails
 * when it throws, rejects, leaves an unhandled rejection or overruns.
 */
export const runAll = async (checked: Checked, ids: ReadonlyArray<string>, env: Readonly<Record<string, string>>, deadlineMs: number): Promise<ReadonlyMap<string, Ran>> => {
  const runner = join(checked.outDir, 'run-examples.mjs')
  const results = join(checked.outDir, 'results.json')
  writeFileSync(runner, runnerText)
  const files = ids.map((id) => join(checked.outDir, `${id}.js`))
  const child = await run(process.execPath, [runner, results, String(deadlineMs), ...files], {
    cwd: root,
    env: { ...process.env, ...env },
    timeout: deadlineMs * ids.length + 60_000
  })
  if (!existsSync(results)) throw new Error(`the example runner failed (${child.code}):\n${child.stdout}\n${child.stderr}`)
  const ran = JSON.parse(readFileSync(results, 'utf8')) as ReadonlyArray<{ file: string; ok: boolean; error?: string; ms: number }>
  return new Map(ran.map((r) => {
    const id = relative(checked.outDir, r.file).replace(/\.js$/, '')
    return [id, { id, ok: r.ok, ms: r.ms, ...(r.error === undefined ? {} : { error: r.error }) }]
  }))
}
