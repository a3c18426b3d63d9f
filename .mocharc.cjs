// Mocha's configuration for the unit tests (`npx mocha`, `npm run test:unit`).
//
// JavaScript rather than JSON so that `spec` can depend on the command line. Mocha
// appends the test files named on the command line to the config's `spec`
// (lib/cli/options.js, "recombine positional arguments and spec"), so with a fixed
// `spec`, `npx mocha test/unit/auth/siteSessions.test.ts` would run the whole suite.
// Here the whole suite is the `spec` only when the command line names no test file
// (positional or --spec):
//   npx mocha                                   the whole suite
//   npx mocha --grep "title"                    the whole suite, filtered
//   npx mocha test/unit/auth/siteSessions.test.ts   that file alone (a glob works too)
// Every run keeps the leak guard (`require`). Another config given with --config
// (e.g. test/package/.mocharc.json) replaces this file entirely.
//
// This file is read by bin/mocha.js, in the process started with the user's
// arguments; the child process it forks to run the tests gets --no-config.
'use strict';
/* eslint-disable @typescript-eslint/no-require-imports */
const path = require('node:path');

const UNIT_SPEC = ['test/unit/**/*.test.ts'];

/**
 * The test files the command line names: its positional arguments and --spec values,
 * parsed as mocha parses them (lib/cli/options.js: same yargs-parser, option types and
 * aliases, node flags taken as booleans so that they never swallow a file name).
 */
function specsOnCommandLine(argv) {
  const mochaDir = path.dirname(require.resolve('mocha/package.json'));
  const yargsParser = require(require.resolve('yargs-parser', { paths: [mochaDir] }));
  const { types, aliases } = require('mocha/lib/cli/run-option-metadata');
  const { isNodeFlag } = require('mocha/lib/cli/node-flags');
  const { YARGS_PARSER_CONFIG } = require('mocha/lib/cli/options');

  const nodeFlags = argv.map((arg) => arg.split('=')[0]).filter((flag) => isNodeFlag(flag, false)).map((flag) => flag.replace(/^--?/, ''));
  const valued = [...types.array, ...types.string, ...types.number];
  const parsed = yargsParser(argv, {
    configuration: { ...YARGS_PARSER_CONFIG, 'camel-case-expansion': false },
    alias: aliases,
    array: types.array,
    string: types.string,
    number: types.number,
    boolean: [...types.boolean, ...nodeFlags],
    narg: Object.fromEntries(valued.map((name) => [name, 1])),
  });
  // `mocha inspect …` starts the debugger: "inspect" is no test file (bin/mocha.js).
  const positional = parsed._.map(String).filter((arg) => arg !== 'inspect');
  const spec = [parsed.spec ?? []].flat().map(String);
  return [...positional, ...spec];
}

module.exports = {
  ...(specsOnCommandLine(process.argv.slice(2)).length === 0 ? { spec: UNIT_SPEC } : {}),
  require: ['test/unit/fixtures/leakGuard.ts'],
  'node-option': ['import=tsx'],
  timeout: 60000,
  reporter: 'spec',
};
