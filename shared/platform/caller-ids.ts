/**
 * The app's caller-bound ids (see sealed-ids.ts), keyed with ID_SEALING_KEYS from the validated configuration.
 * A missing or malformed setting fails with the rest of the configuration: nothing is handed out or accepted
 * without keys.
 */
import { getConfig, type Config } from './config';
import { configureIdSealing, openId, sealId } from './sealed-ids';

let configuredFrom: Config | undefined;

/** Installs the configured key ring (again only when the configuration was reloaded). */
export function ensureIdSealing(): void {
  const config = getConfig();
  if (configuredFrom === config) return;
  configureIdSealing(config.idSealingKeys);
  configuredFrom = config;
}

/** The id `callerId` holds for upstream id `upstreamId`. */
export function sealForCaller(callerId: string, upstreamId: string): string {
  ensureIdSealing();
  return sealId(callerId, upstreamId);
}

/** The upstream id behind an id `callerId` sent, or undefined when it is not theirs (or not an id at all). */
export function openForCaller(callerId: string, id: string): string | undefined {
  ensureIdSealing();
  return openId(callerId, id);
}
