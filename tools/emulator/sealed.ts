import { createCipheriv, createDecipheriv, createHash, randomBytes } from 'node:crypto';
import { badRequest } from './errors';

/** What an encrypted compaction item carries: enough to prove later turns "remember" the earlier ones. */
export interface CompactionPayload {
  k: 'compaction';
  /** User turns folded into this item (including those of earlier compactions). */
  turns: number;
  /** Text of the first user message of the conversation, if any. */
  first: string | null;
  /** Items the compaction replaced. */
  items: number;
}

export interface ReasoningPayload {
  k: 'reasoning';
  /** The response that produced the reasoning item. */
  response: string;
  /** The user text the reasoning was about. */
  about: string;
}

export type SealedPayload = CompactionPayload | ReasoningPayload;

/**
 * Opaque `encrypted_content`, like the service's: AES-256-GCM under a key derived from the api key, so items
 * round-trip through one emulator (and its restarts) but tampered or foreign content is rejected.
 */
export class Sealer {
  private readonly key: Buffer;

  constructor(secret: string) {
    this.key = createHash('sha256').update(`responses-emulator:${secret}`).digest();
  }

  seal(payload: SealedPayload): string {
    const iv = randomBytes(12);
    const cipher = createCipheriv('aes-256-gcm', this.key, iv);
    const body = Buffer.concat([cipher.update(JSON.stringify(payload), 'utf8'), cipher.final()]);
    return `gAAAAA${Buffer.concat([iv, cipher.getAuthTag(), body]).toString('base64')}`;
  }

  /** Throws the service's 400 `invalid_encrypted_content` when the content was not sealed here. */
  open(content: string, param: string): SealedPayload {
    try {
      if (!content.startsWith('gAAAAA')) throw new Error('prefix');
      const raw = Buffer.from(content.slice(6), 'base64');
      const decipher = createDecipheriv('aes-256-gcm', this.key, raw.subarray(0, 12));
      decipher.setAuthTag(raw.subarray(12, 28));
      const text = Buffer.concat([decipher.update(raw.subarray(28)), decipher.final()]).toString('utf8');
      return JSON.parse(text) as SealedPayload;
    } catch {
      throw badRequest(
        'The encrypted content could not be decrypted or parsed.',
        param,
        'invalid_encrypted_content',
      );
    }
  }
}
