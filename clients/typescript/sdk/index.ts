/** The Crucible SDK: `import { CrucibleManager } from 'crucible'` (or 'crucible/sdk'). */
export { CrucibleManager, type ConnectOptions, type CreateOptions } from './manager.js';
export { Catalog, Model, type ModelVariant, type Selection, type DownloadOptions } from './catalog.js';
export { ChatClient, PredictClient, type ChatMessage, type ChatSettings, type CallOptions, type PredictItem } from './chat-client.js';
export { AudioClient, type AudioSettings, type AudioInput } from './audio-client.js';
export type { Transcript, TranscriptSegment, TranscriptWord } from '../../../protocol/audio.js';
export { renderTranscript, renderSrt, renderVtt, type TranscriptStreamEvent } from '../../../protocol/audio-render.js';
export { EmbeddingClient, type EmbeddingSettings, type Embeddings, fromBase64 } from './embedding-client.js';
export { CrucibleError } from '../../../protocol/errors.js';
