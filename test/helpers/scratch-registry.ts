// Extra real registries (Debian's docker-registry 2.8) for tests, each on its own port and storage, configured as
// production registries are: open (plain HTTP), htpasswd Basic auth, token auth (with the test's token issuer), or
// TLS with a CA made for the test. They are children of the test process, stopped by pid; nothing is left behind.
import { spawn, type ChildProcess } from 'node:child_process';
import { openSync, closeSync } from 'node:fs';
import { mkdtemp, readFile, rm, writeFile } from 'node:fs/promises';
import { networkInterfaces, tmpdir } from 'node:os';
import path from 'node:path';
import { setTimeout as sleep } from 'node:timers/promises';
import YAML from 'yaml';
import { runOk } from '../../stack/process.ts';
import { endOnSignal } from './end-on-signal.ts';
import { freePort } from './ports.ts';
import { startTokenIssuer, type TokenIssuer } from './token-issuer.ts';

export type RegistryKind = 'plain' | 'basic' | 'token' | 'tls';

export interface ScratchRegistry {
  kind: RegistryKind;
  /** host:port, as kiln and the engine address it. */
  host: string;
  dir: string;
  /** The account kiln uses (basic, token): a Harbor-style robot name. */
  username?: string;
  password?: string;
  /** tls: the PEM of the CA that signed the registry's certificate. */
  caFile?: string;
  issuer?: TokenIssuer;
  /** kiln's settings for this registry; `password` and `withCa: false` make the broken variants. */
  kilnEnv(opts?: { password?: string; withCa?: boolean }): Record<string, string>;
  /** (Re)starts the registry process on the same port and storage. */
  start(): Promise<void>;
  /** Stops the process (storage stays); SIGKILL: as a crash or an OOM kill would. */
  stop(signal?: NodeJS.Signals): Promise<void>;
  /** Stops everything and removes the storage, certificates and config. */
  remove(): Promise<void>;
}

export const ROBOT = { username: 'robot$kiln-tests', password: 'robot-secret-1' };

/**
 * An address of this host that is not loopback: the engine treats 127.0.0.0/8 as an insecure registry (it would not
 * check the certificate), so the TLS registry listens where the engine really verifies it.
 */
function nonLoopbackAddress(): string {
  for (const addrs of Object.values(networkInterfaces())) {
    for (const a of addrs ?? []) if (a.family === 'IPv4' && !a.internal) return a.address;
  }
  throw new Error('no non-loopback IPv4 address on this host for the TLS registry');
}

/** A CA and a server certificate it signs for `ip` (and a self-signed certificate for the token issuer). */
async function makeCertificates(dir: string, ip: string): Promise<void> {
  const o = (...args: string[]) => runOk('openssl', args, { timeoutMs: 60_000 });
  await o('req', '-x509', '-newkey', 'rsa:2048', '-nodes', '-keyout', path.join(dir, 'ca.key'), '-out', path.join(dir, 'ca.crt'), '-days', '2',
    '-subj', '/CN=kiln test CA', '-addext', 'basicConstraints=critical,CA:TRUE', '-addext', 'keyUsage=critical,keyCertSign,cRLSign');
  await o('req', '-newkey', 'rsa:2048', '-nodes', '-keyout', path.join(dir, 'server.key'), '-out', path.join(dir, 'server.csr'), '-subj', `/CN=${ip}`);
  await writeFile(path.join(dir, 'server.ext'), `subjectAltName=IP:${ip}\nextendedKeyUsage=serverAuth\nbasicConstraints=CA:FALSE\n`);
  await o('x509', '-req', '-in', path.join(dir, 'server.csr'), '-CA', path.join(dir, 'ca.crt'), '-CAkey', path.join(dir, 'ca.key'), '-CAcreateserial',
    '-out', path.join(dir, 'server.crt'), '-days', '2', '-extfile', path.join(dir, 'server.ext'));
}

async function makeSigningCertificate(dir: string, name: string): Promise<{ key: string; cert: string }> {
  const key = path.join(dir, `${name}.key`);
  const cert = path.join(dir, `${name}.crt`);
  await runOk('openssl', ['req', '-x509', '-newkey', 'rsa:2048', '-nodes', '-keyout', key, '-out', cert, '-days', '2', '-subj', `/CN=${name}`], { timeoutMs: 60_000 });
  return { key, cert };
}

export async function startScratchRegistry(kind: RegistryKind): Promise<ScratchRegistry> {
  const dir = await mkdtemp(path.join(tmpdir(), `kiln-registry-${kind}-`));
  const port = await freePort();
  const ip = kind === 'tls' ? nonLoopbackAddress() : '127.0.0.1';
  const host = `${ip}:${port}`;
  const http: Record<string, unknown> = { addr: host };
  let auth: Record<string, unknown> | undefined;
  let issuer: TokenIssuer | undefined;
  const account = kind === 'basic' || kind === 'token' ? ROBOT : undefined;

  if (kind === 'tls') {
    await makeCertificates(dir, ip);
    http.tls = { certificate: path.join(dir, 'server.crt'), key: path.join(dir, 'server.key') };
  }
  if (kind === 'basic') {
    await writeFile(path.join(dir, 'htpasswd'), await runOk('htpasswd', ['-Bbn', ROBOT.username, ROBOT.password]));
    auth = { htpasswd: { realm: 'kiln-test', path: path.join(dir, 'htpasswd') } };
  }
  if (kind === 'token') {
    const signing = await makeSigningCertificate(dir, 'token-signer');
    issuer = await startTokenIssuer({
      keyFile: signing.key,
      certFile: signing.cert,
      service: 'kiln-test-registry',
      // Like a Harbor robot account of one project: everything under kiln-test/, nothing elsewhere.
      accounts: { [ROBOT.username]: { password: ROBOT.password, grants: (repo) => (repo.startsWith('kiln-test/') ? ['pull', 'push', 'delete'] : []), catalog: true } },
    });
    auth = { token: { realm: issuer.realm, service: issuer.service, issuer: issuer.issuer, rootcertbundle: signing.cert } };
  }
  const config = path.join(dir, 'config.yml');
  await writeFile(
    config,
    YAML.stringify({
      version: 0.1,
      log: { level: 'info', accesslog: { disabled: true } },
      storage: { filesystem: { rootdirectory: path.join(dir, 'data') }, delete: { enabled: true } },
      http,
      ...(auth ? { auth } : {}),
    }),
  );

  let child: ChildProcess | undefined;
  let forget = () => undefined as void;
  const probe = async (): Promise<boolean> => {
    // Any HTTP answer means it serves (TLS: the openssl client only checks that a handshake completes).
    const url = `${kind === 'tls' ? 'https' : 'http'}://${host}/v2/`;
    if (kind === 'tls') return runOk('openssl', ['s_client', '-connect', host, '-CAfile', path.join(dir, 'ca.crt'), '-verify_return_error'], { timeoutMs: 5_000 }).then(() => true, () => false);
    return fetch(url).then((r) => r.status === 200 || r.status === 401, () => false);
  };
  const registry: ScratchRegistry = {
    kind,
    host,
    dir,
    ...(account ? account : {}),
    ...(kind === 'tls' ? { caFile: path.join(dir, 'ca.crt') } : {}),
    ...(issuer ? { issuer } : {}),
    kilnEnv(o = {}) {
      const plain = [...(kind === 'tls' ? [] : [host]), ...(issuer ? [issuer.host] : [])];
      return {
        REGISTRY_HOST: host,
        REGISTRY_PLAIN_HTTP_HOSTS: plain.join(','),
        ...(account ? { REGISTRY_USERNAME: account.username, REGISTRY_PASSWORD: o.password ?? account.password } : {}),
        // Empty is unset: it also takes away a CA the environment it is merged into names.
        ...(kind === 'tls' ? { REGISTRY_CA_FILE: o.withCa === false ? '' : path.join(dir, 'ca.crt') } : {}),
      };
    },
    async start() {
      if (child && child.exitCode === null) return;
      const out = openSync(path.join(dir, 'registry.log'), 'a');
      child = spawn('docker-registry', ['serve', config], { stdio: ['ignore', out, out] });
      forget = endOnSignal(() => registry.remove());
      closeSync(out);
      for (let i = 0; i < 150; i++) {
        if (child.exitCode !== null) break;
        if (await probe()) return;
        await sleep(100);
      }
      const log = await readFile(path.join(dir, 'registry.log'), 'utf8').catch(() => '');
      throw new Error(`the ${kind} registry on ${host} did not start:\n${log.slice(-2000)}`);
    },
    async stop(signal: NodeJS.Signals = 'SIGTERM') {
      forget();
      const c = child;
      child = undefined;
      if (!c || c.exitCode !== null) return;
      const exited = new Promise((r) => c.once('exit', r));
      c.kill(signal);
      await exited;
    },
    async remove() {
      await registry.stop();
      await issuer?.close();
      await rm(dir, { recursive: true, force: true });
    },
  };
  await registry.start().catch(async (err: unknown) => {
    await registry.remove();
    throw err;
  });
  return registry;
}
