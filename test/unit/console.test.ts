// The console for people: log lines readable and coloured on a terminal, JSON elsewhere (or as LOG_FORMAT says);
// stored build logs without terminal escapes, even when an escape is split across two chunks.
import assert from 'node:assert/strict';
import { Writable } from 'node:stream';
import { describe, it } from 'node:test';
import { loadConfig } from '../../core/config.ts';
import { createLogger, type LogFormat } from '../../core/logger.ts';
import { escapeStripper, stripEscapes } from '../../core/terminal-text.ts';

/** A stream that says whether it is a terminal, and keeps what was written. */
function sink(isTTY: boolean): Writable & { isTTY: boolean; text: () => string } {
  const chunks: string[] = [];
  const s = new Writable({ write: (c, _e, cb) => (chunks.push(String(c)), cb()) }) as Writable & { isTTY: boolean; text: () => string };
  s.isTTY = isTTY;
  s.text = () => chunks.join('');
  return s;
}

const logOnce = (format: LogFormat, isTTY: boolean) => {
  const out = sink(isTTY);
  createLogger({ level: 'info', name: 'kiln-test', format, out }).info({ buildId: 'b1', token: 'kiln_secret' }, 'build queued');
  return out.text();
};

describe('console', () => {
  it('prints readable coloured lines on a terminal and JSON lines otherwise, unless LOG_FORMAT says which', () => {
    const tty = logOnce('auto', true);
    assert.match(tty, /INFO/);
    assert.match(tty, /\x1b\[\d+m/, 'coloured');
    assert.match(stripEscapes(tty), /\(kiln-test\): build queued\n\s+buildId: "b1"/);
    assert.doesNotMatch(tty, /kiln_secret/, 'credentials stay redacted');
    assert.throws(() => JSON.parse(tty));

    const piped = JSON.parse(logOnce('auto', false)) as Record<string, unknown>;
    assert.equal(piped.msg, 'build queued');
    assert.equal(piped.buildId, 'b1');
    assert.equal(piped.token, '[redacted]');

    assert.equal((JSON.parse(logOnce('json', true)) as { msg: string }).msg, 'build queued', 'json on a terminal when asked');
    const forced = logOnce('pretty', false);
    assert.match(forced, /INFO.*build queued/);
    assert.doesNotMatch(forced, /\x1b/, 'no colour where nothing reads colour');
  });

  it('takes LOG_FORMAT from the one config schema, refusing what it does not know', () => {
    const env = { S3_BUCKET: 'kiln', S3_ACCESS_KEY_ID: 'a', S3_SECRET_ACCESS_KEY: 'b', REGISTRY_HOST: 'harbor.example.com' };
    assert.equal(loadConfig(env).LOG_FORMAT, 'auto');
    assert.equal(loadConfig({ ...env, LOG_FORMAT: 'json' }).LOG_FORMAT, 'json');
    assert.throws(() => loadConfig({ ...env, LOG_FORMAT: 'xml' }), /LOG_FORMAT/);
  });

  it('drops colours, cursor moves and titles from log text, also when an escape arrives in two chunks', () => {
    assert.equal(stripEscapes('\x1b[1;31mERROR\x1b[0m done\x1b]0;title\x07\x1b[2K\n'), 'ERROR done\n');
    const s = escapeStripper();
    const out = [s.push('Step 1/3 : \x1b[3'), s.push('2mRUN apt-get\x1b'), s.push('[0m install\n'), s.push('tail \x1b[')].join('') + s.end();
    assert.equal(out, 'Step 1/3 : RUN apt-get install\ntail ');
    assert.equal(s.push('plain text, no escapes\n'), 'plain text, no escapes\n');
  });
});
