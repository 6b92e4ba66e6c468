import { randomUUID } from 'node:crypto';
import { existsSync, mkdirSync, readFileSync, renameSync, writeFileSync } from 'node:fs';
import { dirname } from 'node:path';
import type { RegisteredFunction } from './core-api';
import { parseBlobPath, type BlobClients } from './blob-storage';
import { BLOB_WEBHOOK_PATH, WAIT_HEADER } from './blob-events';
import { bindingString, triggerOf } from './invoke';
import { describeError, type Logger } from './logger';

/**
 * Stands in for the Event Grid subscription that Azure has and Azurite lacks: polls each blob-triggered
 * function's container and, for every blob that is new or has a new ETag, POSTs the host's own blob webhook the
 * BlobCreated event Event Grid would send, so watched uploads and real events share one code path.
 *
 * The seen map (function → blob → ETag) is persisted, so blobs uploaded while the host was down fire after a
 * restart and blobs already delivered do not fire again. Without a state file every existing blob fires once,
 * as the host's container scan does without blob receipts.
 */
export interface BlobWatcherOptions {
  functions: RegisteredFunction[];
  clients: BlobClients;
  statePath: string;
  intervalMs: number;
  /** Base URL of this host (`http://127.0.0.1:7071`). */
  selfUrl: string;
  logger: Logger;
}

interface WatchState {
  version: 1;
  seen: Record<string, Record<string, string>>;
}

function loadState(path: string, logger: Logger): WatchState {
  if (!existsSync(path)) return { version: 1, seen: {} };
  try {
    const parsed = JSON.parse(readFileSync(path, 'utf8')) as Partial<WatchState>;
    return { version: 1, seen: parsed.seen ?? {} };
  } catch (err) {
    logger.host(
      'warning',
      `Blob watcher state ${path} is unreadable (${describeError(err)}); starting empty.`,
    );
    return { version: 1, seen: {} };
  }
}

function saveState(path: string, state: WatchState): void {
  mkdirSync(dirname(path), { recursive: true });
  const tmp = `${path}.${process.pid}.tmp`;
  writeFileSync(tmp, JSON.stringify(state, null, 2));
  renameSync(tmp, path);
}

export interface BlobWatcher {
  /** One scan of every watched container (also what the interval runs). */
  scan(): Promise<void>;
  stop(): Promise<void>;
}

export function startBlobWatcher(opts: BlobWatcherOptions): BlobWatcher {
  const { logger } = opts;
  const targets = opts.functions.map((fn) => {
    const { binding } = triggerOf(fn);
    return {
      fn: fn.metadata.name,
      connection: bindingString(binding, 'connection', 'AzureWebJobsStorage'),
      pattern: parseBlobPath(bindingString(binding, 'path')),
    };
  });
  const state = loadState(opts.statePath, logger);
  const ensured = new Set<string>();
  const lastError = new Map<string, string>();
  let stopped = false;
  let timer: NodeJS.Timeout | undefined;
  let current: Promise<void> = Promise.resolve();

  const post = async (
    fn: string,
    container: string,
    name: string,
    blob: { etag: string; url: string; contentType?: string; contentLength?: number },
  ): Promise<boolean> => {
    const event = {
      id: randomUUID(),
      topic:
        '/subscriptions/00000000-0000-0000-0000-000000000000/resourceGroups/local/providers/Microsoft.Storage/storageAccounts/local',
      subject: `/blobServices/default/containers/${container}/blobs/${name}`,
      eventType: 'Microsoft.Storage.BlobCreated',
      eventTime: new Date().toISOString(),
      dataVersion: '',
      metadataVersion: '1',
      data: {
        api: 'PutBlob',
        eTag: blob.etag,
        contentType: blob.contentType,
        contentLength: blob.contentLength,
        blobType: 'BlockBlob',
        url: blob.url,
        sequencer: Date.now().toString(16).padStart(32, '0'),
      },
    };
    const res = await fetch(
      `${opts.selfUrl}${BLOB_WEBHOOK_PATH}?functionName=Host.Functions.${encodeURIComponent(fn)}`,
      {
        method: 'POST',
        headers: {
          'content-type': 'application/json',
          'aeg-event-type': 'Notification',
          [WAIT_HEADER]: 'true',
        },
        body: JSON.stringify([event]),
      },
    );
    await res.arrayBuffer();
    return res.status === 200;
  };

  const scanTarget = async (t: (typeof targets)[number]): Promise<boolean> => {
    const service = opts.clients.get(t.connection);
    const container = service.getContainerClient(t.pattern.container);
    const key = `${t.connection}|${t.pattern.container}`;
    if (!ensured.has(key)) {
      await container.createIfNotExists();
      ensured.add(key);
    }
    const seen = (state.seen[t.fn] ??= {});
    const present = new Set<string>();
    let dirty = false;
    for await (const item of container.listBlobsFlat({ prefix: t.pattern.prefix || undefined })) {
      present.add(item.name);
      const etag = item.properties.etag ?? '';
      if (seen[item.name] === etag || !t.pattern.match(item.name)) continue;
      const url = container.getBlobClient(item.name).url;
      const ok = await post(t.fn, t.pattern.container, item.name, {
        etag,
        url,
        contentType: item.properties.contentType,
        contentLength: item.properties.contentLength,
      });
      if (ok) {
        seen[item.name] = etag;
        dirty = true;
      }
    }
    for (const name of Object.keys(seen)) {
      if (!present.has(name)) {
        delete seen[name];
        dirty = true;
      }
    }
    return dirty;
  };

  const scan = async (): Promise<void> => {
    let dirty = false;
    for (const t of targets) {
      try {
        if (await scanTarget(t)) dirty = true;
        lastError.delete(t.fn);
      } catch (err) {
        const message = err instanceof Error ? err.message : String(err);
        // Azurite not (yet) running is normal at start-up: report each distinct failure once.
        if (lastError.get(t.fn) !== message) {
          logger.host('warning', `Blob watcher for ${t.fn} (${t.pattern.container}): ${message}`);
          lastError.set(t.fn, message);
        }
      }
    }
    if (dirty) saveState(opts.statePath, state);
  };

  const loop = (): void => {
    if (stopped) return;
    current = scan().finally(() => {
      if (!stopped) timer = setTimeout(loop, opts.intervalMs);
    });
  };
  if (targets.length > 0) {
    logger.host(
      'information',
      `Watching blob containers ${[...new Set(targets.map((t) => t.pattern.container))].join(', ')} every ${opts.intervalMs} ms (state: ${opts.statePath}).`,
    );
    loop();
  }

  return {
    scan: () => (current = current.then(scan)),
    async stop() {
      stopped = true;
      if (timer) clearTimeout(timer);
      await current.catch(() => undefined);
    },
  };
}
