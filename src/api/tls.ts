/**
 * TLS for both API ports, from PEM files that are re-read when they change (cert-manager and Kubernetes
 * secret volumes replace them in place), so a certificate rotation needs no restart.
 *
 * One `TlsFiles` feeds the gRPC server (as a grpc-js certificate provider) and the HTTPS server (through
 * `setSecureContext`). Files are only taken as a whole and only once they make a valid key pair: a
 * rotation caught half-way (new certificate, old key) or a deleted file keeps the last good material
 * and is reported, where grpc-js's own file watcher would drop TLS until the next good read.
 *
 * With a client CA, gRPC callers must present a certificate it signed (mutual TLS), and so must callers
 * of the HTTP port's `/v1` mirror: HTTPS asks every client for one but lets the handshake through without
 * it, because kubelet probes and Prometheus use `/healthz`, `/readyz` and `/metrics` without a certificate;
 * `/v1/…` on a connection without a verified certificate is refused (401 `SB_ERR_UNAUTHENTICATED`).
 */
import { createSecureContext } from 'node:tls';
import * as grpc from '@grpc/grpc-js';
import { OptionFileError, readOptionFile } from '../config/option-file.js';
import { ReloadingFiles } from './reloading-files.js';

export interface TlsConfig {
  certFile: string;
  keyFile: string;
  /** Set ⇒ gRPC and HTTP `/v1` clients must present a certificate signed by one of these CAs. */
  clientCaFile?: string;
  /** How often the files are checked for a change, ms. */
  reloadMs: number;
}

export interface TlsMaterial {
  cert: Buffer;
  key: Buffer;
  clientCa: Buffer | null;
}

/** Unreadable or invalid TLS files (the message names the option and the file). */
export { OptionFileError as TlsError };

type CaListener = grpc.experimental.CaCertificateUpdateListener;
type IdentityListener = grpc.experimental.IdentityCertificateUpdateListener;

/** Reads and checks the files: PEM that parses, a key that matches the certificate, a CA that parses. */
export function readTlsMaterial(cfg: TlsConfig): TlsMaterial {
  const cert = readOptionFile('--tls-cert', cfg.certFile);
  const key = readOptionFile('--tls-key', cfg.keyFile);
  const clientCa = cfg.clientCaFile ? readOptionFile('--tls-client-ca', cfg.clientCaFile) : null;
  try {
    createSecureContext({ cert, key });
  } catch (e) {
    throw new OptionFileError(
      `--tls-cert ${cfg.certFile} / --tls-key ${cfg.keyFile}: ${(e as Error).message}`,
    );
  }
  if (clientCa) {
    try {
      createSecureContext({ ca: clientCa });
    } catch (e) {
      throw new OptionFileError(`--tls-client-ca ${cfg.clientCaFile}: ${(e as Error).message}`);
    }
    if (!clientCa.includes('-----BEGIN CERTIFICATE-----')) {
      throw new OptionFileError(`--tls-client-ca ${cfg.clientCaFile}: no PEM certificate in the file`);
    }
  }
  return { cert, key, clientCa };
}

export class TlsFiles implements grpc.experimental.CertificateProvider {
  private readonly files: ReloadingFiles<TlsMaterial>;
  private readonly caListeners = new Set<CaListener>();
  private readonly identityListeners = new Set<IdentityListener>();

  /** Reads the files now; throws `OptionFileError` (alias `TlsError`) when they are unusable. */
  constructor(
    private readonly cfg: TlsConfig,
    events: {
      reloaded?: () => void;
      /** A changed file set that cannot be used: the previous material stays in service. */
      rejected?: (e: Error) => void;
    } = {},
  ) {
    const paths = [cfg.certFile, cfg.keyFile, ...(cfg.clientCaFile ? [cfg.clientCaFile] : [])];
    this.files = new ReloadingFiles(paths, () => readTlsMaterial(cfg), events);
    this.files.onChange((m) => {
      for (const l of this.identityListeners) l({ certificate: m.cert, privateKey: m.key });
      if (m.clientCa) for (const l of this.caListeners) l({ caCertificate: m.clientCa });
    });
  }

  get current(): TlsMaterial {
    return this.files.value;
  }

  get mutual(): boolean {
    return this.current.clientCa !== null;
  }

  /** Starts checking the files every `reloadMs`. */
  watch(): void {
    this.files.watch(this.cfg.reloadMs);
  }

  close(): void {
    this.files.close();
  }

  /** Re-reads the files if they changed since the last good read. */
  check(): void {
    this.files.check();
  }

  /** Called with the new material after each reload (the HTTPS server's `setSecureContext`). */
  onChange(listener: (m: TlsMaterial) => void): void {
    this.files.onChange(listener);
  }

  /** gRPC server credentials that follow the files. */
  grpcCredentials(): grpc.ServerCredentials {
    // grpc-js 1.14 passes its first argument on as the identity provider and its second as the CA
    // provider, whatever its type declarations call them; test/api/tls.test.ts pins the behaviour.
    return grpc.experimental.createCertificateProviderServerCredentials(
      this,
      this.mutual ? this : null,
      this.mutual,
    );
  }

  addCaCertificateListener(listener: CaListener): void {
    this.caListeners.add(listener);
    const ca = this.current.clientCa;
    process.nextTick(() => listener(ca ? { caCertificate: ca } : null));
  }

  removeCaCertificateListener(listener: CaListener): void {
    this.caListeners.delete(listener);
  }

  addIdentityCertificateListener(listener: IdentityListener): void {
    this.identityListeners.add(listener);
    const m = this.current;
    process.nextTick(() => listener({ certificate: m.cert, privateKey: m.key }));
  }

  removeIdentityCertificateListener(listener: IdentityListener): void {
    this.identityListeners.delete(listener);
  }
}
