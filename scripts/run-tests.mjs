#!/usr/bin/env node
// Runs the tap suite with the raw TAP reporter, passes its output through, and ends with the
// plain "N passed, N failed" line CI reads. Leaf assertions count; a test file or subtest that
// fails without any failing assertion (a crash, a timeout) counts as one failure.
import { spawn } from 'node:child_process';
import { createInterface } from 'node:readline';
import { fileURLToPath } from 'node:url';

const root = fileURLToPath(new URL('..', import.meta.url));
const tap = spawn(process.execPath, [fileURLToPath(new URL('../node_modules/tap/dist/esm/run.mjs', import.meta.url)), '--reporter=tap', ...process.argv.slice(2)], {
  cwd: root, stdio: ['ignore', 'pipe', 'inherit'],
});
let passed = 0;
let failed = 0;
const open = []; // { indent, failures }
const lines = createInterface({ input: tap.stdout });
lines.on('line', (line) => {
  process.stdout.write(line + '\n');
  const subtest = /^(\s*)# Subtest:/.exec(line);
  if (subtest) { open.push({ indent: subtest[1].length, failures: 0 }); return; }
  const point = /^(\s*)(not )?ok \d+/.exec(line);
  if (!point || /# SKIP|# TODO/i.test(line)) return;
  const indent = point[1].length;
  const ok = !point[2];
  const top = open.at(-1);
  if (top && top.indent === indent) {
    open.pop();
    if (!ok && top.failures === 0) { failed++; if (open.length) open.at(-1).failures++; }
    else if (!ok && open.length) open.at(-1).failures += top.failures;
    return;
  }
  if (ok) passed++;
  else { failed++; if (top) top.failures++; }
});
tap.on('close', (code) => {
  lines.close();
  console.log(`\n${passed} passed, ${failed} failed`);
  process.exit(code ?? 1);
});
