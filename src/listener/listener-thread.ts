// Entry point of one listener thread (see listener-threads.ts): the listener role of the app, stopped on request.
import { parentPort, workerData } from 'node:worker_threads';
import { MailDispatchApp } from '../app';
import { ApiLoad } from '../core/api-load';
import type { Config } from '../config';
import type { ThreadMessage } from './listener-threads';

const { config, apiLoad, threadId } = workerData as { config: Config; index: number; threadId: string; apiLoad?: SharedArrayBuffer };
const post = (m: ThreadMessage) => parentPort!.postMessage(m);
// the main thread's API load, in the same shared memory: this thread's listener yields to it
const app = new MailDispatchApp(config, { instanceId: threadId, ...(apiLoad ? { apiLoad: new ApiLoad(apiLoad) } : {}) });

parentPort!.on('message', (m: unknown) => {
  if (typeof m === 'object' && m !== null && (m as { type?: string }).type === 'metrics') {
    const { id } = m as { id: number };
    void app.metrics.registry.getMetricsAsJSON().then((metrics) => post({ type: 'metrics', id, metrics }));
    return;
  }
  if (m !== 'stop') return;
  void app.stop().finally(() => {
    post({ type: 'stopped' });
    process.exit(0);
  });
});

app.start().then(
  async () => {
    while (!(await app.waitUntilReady(1_000))) {
      // waiting for the broker; the recovery in AmqpConnection keeps trying
    }
    post({ type: 'ready' });
  },
  (err: Error) => {
    post({ type: 'failed', error: err.message });
    process.exit(1);
  },
);
