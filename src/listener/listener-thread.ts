// Entry point of one listener thread (see listener-threads.ts): the listener role alone, on infrastructure of its
// own (pool, publisher connection for parking, SMTP lanes), stopped on request.
import { parentPort, workerData } from 'node:worker_threads';
import { ApiLoad } from '../core/api-load';
import type { Config } from '../config';
import { Infrastructure } from '../roles/infrastructure';
import { ListenerRole } from '../roles/listener';
import { TUNING } from '../tuning';
import type { ThreadMessage } from './listener-threads';

const { config, apiLoad, threadId } = workerData as { config: Config; index: number; threadId: string; apiLoad?: SharedArrayBuffer };
const post = (m: ThreadMessage) => parentPort!.postMessage(m);
// the main thread's API load, in the same shared memory: this thread's listener yields to it
const infra = new Infrastructure(config, { instanceId: threadId, ...(apiLoad ? { apiLoad: new ApiLoad(apiLoad) } : {}) });
let role: ListenerRole | null = null;

parentPort!.on('message', (m: unknown) => {
  if (typeof m === 'object' && m !== null && (m as { type?: string }).type === 'metrics') {
    const { id } = m as { id: number };
    void infra.metrics.registry.getMetricsAsJSON().then((metrics) => post({ type: 'metrics', id, metrics }));
    return;
  }
  if (m !== 'stop') return;
  void (async () => {
    await role?.stop();
    await infra.close();
  })().finally(() => {
    post({ type: 'stopped' });
    process.exit(0);
  });
});

async function start(): Promise<void> {
  await infra.open();
  role = await ListenerRole.create(infra);
  await infra.publisherConnection.start();
  await role.start();
  // waiting for the broker; the recovery in AmqpConnection keeps trying
  while (!(infra.publisher.isReady && role.ready)) await new Promise((r) => setTimeout(r, TUNING.readyPollMs));
}

start().then(
  () => post({ type: 'ready' }),
  (err: Error) => {
    post({ type: 'failed', error: err.message });
    process.exit(1);
  },
);
