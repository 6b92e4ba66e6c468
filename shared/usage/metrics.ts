/** Token metrics for Application Insights: not sent yet (this module is where they go). */
import type { UsageRow } from './types';

export function emitUsageMetrics(_row: UsageRow): void {}
