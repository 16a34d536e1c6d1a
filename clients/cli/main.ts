#!/usr/bin/env node
/** The `crucible` command. Commands that talk to the agent go through the SDK (CrucibleManager.connect). */
import { readFileSync } from 'node:fs';
import { parseArgs } from 'node:util';
import { CrucibleError } from '../../protocol/errors.js';
import { type AgentClient, defaultHome } from '../typescript/connect.js';
import { CrucibleManager } from '../typescript/sdk/index.js';
import { accessKeysCommand, serviceKeys, serviceLogs } from './admin-commands.js';
import { modelRun } from './chat-command.js';
import { embedCommand } from './embed-command.js';
import { deploymentCommand } from './deployment-commands.js';
import { cacheList, modelDownload, modelList } from './model-commands.js';
import { modelOptimize } from './optimize-command.js';
import { serviceStart, serviceStatus, serviceStop } from './service-commands.js';
import { transcribeCommand } from './transcribe-command.js';

const HELP = `Usage: crucible [--home DIR] <command>

  service start [agent options]   start the agent in the background and wait until it is ready
  service status                  show where the agent listens (exit 0 only when it answers)
  service stop                    stop the agent
  service ps                      loaded models with requests in flight and time left
  service keys show               the API keys (seed 003 format), creating the keys file if needed
  service keys rotate primary|secondary   replace one key; the agent picks it up without a restart
  service logs [--lines N] [--follow]     the agent's structured log
  keys create [--preset invoke] [--model 'phi-4*'] [--deployment NAME] [--expires 30d] [--actions A,B] [--name N]
                                  a scoped access key (shown once) from the running agent
  keys list | keys revoke <id>    scoped access keys (no secrets) / revoke one
  model list                      the catalog, with what is cached
  model download <alias|id>       download a catalog model with a progress bar
  model load <name> [--ttl S] [--ep EP] [--variant V]
  model optimize <name>           write <name>-fused: the graph rewritten into fused kernels, verified
  model optimize <name> --int4 [--block-size 32] [--accuracy-level 4] [--min-agreement 0.9]
                                  write <name>-int4 (4-bit MatMulNBits), after reporting its greedy-token agreement
  model unload <name> [--force]
  cache location                  where models are stored
  cache list                      models in the cache and their state
  cache remove <model> [--force]  delete a cached model (--force unloads it first)
  predict <model> <image file>    run a predictive model (OCR prints the text it reads)
  run <model> <prompt> [--max-tokens N] [--temperature T]   stream a completion
  embed <model> [text...] [--dimensions N] [--json]
                                  sentence vectors, one JSON array a line (texts from stdin, a line each, when none given)
  transcribe <file> [--model M] [--format text|srt|vtt|json|verbose_json] [--language xx] [--translate]
                                  speech to text (WAV, MP3, FLAC, Ogg Vorbis, Opus); default
                                  model: the first speech model in the cache
  model run <model> [--max-tokens N] [--temperature T]
                                  download if needed, load, and chat in the terminal
                                  (/clear, /exit; Ctrl-C stops an answer; piped input: a turn a line)

  deployment list [--namespace NS] [--json]          seed 003's deployments on this agent
  deployment get <name>                              one deployment's spec and status
  deployment create <name> --model M [--replicas N] [--auth] [--compute cpu|gpu] [--workload predictive] [--env K=V]...
                                  a kept-loaded model with its own workers (and its own keys with --auth)
  deployment patch <name> [--replicas N] [--env K=V]...
  deployment delete <name>
  deployment keys <name> [rotate primary|secondary]  its primary and secondary API keys
                                  (every deployment command takes --namespace NS, default 'default')

Agent options: see 'npm start -- --help'.`;

async function withClient<T>(home: string, fn: (c: AgentClient) => Promise<T>): Promise<T> {
  const mgr = await CrucibleManager.connect({ home });
  try {
    return await fn(mgr.client);
  } finally {
    await mgr.close();
  }
}

async function main(argv: string[]): Promise<number> {
  const { values, positionals } = parseArgs({
    args: argv,
    options: {
      home: { type: 'string' }, help: { type: 'boolean', short: 'h' }, force: { type: 'boolean' },
      ttl: { type: 'string' }, ep: { type: 'string' }, variant: { type: 'string' }, int4: { type: 'boolean' },
      'block-size': { type: 'string' }, 'accuracy-level': { type: 'string' }, 'min-agreement': { type: 'string' }, lines: { type: 'string' }, follow: { type: 'boolean' },
      'api-keys-file': { type: 'string' }, 'max-tokens': { type: 'string' }, temperature: { type: 'string' },
      'ignore-eos': { type: 'boolean' },
      namespace: { type: 'string' }, model: { type: 'string', multiple: true }, replicas: { type: 'string' }, compute: { type: 'string' },
      workload: { type: 'string' }, auth: { type: 'boolean' }, env: { type: 'string', multiple: true }, json: { type: 'boolean' },
      preset: { type: 'string' }, expires: { type: 'string' }, name: { type: 'string' }, actions: { type: 'string' },
      deployment: { type: 'string', multiple: true }, dimensions: { type: 'string' },
      format: { type: 'string' }, language: { type: 'string' }, translate: { type: 'boolean' },
    },
    allowPositionals: true,
    strict: false,
  });
  const home = (values.home as string | undefined) ?? defaultHome();
  const [group, action, ...rest] = positionals;
  if (values.help || !group) {
    console.log(HELP);
    return group ? 0 : 2;
  }
  switch (`${group} ${action ?? ''}`.trim()) {
    case 'service start': {
      // Everything after 'service start' that is not the CLI's own --home goes to the agent.
      const i = argv.indexOf('start');
      return serviceStart(home, argv.slice(i + 1).filter((a, j, all) => a !== '--home' && all[j - 1] !== '--home'));
    }
    case 'service status': return serviceStatus(home);
    case 'service stop': return serviceStop(home);
    case 'service keys': return serviceKeys(home, rest, values['api-keys-file'] as string | undefined);
    case 'keys create': case 'keys list': case 'keys revoke':
      return accessKeysCommand(home, [action, ...rest], {
        preset: values.preset as string | undefined, models: values.model as string[] | undefined, actions: values.actions as string | undefined,
        deployments: values.deployment as string[] | undefined,
        expires: values.expires as string | undefined, name: values.name as string | undefined, apiKeysFile: values['api-keys-file'] as string | undefined,
      });
    case 'service logs': return serviceLogs(home, Number(values.lines ?? 50), Boolean(values.follow));
    case 'service ps': return withClient(home, async (c) => {
      const rows = (await c.modelInfo()).filter((m) => m.state !== 'cached');
      if (rows.length === 0) console.log('No models loaded.');
      for (const m of rows) {
        const left = m.expiresInSeconds === null ? '-' : `${m.expiresInSeconds}s`;
        const mem = m.memoryBytes === null ? '-' : `${(m.memoryBytes / 1e6).toFixed(1)}MB`;
        console.log(`${m.id.padEnd(36)} ${m.state.padEnd(8)} ep=${m.executionProvider ?? '-'} mem=${mem} in-flight=${m.inFlight} ttl-left=${left}${m.fused ? ' fused' : ''}${m.error ? ` error=${m.error}` : ''}`);
      }
      return 0;
    });
    case 'model list': return withClient(home, modelList);
    case 'model download': return withClient(home, (c) => modelDownload(c, rest[0] ?? ''));
    case 'model run': return withClient(home, (c) => modelRun(c, rest[0] ?? '', {
      maxTokens: values['max-tokens'] ? Number(values['max-tokens']) : undefined,
      temperature: values.temperature ? Number(values.temperature) : undefined,
      ignoreEos: Boolean(values['ignore-eos']),
    }));
    case 'model optimize': return withClient(home, (c) => modelOptimize(c, rest[0] ?? '', values.int4 ? {
      blockSize: values['block-size'] ? Number(values['block-size']) : undefined,
      accuracyLevel: values['accuracy-level'] ? Number(values['accuracy-level']) as 0 | 4 : undefined,
      minAgreement: values['min-agreement'] ? Number(values['min-agreement']) : undefined,
    } : undefined));
    case 'cache location': return withClient(home, async (c) => {
      console.log((await c.status()).ModelDirPath);
      return 0;
    });
    case 'cache list': return withClient(home, cacheList);
    case 'cache remove': return withClient(home, async (c) => {
      const r = await c.removeModel(rest[0] ?? '', Boolean(values.force));
      console.log(`Removed ${r.model}`);
      return 0;
    });
    case 'model load': return withClient(home, async (c) => {
      const r = await c.load(rest[0] ?? '', { ttl: values.ttl ? Number(values.ttl) : undefined, ep: values.ep as string | undefined, variant: values.variant as string | undefined });
      console.log(`Loaded ${r.model}`);
      return 0;
    });
    case 'model unload': return withClient(home, async (c) => {
      const r = await c.unload(rest[0] ?? '', Boolean(values.force));
      console.log(`Unloaded ${r.model}`);
      return 0;
    });
    default:
      if (group === 'deployment') {
        return deploymentCommand(home, action, rest, {
          namespace: values.namespace as string | undefined, model: (values.model as string[] | undefined)?.at(-1), replicas: values.replicas as string | undefined,
          compute: values.compute as string | undefined, workload: values.workload as string | undefined, auth: values.auth as boolean | undefined,
          env: values.env as string[] | undefined, json: values.json as boolean | undefined,
        });
      }
      if (group === 'transcribe') {
        return withClient(home, (c) => transcribeCommand(c, action, {
          model: (values.model as string[] | undefined)?.at(-1), format: values.format as string | undefined,
          language: values.language as string | undefined, translate: Boolean(values.translate),
        }));
      }
      if (group === 'predict') {
        const [model, file] = [action, ...rest];
        if (!model || !file) {
          console.error('usage: crucible predict <model> <image file>');
          return 2;
        }
        const bytes = readFileSync(file);
        const type = /\.jpe?g$/i.test(file) ? 'image/jpeg' : 'image/png';
        return withClient(home, async (c) => {
          const r = await c.predict({ model, items: [{ content_type: type, encoder: 'base64', data: bytes.toString('base64') }] });
          for (const p of r.predictions) {
            if ('text' in p) console.log(p.text);
            else for (const l of p.labels) console.log(`${l.label}\t${l.score}`);
          }
          return 0;
        });
      }
      if (group === 'embed') {
        return withClient(home, (c) => embedCommand(c, action, rest, { dimensions: values.dimensions as string | undefined, json: values.json as boolean | undefined }));
      }
      if (group === 'run') {
        const [model, ...words] = [action, ...rest];
        return withClient(home, async (c) => {
          const body = {
            model: model ?? '', messages: [{ role: 'user', content: words.join(' ') }],
            ...(values['max-tokens'] ? { max_tokens: Number(values['max-tokens']) } : {}),
            ...(values.temperature ? { temperature: Number(values.temperature) } : {}),
          };
          for await (const chunk of c.chatStream(body)) process.stdout.write(chunk.choices[0]?.delta.content ?? '');
          process.stdout.write('\n');
          return 0;
        });
      }
      console.error(`crucible: unknown command '${positionals.join(' ')}'\n\n${HELP}`);
      return 2;
  }
}

main(process.argv.slice(2)).then((code) => process.exit(code), (err) => {
  console.error(`crucible: ${err instanceof CrucibleError ? err.message : (err as Error).stack ?? err}`);
  process.exit(1);
});
