/**
 * Test certificates made with the `openssl` command line in a temporary directory: CAs, server
 * certificates for 127.0.0.1/localhost and client certificates, EC P-256, valid two days. Nothing is
 * committed, so no private key sits in the repository.
 */
import { execFileSync } from 'node:child_process';
import { mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';

/** Whether `openssl` can be run here (the callers skip their TLS cases, saying why, when not). */
export function hasOpenssl(): boolean {
  try {
    execFileSync('openssl', ['version'], { stdio: 'pipe' });
    return true;
  } catch {
    return false;
  }
}

const EC = ['-newkey', 'ec', '-pkeyopt', 'ec_paramgen_curve:prime256v1', '-nodes'];

export class TestCerts {
  readonly dir = mkdtempSync(join(tmpdir(), 'sb-certs-'));

  /** Path of `name` (`<x>.pem`, `<x>.key`, …) in the directory. */
  path(name: string): string {
    return join(this.dir, name);
  }

  read(name: string): Buffer {
    return readFileSync(this.path(name));
  }

  /** A self-signed CA: `<ca>.pem`, `<ca>.key`. */
  ca(ca: string): this {
    this.ssl([
      'req',
      '-x509',
      ...EC,
      '-keyout',
      `${ca}.key`,
      '-out',
      `${ca}.pem`,
      '-days',
      '2',
      '-subj',
      `/CN=${ca}`,
    ]);
    return this;
  }

  /** `<name>.pem` + `<name>.key` signed by `ca`: a server certificate (127.0.0.1, localhost) or a client one. */
  cert(name: string, ca: string, kind: 'server' | 'client'): this {
    writeFileSync(
      this.path(`${name}.ext`),
      kind === 'server'
        ? 'subjectAltName=IP:127.0.0.1,DNS:localhost\nextendedKeyUsage=serverAuth\n'
        : 'extendedKeyUsage=clientAuth\n',
    );
    this.ssl(['req', ...EC, '-keyout', `${name}.key`, '-out', `${name}.csr`, '-subj', `/CN=${name}`]);
    this.ssl(
      [
        'x509',
        '-req',
        '-in',
        `${name}.csr`,
        '-CA',
        `${ca}.pem`,
        '-CAkey',
        `${ca}.key`,
        '-CAcreateserial',
      ].concat(['-out', `${name}.pem`, '-days', '2', '-extfile', `${name}.ext`]),
    );
    return this;
  }

  remove(): void {
    rmSync(this.dir, { recursive: true, force: true });
  }

  private ssl(args: string[]): void {
    execFileSync('openssl', args, { cwd: this.dir, stdio: 'pipe' });
  }
}
