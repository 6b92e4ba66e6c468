/** Per-caller rate limits and daily token budgets (see README, "Limits"). */
export {
  admitCreate,
  formatReset,
  GATEWAY_RATE_LIMIT_TYPE,
  peekHeaders,
  reservationExtra,
  reservationFromExtra,
  resetLimiterForTests,
  settleTokens,
  startLimitSync,
  syncLimitsNow,
  type Admission,
  type Reservation,
} from './admit';
export { registerLimitsTasks } from './cleanup';
export { estimateTokens } from './estimate';
export { listRejections, type RejectionCount } from './rejections';
export {
  callerIdFromArg,
  clearLimitsCacheForTests,
  describeLimits,
  LIMIT_KINDS,
  limitsFor,
  setLimits,
  type LimitKind,
  type Limits,
} from './settings';
