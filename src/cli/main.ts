#!/usr/bin/env node
/**
 * `switchboard` / `npm start`: parses flags and env, starts a node, and stops it gracefully on
 * SIGTERM/SIGINT (stop accepting, finish in-flight work, snapshot every partition, close the log);
 * SIGHUP re-reads changed TLS and tokens files at once.
 * Exit codes: 0 clean stop, 1 runtime failure, 2 invalid configuration, 3 data directory lock lost
 * (embedded: another node took the data directory over; this one fenced itself, see `onFenced`).
 */
import pino from 'pino';
import { ConfigError, helpText, type NodeConfig, parseConfig } from '../config/index.js';
import { nodeLogger, startNode } from '../node.js';
import { demoInstructions, loadDemo } from './demo.js';

// Each partition's group commit holds a libuv thread for one fdatasync (~3 ms here); the default 4 threads
// would cap the node at 4 tenants committing at once. libuv reads this on its first threadpool use, which
// happens after this line (module evaluation does no async I/O).
process.env.UV_THREADPOOL_SIZE ??= '16';

/** How long a fenced node (its data directory's lock lost) keeps refusing calls before it exits. */
const FENCED_EXIT_MS = 1000;

async function main(): Promise<void> {
  let config: NodeConfig;
  try {
    const parsed = parseConfig(process.argv.slice(2));
    if (parsed.help) {
      process.stdout.write(`${helpText()}\n`);
      return;
    }
    config = parsed.config;
  } catch (e) {
    if (e instanceof ConfigError) {
      process.stderr.write(`switchboard: ${e.message}\n\n  Run with --help for every option.\n`);
      process.exit(2);
    }
    throw e;
  }
  const logger = nodeLogger(config);
  let demoLoaded = false;
  const testHooks = process.env.SB_TEST_HOOKS === '1';
  const node = await startNode(config, {
    logger,
    testHooks,
    // Tests stop a node past the lock's staleness limit without waiting 10 s.
    ...(testHooks && process.env.SB_TEST_LOCK_STALE_MS
      ? {
          dataDirLock: {
            staleMs: Number(process.env.SB_TEST_LOCK_STALE_MS),
            renewMs: Number(process.env.SB_TEST_LOCK_RENEW_MS ?? 2000),
          },
        }
      : {}),
    // Another node holds the data directory now: no graceful stop (its final snapshots and the log's
    // close are writes), only a moment for calls under way to be answered UNAVAILABLE, then exit 3 so
    // the supervisor restarts the node (it then waits for the lock like any second node).
    onFenced: () => {
      setTimeout(() => process.exit(3), FENCED_EXIT_MS);
    },
    // Loaded before the API listens, so the very first request already finds the demo agents online.
    beforeListen: async (router) => {
      if (!config.demo) return;
      const loaded = await loadDemo(router, Date.now);
      demoLoaded = loaded;
      logger.info({ tenant: 'demo', loaded }, loaded ? 'demo tenant loaded' : 'demo tenant already present');
    },
  });
  if (config.demo) {
    const authenticated =
      Object.keys(config.tokens).length > 0 || config.adminToken !== '' || config.tokensFile !== '';
    process.stderr.write(
      demoInstructions({
        httpPort: node.httpPort,
        grpcPort: node.grpcPort,
        authenticated,
        ...(config.tlsCert !== '' ? { tls: { clientCa: config.tlsClientCa !== '' } } : {}),
        loaded: demoLoaded,
      }),
    );
  }
  let signalled = false;
  const shutdown = (signal: string) => {
    if (signalled) {
      logger.warn({ signal }, 'second signal: exiting now');
      process.exit(1);
    }
    signalled = true;
    logger.info({ signal }, 'shutdown requested');
    node.stop().then(
      () => process.exit(0),
      (e) => {
        logger.error({ err: e }, 'shutdown failed');
        process.exit(1);
      },
    );
  };
  // After rotating certificates or tokens, `kill -HUP` applies them now rather than at the next check.
  process.on('SIGHUP', () => {
    logger.info('SIGHUP: checking the TLS and tokens files');
    node.reloadFiles();
  });
  process.on('SIGTERM', () => shutdown('SIGTERM'));
  process.on('SIGINT', () => shutdown('SIGINT'));
}

main().catch((e) => {
  // Found only when starting (e.g. unreadable TLS files): still a configuration error.
  if (e instanceof ConfigError) {
    process.stderr.write(`switchboard: ${e.message}\n`);
    process.exit(2);
  }
  pino().fatal({ err: e }, 'switchboard failed to start');
  process.exit(1);
});
