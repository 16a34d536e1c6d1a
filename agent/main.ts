#!/usr/bin/env node
/** `npm start`: runs the agent in the foreground until SIGINT or SIGTERM. */
import { loadConfig, usage } from './config.js';
import { startService } from './service.js';

async function main(): Promise<void> {
  if (process.argv.includes('--help') || process.argv.includes('-h')) {
    console.log(`Usage: crucible-agent [options]\n\n${usage()}`);
    return;
  }
  let config;
  try {
    config = loadConfig();
  } catch (err) {
    console.error(`crucible: ${(err as Error).message}\n\n${usage()}`);
    process.exit(2);
  }
  const service = await startService(config);
  console.log(`Crucible is listening on ${service.url} (models in ${config.modelsDir})`);
  if (config.ui === '1') console.log(`Web console: ${service.url}/`);
  const stop = (signal: string) => {
    console.log(`Crucible: ${signal}, shutting down`);
    service.close().then(() => process.exit(0), () => process.exit(1));
  };
  process.once('SIGINT', () => stop('SIGINT'));
  process.once('SIGTERM', () => stop('SIGTERM'));
  // The parent holds the other end of stdin: when it exits, however it exits, the pipe closes.
  if (config.exitOnStdinClose === '1') {
    process.stdin.on('data', () => {}).once('close', () => stop('parent gone'));
  }
}

main().catch((err) => {
  console.error(`crucible: ${(err as Error).stack ?? err}`);
  process.exit(1);
});
