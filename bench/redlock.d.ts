/**
 * The part of node-redlock 5's API the benchmark uses. The package ships its
 * types outside its `exports` map, so TypeScript's NodeNext resolution cannot
 * see them; this mirrors `redlock/dist/index.d.ts` for what we call.
 */
declare module 'redlock' {
  import { EventEmitter } from 'node:events'
  import type { Redis } from 'ioredis'

  export interface Settings {
    readonly driftFactor: number
    readonly retryCount: number
    readonly retryDelay: number
    readonly retryJitter: number
    readonly automaticExtensionThreshold: number
  }
  export class ResourceLockedError extends Error {}
  export class ExecutionError extends Error {}
  export class Lock {
    release(): Promise<unknown>
  }
  export default class Redlock extends EventEmitter {
    constructor(clients: Iterable<Redis>, settings?: Partial<Settings>)
    acquire(resources: string[], duration: number, settings?: Partial<Settings>): Promise<Lock>
  }
}
