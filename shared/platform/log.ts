/**
 * Where background work logs: the invocation context of the timer or trigger that runs it (Application Insights
 * ties the lines to that invocation), or anything with the same three methods.
 */
import type { InvocationContext } from '@azure/functions';

export type Log = Pick<InvocationContext, 'log' | 'warn' | 'error'>;
