/**
 * `--demo`: a small contact centre in tenant `demo` so a newcomer sees routing at once — three queues on
 * three channels with skill and language requirements, ten agents with different skills, languages and
 * capacities, all online. Loaded only when the tenant has no queues yet (a restart keeps its state).
 */
import type { AgentConfig, Channel, Command, QueueConfig, SkillLevel } from '../engine/types.js';
import type { PartitionRouter } from '../host/router.js';

export const DEMO_TENANT = 'demo';

function queue(
  id: string,
  name: string,
  channel: Channel,
  skills: [string, number][],
  thresholdSeconds: number,
): QueueConfig {
  return {
    id,
    name,
    channel,
    requiredSkills: skills.map(([skill, minLevel]) => ({ skill, minLevel })),
    strategy: 'longest_idle',
    onlineOnly: false,
    broadcastWidth: 0,
    priority: channel === 'voice' ? 8 : channel === 'chat' ? 5 : 1,
    serviceLevel: { target: 0.8, thresholdSeconds, windowSeconds: 3600 },
    maxSize: 0,
    offerTimeoutSeconds: 0,
    overflow: [{ afterSeconds: 60, action: { kind: 'relax_skills', by: 2 } }],
    previousAgentWaitSeconds: 20,
    newCustomersToNewAgents: false,
  };
}

const QUEUES: QueueConfig[] = [
  queue('chat-billing', 'Billing chat', 'chat', [['billing', 3]], 30),
  queue('voice-support', 'Technical support line', 'voice', [['support', 4]], 20),
  queue('email-general', 'General email', 'email', [], 86_400),
];

const people: [string, string, [string, number][], Partial<Record<Channel, number>>][] = [
  [
    'alice',
    'Alice Martin',
    [
      ['billing', 8],
      ['lang:en', 10],
      ['lang:fr', 9],
    ],
    { chat: 3, email: 5 },
  ],
  [
    'bruno',
    'Bruno Costa',
    [
      ['billing', 5],
      ['lang:en', 8],
      ['lang:es', 10],
    ],
    { chat: 2, email: 5 },
  ],
  [
    'chen',
    'Chen Wei',
    [
      ['support', 9],
      ['lang:en', 9],
    ],
    { voice: 1, chat: 2 },
  ],
  [
    'dalia',
    'Dalia Haddad',
    [
      ['support', 6],
      ['billing', 4],
      ['lang:en', 9],
      ['lang:fr', 7],
    ],
    { voice: 1, chat: 2 },
  ],
  [
    'emma',
    'Emma Schulz',
    [
      ['support', 7],
      ['lang:de', 10],
      ['lang:en', 8],
    ],
    { voice: 1 },
  ],
  [
    'farid',
    'Farid Benali',
    [
      ['billing', 6],
      ['lang:fr', 10],
      ['lang:en', 7],
    ],
    { chat: 3 },
  ],
  [
    'grace',
    'Grace Okafor',
    [
      ['support', 5],
      ['lang:en', 10],
    ],
    { voice: 1, email: 8 },
  ],
  [
    'hiro',
    'Hiro Tanaka',
    [
      ['billing', 3],
      ['support', 3],
      ['lang:en', 8],
    ],
    { chat: 2, email: 5 },
  ],
  [
    'ines',
    'Inês Duarte',
    [
      ['billing', 7],
      ['lang:es', 9],
      ['lang:en', 8],
    ],
    { chat: 3 },
  ],
  [
    'jonas',
    'Jonas Berg',
    [
      ['support', 8],
      ['lang:de', 9],
      ['lang:en', 9],
    ],
    { voice: 1, email: 4 },
  ],
];

const AGENTS: AgentConfig[] = people.map(([id, displayName, skills, capacity]) => ({
  id,
  displayName,
  skills: skills.map(([skill, level]): SkillLevel => ({ skill, level })),
  teams: [],
  tier: skills.some(([s, l]) => s === 'support' && l >= 8) ? 2 : 1,
  seniority: id === 'hiro' ? 'new' : 'experienced',
  capacity,
  wrapUpSeconds: 10,
  queues: [],
}));

/** Loads the demo tenant through the router (logged like any command). Returns false if it existed. */
export async function loadDemo(router: PartitionRouter, now: () => number): Promise<boolean> {
  const existing = await router.query(DEMO_TENANT, { type: 'list_queues' });
  if (existing.type === 'list_queues' && existing.queues.length > 0) return false;
  const commands: Command[] = [
    ...QUEUES.map((q): Command => ({ type: 'upsert_queue', queue: q })),
    ...AGENTS.map((a): Command => ({ type: 'upsert_agent', agent: a })),
    ...AGENTS.map((a): Command => ({ type: 'set_presence', agentId: a.id, presence: 'online' })),
  ];
  let i = 0;
  for (const cmd of commands) {
    const r = await router.submit(DEMO_TENANT, { id: `demo-setup:${++i}`, at: now(), cmd });
    if (!r.ok) throw new Error(`demo setup failed on ${cmd.type}: ${r.error.code} ${r.error.message}`);
  }
  return true;
}

/** What the `--demo` banner needs to know about the node. */
export interface DemoBannerOptions {
  httpPort: number;
  grpcPort: number;
  /** Tokens are configured: the commands send `$TOKEN`. */
  authenticated: boolean;
  /** The node serves TLS (`--tls-cert`/`--tls-key`); `clientCa`: gRPC clients must present a certificate. */
  tls?: { clientCa: boolean };
  /** This start loaded the demo tenant; false: it was there already, as an earlier run left it. */
  loaded: boolean;
}

/**
 * How to try the demo, for a human at a terminal. Tokens are never printed (the banner goes to a terminal,
 * and from there to scrollback, CI logs and screenshots): with authentication on, the commands read the
 * token from `$TOKEN`. With TLS on, the commands use https and the CA of the node's certificate
 * (`ca.pem`, a placeholder: the node does not know which CA its certificate chains to).
 */
export function demoInstructions(o: DemoBannerOptions): string {
  const auth = o.authenticated ? ` -H "authorization: Bearer $TOKEN"` : '';
  const http = o.tls ? `https://localhost:${o.httpPort}` : `http://localhost:${o.httpPort}`;
  const curl = o.tls ? 'curl -s --cacert ca.pem' : 'curl -s';
  const grpcurl = !o.tls
    ? 'grpcurl -plaintext'
    : o.tls.clientCa
      ? 'grpcurl -cacert ca.pem -cert client.pem -key client.key'
      : 'grpcurl -cacert ca.pem';
  const base = `${http}/v1/tenants/${DEMO_TENANT}`;
  return [
    '',
    o.loaded
      ? `Demo tenant "${DEMO_TENANT}" is ready: queues ${QUEUES.map((q) => q.id).join(', ')}; ${AGENTS.length} agents online.`
      : `Demo tenant "${DEMO_TENANT}" was already here (loaded by an earlier run): its queues and agents are as that run left them.`,
    ...(o.authenticated
      ? [`Authentication is on: export TOKEN=<a token of tenant "${DEMO_TENANT}" or an admin token> first.`]
      : []),
    ...(o.tls
      ? [
          `TLS is on: ca.pem below stands for the CA that signed the node's certificate (--tls-cert)${
            o.tls.clientCa
              ? ', and client.pem/client.key for a client certificate signed by --tls-client-ca'
              : ''
          }.`,
        ]
      : []),
    'Try:',
    `  ${curl} -X POST ${base}/conversations${auth} -d '{"id":"conv-1","channel":"CHANNEL_CHAT","customer":{"id":"cust-1"},"queueId":"chat-billing","requiredSkills":[{"skill":"lang:fr","minLevel":5}]}'`,
    `  ${curl} ${base}/conversations/conv-1${auth}`,
    `  ${curl} ${base}/queue-stats${auth}`,
    `  ${curl} ${http}/metrics | grep switchboard_assignment_latency`,
    `  ${grpcurl}${auth} localhost:${o.grpcPort} list`,
    '',
  ].join('\n');
}
