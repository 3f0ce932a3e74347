import { suite } from 'uvu'
import * as assert from 'uvu/assert'
import { existsSync, readFileSync, readdirSync } from 'node:fs'
import { join, relative } from 'node:path'
import { apiDocs, modulePage, parseDoc, statements } from '../tools/apiDocs.js'
import { root } from './support/examples.js'

const S = suite('API reference under docs/')

const committed = (dir: string): ReadonlyArray<string> =>
  existsSync(dir)
    ? readdirSync(dir, { withFileTypes: true }).flatMap((e) => (e.isDirectory() ? committed(join(dir, e.name)) : [relative(join(root, 'docs'), join(dir, e.name))]))
    : []

S('the committed pages are exactly what the sources generate (run npm run docs after changing a doc comment)', () => {
  const pages = apiDocs(root)
  assert.ok(pages.size > 40, `${pages.size} pages`)
  const files = committed(join(root, 'docs'))
  assert.equal([...files].sort(), [...pages.keys()].sort(), 'the same pages')
  for (const [path, text] of pages) assert.ok(readFileSync(join(root, 'docs', path), 'utf8') === text, `docs/${path} is out of date: run npm run docs`)
})

S('every export of src/ and adapters/ has a doc comment with an example and a version', () => {
  const missing = [...apiDocs(root).entries()].flatMap(([path, text]) =>
    path === 'index.md' ? [] : text.split('\n## ').slice(1).filter((section) => !section.startsWith('Contents') && (!section.includes('**Example**') || !section.includes('Added in v'))).map((section) => `${path}: ${section.split('\n')[0]}`)
  )
  assert.equal(missing, [])
})

S('the declaration scanner: statements end at ; outside brackets or at the } of a block; doc tags split', () => {
  const text = "/** A. @since 1 */\nexport declare const a: { x: '};'; y: [1, 2] };\n/** B */\nexport interface B {\n  f(): void;\n}\nexport type C = `;${string}`;\n"
  assert.equal(statements(text).map((s) => s.code), ["export declare const a: { x: '};'; y: [1, 2] };", 'export interface B {\n  f(): void;\n}', 'export type C = `;${string}`;'])
  assert.equal(parseDoc('/**\n * Text.\n *\n * @example\n * f()\n * @since 0.2.0\n */'), { description: 'Text.', example: 'f()', since: '0.2.0' })
  assert.match(modulePage('src/X.ts', '/** X.\n * @example\n * x\n * @since 1\n */\nexport declare const x: 1;\n', '/** The X module. */\n'), /^# src\/X.ts\n\nThe X module.\n/)
})

S.run()
