/**
 * HTTP route templates as the Functions host (ASP.NET Core routing) reads them: literal segments are
 * case-insensitive; `{id}`, optional `{id?}`, defaults `{id=1}`, catch-all `{*rest}` / `{**rest}`, and inline
 * constraints `{id:int}`, `{name:alpha:minlength(2)}`. Unknown constraints are reported and ignored.
 */

export interface RouteParamSpec {
  name: string;
  optional: boolean;
  catchAll: boolean;
  defaultValue: string | undefined;
  constraints: { name: string; args: string[] }[];
}

export interface CompiledRoute<T> {
  template: string;
  methods: Set<string>;
  target: T;
  regex: RegExp;
  params: RouteParamSpec[];
  /** ASP.NET inbound precedence per segment: literal 1, complex 2, constrained 3, parameter 4, catch-all 5. */
  precedence: number[];
}

export interface RouteMatch<T> {
  route: CompiledRoute<T>;
  params: Record<string, string>;
}

const KNOWN = new Set([
  'int', 'long', 'bool', 'alpha', 'guid', 'decimal', 'double', 'float', 'datetime', 'required', 'nonfile',
  'min', 'max', 'range', 'minlength', 'maxlength', 'length', 'regex',
]); // prettier-ignore

function escapeRegExp(s: string): string {
  return s.replace(/[.*+?^${}()|[\]\\]/g, '\\$&');
}

/** Splits a segment into literal text and `{...}` tokens; `{{`/`}}` are literal braces. */
function tokenize(segment: string): ({ literal: string } | { param: string })[] {
  const out: ({ literal: string } | { param: string })[] = [];
  let literal = '';
  for (let i = 0; i < segment.length; i++) {
    const c = segment.charAt(i);
    if (c === '{' && segment.charAt(i + 1) === '{') {
      literal += '{';
      i++;
    } else if (c === '}' && segment.charAt(i + 1) === '}') {
      literal += '}';
      i++;
    } else if (c === '{') {
      let depth = 0;
      let j = i + 1;
      let body = '';
      for (; j < segment.length; j++) {
        const d = segment.charAt(j);
        if (d === '(') depth++;
        if (d === ')') depth--;
        if (d === '}' && segment.charAt(j + 1) === '}' && depth > 0) {
          body += '}';
          j++;
          continue;
        }
        if (d === '{' && segment.charAt(j + 1) === '{') {
          body += '{';
          j++;
          continue;
        }
        if (d === '}' && depth <= 0) break;
        body += d;
      }
      if (j >= segment.length) throw new Error(`Unclosed "{" in route segment "${segment}"`);
      if (literal) out.push({ literal });
      literal = '';
      out.push({ param: body });
      i = j;
    } else literal += c;
  }
  if (literal) out.push({ literal });
  return out;
}

function parseParam(body: string): RouteParamSpec {
  let rest = body.trim();
  let catchAll = false;
  if (rest.startsWith('**')) {
    catchAll = true;
    rest = rest.slice(2);
  } else if (rest.startsWith('*')) {
    catchAll = true;
    rest = rest.slice(1);
  }
  let defaultValue: string | undefined;
  const eq = rest.indexOf('=');
  if (eq >= 0 && !rest.slice(0, eq).includes('(')) {
    defaultValue = rest.slice(eq + 1);
    rest = rest.slice(0, eq);
  }
  let optional = false;
  if (rest.endsWith('?')) {
    optional = true;
    rest = rest.slice(0, -1);
  }
  // Constraints are `:name` or `:name(args)`; args may hold colons (regex), so split outside parentheses.
  const pieces: string[] = [];
  let depth = 0;
  let cur = '';
  for (const ch of rest) {
    if (ch === '(') depth++;
    if (ch === ')') depth--;
    if (ch === ':' && depth === 0) {
      pieces.push(cur);
      cur = '';
    } else cur += ch;
  }
  pieces.push(cur);
  const name = pieces.shift()!.trim();
  if (!/^[A-Za-z_][\w]*$/.test(name)) throw new Error(`Invalid route parameter name "${name}"`);
  const constraints = pieces.map((p) => {
    const m = /^([A-Za-z]+)(?:\((.*)\))?$/s.exec(p.trim());
    const cname = (m?.[1] ?? p).toLowerCase();
    const raw = m?.[2];
    const args = raw === undefined ? [] : cname === 'regex' ? [raw] : raw.split(',').map((a) => a.trim());
    return { name: cname, args };
  });
  return { name, optional: optional || catchAll, catchAll, defaultValue, constraints };
}

/** Compiles a template (relative to the route prefix). `onUnknownConstraint` hears about constraints it ignores. */
export function compileRoute<T>(
  template: string,
  methods: string[],
  target: T,
  prefix: string,
  onUnknownConstraint?: (constraint: string) => void,
): CompiledRoute<T> {
  const full = [prefix, template.replace(/^\/+|\/+$/g, '')].filter(Boolean).join('/');
  const segments = full === '' ? [] : full.split('/');
  const params: RouteParamSpec[] = [];
  const precedence: number[] = [];
  let re = '^';
  for (const segment of segments) {
    const tokens = tokenize(segment);
    const only = tokens.length === 1 ? tokens[0] : undefined;
    if (only && 'param' in only) {
      const p = parseParam(only.param);
      for (const c of p.constraints)
        if (!KNOWN.has(c.name)) onUnknownConstraint?.(`${c.name} (in {${only.param}})`);
      p.constraints = p.constraints.filter((c) => KNOWN.has(c.name));
      params.push(p);
      precedence.push(p.catchAll ? 5 : p.constraints.length > 0 ? 3 : 4);
      const group = p.catchAll ? '(.*)' : '([^/]+)';
      re += p.optional || p.defaultValue !== undefined ? `(?:/${group})?` : `/${group}`;
    } else {
      precedence.push(tokens.some((t) => 'param' in t) ? 2 : 1);
      re += '/';
      for (const t of tokens) {
        if ('literal' in t) re += escapeRegExp(t.literal);
        else {
          const p = parseParam(t.param);
          p.constraints = p.constraints.filter((c) => KNOWN.has(c.name));
          params.push(p);
          re += p.optional ? '([^/]*?)' : '([^/]+?)';
        }
      }
    }
  }
  re += '/?$';
  return {
    template,
    methods: new Set(methods.map((m) => m.toUpperCase())),
    target,
    regex: new RegExp(re === '^/?$' ? '^/?$' : re, 'i'),
    params,
    precedence,
  };
}

function satisfies(value: string, c: { name: string; args: string[] }): boolean {
  const n = Number(value);
  const a0 = c.args[0] ?? '';
  const a1 = c.args[1] ?? '';
  switch (c.name) {
    case 'int':
      return /^-?\d+$/.test(value) && n >= -2147483648 && n <= 2147483647;
    case 'long':
      return /^-?\d+$/.test(value);
    case 'bool':
      return /^(true|false)$/i.test(value);
    case 'alpha':
      return /^[a-z]+$/i.test(value);
    case 'guid':
      return /^\{?[0-9a-f]{8}-?[0-9a-f]{4}-?[0-9a-f]{4}-?[0-9a-f]{4}-?[0-9a-f]{12}\}?$/i.test(value);
    case 'decimal':
    case 'double':
    case 'float':
      return value.trim() !== '' && Number.isFinite(n);
    case 'datetime':
      return !Number.isNaN(Date.parse(value));
    case 'required':
      return value !== '';
    case 'nonfile':
      return !/\.[^/]*$/.test(value);
    case 'min':
      return Number.isFinite(n) && n >= Number(a0);
    case 'max':
      return Number.isFinite(n) && n <= Number(a0);
    case 'range':
      return Number.isFinite(n) && n >= Number(a0) && n <= Number(a1);
    case 'minlength':
      return value.length >= Number(a0);
    case 'maxlength':
      return value.length <= Number(a0);
    case 'length':
      return c.args.length > 1
        ? value.length >= Number(a0) && value.length <= Number(a1)
        : value.length === Number(a0);
    case 'regex':
      return new RegExp(a0, 'i').test(value);
    default:
      return true;
  }
}

function decode(s: string): string {
  try {
    return decodeURIComponent(s);
  } catch {
    return s;
  }
}

/** Orders routes so the most specific template is tried first, as ASP.NET routing does. */
export function sortRoutes<T>(routes: CompiledRoute<T>[]): CompiledRoute<T>[] {
  return [...routes].sort((a, b) => {
    const len = Math.max(a.precedence.length, b.precedence.length);
    for (let i = 0; i < len; i++) {
      const d = (a.precedence[i] ?? 0) - (b.precedence[i] ?? 0);
      if (d !== 0) return d;
    }
    return b.precedence.length - a.precedence.length;
  });
}

/**
 * The first route (in `sortRoutes` order) whose template, constraints and methods accept the request.
 * A path that matches only with another method is not found, as with the Functions host (it answers 404, not 405).
 */
export function matchRoute<T>(
  routes: CompiledRoute<T>[],
  method: string,
  pathname: string,
): RouteMatch<T> | undefined {
  const upper = method.toUpperCase();
  for (const route of routes) {
    const m = route.regex.exec(pathname);
    if (!m) continue;
    const params: Record<string, string> = {};
    let ok = true;
    route.params.forEach((p, i) => {
      const raw = m[i + 1];
      const value = raw === undefined || raw === '' ? p.defaultValue : decode(raw);
      if (value === undefined) {
        if (!p.optional) ok = false;
        return;
      }
      if (!p.constraints.every((c) => satisfies(value, c))) ok = false;
      params[p.name] = value;
    });
    if (!ok) continue;
    if (route.methods.size > 0 && !route.methods.has(upper)) continue;
    return { route, params };
  }
  return undefined;
}

/** The URL a route is served at, for the start-up listing: `{*rest}` etc. stay as written. */
export function displayRoute(prefix: string, template: string): string {
  return '/' + [prefix, template.replace(/^\/+|\/+$/g, '')].filter(Boolean).join('/');
}
