import { ChildProcess, execFile, spawn } from 'node:child_process'
import { mkdtemp, rm, writeFile } from 'node:fs/promises'
import { connect } from 'node:net'
import { tmpdir, userInfo } from 'node:os'
import { join } from 'node:path'
import { freePort } from './freePort.js'
import { awaitStopped } from './stopped.js'
import { connect as netConnect } from 'node:net'

/** A memcached process this test started on 127.0.0.1, and how to torment it. */
export interface MemcachedServer {
  readonly host: string
  readonly port: number
  /** The arguments it was started with (after `-l`, `-p`, `-U 0`). */
  readonly args: ReadonlyArray<string>
  /** SIGSTOP: the process stops answering but keeps its sockets open. */
  readonly pause: () => void
  /** SIGCONT after {@link pause}. */
  readonly resume: () => void
  /** SIGKILL, resolved once the process has exited (its items are gone). */
  readonly kill: () => Promise<void>
  /** Kills it (if running) and starts a fresh process on the same port. */
  readonly restart: () => Promise<void>
  /** Kills it and removes anything it was given (e.g. a SASL folder). Idempotent. */
  readonly stop: () => Promise<void>
}

/** Options for {@link startMemcached}. */
export interface StartOptions {
  /** Extra arguments, e.g. `['-C']` (CAS disabled) or `['-S']` (SASL). */
  readonly args?: ReadonlyArray<string>
  /** Extra environment, e.g. `SASL_CONF_PATH`. */
  readonly env?: Readonly<Record<string, string>>
  /** The port to listen on (a free one by default). */
  readonly port?: number
  /** Run when the server is stopped, after the process exited. */
  readonly cleanup?: () => Promise<void>
}

const sleep = (ms: number): Promise<void> => new Promise((resolve) => setTimeout(resolve, ms))

const accepts = (port: number): Promise<boolean> =>
  new Promise((resolve) => {
    const socket = connect(port, '127.0.0.1')
    socket.once('connect', () => {
      socket.destroy()
      resolve(true)
    })
    socket.once('error', () => {
      socket.destroy()
      resolve(false)
    })
  })

/** memcached refuses to run as root without `-u`. */
const userArgs = (): ReadonlyArray<string> => (process.getuid?.() === 0 ? ['-u', userInfo().username] : [])

const exited = (child: ChildProcess): Promise<void> =>
  child.exitCode !== null || child.signalCode !== null ? Promise.resolve() : new Promise((resolve) => child.once('exit', () => resolve()))

/**
 * memcached runs under a small shell that prints its pid, waits for it, and
 * kills it if this test process disappears without stopping it (a crash, or a
 * runner killed on a timeout), so no server outlives the tests.
 */
const WATCHDOG = [
  // Linux: the shell's current parent (a dead parent may linger as a zombie, which `kill -0` still finds).
  'alive() { if [ -r /proc/$$/stat ]; then [ "$(cut -d" " -f4 /proc/$$/stat)" = "$LEASELOCK_TEST_PARENT" ]; else kill -0 "$LEASELOCK_TEST_PARENT" 2>/dev/null; fi; }',
  'memcached "$@" >/dev/null & m=$!',
  'echo $m',
  '( while alive; do sleep 0.5; done; kill -9 $m 2>/dev/null ) >/dev/null 2>&1 & w=$!',
  'wait $m; s=$?',
  'kill $w 2>/dev/null',
  'exit $s'
].join('\n')

/** A running memcached: the watchdog shell and memcached's own pid (for signals). */
interface Running {
  readonly shell: ChildProcess
  readonly pid: number
}

const launch = async (port: number, options: StartOptions): Promise<Running> => {
  const args = [...userArgs(), '-l', '127.0.0.1', '-p', String(port), '-U', '0', ...(options.args ?? [])]
  const shell = spawn('sh', ['-c', WATCHDOG, 'sh', ...args], {
    env: { ...process.env, ...options.env, LEASELOCK_TEST_PARENT: String(process.pid) },
    stdio: ['ignore', 'pipe', 'pipe']
  })
  let stdout = ''
  let stderr = ''
  shell.stdout?.on('data', (d: Buffer) => (stdout += d.toString()))
  shell.stderr?.on('data', (d: Buffer) => (stderr += d.toString()))
  let spawnError: Error | undefined
  shell.once('error', (e) => (spawnError = e))
  for (let i = 0; i < 250; i++) {
    if (spawnError !== undefined) throw spawnError
    if (shell.exitCode !== null) throw new Error(`memcached exited with ${shell.exitCode}: ${stderr.trim()}`)
    const pid = Number.parseInt(stdout, 10)
    if (pid > 0 && (await accepts(port))) return { shell, pid }
    await sleep(20)
  }
  const pid = Number.parseInt(stdout, 10)
  if (pid > 0) process.kill(pid, 'SIGKILL')
  shell.kill('SIGKILL')
  await exited(shell)
  throw new Error(`memcached did not accept connections on port ${port} within 5 s: ${stderr.trim()}`)
}

const signal = (running: Running | undefined, sig: NodeJS.Signals): void => {
  if (running === undefined) return
  try {
    process.kill(running.pid, sig)
  } catch {
    // already gone
  }
}

/**
 * Starts `memcached -l 127.0.0.1 -p <free port> -U 0 <args>` and resolves once
 * it accepts connections. Stop it in `after`.
 */
export const startMemcached = async (options: StartOptions = {}): Promise<MemcachedServer> => {
  const port = options.port ?? (await freePort())
  let running: Running | undefined = await launch(port, options)
  let stopped = false
  const kill = async (): Promise<void> => {
    const r = running
    running = undefined
    if (r === undefined) return
    signal(r, 'SIGKILL')
    await exited(r.shell)
  }
  return {
    host: '127.0.0.1',
    port,
    args: options.args ?? [],
    pause: () => {
      signal(running, 'SIGSTOP')
      awaitStopped(running?.pid)
    },
    resume: () => signal(running, 'SIGCONT'),
    kill,
    restart: async () => {
      await kill()
      running = await launch(port, options)
    },
    stop: async () => {
      if (stopped) return
      stopped = true
      await kill()
      await options.cleanup?.()
    }
  }
}

const run = (file: string, args: ReadonlyArray<string>, input: string): Promise<void> =>
  new Promise((resolve, reject) => {
    const child = execFile(file, args, (error) => (error === null ? resolve() : reject(error)))
    child.stdin?.end(input)
  })

/**
 * Starts memcached with SASL (`-S`): a temporary folder holds a sasldb with
 * one user (created with `saslpasswd2`) and the `memcached.conf` that
 * `SASL_CONF_PATH` points memcached at. The folder is removed by `stop()`.
 */
export const startSaslMemcached = async (username: string, password: string): Promise<MemcachedServer> => {
  const dir = await mkdtemp(join(tmpdir(), 'leaselock-sasl-'))
  const db = join(dir, 'sasldb2')
  try {
    await run('saslpasswd2', ['-p', '-a', 'memcached', '-c', '-f', db, username], password)
    await writeFile(join(dir, 'memcached.conf'), `mech_list: plain\nsasldb_path: ${db}\n`)
    return await startMemcached({
      args: ['-S'],
      env: { SASL_CONF_PATH: dir },
      cleanup: () => rm(dir, { recursive: true, force: true })
    })
  } catch (e) {
    await rm(dir, { recursive: true, force: true })
    throw e
  }
}

/** Every numeric `STAT` of memcached's text-protocol `stats`, read over a connection of its own. */
export const memcachedStats = (port: number, host = '127.0.0.1'): Promise<Record<string, number>> =>
  new Promise((resolve, reject) => {
    const socket = netConnect(port, host)
    let text = ''
    const timer = setTimeout(() => socket.destroy(new Error('stats: no answer')), 2000)
    socket.on('data', (d: Buffer) => {
      text += d.toString('latin1')
      if (!text.endsWith('END\r\n')) return
      clearTimeout(timer)
      socket.end()
      resolve(Object.fromEntries([...text.matchAll(/^STAT (\w+) (\d+)\r$/gm)].map((m) => [m[1] ?? '', Number(m[2])])))
    })
    socket.on('error', (e) => {
      clearTimeout(timer)
      reject(e)
    })
    socket.write('stats\r\n')
  })
