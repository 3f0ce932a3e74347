import { memoryPermitStore } from '../adapters/memoryPermits.js'
import { connectRedis } from '../adapters/node-redis.js'
import * as E from 'fp-ts/lib/Either.js'
import { redisPermitStore } from '../src/redis/redisPermitStore.js'
import { permitConformance } from './support/permitConformance.js'
import { startRedis } from './support/redisServer.js'
import './support/noUnhandled.js'

permitConformance('memory', async () => ({ store: memoryPermitStore(), close: async () => undefined }))

permitConformance('redis (node-redis)', async () => {
  const server = await startRedis()
  const connected = await connectRedis({ host: server.host, port: server.port })()
  if (E.isLeft(connected)) throw new Error(connected.left._tag)
  return {
    store: redisPermitStore(connected.right.driver),
    close: async () => {
      await connected.right.close()
      await server.stop()
    }
  }
})
