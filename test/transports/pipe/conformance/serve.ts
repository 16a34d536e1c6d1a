/**
 * Starts the conformance agent and keeps it running, for replaying the cases from another
 * language: `node build/test/transports/pipe/conformance/serve.js` prints the agent's home and
 * pipe as JSON; stop it with Ctrl-C (its temporary home is removed).
 */
import { startConformanceAgent } from './agent.js';

const cleanups: (() => unknown)[] = [];
const svc = await startConformanceAgent({ teardown: (fn) => cleanups.unshift(fn) });
console.log(JSON.stringify({ home: svc.home, pipe: svc.pipeName, http: svc.url }));
const stop = async () => {
  for (const fn of cleanups) await fn();
  process.exit(0);
};
process.once('SIGINT', stop);
process.once('SIGTERM', stop);
