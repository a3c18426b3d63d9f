// Passwords for scripted commands: from a file (--password-file, one trailing
// newline dropped) or asked on the terminal without echo. Never echoed, logged
// or passed on a command line.
import { promises as fs } from 'node:fs';

export class PasswordUnavailable extends Error {}

export async function readPasswordFile(file: string, flag: string): Promise<string> {
  let text: string;
  try {
    text = await fs.readFile(file, 'utf8');
  } catch (error) {
    throw new PasswordUnavailable(`${flag}: cannot read ${file} (${(error as NodeJS.ErrnoException).code ?? 'unreadable'})`);
  }
  const password = text.replace(/\r?\n$/, '');
  if (!password) throw new PasswordUnavailable(`${flag}: ${file} is empty`);
  return password;
}

/** Asks on the terminal with echo off; refuses when there is no terminal. */
export function promptPassword(question: string): Promise<string> {
  const input = process.stdin;
  if (!input.isTTY) {
    return Promise.reject(new PasswordUnavailable('no terminal to ask for the password on: give --password-file <file>'));
  }
  return new Promise((resolve, reject) => {
    process.stderr.write(question);
    input.setRawMode(true);
    input.resume();
    input.setEncoding('utf8');
    let typed = '';
    const done = (error?: Error): void => {
      input.setRawMode(false);
      input.pause();
      input.off('data', onData);
      process.stderr.write('\n');
      if (error) reject(error);
      else resolve(typed);
    };
    const onData = (chunk: string): void => {
      for (const ch of chunk) {
        if (ch === '\r' || ch === '\n') return done();
        if (ch === '\u0003') return done(new PasswordUnavailable('canceled'));
        if (ch === '\u007f' || ch === '\b') typed = typed.slice(0, -1);
        else typed += ch;
      }
    };
    input.on('data', onData);
  });
}
