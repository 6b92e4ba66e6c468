/**
 * The layers of the app, enforced by `npm run lint`:
 *   functions/ (one handler per file) → shared/<feature>/ → shared/platform/
 * Nothing imports upward and nothing imports in a circle (dynamic and type-only imports included).
 * Features may use each other as long as no cycle forms.
 */
/** @type {import('dependency-cruiser').IConfiguration} */
module.exports = {
  forbidden: [
    {
      name: 'no-circular',
      severity: 'error',
      comment: 'Import cycles (static, dynamic or type-only) hide the order modules load in; break them.',
      from: {},
      to: { circular: true },
    },
    {
      name: 'platform-is-the-bottom',
      severity: 'error',
      comment: 'shared/platform/ is the layer every feature stands on: it must not know the features or handlers.',
      from: { path: '^shared/platform/' },
      to: { path: '^(shared/(?!platform/)|functions/)' },
    },
    {
      name: 'features-below-handlers',
      severity: 'error',
      comment: 'shared/ holds the logic; handlers in functions/ call it, never the other way round.',
      from: { path: '^shared/' },
      to: { path: '^functions/' },
    },
    {
      name: 'app-without-dev-code',
      severity: 'error',
      comment: 'What is deployed (functions/, shared/) must not load tests or developer tooling.',
      from: { path: '^(functions|shared)/' },
      to: { path: '^(tests|tools)/' },
    },
    {
      name: 'handlers-are-independent',
      severity: 'error',
      comment: 'One function per file: a handler never imports another handler.',
      from: { path: '^functions/' },
      to: { path: '^functions/' },
    },
  ],
  options: {
    doNotFollow: { path: 'node_modules' },
    tsPreCompilationDeps: true,
    tsConfig: { fileName: 'tsconfig.json' },
    exclude: { path: '^(dist|node_modules)/' },
  },
};
