import { execFile } from 'node:child_process';
import { fileURLToPath } from 'node:url';
import type { GpuAdapter, WebGpuReport } from '../protocol/models.js';

const CHILD = fileURLToPath(new URL('./gpu-adapter-child.js', import.meta.url));

/** Names of CPU implementations of Vulkan, D3D12 and Metal: usable, but not a GPU. */
const SOFTWARE = /swiftshader|llvmpipe|lavapipe|softpipe|microsoft basic render|\bwarp\b/i;

export function isSoftware(a: Pick<GpuAdapter, 'name' | 'vendor' | 'architecture' | 'description'> & { fallback?: boolean }): boolean {
  return Boolean(a.fallback) || SOFTWARE.test(`${a.name} ${a.architecture} ${a.description}`);
}

const slug = (s: string) => s.toLowerCase().replace(/[^a-z0-9]+/g, '-');

/**
 * Which WebGPU adapter this machine has, as Dawn (through the `webgpu` package) reports it: every
 * adapter it lists with its backend, and the one a high-performance request gets, which is the
 * request ONNX Runtime's WebGPU provider makes. onnxruntime-node itself reports nothing about
 * the adapter it uses. Runs in a child process with the agent's environment (VK_ICD_FILENAMES
 * included), bounded by `timeoutMs`.
 */
export function probeWebGpuAdapter(timeoutMs = 20_000): Promise<WebGpuReport> {
  return new Promise((resolve) => {
    execFile(process.execPath, [CHILD], { timeout: timeoutMs, maxBuffer: 1 << 20, windowsHide: true }, (err, stdout) => {
      const line = stdout.trim().split('\n').at(-1) ?? '';
      let raw: { error?: string; listed?: { backend: string; name: string }[]; chosen?: Record<string, string | boolean> | null };
      try {
        raw = JSON.parse(line);
      } catch {
        return resolve({ adapter: null, adapters: [], note: `the adapter probe gave no answer${err ? `: ${err.message.split('\n')[0]}` : ''}` });
      }
      resolve(toReport(raw));
    });
  });
}

/** The child's answer as the agent reports it. */
export function toReport(raw: { error?: string; listed?: { backend: string; name: string }[]; chosen?: Record<string, string | boolean> | null }): WebGpuReport {
  if (raw.error) return { adapter: null, adapters: [], note: raw.error };
  const adapters = raw.listed ?? [];
  const c = raw.chosen;
  if (!c) return { adapter: null, adapters, note: adapters.length > 0 ? 'Dawn lists adapters but none answers a request' : 'no WebGPU adapter (no Vulkan driver, or one Dawn refuses)' };
  const device = String(c.device ?? '');
  // Dawn's adapter info names the device as a slug of the listed name.
  const match = adapters.find((a) => slug(a.name) === slug(device) || slug(a.name).startsWith(slug(device))) ?? (adapters.length === 1 ? adapters[0] : undefined);
  const adapter: GpuAdapter = {
    name: match?.name ?? device,
    vendor: String(c.vendor ?? ''),
    architecture: String(c.architecture ?? ''),
    description: String(c.description ?? ''),
    backend: match?.backend ?? null,
    software: false,
  };
  adapter.software = isSoftware({ ...adapter, fallback: c.fallback === true });
  return { adapter, adapters, note: null };
}
