import t from 'tap';
import { spawn } from 'node:child_process';
import { spawn as spawnPty } from '@lydell/node-pty';
import { startModelServer } from '../../helpers/model-server.js';
import { CLI } from '../../helpers/run.js';
import { linkEndless, startTestService, until } from '../../helpers/service.js';

const ANSI = /\x1b\[[0-9;?]*[A-Za-z]|\x1b[>=()][0-9A-Za-z]?|\r/g;

/** `crucible model run` in a real pseudo-terminal: what it printed (escapes stripped), keys in. */
function terminal(home: string, args: string[]) {
  const pty = spawnPty(process.execPath, [CLI, '--home', home, 'model', 'run', ...args], {
    name: 'xterm-256color', cols: 160, rows: 40, env: { ...process.env, CRUCIBLE_API_KEY: '' } as Record<string, string>,
  });
  let raw = '';
  pty.onData((d) => { raw += d; });
  const exited = new Promise<number>((resolve) => pty.onExit((e) => resolve(e.exitCode)));
  const text = () => raw.replace(ANSI, '');
  return {
    text,
    type: (s: string) => pty.write(s),
    /** Waits until the output after `from` characters matches; the position after the match. */
    async waitFor(re: RegExp, from = 0): Promise<number> {
      let at = -1;
      const ok = await until(() => {
        const m = re.exec(text().slice(from));
        if (m) at = from + m.index + m[0].length;
        return Boolean(m);
      }, 60_000);
      if (!ok) throw new Error(`timed out waiting for ${re} in:\n${text().slice(from)}`);
      return at;
    },
    exited,
    kill: () => { try { pty.kill(); } catch { /* already gone */ } },
  };
}

t.test('crucible model run downloads a missing model with the bar, loads it and chats', async (t) => {
  const server = await startModelServer(['none']);
  t.teardown(() => server.close());
  const svc = await startTestService(t, ['--catalog-url', server.catalogUrl]);
  const term = terminal(svc.home, ['tiny-none', '--temperature', '0', '--max-tokens', '12']);
  t.teardown(term.kill);
  let at = await term.waitFor(/100% \| [\d.]+\/[\d.]+ MB/);
  t.pass('the progress bar reached 100%');
  at = await term.waitFor(/Downloaded tiny-none:1\.\n.*Chatting with tiny-none:1\..*\n> /, at);
  t.same(await (await fetch(`${svc.url}/openai/loadedmodels`)).json(), ['tiny-none:1'], 'downloaded and loaded');

  term.type('Once upon a time\r');
  at = await term.waitFor(/, there was a little girl named Lily\. She\n> /, at);
  t.pass('the first answer streamed, then the prompt came back');
  term.type('She was happy\r');
  at = await term.waitFor(/She was happy\n(.+)\n> /, at);
  term.type('/clear\r');
  at = await term.waitFor(/Conversation cleared\.\n> /, at);
  term.type('Once upon a time\r');
  at = await term.waitFor(/Once upon a time\n, there was a little girl named Lily\. She\n> /, at);
  t.pass('after /clear the same prompt gets the same first answer');
  term.type('/exit\r');
  t.equal(await term.exited, 0, '/exit leaves with status 0');

  const missing = terminal(svc.home, ['no-such-model']);
  t.teardown(missing.kill);
  t.equal(await missing.exited, 1, 'a model in neither the cache nor the catalog fails');
  t.match(missing.text(), /does not exist in the model cache/);
});

t.test('Ctrl-C stops the answer being written without leaving; twice at the prompt leaves', async (t) => {
  const svc = await startTestService(t);
  linkEndless(svc.config.modelsDir);
  const inFlight = async () => ((await (await fetch(`${svc.url}/openai/ps`)).json()) as { id: string; inFlight: number }[])
    .find((m) => m.id === 'endless')?.inFlight ?? 0;
  // The endless model with ignore_eos writes until it is stopped.
  const term = terminal(svc.home, ['endless', '--max-tokens', '1000000', '--ignore-eos', '--temperature', '0']);
  t.teardown(term.kill);
  let at = await term.waitFor(/Chatting with endless\..*\n> /);
  for (const round of [1, 2]) {
    term.type('Once upon a time\r');
    const answerAt = await term.waitFor(/Once upon a time\n/, at);
    t.ok(await until(async () => (await inFlight()) === 1 && term.text().length > answerAt + 20, 60_000), `round ${round}: the answer is streaming`);
    term.type('\x03');
    at = await term.waitFor(/ \[stopped\]\n> /, answerAt);
    t.ok(await until(async () => (await inFlight()) === 0), `round ${round}: the generation stopped on the agent`);
  }
  term.type('\x03');
  at = await term.waitFor(/Ctrl-C again or \/exit to leave/, at);
  term.type('\x03');
  t.equal(await term.exited, 0, 'a second Ctrl-C at the prompt leaves');
});

t.test('piped standard input: one answer a line, the history kept, /clear honoured', async (t) => {
  const svc = await startTestService(t);
  const promptTokens = async () => Number(/^crucible_prompt_tokens_total\{model="stories260k-generic-cpu:1"\} (\d+)/m
    .exec(await (await fetch(`${svc.url}/metrics`)).text())?.[1] ?? 0);
  const piped = (input: string) => new Promise<{ code: number | null; stdout: string; stderr: string }>((resolve) => {
    const child = spawn(process.execPath, [CLI, '--home', svc.home, 'model', 'run', 'stories260k', '--temperature', '0', '--max-tokens', '12'], { stdio: ['pipe', 'pipe', 'pipe'] });
    let stdout = '';
    let stderr = '';
    child.stdout.on('data', (d) => { stdout += d; });
    child.stderr.on('data', (d) => { stderr += d; });
    child.on('close', (code) => resolve({ code, stdout, stderr }));
    child.stdin.end(input);
  });

  const before = await promptTokens();
  const cleared = await piped('Once upon a time\n/clear\nOnce upon a time\n');
  t.equal(cleared.code, 0, cleared.stderr);
  t.same(cleared.stdout.split('\n'), [', there was a little girl named Lily. She', ', there was a little girl named Lily. She', ''], 'only the answers, one a line');
  const single = ((await promptTokens()) - before) / 2;

  const kept = await piped('Once upon a time\nOnce upon a time\n');
  t.equal(kept.code, 0, kept.stderr);
  t.equal(kept.stdout.split('\n').length, 3, 'two answers');
  const total = (await promptTokens()) - before - 2 * single;
  t.ok(total > 2 * single + 10, `the second turn carried the first one (${total} prompt tokens against ${2 * single} without history)`);
});
