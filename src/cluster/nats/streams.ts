/**
 * Creating a stream, or bringing an existing one to this node's settings: the one way every stream and
 * bucket of a cluster is set up (`SB_COMMANDS` and its shards, `SB_EVENTS`, `SB_SNAPSHOTS`, and the KV
 * buckets' streams `KV_SB_OWNERS`, `KV_SB_NODES`). A restart with another `--nats-replicas` therefore
 * changes the replicas of all of them, not only of the streams created afterwards.
 */
import {
  JetStreamApiError,
  type JetStreamManager,
  type StreamConfig,
  type StreamUpdateConfig,
} from '@nats-io/jetstream';

export type StreamLog = (msg: string, fields?: Record<string, unknown>) => void;

/** Settings given for a stream: its name, and whatever it should have; the rest are the server's defaults. */
export type WantedStream = Partial<StreamConfig> & { name: string };

/**
 * Creates stream `wanted.name` with `wanted`, or, if it exists, updates it to `wanted` (all but `name`
 * and `storage`, which an existing stream keeps). Settings not named are left as they are. Logs
 * `stream settings changed` with each setting that differed (`{from, to}`), e.g. `num_replicas` after a
 * restart with another `--nats-replicas`; a stream that has them all already is not updated.
 */
export async function ensureStream(
  jsm: JetStreamManager,
  wanted: WantedStream,
  log?: StreamLog,
): Promise<void> {
  let current: StreamConfig;
  try {
    current = (await jsm.streams.info(wanted.name)).config;
  } catch (e) {
    if (!(e instanceof JetStreamApiError) || e.code !== 10059) throw e;
    await jsm.streams.add(wanted);
    return;
  }
  await updateStream(jsm, current, wanted, log);
}

/**
 * Updates existing stream `wanted.name`, whose configuration is `current`, to `wanted` (see
 * {@link ensureStream}); for a stream made by someone else (a KV bucket's), give only what to change.
 */
export async function updateStream(
  jsm: JetStreamManager,
  current: StreamConfig,
  wanted: WantedStream,
  log?: StreamLog,
): Promise<void> {
  const { name, storage: _storage, ...updatable } = wanted;
  const changed = changedSettings(current, updatable);
  if (Object.keys(changed).length === 0) return;
  await jsm.streams.update(name, updatable as Partial<StreamUpdateConfig>);
  log?.('stream settings changed', { stream: name, changed });
}

/**
 * The settings of `wanted` that `current` does not have, with both values. Metadata: only the keys
 * wanted (the server adds keys of its own).
 */
export function changedSettings(
  current: Partial<StreamConfig>,
  wanted: Partial<StreamConfig>,
): Record<string, { from: unknown; to: unknown }> {
  const changed: Record<string, { from: unknown; to: unknown }> = {};
  for (const [key, to] of Object.entries(wanted)) {
    if (to === undefined) continue;
    const from = (current as Record<string, unknown>)[key];
    if (key === 'metadata') {
      const have = (from ?? {}) as Record<string, string>;
      const diff = Object.entries(to as Record<string, string>).filter(([k, v]) => have[k] !== v);
      if (diff.length > 0)
        changed[key] = {
          from: Object.fromEntries(diff.map(([k]) => [k, have[k]])),
          to: Object.fromEntries(diff),
        };
    } else if (JSON.stringify(from) !== JSON.stringify(to)) {
      changed[key] = { from, to };
    }
  }
  return changed;
}
