import assert from 'node:assert/strict';
import { locateJsonError, parseJsonText } from '../../../src/core/config/jsonText';

describe('JSON text: errors located by jsonc-parser, worded without quoting the text', () => {
  it('names what was expected where, by line and column', () => {
    const cases: [string, { line: number; column: number; message: string }][] = [
      ['{"a": 1,\r\n}', { line: 2, column: 1, message: "trailing comma before '}'" }],
      ['[1, 2,]', { line: 1, column: 7, message: "trailing comma before ']'" }],
      ['{"a" 1}', { line: 1, column: 6, message: "unexpected character: expected ':' after a property name" }],
      ['{1: 2}', { line: 1, column: 2, message: 'unexpected character: expected a property name in double quotes' }],
      ['{"a": }', { line: 1, column: 7, message: "unexpected '}': expected a value" }],
      ['[1}', { line: 1, column: 3, message: "unexpected '}': expected ',' or ']'" }],
      ['{"a": 1', { line: 1, column: 8, message: "unexpected end of file: expected ',' or '}'" }],
      ['{', { line: 1, column: 2, message: 'unexpected end of file: expected a property name in double quotes' }],
      ['{"a":', { line: 1, column: 6, message: 'unexpected end of file: a value is missing' }],
      ['', { line: 1, column: 1, message: 'unexpected end of file: a value is missing' }],
      ['{"a": 1}}', { line: 1, column: 9, message: "unexpected '}': extra content after the end of the JSON value" }],
      ['{"a": "x\\qy"}', { line: 1, column: 9, message: 'invalid escape sequence in a string' }],
      ['{"a": "\\u12"}', { line: 1, column: 8, message: 'invalid escape sequence in a string' }],
      ['{"a": "x\ty"}', { line: 1, column: 9, message: 'line break or control character inside a string' }],
      ['{"a": "never closed', { line: 1, column: 7, message: 'string is not closed' }],
      ['[1.]', { line: 1, column: 2, message: 'invalid number' }],
      ['[-]', { line: 1, column: 2, message: 'invalid number' }],
      ['{"a": 1} // note', { line: 1, column: 10, message: 'comments are not allowed in JSON' }],
      ['{"a": /* note */ 1}', { line: 1, column: 7, message: 'comments are not allowed in JSON' }],
      ['{"a":\u00a01}', { line: 1, column: 6, message: 'unexpected character: expected a value' }],
    ];
    for (const [text, expected] of cases) assert.deepEqual(locateJsonError(text), expected, JSON.stringify(text));
  });

  it('agrees with JSON.parse on what is valid', () => {
    for (const text of ['{}', '[]', '0', '-0.5e-3', '"\\u00e9\\n"', 'null', ' {"a": [true, false, null, {"b": ""}]}\r\n']) {
      assert.equal(locateJsonError(text), undefined, text);
      assert.deepEqual(parseJsonText(text), { ok: true, value: JSON.parse(text) });
    }
    for (const text of ['01', '1.', '+1', "{'a': 1}", 'NaN', '[1,]', '{"a": 1,}', '// c\n1', '\u00a01', '"\u0001"', '{"a": True}']) {
      assert.notEqual(locateJsonError(text), undefined, text);
      assert.equal(parseJsonText(text).ok, false, text);
    }
  });

  it('never quotes the text, and survives a hostile nesting depth', () => {
    const secret = 'MIIEvQIBADANBgkqhkiG9w0BAQEFAASC';
    for (const text of [`{"d": ${secret}}`, `{"d": "${secret}\n"}`, `{"d": "${secret}`, `{${secret}: 1}`, `["${secret}" "${secret}"]`]) {
      const result = parseJsonText(text);
      assert.ok(!result.ok);
      assert.ok(!result.problem.message.includes(secret.slice(0, 8)), result.problem.message);
    }
    const deep = parseJsonText('['.repeat(200_000));
    assert.ok(!deep.ok);
    assert.equal(deep.problem.line, 1);
  });

  it('takes a UTF-8 byte order mark', () => {
    assert.deepEqual(parseJsonText('\uFEFF{"a": 1}'), { ok: true, value: { a: 1 } });
  });
});
