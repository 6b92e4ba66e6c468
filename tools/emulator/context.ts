import type { IncomingMessage, ServerResponse } from 'node:http';
import { deploymentNotFound, badRequest } from './errors';
import type { FaultRegistry } from './faults';
import type { ResolvedOptions } from './options';
import type { RequestLog } from './request-log';
import type { Runner } from './runner';
import type { Sealer } from './sealed';
import type { FileStore, ResponseStore } from './store';
import type { WebhookSender } from './webhooks';

/** Shared state of one emulator instance. */
export interface EmulatorState {
  options: ResolvedOptions;
  responses: ResponseStore;
  files: FileStore;
  runner: Runner;
  /** Webhooks of ended background responses (off unless `webhookUrl` is set). */
  webhooks: WebhookSender;
  faults: FaultRegistry;
  sealer: Sealer;
  /** Requests per `METHOD /template`. */
  requests: Map<string, number>;
  /** The API requests received, for `GET /_emulator/requests`. */
  log: RequestLog;
  /** Event streams whose client hung up before the stream ended (how the service's upstream aborts show). */
  streamDisconnects: number;
  /** What each response and compaction was billed once it stopped, for `GET /_emulator/usage`. */
  billed: Map<string, BilledResponse>;
}

/** One response's (or compaction's) usage as the emulator bills it: the usage it reported when it stopped. */
export interface BilledResponse {
  id: string;
  kind: 'response' | 'compaction';
  model: string;
  status: string;
  safety_identifier: string | null;
  input_tokens: number;
  cached_tokens: number;
  output_tokens: number;
  reasoning_tokens: number;
}

/** One request being answered. */
export interface RequestContext {
  state: EmulatorState;
  req: IncomingMessage;
  res: ServerResponse;
  url: URL;
  method: string;
  /** Route template, e.g. `/responses/{id}`. */
  template: string;
  params: Record<string, string>;
}

export type Handler = (ctx: RequestContext) => Promise<void>;

/** `model` is the deployment name: required, and it must exist (Azure's DeploymentNotFound otherwise). */
export function requireDeployment(state: EmulatorState, model: unknown): string {
  if (model === undefined || model === null || model === '') {
    throw badRequest("Missing required parameter: 'model'.", 'model', 'missing_required_parameter');
  }
  if (typeof model !== 'string')
    throw badRequest("Invalid type for 'model': expected a string.", 'model', 'invalid_type');
  if (!state.options.deployments.includes(model)) throw deploymentNotFound();
  return model;
}
