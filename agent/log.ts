import { mkdirSync } from 'node:fs';
import { join } from 'node:path';
import pino, { type Logger } from 'pino';

export type { Logger };

/** Where the agent's log file lives. */
export const logFile = (home: string) => join(home, 'logs', 'crucible.log');

/**
 * One JSON object a line, to `<home>/logs/crucible.log` and to stderr. Secrets (API keys,
 * authorization headers) are redacted wherever they appear.
 */
export function createLogger(home: string, level: string, toStderr = true): Logger {
  mkdirSync(join(home, 'logs'), { recursive: true, mode: 0o700 });
  const streams: pino.StreamEntry[] = [{ level: level as pino.Level, stream: pino.destination({ dest: logFile(home), mkdir: true, sync: true }) }];
  if (toStderr) streams.push({ level: level as pino.Level, stream: process.stderr });
  return pino({
    level,
    base: { pid: process.pid },
    timestamp: pino.stdTimeFunctions.isoTime,
    redact: { paths: ['authorization', 'headers.authorization', 'headers["api-key"]', 'headers["x-api-key"]', 'apiKey', 'key'], censor: '[redacted]' },
  }, pino.multistream(streams));
}
