import { Server, Socket, connect, createServer } from 'node:net'

/**
 * A TCP proxy on 127.0.0.1 in front of a real server, which can tamper with
 * what the server sends back (its replies), as a slow or broken network
 * would: hold them back after some bytes, or overwrite a byte. What the
 * client sends reaches the server untouched.
 */
export interface TcpProxy {
  readonly host: string
  readonly port: number
  /**
   * On each connection open now, lets `bytes` more bytes of the replies
   * through, then holds back the rest (and the server's FIN) until
   * {@link flow}. Connections accepted later are not held back.
   */
  readonly stallAfter: (bytes: number) => void
  /** Forwards everything held back, on the connections still open, and lets their replies flow again. */
  readonly flow: () => void
  /** Overwrites the byte `offset` bytes into the replies still to come (counted over all connections) with `value`. */
  readonly overwrite: (offset: number, value: number) => void
  /** How many client connections it has accepted so far. */
  readonly accepted: () => number
  /** Stops listening and drops every connection. */
  readonly close: () => Promise<void>
}

interface Pair {
  readonly client: Socket
  readonly upstream: Socket
  /** Bytes of the replies still let through, or undefined while they flow. */
  allowance: number | undefined
  held: Array<Buffer>
  /** The server ended its side while replies were held back. */
  ended: boolean
}

/** Starts a proxy on a free loopback port that forwards every connection to `127.0.0.1:<targetPort>`. */
export const startTcpProxy = async (targetPort: number): Promise<TcpProxy> => {
  const pairs = new Set<Pair>()
  let accepted = 0
  /** Bytes of replies received so far, over all connections. */
  let received = 0
  const overwrites: Array<{ readonly at: number; readonly value: number }> = []

  const tamper = (chunk: Buffer): Buffer => {
    const start = received
    received += chunk.length
    const due = overwrites.filter((o) => o.at >= start && o.at < received)
    if (due.length === 0) return chunk
    const copy = Buffer.from(chunk)
    for (const o of due) {
      copy[o.at - start] = o.value
      overwrites.splice(overwrites.indexOf(o), 1)
    }
    return copy
  }

  const reply = (pair: Pair, chunk: Buffer): void => {
    const data = tamper(chunk)
    if (pair.allowance === undefined) {
      pair.client.write(data)
      return
    }
    const passed = data.subarray(0, pair.allowance)
    pair.allowance -= passed.length
    if (passed.length > 0) pair.client.write(passed)
    if (passed.length < data.length) pair.held.push(data.subarray(passed.length))
  }

  const release = (pair: Pair): void => {
    pair.allowance = undefined
    for (const chunk of pair.held) if (pair.client.writable) pair.client.write(chunk)
    pair.held = []
    if (pair.ended) pair.client.end()
  }

  // Half-open: a client's FIN is passed on, and replies still reach a client that sent one.
  const server: Server = createServer({ allowHalfOpen: true }, (client) => {
    accepted++
    const upstream = connect({ port: targetPort, host: '127.0.0.1', allowHalfOpen: true })
    const pair: Pair = { client, upstream, allowance: undefined, held: [], ended: false }
    pairs.add(pair)
    client.pause()
    upstream.once('connect', () => client.resume())
    client.on('data', (chunk: Buffer) => upstream.write(chunk))
    upstream.on('data', (chunk: Buffer) => reply(pair, chunk))
    client.on('end', () => upstream.end())
    upstream.on('end', () => {
      if (pair.allowance === undefined) client.end()
      else pair.ended = true
    })
    const drop = (): void => {
      pairs.delete(pair)
      client.destroy()
      upstream.destroy()
    }
    client.on('close', drop)
    upstream.on('close', () => {
      if (pair.allowance === undefined) drop()
    })
    client.on('error', drop)
    upstream.on('error', drop)
  })
  await new Promise<void>((resolve, reject) => {
    server.once('error', reject)
    server.listen(0, '127.0.0.1', () => resolve())
  })
  const address = server.address()
  if (address === null || typeof address === 'string') throw new Error('the proxy has no port')

  return {
    host: '127.0.0.1',
    port: address.port,
    stallAfter: (bytes) => {
      for (const pair of pairs) pair.allowance = bytes
    },
    flow: () => {
      for (const pair of pairs) release(pair)
    },
    overwrite: (offset, value) => {
      overwrites.push({ at: received + offset, value })
    },
    accepted: () => accepted,
    close: async () => {
      for (const pair of pairs) {
        pair.client.destroy()
        pair.upstream.destroy()
      }
      pairs.clear()
      await new Promise<void>((resolve) => server.close(() => resolve()))
    }
  }
}
