import { invalid } from './errors.js';
import { type Json, checkModelName, optionalBoolean, optionalInteger, requireModelName, requireObject } from './validate.js';

export type ModelState = 'cached' | 'loading' | 'loaded' | 'failed';

/** One model the agent knows, as reported by `models.cached` details and `service ps`. */
export interface ModelInfo {
  id: string;
  alias: string | null;
  folder: string;
  path: string;
  /** `chat` for generative models, `embeddings` for embedding models, else the predictive task (`ocr`, `image-classification`) or `automatic-speech-recognition`. */
  task: 'chat' | 'ocr' | 'image-classification' | 'embeddings' | 'automatic-speech-recognition';
  state: ModelState;
  executionProvider: string | null;
  error: string | null;
  contextLength: number | null;
  /** Whether the loaded session runs the fused graph; null when not loaded. */
  fused: boolean | null;
  /** Of memoryBytes, what the ONNX Runtime session holds (the weights as the runtime keeps them); null when not loaded. */
  sessionMemoryBytes: number | null;
  /** Where the KV caches live between decode steps (`device` on WebGPU, `host` on the CPU); null when not loaded. */
  kvCache: 'device' | 'host' | null;
  /** Which `.onnx` variant of the folder is loaded (`fp32`, `q4`, `q4f16`, ...) and its file; null when not loaded. */
  variant: string | null;
  onnxFile: string | null;
  /** Resident memory the model's session added when it loaded; null when not loaded. */
  memoryBytes: number | null;
  /** Requests being served now. */
  inFlight: number;
  /** Requests waiting for the model. */
  queued: number;
  /** Seconds until an idle loaded model unloads itself; null while busy or not loaded. */
  expiresInSeconds: number | null;
}

/** GET /v1/models/{id} (OpenAI `model` object). */
export interface OpenAIModel {
  id: string;
  object: 'model';
  created: number;
  owned_by: string;
}

/** GET /v1/models (OpenAI list shape). */
export interface OpenAIModelList {
  object: 'list';
  data: OpenAIModel[];
}

/**
 * GET /openai/status (pipe op `status` adds the protocol fields). Every field in both casings: the
 * seeds document `ModelDirPath`, the Foundry Local SDKs read `modelDirPath`.
 */
export interface ServiceStatus {
  Endpoints: string[];
  ModelDirPath: string;
  PipeName: string;
  Version: string;
  endpoints: string[];
  modelDirPath: string;
  pipeName: string;
  version: string;
  protocolVersion: number;
  pid: number;
  /** Execution providers that can run on this machine, best first (the SDK ranks variants with them). */
  executionProviders: string[];
  /** What the device probe found: providers that create a session, those chosen automatically, the WebGPU adapter. */
  devices: DeviceReport;
}

/** A WebGPU adapter as Dawn reports it. */
export interface GpuAdapter {
  name: string;
  vendor: string;
  architecture: string;
  description: string;
  /** The native API under WebGPU (`vulkan`, `d3d12`, `metal`); null when Dawn did not list it. */
  backend: string | null;
  /** A CPU implementation (SwiftShader, llvmpipe, WARP): usable when asked for, never chosen as "the GPU". */
  software: boolean;
}

export interface WebGpuReport {
  /** The adapter a high-performance request gets (the one ONNX Runtime's WebGPU provider uses); null when none. */
  adapter: GpuAdapter | null;
  /** Every adapter Dawn lists. */
  adapters: { backend: string; name: string }[];
  /** Why there is no adapter, or why none could be asked for. */
  note: string | null;
}

export interface DeviceReport {
  /** Providers that created a session on this machine (any can be asked for by name). */
  providers: string[];
  /** Of those, the ones a model is put on when it names none, best first (NPU, vendor GPU, CUDA, generic GPU, CPU). */
  automatic: string[];
  /** The WebGPU adapter; null when WebGPU is not bundled here. */
  webgpu: WebGpuReport | null;
}

export function serviceStatus(s: { endpoints: string[]; modelDirPath: string; pipeName: string; version: string; protocolVersion: number; pid: number; devices: DeviceReport }): ServiceStatus {
  return {
    Endpoints: s.endpoints, ModelDirPath: s.modelDirPath, PipeName: s.pipeName, Version: s.version,
    endpoints: s.endpoints, modelDirPath: s.modelDirPath, pipeName: s.pipeName, version: s.version,
    protocolVersion: s.protocolVersion, pid: s.pid, executionProviders: s.devices.providers, devices: s.devices,
  };
}

/** The status file `<home>/service.json`, how clients find a running agent. */
export interface ServiceFile {
  pid: number;
  version: string;
  protocolVersion: number;
  endpoints: string[];
  pipeName: string;
  modelDirPath: string;
  startedAt: string;
  /** The API keys file, when the agent was started with one (`crucible service keys`). */
  apiKeysFile?: string;
}

export interface LoadRequest {
  name: string;
  ttl?: number;
  ep?: string;
  /** Pins one `.onnx` file of a folder with several (`q4`, `fp16`, `model_q4.onnx`). */
  variant?: string;
}

export interface UnloadRequest {
  name: string;
  force: boolean;
}

export interface GpuDevice {
  deviceId: number;
  /** The GPU provider behind the index and its adapter (WebGPU's); absent where none runs. */
  provider?: string;
  adapter?: GpuAdapter | null;
}

export function parseLoadRequest(input: unknown): LoadRequest {
  const body = requireObject(input, 'body');
  const ep = body.ep;
  if (ep !== undefined && ep !== null && typeof ep !== 'string') throw invalid('ep', "'ep' must be a string");
  const variant = body.variant;
  if (variant !== undefined && variant !== null && (typeof variant !== 'string' || !/^[A-Za-z0-9_.-]{1,64}$/.test(variant))) {
    throw invalid('variant', "'variant' must be a variant name such as q4 or a file name such as model_q4.onnx");
  }
  return {
    name: requireModelName(body, 'name'),
    ttl: optionalInteger(body, 'ttl', 1, 31_536_000),
    ep: typeof ep === 'string' && ep.length > 0 ? ep.toLowerCase() : undefined,
    ...(typeof variant === 'string' && variant.length > 0 ? { variant } : {}),
  };
}

export function parseUnloadRequest(input: unknown): UnloadRequest {
  const body = requireObject(input, 'body');
  return { name: requireModelName(body, 'name'), force: optionalBoolean(body, 'force') ?? false };
}

export function parseGpuDevice(input: unknown): GpuDevice {
  const body = requireObject(input, 'body') as Json;
  const deviceId = optionalInteger(body, 'deviceId', 0, 1024);
  if (deviceId === undefined) throw invalid('deviceId', "'deviceId' is required and must be a non-negative integer");
  return { deviceId };
}

export { checkModelName };
