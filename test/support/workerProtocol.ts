/**
 * The child side of `runWorkers`: forked with an IPC channel, a worker says
 * `{ ready: true }`, waits for `'go'`, runs and sends its report; started
 * without one, it runs at once and prints the report as JSON on stdout. It
 * never calls `process.exit`: it ends when nothing is left running.
 */
export const serveWorker = (run: () => Promise<unknown>): void => {
  const send = process.send?.bind(process)
  if (send === undefined) {
    void run().then((report) => process.stdout.write(`${JSON.stringify(report)}\n`))
  } else {
    process.once('message', () => {
      void run().then((report) => send(report, () => process.disconnect()))
    })
    send({ ready: true })
  }
}
