/**
 * The servers the benchmark talks to: its own `redis-server` and `memcached`
 * on free loopback ports when the binaries are on PATH, or the ones named by
 * `REDIS_URL` / `MEMCACHED_SERVERS`.
 *
 * @since 0.1.0
 */
import { ChildProcess, spawn } from 'node:child_process'
import { accessSync, constants } from 'node:fs'
import { connect } from 'node:net'
import { delimiter, join } from 'node:path'
import { setTimeout as sleep } from 'node:timers/promises'
import { freePort } from '../test/support/freePort.js'

/**
 * Where each backend lives for this run; `undefined` = not available.
 *
 * @since 0.1.0
 */
export interface Endpoints {
  readonly redisUrl?: string
  readonly memcachedServers?: string
}

/**
 * Running servers (or external ones) and how to stop what we started.
 *
 * @since 0.1.0
 */
export interface Servers extends Endpoints {
  /** One line per backend saying where it came from, or why it is missing. */
  readonly notes: ReadonlyArray<string>
  /** Server versions as reported at start (`redis-server --version`, `memcached -V`). */
  readonly versions: Readonly<Record<string, string>>
  readonly stop: () => Promise<void>
}

/**
 * The full path of `name` on PATH, or `undefined`.
 *
 * @example
 * import { onPath } from './servers.js'
 * onPath('redis-server')
 *
 * @since 0.1.0
 */
export const onPath = (name: string): string | undefined =>
  (process.env.PATH ?? '')
    .split(delimiter)
    .filter((dir) => dir !== '')
    .map((dir) => join(dir, name))
    .find((file) => {
      try {
        accessSync(file, constants.X_OK)
        return true
      } catch {
        return false
      }
    })

const versionOf = (binary: string, flag: string): Promise<string> =>
  new Promise((resolve) => {
    const child = spawn(binary, [flag], { stdio: ['ignore', 'pipe', 'ignore'] })
    let out = ''
    child.stdout.on('data', (d: Buffer) => (out += d.toString()))
    child.once('error', () => resolve('unknown'))
    child.once('exit', () => resolve(out.trim().split('\n')[0] ?? 'unknown'))
  })

const canConnect = (port: number): Promise<boolean> =>
  new Promise((resolve) => {
    const socket = connect({ host: '127.0.0.1', port })
    const done = (ok: boolean): void => {
      socket.destroy()
      resolve(ok)
    }
    socket.setTimeout(200, () => done(false))
    socket.once('connect', () => done(true))
    socket.once('error', () => done(false))
  })

const stopChild = async (child: ChildProcess): Promise<void> => {
  if (child.exitCode !== null || child.signalCode !== null) return
  const exited = new Promise<void>((resolve) => child.once('exit', () => resolve()))
  child.kill('SIGTERM')
  const killed = await Promise.race([exited.then(() => true), sleep(3000).then(() => false)])
  if (!killed) {
    child.kill('SIGKILL')
    await exited
  }
}

/** Starts `binary` with `args(port)` on a free port and waits until it accepts connections. */
const launch = async (binary: string, args: (port: number) => string[]): Promise<{ port: number; child: ChildProcess }> => {
  for (let tries = 0; ; tries++) {
    const port = await freePort()
    const child = spawn(binary, args(port), { stdio: ['ignore', 'ignore', 'pipe'] })
    let stderr = ''
    child.stderr?.on('data', (d: Buffer) => (stderr += d.toString()))
    child.once('error', (e) => (stderr += String(e)))
    const deadline = Date.now() + 5000
    while (Date.now() < deadline && child.exitCode === null) {
      if (await canConnect(port)) return { port, child }
      await sleep(25)
    }
    await stopChild(child)
    if (tries >= 2) throw new Error(`${binary} did not start on port ${port}: ${stderr.trim()}`)
  }
}

/**
 * Brings up the backends asked for. External servers (`REDIS_URL`,
 * `MEMCACHED_SERVERS`) win over starting our own; a backend with neither is
 * left out and the note says so. `stop` stops only what was started here.
 *
 * @example
 * import { startServers } from './servers.js'
 * const servers = await startServers({ redis: true, memcached: false })
 * await servers.stop()
 *
 * @since 0.1.0
 */
export const startServers = async (want: { readonly redis: boolean; readonly memcached: boolean }): Promise<Servers> => {
  const children: ChildProcess[] = []
  const notes: string[] = []
  const versions: Record<string, string> = {}
  let redisUrl: string | undefined
  let memcachedServers: string | undefined
  const stop = async (): Promise<void> => {
    await Promise.all(children.map(stopChild))
  }
  try {
    if (want.redis) {
      const binary = onPath('redis-server')
      if (process.env.REDIS_URL !== undefined && process.env.REDIS_URL !== '') {
        redisUrl = process.env.REDIS_URL
        notes.push(`redis: external server from REDIS_URL`)
      } else if (binary !== undefined) {
        const { port, child } = await launch(binary, (port) => [
          '--port', String(port), '--bind', '127.0.0.1', '--save', '', '--appendonly', 'no', '--loglevel', 'warning'
        ])
        children.push(child)
        redisUrl = `redis://127.0.0.1:${port}`
        versions.redis = await versionOf(binary, '--version')
        notes.push(`redis: own redis-server on 127.0.0.1:${port}`)
      } else notes.push('redis: skipped (no redis-server on PATH and no REDIS_URL)')
    }
    if (want.memcached) {
      const binary = onPath('memcached')
      if (process.env.MEMCACHED_SERVERS !== undefined && process.env.MEMCACHED_SERVERS !== '') {
        memcachedServers = process.env.MEMCACHED_SERVERS
        notes.push(`memcached: external server(s) from MEMCACHED_SERVERS`)
      } else if (binary !== undefined) {
        const { port, child } = await launch(binary, (port) => [
          '-l', '127.0.0.1', '-p', String(port), '-U', '0', '-m', '64',
          ...(process.getuid?.() === 0 ? ['-u', 'root'] : [])
        ])
        children.push(child)
        memcachedServers = `127.0.0.1:${port}`
        versions.memcached = await versionOf(binary, '-V')
        notes.push(`memcached: own memcached on 127.0.0.1:${port}`)
      } else notes.push('memcached: skipped (no memcached on PATH and no MEMCACHED_SERVERS)')
    }
  } catch (e) {
    await stop()
    throw e
  }
  return { ...(redisUrl === undefined ? {} : { redisUrl }), ...(memcachedServers === undefined ? {} : { memcachedServers }), notes, versions, stop }
}
