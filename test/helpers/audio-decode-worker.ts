import { parentPort, workerData } from 'node:worker_threads';
import { decodeAudio } from '../../workers/audio/decode.js';

/** Decodes the bytes it is given inside a worker thread, as the speech worker does, and reports the sample count. */
decodeAudio(workerData as Uint8Array).then(
  (samples) => parentPort!.postMessage({ length: samples.length }),
  (err: Error) => parentPort!.postMessage({ error: err.message }),
);
