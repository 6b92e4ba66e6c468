import type { Handler } from './context';

export interface Route {
  method: string;
  template: string;
  handler: Handler;
}

export type Match =
  | { kind: 'found'; route: Route; params: Record<string, string> }
  | { kind: 'wrong-method'; template: string }
  | { kind: 'none' };

function matchTemplate(template: string, path: string): Record<string, string> | undefined {
  const want = template.split('/');
  const got = path.split('/');
  if (want.length !== got.length) return undefined;
  const params: Record<string, string> = {};
  for (let i = 0; i < want.length; i++) {
    const w = want[i] ?? '';
    const g = got[i] ?? '';
    if (w.startsWith('{') && w.endsWith('}')) {
      if (!g) return undefined;
      params[w.slice(1, -1)] = decodeURIComponent(g);
    } else if (w !== g) {
      return undefined;
    }
  }
  return params;
}

/** Literal templates win over `{param}` ones, so `/responses/compact` is never taken for an id. */
export class Router {
  private readonly routes: Route[];

  constructor(routes: Route[]) {
    const literalness = (r: Route) => (r.template.includes('{') ? 1 : 0);
    this.routes = [...routes].sort((a, b) => literalness(a) - literalness(b));
  }

  match(method: string, path: string): Match {
    let template: string | undefined;
    for (const route of this.routes) {
      const params = matchTemplate(route.template, path);
      if (!params) continue;
      if (route.method === method) return { kind: 'found', route, params };
      template ??= route.template;
    }
    return template ? { kind: 'wrong-method', template } : { kind: 'none' };
  }
}
