import { readFileSync } from 'node:fs'

const state = (pid: number): string | undefined => {
  try {
    // /proc/<pid>/stat: "pid (comm) S ..." — the state follows the last ')'.
    const stat = readFileSync(`/proc/${pid}/stat`, 'utf8')
    return stat.slice(stat.lastIndexOf(')') + 2, stat.lastIndexOf(')') + 3)
  } catch {
    return undefined
  }
}

/**
 * Blocks until a process that was sent SIGSTOP has actually stopped (Linux),
 * for at most `maxMs`: the signal is delivered asynchronously, and on a loaded
 * machine a server can still answer a request sent right after `kill`.
 */
export const awaitStopped = (pid: number | undefined, maxMs = 1_000): void => {
  if (pid === undefined) return
  const pause = new Int32Array(new SharedArrayBuffer(4))
  for (let waited = 0; waited < maxMs; waited++) {
    const s = state(pid)
    if (s === undefined || s === 'T' || s === 't') return
    Atomics.wait(pause, 0, 0, 1)
  }
}
