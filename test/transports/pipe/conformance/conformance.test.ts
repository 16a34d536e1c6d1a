import t from 'tap';
import { startConformanceAgent } from './agent.js';
import { loadSuite, runCase } from './runner.js';

// CONFORMANCE_CASE=<part of a name> runs only the matching cases.
const only = process.env.CONFORMANCE_CASE;

t.test('the pipe conformance cases pass through the TypeScript runner', async (t) => {
  const svc = await startConformanceAgent(t);
  const suite = loadSuite();
  t.ok(suite.cases.length >= 40, `${suite.cases.length} cases`);
  for (const c of suite.cases) {
    if (only && !c.name.includes(only)) continue;
    const failure = await runCase(svc.pipeName, suite, c);
    t.equal(failure, null, c.name);
  }
  // However hostile the cases, the agent is still there.
  t.equal((await svc.agent.status()).protocolVersion, 1);
});
