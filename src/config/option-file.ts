/**
 * Files named by options (TLS certificates, the tokens file, NATS credentials): read with an error that
 * names the option and the file, so a node refusing to start, or refusing a reloaded file, says which.
 */
import { readFileSync } from 'node:fs';

/** A file named by an option is unreadable or unusable; the message starts with `--option path:`. */
export class OptionFileError extends Error {}

/** The file's bytes, or `OptionFileError` (`--tls-cert /etc/tls/tls.crt: ENOENT`). */
export function readOptionFile(option: string, path: string): Buffer {
  try {
    return readFileSync(path);
  } catch (e) {
    throw new OptionFileError(
      `${option} ${path}: ${(e as NodeJS.ErrnoException).code ?? (e as Error).message}`,
    );
  }
}
