import { connectRedis } from '../adapters/node-redis.js'
import { redisFaultSuite } from './support/redisFaultSuite.js'
import './support/noUnhandled.js'

redisFaultSuite('node-redis', connectRedis, true)
