import { ChildProcess, spawn } from 'node:child_process'
import { Socket, connect } from 'node:net'
import { freePort } from './freePort.js'
import { awaitStopped } from './stopped.js'

/** A redis-server child process on 127.0.0.1, for integration and fault tests. */
export interface RedisServer {
  readonly host: '127.0.0.1'
  readonly port: number
  /** The process id of the server now running (it changes with `restart`). */
  readonly pid: () => number | undefined
  /** `redis://127.0.0.1:<port>` (without credentials). */
  readonly url: string
  /** Freezes the server (SIGSTOP): connections stay open, nothing is answered. */
  readonly pause: () => void
  /** Thaws a paused server (SIGCONT). */
  readonly resume: () => void
  /** Kills the server at once (SIGKILL) and waits for it to exit; all data is lost. */
  readonly kill: () => Promise<void>
  /** Starts a fresh server on the same port with the same arguments (after `kill`, or kills first). */
  readonly restart: () => Promise<void>
  /** Stops the server (resuming it first if paused); safe to call twice. */
  readonly stop: () => Promise<void>
}

/** Extra `redis-server` arguments, e.g. `['--requirepass', 'secret']`. */
export interface RedisServerOptions {
  readonly args?: ReadonlyArray<string>
  /** A configuration file to start from (given first, before the other arguments): needed by `--sentinel`. */
  readonly configFile?: string
  /**
   * Let the test process exit while the server runs (a deployment shared by
   * several test files): the server is then killed when the process exits.
   */
  readonly background?: boolean
  /** How long to wait for the first PONG (default 5000 ms). */
  readonly startTimeoutMs?: number
}

const sleep = (ms: number): Promise<void> => new Promise((resolve) => setTimeout(resolve, ms))

/** One inline PING; true when the server answers anything RESP-shaped (`+PONG`, or `-NOAUTH` with a password). */
const answersPing = (port: number): Promise<boolean> =>
  new Promise((resolve) => {
    const socket = connect({ host: '127.0.0.1', port })
    const done = (ok: boolean): void => {
      clearTimeout(timer)
      socket.destroy()
      resolve(ok)
    }
    const timer = setTimeout(() => done(false), 500)
    socket.once('connect', () => socket.write('PING\r\n'))
    socket.once('data', (data) => done(/^[+-]/.test(data.toString('latin1'))))
    socket.once('error', () => done(false))
  })

const exited = (child: ChildProcess): Promise<void> =>
  child.exitCode !== null || child.signalCode !== null
    ? Promise.resolve()
    : new Promise((resolve) => child.once('exit', () => resolve()))

const launch = async (port: number, options: RedisServerOptions, startTimeoutMs: number): Promise<ChildProcess> => {
  const child = spawn(
    'redis-server',
    [
      ...(options.configFile === undefined ? [] : [options.configFile]),
      '--port',
      String(port),
      '--bind',
      '127.0.0.1',
      '--save',
      '',
      '--appendonly',
      'no',
      ...(options.args ?? [])
    ],
    { stdio: ['ignore', 'ignore', 'pipe'] }
  )
  if (options.background === true) {
    child.unref()
    ;(child.stderr as Socket | null)?.unref()
  }
  let stderr = ''
  child.stderr?.on('data', (chunk: Buffer) => (stderr += chunk.toString()))
  let spawnError: Error | undefined
  child.once('error', (e) => (spawnError = e))
  const deadline = Date.now() + startTimeoutMs
  while (Date.now() < deadline) {
    if (spawnError !== undefined) throw spawnError
    if (child.exitCode !== null) throw new Error(`redis-server exited with ${child.exitCode}: ${stderr}`)
    if (await answersPing(port)) return child
    await sleep(20)
  }
  child.kill('SIGKILL')
  await exited(child)
  throw new Error(`redis-server on port ${port} did not answer PING within ${startTimeoutMs} ms: ${stderr}`)
}

/** What to kill when the test process exits: one `exit` listener for every server started. */
const atExit = new Set<() => void>()
process.once('exit', () => atExit.forEach((kill) => kill()))

/**
 * Starts `redis-server --port P --bind 127.0.0.1 --save '' --appendonly no ...args`
 * on a free port and resolves once it answers PING.
 */
export const startRedis = async (options: RedisServerOptions = {}): Promise<RedisServer> => {
  const startTimeoutMs = options.startTimeoutMs ?? 5000
  const port = await freePort()
  let child = await launch(port, options, startTimeoutMs)
  let paused = false
  const killOnExit = (): void => {
    child.kill('SIGKILL')
  }
  atExit.add(killOnExit)

  const kill = async (): Promise<void> => {
    child.kill('SIGKILL')
    paused = false
    // A background server's process does not keep the event loop alive: waiting for its exit must.
    child.ref()
    await exited(child)
  }
  return {
    host: '127.0.0.1',
    port,
    pid: () => child.pid,
    url: `redis://127.0.0.1:${port}`,
    pause: () => {
      paused = child.kill('SIGSTOP')
      if (paused) awaitStopped(child.pid)
    },
    resume: () => {
      if (paused) child.kill('SIGCONT')
      paused = false
    },
    kill,
    restart: async () => {
      await kill()
      child = await launch(port, options, startTimeoutMs)
    },
    stop: async () => {
      atExit.delete(killOnExit)
      if (paused) child.kill('SIGCONT')
      paused = false
      child.kill('SIGTERM')
      child.ref()
      const timer = setTimeout(() => child.kill('SIGKILL'), 2000)
      await exited(child)
      clearTimeout(timer)
    }
  }
}
