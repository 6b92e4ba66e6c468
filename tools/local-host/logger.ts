import type { RpcLogLevel } from './core-types';

/** Receives every line the host prints; the default writes warnings and errors to stderr, the rest to stdout. */
export type LineSink = (line: string, level: RpcLogLevel) => void;

export const defaultSink: LineSink = (line, level) => {
  if (level === 'error' || level === 'critical' || level === 'warning') process.stderr.write(line + '\n');
  else process.stdout.write(line + '\n');
};

export interface Logger {
  /** A host line: `[timestamp] message`. */
  host(level: RpcLogLevel, message: string): void;
  /** A function line: `[timestamp] [functionName] message`, as `func start` prefixes worker output. */
  fn(functionName: string, level: RpcLogLevel, message: string): void;
}

const LEVEL_TAG: Partial<Record<RpcLogLevel, string>> = {
  warning: 'Warning: ',
  error: 'Error: ',
  critical: 'Error: ',
};

export function createLogger(sink: LineSink, minLevel: RpcLogLevel = 'information'): Logger {
  const order: RpcLogLevel[] = ['trace', 'debug', 'information', 'warning', 'error', 'critical', 'none'];
  const enabled = (level: RpcLogLevel): boolean =>
    level !== 'none' && order.indexOf(level) >= order.indexOf(minLevel);
  const stamp = (): string => new Date().toISOString();
  return {
    host(level, message) {
      if (enabled(level)) sink(`[${stamp()}] ${LEVEL_TAG[level] ?? ''}${message}`, level);
    },
    fn(functionName, level, message) {
      if (enabled(level)) sink(`[${stamp()}] [${functionName}] ${LEVEL_TAG[level] ?? ''}${message}`, level);
    },
  };
}

/** Message and stack of anything thrown, for logs. */
export function describeError(err: unknown): string {
  if (err instanceof Error) return err.stack ?? `${err.name}: ${err.message}`;
  return String(err);
}
