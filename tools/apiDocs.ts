/**
 * The API reference under `docs/`, generated from the built declarations
 * (`dist/src/**.d.ts`, `dist/adapters/*.d.ts`): one Markdown page per module
 * with its description, and for each export its description, signature,
 * example and version, plus an index. `npm run docs` writes it;
 * `test/apiDocs.test.ts` fails when the committed pages differ from what the
 * sources generate.
 *
 * @since 0.3.0
 */
import { existsSync, mkdirSync, readFileSync, readdirSync, rmSync, writeFileSync } from 'node:fs'
import { dirname, join, relative } from 'node:path'
import { fileURLToPath } from 'node:url'

/**
 * One top-level statement of a declaration file, with the doc comment before it.
 *
 * @example
 * import { Statement } from './apiDocs.js'
 * const s: Statement = { doc: '/** A lock. *\/', code: 'export interface Lock {}' }
 *
 * @since 0.3.0
 */
export interface Statement {
  readonly doc: string | undefined
  readonly code: string
}

const BLOCK = /^(export\s+)?(declare\s+)?(abstract\s+)?(interface|class|enum|namespace)\b/

/**
 * Splits a declaration file into its top-level statements: each runs to a `;`
 * outside brackets, or to the `}` that closes an interface, class, enum or
 * namespace; strings and comments are skipped over.
 *
 * @example
 * import { statements } from './apiDocs.js'
 * const found = statements("/** Two. *\/\nexport declare const two: { a: 1; b: 2 };\nexport interface I { x: string; }\n")
 * assert.deepStrictEqual(found.map((s) => s.code), ['export declare const two: { a: 1; b: 2 };', 'export interface I { x: string; }'])
 *
 * @since 0.3.0
 */
export const statements = (text: string): ReadonlyArray<Statement> => {
  const found: Statement[] = []
  let i = 0
  let doc: string | undefined
  while (i < text.length) {
    while (i < text.length && /\s/.test(text[i]!)) i++
    if (i >= text.length) break
    if (text.startsWith('/**', i)) {
      const end = text.indexOf('*/', i) + 2
      doc = text.slice(i, end)
      i = end
      continue
    }
    if (text.startsWith('//', i)) {
      i = text.indexOf('\n', i) < 0 ? text.length : text.indexOf('\n', i)
      continue
    }
    const start = i
    let depth = 0
    const block = BLOCK.test(text.slice(start, start + 80))
    for (; i < text.length; i++) {
      const c = text[i]!
      if (c === "'" || c === '"' || c === '`') {
        for (i++; i < text.length && text[i] !== c; i++) if (text[i] === '\\') i++
      } else if (text.startsWith('/*', i)) {
        i = text.indexOf('*/', i) + 1
      } else if (text.startsWith('//', i)) {
        i = text.indexOf('\n', i)
      } else if ('{[('.includes(c)) {
        depth++
      } else if ('}])'.includes(c)) {
        depth--
        if (depth === 0 && c === '}' && block) {
          i++
          break
        }
      } else if (c === ';' && depth === 0) {
        i++
        break
      }
    }
    found.push({ doc, code: text.slice(start, i).trim() })
    doc = undefined
  }
  return found
}

/**
 * A doc comment's text without its `*` gutter, split into the description and its tags.
 *
 * @example
 * import { parseDoc } from './apiDocs.js'
 * const d = parseDoc('/**\n * Says hi.\n *\n * @example\n * hi()\n *\n * @since 0.1.0\n *\/')
 * assert.deepStrictEqual(d, { description: 'Says hi.', example: 'hi()', since: '0.1.0' })
 *
 * @since 0.3.0
 */
export const parseDoc = (doc: string | undefined): { description: string; example?: string; since?: string } => {
  if (doc === undefined) return { description: '' }
  const lines = doc
    .replace(/^\/\*\*\s?/, '')
    .replace(/\s*\*\/$/, '')
    .split('\n')
    .map((l) => l.replace(/^\s*\* ?/, ''))
  const description: string[] = []
  const tags: Record<string, string[]> = {}
  let current: string[] = description
  for (const line of lines) {
    const tag = /^@(\w+)\s*(.*)$/.exec(line)
    if (tag !== null) {
      current = tags[tag[1]!] = tag[2] === '' ? [] : [tag[2]!]
      continue
    }
    current.push(line)
  }
  const text = (ls: string[] | undefined): string | undefined => (ls === undefined ? undefined : ls.join('\n').trim())
  return {
    description: text(description) ?? '',
    ...(tags.example === undefined ? {} : { example: text(tags.example)! }),
    ...(tags.since === undefined ? {} : { since: text(tags.since)! })
  }
}

const NAME = /^export\s+(?:declare\s+)?(?:abstract\s+)?(?:const|function|interface|type|class|enum|namespace)\s+([A-Za-z_$][\w$]*)/

/**
 * The doc comment a source file opens with (its module's description), if any.
 *
 * @example
 * import { moduleDoc } from './apiDocs.js'
 * assert.strictEqual(moduleDoc('/** The one. *\/\nexport const one = 1'), '/** The one. *\/')
 *
 * @since 0.3.0
 */
export const moduleDoc = (source: string): string | undefined => {
  const text = source.replace(/^#!.*\n/, '').trimStart()
  return text.startsWith('/**') ? text.slice(0, text.indexOf('*/') + 2) : undefined
}

/**
 * One module's page: its description (from the source), then each export
 * (description, signature, example, version) in source order (from the
 * declarations).
 *
 * @example
 * import { modulePage } from './apiDocs.js'
 * const page = modulePage('src/One.ts', '/** One.\n * @since 0.1.0\n *\/\nexport declare const one: 1;\n', '/** The one. *\/\nexport const one = 1\n')
 * assert.match(page, /## one/)
 *
 * @since 0.3.0
 */
export const modulePage = (path: string, declarations: string, source: string): string => {
  const all = statements(declarations)
  const module = parseDoc(moduleDoc(source))
  const exported = all.flatMap((s) => {
    const name = NAME.exec(s.code)?.[1]
    return name === undefined ? [] : [{ name, ...s }]
  })
  const reexports = all.filter((s) => /^export \* from/.test(s.code)).map((s) => /from ['"](.*)['"]/.exec(s.code)?.[1] ?? '')
  const out: string[] = [`# ${path}`, '']
  if (module.description !== '') out.push(module.description, '')
  if (reexports.length > 0) out.push('Re-exports:', '', ...reexports.map((r) => `- \`${r}\``), '')
  const anchors = new Map<string, number>()
  const anchor = (name: string): string => {
    const seen = anchors.get(name.toLowerCase()) ?? 0
    anchors.set(name.toLowerCase(), seen + 1)
    return seen === 0 ? name.toLowerCase() : `${name.toLowerCase()}-${seen}`
  }
  if (exported.length > 0) out.push('## Contents', '', ...exported.map((e) => `- [${e.name}](#${anchor(e.name)})`), '')
  for (const e of exported) {
    const d = parseDoc(e.doc)
    out.push(`## ${e.name}`, '')
    if (d.description !== '') out.push(d.description, '')
    out.push('```ts', e.code.replace(/^export declare /, 'export '), '```', '')
    if (d.example !== undefined) out.push('**Example**', '', '```ts', d.example, '```', '')
    if (d.since !== undefined) out.push(`Added in v${d.since}`, '')
  }
  return `${out.join('\n').trimEnd()}\n`
}

const declarationFiles = (dist: string, dir: string): ReadonlyArray<string> =>
  existsSync(join(dist, dir))
    ? readdirSync(join(dist, dir), { withFileTypes: true })
        .flatMap((entry) =>
          entry.isDirectory() ? declarationFiles(dist, join(dir, entry.name)) : entry.name.endsWith('.d.ts') ? [join(dir, entry.name)] : []
        )
        .sort()
    : []

/**
 * Every page of the API reference, by path under `docs/`, generated from the
 * declarations built into `<root>/dist`.
 *
 * @example
 * import { apiDocs } from './apiDocs.js'
 * const pages = apiDocs(process.cwd())
 * assert.ok(pages.has('index.md'))
 *
 * @since 0.3.0
 */
export const apiDocs = (root: string): ReadonlyMap<string, string> => {
  const dist = join(root, 'dist')
  const pages = new Map<string, string>()
  const modules = ['src', 'adapters'].flatMap((dir) => declarationFiles(dist, dir)).map((file) => file.replace(/\.d\.ts$/, '.ts'))
  for (const module of modules)
    pages.set(`modules/${module}.md`, modulePage(module, readFileSync(join(dist, module.replace(/\.ts$/, '.d.ts')), 'utf8'), readFileSync(join(root, module), 'utf8')))
  const pkg = JSON.parse(readFileSync(join(root, 'package.json'), 'utf8')) as { exports: Record<string, { default?: string } | string> }
  const entries = Object.entries(pkg.exports).flatMap(([entry, target]) => {
    const file = typeof target === 'string' ? target : target.default
    return file === undefined || !file.endsWith('.js') ? [] : [`| \`leaselock${entry === '.' ? '' : entry.slice(1)}\` | [${file.replace(/^\.\/dist\//, '').replace(/\.js$/, '.ts')}](modules/${file.replace(/^\.\/dist\//, '').replace(/\.js$/, '.ts')}.md) |`]
  })
  const summary = (module: string): string => {
    const description = parseDoc(moduleDoc(readFileSync(join(root, module), 'utf8'))).description
    return description.split(/\.\s|\n\n/)[0]!.replace(/\n/g, ' ').replace(/\.$/, '')
  }
  pages.set(
    'index.md',
    [
      '# leaselock API reference',
      '',
      'Generated from the sources\' doc comments by `npm run docs`; every example here is type-checked and run by `npm test`.',
      '',
      '| import | module |',
      '| --- | --- |',
      ...entries,
      '',
      '## Modules',
      '',
      ...modules.map((m) => `- [${m}](modules/${m}.md): ${summary(m)}`),
      ''
    ].join('\n')
  )
  return pages
}

/**
 * Writes the API reference to `<root>/docs` (replacing what was there).
 *
 * @example
 * import { writeApiDocs } from './apiDocs.js'
 * // writeApiDocs(process.cwd())
 *
 * @since 0.3.0
 */
export const writeApiDocs = (root: string): number => {
  const pages = apiDocs(root)
  rmSync(join(root, 'docs'), { recursive: true, force: true })
  for (const [path, text] of pages) {
    mkdirSync(dirname(join(root, 'docs', path)), { recursive: true })
    writeFileSync(join(root, 'docs', path), text)
  }
  return pages.size
}

if (process.argv[1] !== undefined && fileURLToPath(import.meta.url) === process.argv[1]) {
  const root = join(dirname(fileURLToPath(import.meta.url)), '..', '..')
  process.stdout.write(`wrote ${writeApiDocs(root)} pages to ${relative(process.cwd(), join(root, 'docs')) || 'docs'}\n`)
}
