export { connect, closeClient, readServiceInfo, defaultHome, type CrucibleClient } from './connect.js';
export { HttpClient, type ChatBody, type CompletionBody, type ResponseBody } from './http-client.js';
export { PipeClient } from './pipe-client.js';
export { CrucibleError } from '../../protocol/errors.js';
