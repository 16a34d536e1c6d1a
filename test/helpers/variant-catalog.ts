import http from 'node:http';
import type { AddressInfo } from 'node:net';
import { type ModelServer, startModelServer } from './model-server.js';

export interface VariantCatalog {
  catalogUrl: string;
  files: ModelServer;
  close(): Promise<void>;
}

/**
 * A catalog served over real HTTP with one alias, `tiny`, in two variants: a CPU one whose model
 * file arrives slowly (32 KiB every 40 ms, so a download can be cancelled half-way) and a CUDA one
 * that cannot run on a machine without CUDA. With `webgpu`, a third: Foundry's generic-gpu form,
 * for WebGpuExecutionProvider, served at full speed. Files come from the model server of the
 * download tests.
 */
export async function startVariantCatalog(opts: { webgpu?: boolean } = {}): Promise<VariantCatalog> {
  const files = await startModelServer(['slow', 'none']);
  const base = (await (await fetch(files.catalogUrl)).json() as any[]).find((e) => e.name === 'tiny-slow:1');
  const entries = [
    { ...base, name: 'tiny-generic-cpu:1', alias: 'tiny', displayName: 'tiny (CPU)' },
    { ...base, name: 'tiny-cuda-gpu:1', alias: 'tiny', displayName: 'tiny (CUDA)', uri: base.uri.replace('/slow', '/none'),
      runtime: { deviceType: 'GPU', executionProvider: 'CUDAExecutionProvider' } },
    ...(opts.webgpu ? [{ ...base, name: 'tiny-generic-gpu:1', alias: 'tiny', displayName: 'tiny (WebGPU)', uri: base.uri.replace('/slow', '/none'),
      runtime: { deviceType: 'GPU', executionProvider: 'WebGpuExecutionProvider' } }] : []),
  ];
  const server = http.createServer((req, res) => {
    if (req.url === '/catalog.json') res.writeHead(200, { 'content-type': 'application/json' }).end(JSON.stringify(entries));
    else res.writeHead(404).end();
  });
  await new Promise<void>((r) => server.listen(0, '127.0.0.1', () => r()));
  return {
    catalogUrl: `http://127.0.0.1:${(server.address() as AddressInfo).port}/catalog.json`,
    files,
    close: async () => {
      await new Promise<void>((r) => { server.closeAllConnections(); server.close(() => r()); });
      await files.close();
    },
  };
}
