// The TCP connections a process holds to a port, read from /proc (Linux): what a test counts to see how many Redis
// connections kiln really opened.
import { readdir, readFile, readlink } from 'node:fs/promises';

/** Established IPv4/IPv6 connections of process `pid` whose remote end is `port` (on loopback or anywhere). */
export async function connectionsTo(pid: number, port: number): Promise<number> {
  const inodes = new Set<string>();
  for (const fd of await readdir(`/proc/${pid}/fd`).catch(() => [] as string[])) {
    const target = await readlink(`/proc/${pid}/fd/${fd}`).catch(() => '');
    const m = /^socket:\[(\d+)\]$/.exec(target);
    if (m) inodes.add(m[1]!);
  }
  const hexPort = port.toString(16).toUpperCase().padStart(4, '0');
  let count = 0;
  for (const table of ['tcp', 'tcp6']) {
    const lines = (await readFile(`/proc/${pid}/net/${table}`, 'utf8').catch(() => '')).split('\n').slice(1);
    for (const line of lines) {
      const f = line.trim().split(/\s+/);
      // local, remote, state (01 = ESTABLISHED), …, inode at index 9
      if (f.length > 9 && f[2]!.endsWith(`:${hexPort}`) && f[3] === '01' && inodes.has(f[9]!)) count++;
    }
  }
  return count;
}
