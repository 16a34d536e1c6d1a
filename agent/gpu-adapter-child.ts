/**
 * Run as its own process by gpu-adapter.ts: asks Dawn (the `webgpu` package, the same WebGPU
 * implementation ONNX Runtime's WebGPU provider is built on) which adapters exist and which one a
 * high-performance request gets, the request ONNX Runtime makes, and prints the answer as one
 * JSON line. A process of its own, so a driver that crashes or hangs takes nothing else with it.
 */
interface Info { vendor?: string; architecture?: string; device?: string; description?: string; isFallbackAdapter?: boolean }

const moduleName = 'webgpu';

async function main(): Promise<void> {
  let mod: { create(flags: string[]): { requestAdapter(o?: object): Promise<{ info: Info; isFallbackAdapter?: boolean } | null> } };
  try {
    mod = await import(moduleName);
  } catch (err) {
    return print({ error: `the webgpu package cannot load here: ${(err as Error).message}` });
  }
  // Dawn lists every adapter it found when asked for one that does not exist.
  let listed: { backend: string; name: string }[] = [];
  try {
    await mod.create(['adapter=\u0000none']).requestAdapter();
  } catch (err) {
    listed = [...String((err as Error).message).matchAll(/backend: '([^']*)', name: '([^']*)'/g)].map((m) => ({ backend: m[1], name: m[2] }));
  }
  const adapter = await mod.create([]).requestAdapter({ powerPreference: 'high-performance' });
  const info = adapter?.info;
  print({
    listed,
    chosen: info ? {
      vendor: info.vendor ?? '', architecture: info.architecture ?? '', device: info.device ?? '', description: info.description ?? '',
      fallback: Boolean(info.isFallbackAdapter ?? adapter?.isFallbackAdapter),
    } : null,
  });
}

function print(v: unknown): void {
  process.stdout.write(`${JSON.stringify(v)}\n`, () => process.exit(0));
}

main().catch((err) => print({ error: (err as Error).message }));
