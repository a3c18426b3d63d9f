import js from '@eslint/js';
import tseslint from 'typescript-eslint';
import importX, { createNodeResolver } from 'eslint-plugin-import-x';
import globals from 'globals';

const nodeBuiltins = [
  'assert', 'buffer', 'child_process', 'cluster', 'crypto', 'dgram', 'dns', 'events', 'fs', 'fs/promises',
  'http', 'http2', 'https', 'net', 'os', 'path', 'process', 'readline', 'stream', 'stream/promises',
  'string_decoder', 'timers', 'tls', 'tty', 'url', 'util', 'vm', 'worker_threads', 'zlib',
];

// Every TypeScript file is in tsconfig.json (include: src, test, bench, webview), so the
// project service finds its program. Plain JS (scripts/*.mjs, test/**/*.mjs, this file) is
// in no tsconfig: it gets the syntactic rules only (disableTypeChecked below).
const tsFiles = ['**/*.ts', '**/*.mts', '**/*.cts'];
const jsFiles = ['**/*.js', '**/*.mjs', '**/*.cjs'];

// Where the layers may reach (import-x/no-restricted-paths, resolved paths, so `../core/x`,
// `../../src/core/x` and `./core` all count). Paths are relative to this folder.
const layerZones = [
  {
    // The engine runs headless (CLI, tests, emulator harness): it knows nothing of its callers.
    target: './src/core',
    from: ['./src/ui', './src/cli', './src/emulator', './src/extension.ts'],
    message: 'src/core is the engine: it must not import the VS Code console, the CLI or the emulator.',
  },
  {
    // The console drives the engine through its public entry only, so the engine's
    // internals can move without touching the UI.
    target: ['./src/ui', './src/extension.ts'],
    from: './src/core',
    except: ['./index.ts'],
    message: "src/ui reaches the engine only through its public entry: import from 'src/core' (src/core/index.ts) and export what you need there.",
  },
  {
    // The emulator is a stand-in for the Clearance service. It shares the wire contract with
    // the client by design: the API types (clearance/api), the client-assertion format its
    // admin client signs with (clearance/assertion), the evidence encryption format it checks
    // uploads against (clearance/encryption) and the journal it persists to (store/journalStore).
    // It must not depend on the role engine itself (role, requests, uploads, config, …).
    target: './src/emulator',
    from: './src/core',
    except: ['./clearance/api.ts', './clearance/assertion.ts', './clearance/encryption.ts', './store/journalStore.ts'],
    message: 'src/emulator may use only the shared wire contract from src/core (clearance/api, clearance/assertion, clearance/encryption, store/journalStore).',
  },
  {
    target: './src/emulator',
    from: ['./src/ui', './src/cli', './src/extension.ts'],
    message: 'src/emulator is a standalone service: it must not import the VS Code console or the CLI.',
  },
];

export default tseslint.config(
  { ignores: ['dist/**', 'out/**', 'node_modules/**', '.vscode-test/**', '*.vsix', 'coverage/**'] },
  js.configs.recommended,
  ...tseslint.configs.recommended,
  {
    languageOptions: { globals: { ...globals.node } },
    rules: {
      '@typescript-eslint/no-unused-vars': ['error', { argsIgnorePattern: '^_', varsIgnorePattern: '^_' }],
    },
  },

  // ---- Type-aware rules (TypeScript files only) ---------------------------------------------
  {
    files: tsFiles,
    languageOptions: {
      parserOptions: { projectService: true, tsconfigRootDir: import.meta.dirname },
    },
    rules: {
      // Promises: the bugs this config is here for.
      '@typescript-eslint/no-floating-promises': ['error', {
        // vscode's API answers Thenables (not Promises): an unhandled one is as lost as a Promise.
        checkThenables: true,
        // `void p` stays the explicit "fire and forget" marker; give it a .catch that logs
        // unless the promise cannot reject (e.g. a notification).
        ignoreVoid: true,
      }],
      // Default checksVoidReturn (all positions) on purpose: the code base has no async
      // listener passed where a void callback is expected today, so there is no noise to
      // buy off, and such a callback's rejection would be unhandled (emitter.on('data', async…),
      // setTimeout(async…)). Wrap the body instead: () => { void work().catch(log); }.
      '@typescript-eslint/no-misused-promises': 'error',
      '@typescript-eslint/await-thenable': 'error',
      // `return promise` inside try/catch/finally skips the catch and runs the finally early.
      '@typescript-eslint/return-await': ['error', 'error-handling-correctness-only'],
      // Rejections and throws carry an Error (stack, message). `any`/`unknown` values pass: a
      // caught error or an AbortSignal.reason is rethrown as is.
      '@typescript-eslint/only-throw-error': ['error', { allowThrowingAny: true, allowThrowingUnknown: true }],
      '@typescript-eslint/prefer-promise-reject-errors': ['error', { allowThrowingAny: true, allowThrowingUnknown: true }],
      // Values that become text: no "[object Object]" in messages, CSV cells or audit records.
      '@typescript-eslint/no-base-to-string': 'error',
      '@typescript-eslint/restrict-template-expressions': 'error',
      '@typescript-eslint/restrict-plus-operands': 'error',
      // Methods handed out as callbacks lose `this`.
      '@typescript-eslint/unbound-method': 'error',
      // Cheap, silent today, real bugs when they fire.
      '@typescript-eslint/no-array-delete': 'error',
      '@typescript-eslint/no-for-in-array': 'error',
      'no-implied-eval': 'off',
      '@typescript-eslint/no-implied-eval': 'error',
      '@typescript-eslint/no-unsafe-enum-comparison': 'error',
      '@typescript-eslint/no-unsafe-unary-minus': 'error',
      '@typescript-eslint/no-duplicate-type-constituents': 'error',
      '@typescript-eslint/no-redundant-type-constituents': 'error',
      // Not enabled, deliberately:
      // - require-await: every hit is an `async` stub or adapter implementing a Promise
      //   interface (keyv store methods, test fakes such as a poller tick that throws), where
      //   `async` is what turns a throw into a rejection; a forgotten `await` inside an async
      //   function is caught by no-floating-promises anyway.
      // - no-unsafe-* and no-unnecessary-type-assertion: style and `any` hygiene, ~90 edits
      //   without finding a bug.
    },
  },
  {
    files: jsFiles,
    ...tseslint.configs.disableTypeChecked,
  },

  // ---- Imports: layers and cycles (src only) ------------------------------------------------
  {
    files: ['src/**/*.ts'],
    plugins: { 'import-x': importX },
    settings: {
      'import-x/extensions': ['.ts', '.mts', '.cts', '.js', '.mjs', '.cjs'],
      'import-x/parsers': { '@typescript-eslint/parser': ['.ts', '.mts', '.cts'] },
      'import-x/external-module-folders': ['node_modules', 'node_modules/@types'],
      // tsconfig uses moduleResolution Bundler without paths: extensionless relative imports
      // and folder index files, which the built-in resolver handles with the TS extensions.
      'import-x/resolver-next': [
        createNodeResolver({
          extensions: ['.ts', '.mts', '.cts', '.d.ts', '.js', '.mjs', '.cjs', '.json', '.node'],
          extensionAlias: { '.js': ['.ts', '.js'], '.mjs': ['.mts', '.mjs'], '.cjs': ['.cts', '.cjs'] },
        }),
      ],
    },
    rules: {
      'import-x/no-restricted-paths': ['error', { basePath: import.meta.dirname, zones: layerZones }],
      // Type-only imports are erased at build time and do not count as a cycle.
      'import-x/no-cycle': ['error', { ignoreExternal: true }],
    },
  },

  // ---- The encryption oracle: an independent reader of the published scheme ----------------
  // test/oracle reads evidence from the published format alone, so that a bug in the engine's
  // encryption is not agreed with: it imports Node built-ins only (and its own folder), never
  // src/. Two rules, so that neither a bare specifier nor a resolved path slips through.
  {
    files: ['test/oracle/**/*.ts'],
    plugins: { 'import-x': importX },
    settings: {
      'import-x/extensions': ['.ts', '.mts', '.cts', '.js', '.mjs', '.cjs'],
      'import-x/parsers': { '@typescript-eslint/parser': ['.ts', '.mts', '.cts'] },
      'import-x/resolver-next': [createNodeResolver({ extensions: ['.ts', '.mts', '.cts', '.d.ts', '.js', '.mjs', '.cjs', '.json', '.node'] })],
    },
    rules: {
      'no-restricted-imports': ['error', {
        patterns: [{
          regex: '^(?!node:|\\./)',
          message: 'test/oracle is independent of the engine: import only node: built-ins (and files of test/oracle).',
        }],
      }],
      'import-x/no-restricted-paths': ['error', {
        basePath: import.meta.dirname,
        zones: [{ target: './test/oracle', from: ['./src', './test/unit', './bench', './scripts'], message: 'test/oracle must not reach src/ or the tests: it reads the published format alone.' }],
      }],
    },
  },

  // ---- Runtime environments -----------------------------------------------------------------
  {
    files: ['src/core/**', 'src/emulator/**', 'src/cli/**'],
    rules: {
      'no-restricted-imports': ['error', {
        paths: [{ name: 'vscode', message: 'src/core, src/emulator and src/cli run without VS Code: keep vscode in src/ui.' }],
      }],
    },
  },
  {
    files: ['webview/**'],
    languageOptions: { globals: { ...globals.browser } },
    rules: {
      'no-restricted-imports': ['error', {
        paths: [{ name: 'vscode', message: 'Webview code runs in a browser: talk to the host with postMessage.' }],
        patterns: [{ group: ['node:*', ...nodeBuiltins], message: 'Webview code runs in a browser: no Node built-ins.' }],
      }],
    },
  },
);
