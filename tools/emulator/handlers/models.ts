import type { Model } from 'openai/resources/models';
import type { EmulatorState, Handler } from '../context';
import { notFound } from '../errors';
import { sendJson } from '../http';

/** The deployments, listed as models (the service's health check probes this route). */
function models(state: EmulatorState): Model[] {
  const created = 1_700_000_000;
  return [...state.options.deployments, ...state.options.imageDeployments].map((id) => ({
    id,
    object: 'model',
    created,
    owned_by: 'system',
  }));
}

const listModels: Handler = (ctx) => {
  sendJson(ctx.res, 200, { object: 'list', data: models(ctx.state) });
  return Promise.resolve();
};

const getModel: Handler = (ctx) => {
  const model = models(ctx.state).find((m) => m.id === ctx.params.id);
  if (!model)
    throw notFound(`The model '${ctx.params.id ?? ''}' does not exist.`, 'model', 'model_not_found');
  sendJson(ctx.res, 200, model);
  return Promise.resolve();
};

export const modelRoutes: Array<{ method: string; template: string; handler: Handler }> = [
  { method: 'GET', template: '/models', handler: listModels },
  { method: 'GET', template: '/models/{id}', handler: getModel },
];
