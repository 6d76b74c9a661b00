/**
 * The deploy recipe checked as data: every Kubernetes manifest parses and fits together (selectors, ports,
 * probes, env, Secrets, non-root), every PromQL query in the alerts and the dashboard parses and names only
 * metrics Switchboard exports (deploy/metrics-names.json), every alert has a runbook section, and the NATS
 * config is the durable one. Nothing here needs a cluster; `nats-server -t` validates the NATS config when
 * the binary is present.
 */
import { execFile, spawnSync } from 'node:child_process';
import {
  cpSync,
  existsSync,
  mkdtempSync,
  readdirSync,
  readFileSync,
  rmSync,
  symlinkSync,
  writeFileSync,
} from 'node:fs';
import { createServer as createHttpServer } from 'node:http';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import {
  PrometheusRule,
  ServiceMonitor,
} from '@kubernetes-models/prometheus-operator/monitoring.coreos.com/v1';
import { Deployment, StatefulSet } from 'kubernetes-models/apps/v1';
import { PodDisruptionBudget } from 'kubernetes-models/policy/v1';
import { ConfigMap, Namespace, Secret, Service, ServiceAccount } from 'kubernetes-models/v1';
import { describe, expect, it } from 'vitest';
import { parseAllDocuments, stringify } from 'yaml';
import { buildDashboard } from '../../deploy/grafana/build-dashboard.mjs';
import metricNames from '../../deploy/metrics-names.json' with { type: 'json' };
import { OPTIONS } from '../../src/config/index.js';
import { findNatsServer } from '../support/nats-server.js';
import { queryProblems } from './promql.js';

// biome-ignore lint/suspicious/noExplicitAny: Kubernetes objects are checked field by field below.
type Obj = any;

const ROOT = join(import.meta.dirname, '..', '..');
const K8S = join(ROOT, 'deploy', 'kubernetes');

/** The CLI's environment variables named in the team brief (flags `--grpc-port` … `--node-id`). */
const BRIEF_ENV = [
  'SB_GRPC_PORT',
  'SB_HTTP_PORT',
  'SB_HOST',
  'SB_DATA_DIR',
  'SB_WORKERS',
  'SB_LOG_LEVEL',
  'SB_TOKENS',
  'SB_ADMIN_TOKEN',
  'NATS_URL',
  'MONGO_URL',
  'SB_NODE_ID',
];
/** Every variable the node reads: src/config's flag ⇔ env table, plus tuning read straight from process.env. */
function nodeEnv(): string[] {
  const fromOptions = Object.values(OPTIONS).flatMap((o) => (o.env === null ? [] : [o.env as string]));
  const direct: string[] = [];
  const walk = (dir: string): void => {
    for (const f of readdirSync(dir, { withFileTypes: true })) {
      const p = join(dir, f.name);
      if (f.isDirectory()) walk(p);
      else if (f.name.endsWith('.ts') && !f.name.endsWith('.test.ts')) {
        for (const m of readFileSync(p, 'utf8').matchAll(/process\.env\.([A-Z][A-Z0-9_]*)/g))
          direct.push(m[1]!);
      }
    }
  };
  walk(join(ROOT, 'src'));
  return [...new Set([...fromOptions, ...direct])];
}
const CLI_ENV = nodeEnv();
/** Grafana's reference to the datasource variable (Grafana syntax, not a JS template). */
// biome-ignore lint/suspicious/noTemplateCurlyInString: see above.
const DS_UID = '${DS_PROMETHEUS}';
/** Node.js's own, not the CLI's. */
const RUNTIME_ENV = ['NODE_OPTIONS'];

const yamlFiles = readdirSync(K8S).filter((f) => f.endsWith('.yaml'));
const docs: { file: string; obj: Obj }[] = yamlFiles.flatMap((file) =>
  parseAllDocuments(readFileSync(join(K8S, file), 'utf8')).map((d) => {
    if (d.errors.length > 0) throw new Error(`${file}: ${d.errors.map((e) => e.message).join('; ')}`);
    return { file, obj: d.toJS() };
  }),
);
const find = (kind: string, name: string): Obj => {
  const hit = docs.find((d) => d.obj?.kind === kind && d.obj?.metadata?.name === name);
  if (!hit) throw new Error(`no ${kind}/${name} in deploy/kubernetes`);
  return hit.obj;
};
const deployment = find('Deployment', 'switchboard');
const statefulSet = find('StatefulSet', 'nats');
const workloads = [deployment, statefulSet];
const rule = find('PrometheusRule', 'switchboard');
const alerts: Obj[] = rule.spec.groups.flatMap((g: Obj) => g.rules).filter((r: Obj) => r.alert);
const dashboard = JSON.parse(readFileSync(join(ROOT, 'deploy', 'grafana', 'switchboard.json'), 'utf8'));
const container = deployment.spec.template.spec.containers[0];
const envValue = (name: string) => container.env.find((e: Obj) => e.name === name);

function dashboardQueries(): { where: string; expr: string }[] {
  const out: { where: string; expr: string }[] = [];
  for (const p of dashboard.panels) {
    for (const t of p.targets ?? []) out.push({ where: `panel "${p.title}" ${t.refId}`, expr: t.expr });
  }
  for (const v of dashboard.templating.list) {
    const q = typeof v.query === 'object' ? v.query.query : undefined;
    const m = q ? /^label_values\((.*),\s*(\w+)\)$/.exec(q) : null;
    if (m) out.push({ where: `variable ${v.name}`, expr: `sum by (${m[2]}) (${m[1]})` });
  }
  return out;
}

/** `promtool` (Prometheus's rule checker), if installed: PROMTOOL, else PATH. Optional, like nats-server. */
function findPromtool(): string | null {
  const fromEnv = process.env.PROMTOOL;
  if (fromEnv && existsSync(fromEnv)) return fromEnv;
  const which = spawnSync('sh', ['-c', 'command -v promtool'], { encoding: 'utf8' });
  return which.status === 0 && which.stdout.trim() !== '' ? which.stdout.trim() : null;
}

/** GitHub's heading anchors: lower case, punctuation dropped, spaces to hyphens. */
function anchors(markdown: string): Set<string> {
  const out = new Set<string>();
  for (const line of markdown.split('\n')) {
    const h = /^#{1,6}\s+(.*)$/.exec(line);
    if (h) {
      out.add(
        h[1]!
          .trim()
          .toLowerCase()
          .replace(/[^\p{L}\p{N}\s_-]/gu, '')
          .replace(/\s/g, '-'),
      );
    }
  }
  return out;
}

describe('Kubernetes manifests', () => {
  it('every manifest parses and names its apiVersion, kind and name', () => {
    expect(docs.length).toBeGreaterThan(10);
    for (const { file, obj } of docs) {
      expect(obj?.apiVersion, file).toBeTruthy();
      expect(obj?.kind, file).toBeTruthy();
      if (obj.kind !== 'Kustomization') expect(obj.metadata?.name, file).toBeTruthy();
    }
  });

  it('every resource validates against its Kubernetes / Prometheus Operator schema (types, required fields)', () => {
    const models: Record<string, new (o: Obj) => { validate(): void }> = {
      Namespace,
      ConfigMap,
      Secret,
      Service,
      ServiceAccount,
      Deployment,
      StatefulSet,
      PodDisruptionBudget,
      ServiceMonitor,
      PrometheusRule,
    };
    for (const { file, obj } of docs.filter((d) => d.obj.kind !== 'Kustomization')) {
      const Model = models[obj.kind];
      expect(Model, `${file}: no schema for ${obj.kind}`).toBeDefined();
      expect(() => new Model!(obj).validate(), `${file}: ${obj.kind}/${obj.metadata.name}`).not.toThrow();
    }
  });

  it('the kustomization applies every manifest except the example Secret', () => {
    const k = docs.find((d) => d.obj.kind === 'Kustomization')!.obj;
    const expected = yamlFiles.filter((f) => f !== 'kustomization.yaml' && f !== 'secret.example.yaml');
    expect([...k.resources].sort()).toEqual(expected.sort());
  });

  it('Services, PodDisruptionBudgets and the ServiceMonitor select the pods they are meant for', () => {
    const podsOf = (selector: Record<string, string>) =>
      workloads.filter((w) =>
        Object.entries(selector).every(([k, v]) => w.spec.template.metadata.labels[k] === v),
      );
    for (const w of workloads) {
      expect(podsOf(w.spec.selector.matchLabels)).toEqual([w]);
    }
    for (const { obj } of docs.filter((d) => ['Service', 'PodDisruptionBudget'].includes(d.obj.kind))) {
      const selector = obj.kind === 'Service' ? obj.spec.selector : obj.spec.selector.matchLabels;
      const [target] = podsOf(selector);
      expect(podsOf(selector), `${obj.kind}/${obj.metadata.name}`).toHaveLength(1);
      if (obj.kind === 'Service') {
        const ports = target.spec.template.spec.containers.flatMap((c: Obj) =>
          c.ports.map((p: Obj) => p.name),
        );
        for (const p of obj.spec.ports)
          expect(ports, `${obj.metadata.name}:${p.name}`).toContain(p.targetPort);
      }
    }
    const sm = find('ServiceMonitor', 'switchboard');
    const scraped = docs.filter(
      (d) =>
        d.obj.kind === 'Service' &&
        Object.entries(sm.spec.selector.matchLabels).every(([k, v]) => d.obj.metadata.labels?.[k] === v),
    );
    expect(scraped.map((d) => d.obj.metadata.name)).toEqual(['switchboard']);
    expect(scraped[0]!.obj.spec.ports.map((p: Obj) => p.name)).toContain(sm.spec.endpoints[0].port);
    expect(sm.spec.endpoints[0].path).toBe('/metrics');
  });

  it('probes: readiness on /readyz and liveness on /healthz at the HTTP port, gRPC health on the gRPC port', () => {
    const port = (name: string) => container.ports.find((p: Obj) => p.name === name)?.containerPort;
    expect(port('http')).toBe(Number(envValue('SB_HTTP_PORT').value));
    expect(port('grpc')).toBe(Number(envValue('SB_GRPC_PORT').value));
    expect([port('grpc'), port('http')]).toEqual([50051, 8080]);
    expect(container.readinessProbe.httpGet).toEqual({ path: '/readyz', port: 'http' });
    expect(container.livenessProbe.httpGet).toEqual({ path: '/healthz', port: 'http' });
    expect(container.startupProbe.grpc.port).toBe(port('grpc'));
  });

  it('the Deployment sets only environment variables the CLI reads, secrets from the Secret', () => {
    const names = container.env.map((e: Obj) => e.name);
    for (const n of names) expect([...CLI_ENV, ...RUNTIME_ENV], n).toContain(n);
    for (const n of ['NATS_URL', 'MONGO_URL', 'SB_NODE_ID', 'SB_TOKENS', 'SB_ADMIN_TOKEN'])
      expect(names).toContain(n);
    expect(envValue('SB_NODE_ID').valueFrom.fieldRef.fieldPath).toBe('metadata.name');
    for (const n of ['SB_TOKENS', 'SB_ADMIN_TOKEN', 'MONGO_URL']) {
      expect(envValue(n).valueFrom.secretKeyRef, n).toMatchObject({ name: 'switchboard-secrets', key: n });
    }
    const secret = find('Secret', 'switchboard-secrets');
    for (const n of ['SB_TOKENS', 'SB_ADMIN_TOKEN', 'MONGO_URL'])
      expect(Object.keys(secret.stringData)).toContain(n);
    expect(secret.stringData.MONGO_URL).toMatch(/w=majority/);
    expect(CLI_ENV).toEqual(expect.arrayContaining(BRIEF_ENV));
  });

  it('every container runs as a non-root user without privilege escalation, on a read-only root filesystem', () => {
    for (const w of workloads) {
      const pod = w.spec.template.spec;
      for (const c of [...(pod.initContainers ?? []), ...pod.containers]) {
        const sc = { ...pod.securityContext, ...c.securityContext };
        expect(sc.runAsNonRoot, c.name).toBe(true);
        expect(sc.runAsUser, c.name).toBeGreaterThan(0);
        expect(sc.allowPrivilegeEscalation, c.name).toBe(false);
        expect(sc.readOnlyRootFilesystem, c.name).toBe(true);
        expect(sc.capabilities.drop, c.name).toContain('ALL');
      }
    }
  });

  it('the Switchboard Deployment rolls one node at a time, drains gracefully and spreads over nodes', () => {
    expect(deployment.spec.replicas).toBe(3);
    expect(deployment.spec.strategy.rollingUpdate).toEqual({ maxUnavailable: 0, maxSurge: 1 });
    const pod = deployment.spec.template.spec;
    // preStop sleep + the node's own drain budget + ~5 s for final snapshots fit in the grace period.
    const preStopSeconds = Number(container.lifecycle.preStop.exec.command[1]);
    const drainMs = Number(envValue('SB_SHUTDOWN_GRACE_MS').value);
    expect(pod.terminationGracePeriodSeconds * 1000).toBeGreaterThanOrEqual(
      preStopSeconds * 1000 + drainMs + 5000,
    );
    expect(pod.topologySpreadConstraints.map((t: Obj) => t.topologyKey)).toContain('kubernetes.io/hostname');
    expect(container.resources.requests.cpu).toBeTruthy();
    expect(container.resources.limits.memory).toBeTruthy();
    // No CPU limit: CFS throttling would stall the event loop for whole 100 ms periods.
    expect(container.resources.limits.cpu).toBeUndefined();
    expect(find('PodDisruptionBudget', 'switchboard').spec.maxUnavailable).toBe(1);
  });
});

describe('NATS JetStream cluster', () => {
  const conf: string = find('ConfigMap', 'nats-config').data['nats.conf'];

  it('runs 3 servers on persistent volumes with a route to each, fsyncing every write', () => {
    expect(statefulSet.spec.replicas).toBe(3);
    expect(statefulSet.spec.podManagementPolicy).toBe('Parallel');
    const routes = [...conf.matchAll(/nats:\/\/([\w-]+)\.([\w-]+):6222/g)];
    expect(routes.map((r) => r[1])).toEqual([0, 1, 2].map((i) => `nats-${i}`));
    for (const r of routes) expect(r[2]).toBe(statefulSet.spec.serviceName);
    expect(conf).toMatch(/^\s*sync_interval:\s*always\s*$/m);
    const storeDir = /store_dir:\s*(\S+)/.exec(conf)![1];
    const mount = statefulSet.spec.template.spec.containers[0].volumeMounts.find(
      (m: Obj) => m.mountPath === storeDir,
    );
    expect(statefulSet.spec.volumeClaimTemplates.map((v: Obj) => v.metadata.name)).toContain(mount.name);
  });

  it('matches the durability of the NATS configs in deploy/nats', () => {
    const dir = join(ROOT, 'deploy', 'nats');
    const confs = existsSync(dir) ? readdirSync(dir).filter((f) => f.endsWith('.conf')) : [];
    // deploy/nats/README.md documents nats-1.conf … nats-3.conf: with none there is nothing checked.
    expect(confs, 'the .conf files in deploy/nats').not.toEqual([]);
    for (const f of confs) {
      const text = readFileSync(join(dir, f), 'utf8');
      if (/jetstream/.test(text)) expect(text, f).toMatch(/sync_interval:\s*"?always"?/);
      // Large tenants' snapshots and forwarded replies need the same message size everywhere.
      const payload = (t: string) => /^\s*max_payload:\s*(\S+)\s*$/m.exec(t)?.[1];
      expect(payload(conf), 'kubernetes nats.conf max_payload').toBe(payload(text));
      expect(payload(text), f).toBeDefined();
    }
  });

  const natsServer = findNatsServer();
  if (!natsServer)
    console.warn('nats-server not found: the NATS config is not validated by the server itself');
  it.skipIf(!natsServer)('nats-server accepts the config (nats-server -t)', () => {
    const dir = mkdtempSync(join(tmpdir(), 'sb-nats-conf-'));
    try {
      writeFileSync(join(dir, 'nats.conf'), conf);
      const r = spawnSync(natsServer!, ['-t', '-c', join(dir, 'nats.conf')], {
        env: { ...process.env, POD_NAME: 'nats-0' },
        encoding: 'utf8',
      });
      expect(r.status, r.stderr + r.stdout).toBe(0);
    } finally {
      rmSync(dir, { recursive: true, force: true });
    }
  });
});

describe('NATS authorization example', () => {
  const natsServer = findNatsServer();
  it.skipIf(!natsServer)(
    'deploy/nats/nats-auth.example.conf is accepted by nats-server -t, and gives gateways no sb.rpc, sb.cmd or KV',
    () => {
      const file = join(ROOT, 'deploy', 'nats', 'nats-auth.example.conf');
      const r = spawnSync(natsServer!, ['-t', '-c', file], { encoding: 'utf8' });
      expect(r.status, r.stderr + r.stdout).toBe(0);
      const text = readFileSync(file, 'utf8');
      const gateway = /GATEWAY_ACME = \{([\s\S]*?)\n {2}\}/.exec(text)?.[1] ?? '';
      expect(gateway).toMatch(/subscribe: \["sb\.evt\.acme"/);
      expect(gateway).not.toMatch(/"sb\.rpc|"sb\.cmd|"sb\.>|"sb\.evt\.>|\$KV|"\$JS\.>|"\$JS\.API\.>"/);
    },
  );
});

describe('alerts and dashboard queries', () => {
  it('every alert query parses and uses only listed metrics and their labels', () => {
    for (const r of rule.spec.groups.flatMap((g: Obj) => g.rules)) {
      expect(queryProblems(r.expr), r.alert ?? r.record).toEqual([]);
    }
  });

  it('every dashboard query and variable parses and uses only listed metrics and their labels', () => {
    const queries = dashboardQueries();
    expect(queries.length).toBeGreaterThan(20);
    for (const q of queries) expect(queryProblems(q.expr), q.where).toEqual([]);
  });

  it('the alerts cover service levels, waits, latency, readiness, ownership, worker restarts and errors', () => {
    const uses = (name: string) => alerts.filter((a) => a.expr.includes(name)).map((a) => a.alert);
    expect(uses('switchboard_queue_service_level')).toEqual(
      expect.arrayContaining(['SwitchboardServiceLevelAtRisk', 'SwitchboardServiceLevelBreached']),
    );
    for (const m of [
      'switchboard_queue_longest_wait_seconds',
      'switchboard_queue_waiting',
      'switchboard_assignment_latency_seconds_bucket',
      'kube_pod_status_ready',
      'switchboard_partitions_owned',
      'switchboard_worker_restarts_total',
      'switchboard_node_lease_lost_total',
      'switchboard_errors_total',
    ]) {
      expect(uses(m), m).not.toEqual([]);
    }
    const latency = alerts.find((a) => a.alert === 'SwitchboardAssignmentLatencyHigh');
    expect(latency.expr).toMatch(/histogram_quantile\(0\.99,[\s\S]*\)\s*>\s*0\.001\b/);
  });

  it('every alert has a severity, a summary and an absolute runbook link to a section that exists', () => {
    const runbook = anchors(readFileSync(join(ROOT, 'deploy', 'RUNBOOK.md'), 'utf8'));
    const base = find('ConfigMap', 'switchboard-runbook');
    // Read by kustomize only (its replacement source), never applied to the cluster.
    expect(base.metadata.annotations['config.kubernetes.io/local-config']).toBe('true');
    expect(base.data.url).toMatch(/^https:\/\/[^#]+\/RUNBOOK\.md$/);
    for (const a of alerts) {
      expect(['critical', 'warning', 'info'], a.alert).toContain(a.labels.severity);
      expect(a.annotations.summary, a.alert).toBeTruthy();
      const [url, anchor] = a.annotations.runbook_url.split('#');
      expect(url, a.alert).toBe(base.data.url);
      expect([...runbook], a.alert).toContain(anchor);
    }
  });

  it('alerts on counters whose series may appear at a non-zero value also count series new in their window', () => {
    // increase() needs a sample before the first increment: a series first scraped at 1 (an error code
    // seen for the first time, a queue created and alerting between two scrapes) would never fire.
    for (const name of [
      'switchboard_alerts_total',
      'switchboard_tenant_overloaded_total',
      'switchboard_errors_total',
    ]) {
      const users = alerts.filter((a) => a.expr.includes(name));
      expect(users.length, name).toBeGreaterThan(0);
      for (const a of users) {
        const window = /increase\(\s*[a-z_]+(?:\{[^}]*\})?\[(\d+m)\]\)/.exec(a.expr)?.[1];
        expect(window, `${a.alert} takes increase() of ${name}`).toBeDefined();
        expect(a.expr, a.alert).toMatch(new RegExp(`unless\\s+${name}(\\{[^}]*\\})?\\s+offset\\s+${window}`));
        expect(a.expr, a.alert).toContain(`and on (job, instance) (up offset ${window})`);
      }
    }
  });

  const promtool = findPromtool();
  if (!promtool)
    console.warn('promtool not found: the alert unit tests (test/deploy/alerts.promtool.yaml) are skipped');
  it.skipIf(!promtool)(
    'the alert rules pass promtool check and the unit tests in alerts.promtool.yaml',
    () => {
      const dir = mkdtempSync(join(tmpdir(), 'sb-promtool-'));
      try {
        writeFileSync(join(dir, 'rules.yaml'), stringify({ groups: rule.spec.groups }));
        cpSync(join(ROOT, 'test', 'deploy', 'alerts.promtool.yaml'), join(dir, 'alerts.promtool.yaml'));
        const check = spawnSync(promtool!, ['check', 'rules', 'rules.yaml'], { cwd: dir, encoding: 'utf8' });
        expect(check.status, check.stdout + check.stderr).toBe(0);
        const test = spawnSync(promtool!, ['test', 'rules', 'alerts.promtool.yaml'], {
          cwd: dir,
          encoding: 'utf8',
        });
        expect(test.status, test.stdout + test.stderr).toBe(0);
      } finally {
        rmSync(dir, { recursive: true, force: true });
      }
    },
  );

  const kubectl = spawnSync('sh', ['-c', 'command -v kubectl'], { encoding: 'utf8' }).stdout.trim();
  it.skipIf(!kubectl)(
    "kustomize writes runbook.yaml's url in front of every runbook anchor and leaves that ConfigMap out",
    () => {
      const dir = mkdtempSync(join(tmpdir(), 'sb-kustomize-'));
      try {
        cpSync(K8S, dir, { recursive: true });
        const file = join(dir, 'runbook.yaml');
        writeFileSync(
          file,
          readFileSync(file, 'utf8').replace(/^(\s+url:).*$/m, '$1 https://wiki.test/sb/RUNBOOK.md'),
        );
        const r = spawnSync(kubectl, ['kustomize', dir], { encoding: 'utf8' });
        expect(r.status, r.stderr).toBe(0);
        const out = parseAllDocuments(r.stdout).map((d) => d.toJS());
        expect(out.some((o: Obj) => o?.metadata?.name === 'switchboard-runbook')).toBe(false);
        const built = out.find((o: Obj) => o?.kind === 'PrometheusRule');
        const urls = built.spec.groups.flatMap((g: Obj) =>
          g.rules.map((x: Obj) => x.annotations.runbook_url),
        );
        expect(urls).toHaveLength(alerts.length);
        for (const u of urls) expect(u).toMatch(/^https:\/\/wiki\.test\/sb\/RUNBOOK\.md#switchboard[a-z]+$/);
      } finally {
        rmSync(dir, { recursive: true, force: true });
      }
    },
  );

  it('deploy/metrics-names.json lists exactly the metrics src/metrics registers, with types and labels', async () => {
    const file = join(ROOT, 'src', 'metrics', 'index.ts');
    // The registry is the other side of the comparison: without it nothing would be checked.
    expect(existsSync(file), `${file} (registers the metrics) exists`).toBe(true);
    const { Registry } = await import('prom-client');
    const registry = new Registry();
    const mod = await import(file);
    // Every optional source given, so every metric a node may export is registered (not collected).
    mod.createNodeMetrics(registry, {
      inflight: () => 0,
      partitionsOwned: () => 0,
      partitionsHeld: () => 0,
      partitionsRefused: () => 0,
      eventHistory: () => ({ events: 0, evicted: 0 }),
      queueStats: async () => [],
      leaseLosses: () => ({}),
      tlsCertificate: () => Buffer.alloc(0),
      build: { version: '0.0.0', node: 'n' },
    });
    const registered: Obj[] = registry.getMetricsAsArray();
    // The API service layer registers the command histogram and the error counter itself (src/api/service.ts).
    const service = readFileSync(join(ROOT, 'src', 'api', 'service.ts'), 'utf8');
    expect(service).toMatch(/'switchboard_command_duration_seconds'[\s\S]{0,300}labelNames: \['method'\]/);
    expect(service).toMatch(/'switchboard_errors_total'[\s\S]{0,300}labelNames: \['method', 'code'\]/);
    const byService = ['switchboard_command_duration_seconds', 'switchboard_errors_total'];
    const listed = metricNames.metrics.filter((m) => !byService.includes(m.name));
    expect(registered.map((m) => m.name).sort()).toEqual(listed.map((m) => m.name).sort());
    for (const m of listed) {
      const r = registered.find((x) => x.name === m.name);
      expect({ type: r.type, labels: [...r.labelNames] }, m.name).toEqual({ type: m.type, labels: m.labels });
    }
  });

  it('the dashboard shows every metric Switchboard exports', () => {
    const text = dashboardQueries()
      .map((q) => q.expr)
      .join('\n');
    for (const m of metricNames.metrics) expect(text, m.name).toContain(m.name);
  });
});

describe('Grafana dashboard', () => {
  it('is the generator output, schemaVersion 39, on the DS_PROMETHEUS datasource variable', () => {
    expect(dashboard).toEqual(JSON.parse(JSON.stringify(buildDashboard())));
    expect(dashboard.schemaVersion).toBe(39);
    const vars = dashboard.templating.list;
    expect(vars.find((v: Obj) => v.name === 'DS_PROMETHEUS')).toMatchObject({
      type: 'datasource',
      query: 'prometheus',
    });
    expect(vars.map((v: Obj) => v.name)).toEqual(expect.arrayContaining(['tenant', 'queue']));
    for (const p of dashboard.panels.filter((p: Obj) => p.type !== 'row')) {
      expect(p.datasource.uid, p.title).toBe(DS_UID);
      for (const t of p.targets) expect(t.datasource.uid, p.title).toBe(DS_UID);
    }
  });

  it('a panel that calls its figure the engine\u2019s queries the engine\u2019s gauge, not a ratio of node counters', () => {
    // The node's assigned counter counts every assignment (re-assignments after a transfer or a missed
    // offer too), the engine's figures count first answers: a ratio of counters is not the engine's.
    for (const p of dashboard.panels.filter((p: Obj) => p.type !== 'row')) {
      if (
        !/engine\u2019s (definition|figure|abandonment)/.test(p.description) ||
        /Not the engine/.test(p.description)
      )
        continue;
      for (const t of p.targets) expect(t.expr, p.title).not.toMatch(/_total\{/);
    }
    const engine = dashboard.panels.find((p: Obj) => p.title === 'Abandonment rate (engine window)');
    expect(engine.targets.map((t: Obj) => t.expr).join()).toContain('switchboard_queue_abandonment_rate');
  });

  it('a count drawn in a panel whose unit is a duration gets a unit of its own', () => {
    for (const p of dashboard.panels.filter((p: Obj) => p.type === 'timeseries')) {
      if (p.fieldConfig.defaults.unit !== 's') continue;
      for (const t of p.targets) {
        if (!/increase\(\w+_total[{[]/.test(t.expr)) continue;
        const own = p.fieldConfig.overrides.find(
          (o: Obj) => o.matcher.id === 'byFrameRefID' && o.matcher.options === t.refId,
        );
        const unit = own?.properties.find((x: Obj) => x.id === 'unit')?.value;
        expect(unit, `panel "${p.title}" ${t.refId} counts ${t.expr}`).toBe('short');
      }
    }
  });

  it('has the six rows, unique panel ids and panels that neither overflow nor overlap', () => {
    const rows = dashboard.panels.filter((p: Obj) => p.type === 'row').map((p: Obj) => p.title);
    expect(rows).toEqual(['Service levels', 'Throughput', 'Latency', 'Agents', 'Cluster', 'Alerts']);
    const ids = dashboard.panels.map((p: Obj) => p.id);
    expect(new Set(ids).size).toBe(ids.length);
    const cells = new Set<string>();
    for (const { gridPos: g, title } of dashboard.panels) {
      expect(g.x + g.w, title).toBeLessThanOrEqual(24);
      for (let x = g.x; x < g.x + g.w; x++) {
        for (let y = g.y; y < g.y + g.h; y++) {
          expect(cells.has(`${x},${y}`), `${title} overlaps at ${x},${y}`).toBe(false);
          cells.add(`${x},${y}`);
        }
      }
    }
  });
});

describe('Dockerfile', () => {
  const dockerfile = readFileSync(join(ROOT, 'deploy', 'Dockerfile'), 'utf8');
  const runtime = dockerfile.slice(dockerfile.lastIndexOf('\nFROM '));

  it('builds in one stage and runs production dependencies only, as a non-root user, in the other', () => {
    expect(dockerfile.match(/^FROM /gm)).toHaveLength(2);
    expect(dockerfile).toMatch(/^ARG NODE_IMAGE=node:20-slim$/m);
    expect(runtime).toMatch(/npm ci --omit=dev/);
    expect(runtime).toMatch(/COPY --from=build \/app\/dist/);
    const user = /^USER (\S+)$/m.exec(runtime)?.[1];
    expect(user).toBeDefined();
    expect(['root', '0']).not.toContain(user);
    expect(runtime).toMatch(/^EXPOSE 50051 8080$/m);
    expect(runtime).toMatch(/HEALTHCHECK[\s\S]*\/healthz/);
  });

  it('the HEALTHCHECK command answers 0 for a node that answers /healthz, 1 otherwise, over HTTP or HTTPS', async () => {
    const cmd = /HEALTHCHECK[^\n]*\n\s*CMD (\[.*\])/.exec(runtime)?.[1];
    expect(cmd).toBeDefined();
    const argv = JSON.parse(cmd as string) as string[];
    expect(argv.slice(0, 2)).toEqual(['node', '-e']);
    const server = createHttpServer((req, res) => {
      res.statusCode = req.url === '/healthz' ? 200 : 404;
      res.end('ok');
    });
    await new Promise<void>((r) => server.listen(0, '127.0.0.1', r));
    const port = String((server.address() as { port: number }).port);
    const run = (env: Record<string, string>) =>
      new Promise<number | null>((resolve) => {
        execFile(process.execPath, argv.slice(1), { env: { ...process.env, ...env } }, (err) =>
          resolve(err ? ((err as { code?: number }).code ?? 1) : 0),
        );
      });
    try {
      expect(await run({ SB_HTTP_PORT: port })).toBe(0);
      // A node with TLS is asked over HTTPS: against this plaintext server that fails.
      expect(await run({ SB_HTTP_PORT: port, SB_TLS_CERT: '/etc/tls/tls.crt' })).toBe(1);
    } finally {
      await new Promise((r) => server.close(r));
    }
    expect(await run({ SB_HTTP_PORT: port })).toBe(1);
  });

  it('the build stage compiles from exactly the files it copies (the load tools import test helpers the image leaves out)', () => {
    const build = dockerfile.slice(0, dockerfile.lastIndexOf('\nFROM '));
    const dir = mkdtempSync(join(tmpdir(), 'sb-image-'));
    try {
      for (const m of build.matchAll(/^COPY (?!--from)(.+) (\S+)$/gm)) {
        for (const src of (m[1] as string).split(/\s+/))
          cpSync(join(ROOT, src), join(dir, src), { recursive: true });
      }
      symlinkSync(join(ROOT, 'node_modules'), join(dir, 'node_modules'));
      const project = /^RUN npx tsc -p (\S+)$/m.exec(build)?.[1];
      expect(project, 'the build stage runs tsc -p <config>').toBeDefined();
      const tsc = spawnSync(
        process.execPath,
        [join(ROOT, 'node_modules/typescript/bin/tsc'), '-p', project as string, '--noEmit'],
        {
          cwd: dir,
          encoding: 'utf8',
        },
      );
      expect(tsc.status, tsc.stdout + tsc.stderr).toBe(0);
    } finally {
      rmSync(dir, { recursive: true, force: true });
    }
  }, 120_000);

  it('the runtime image carries the gRPC descriptor set where the server looks for it', () => {
    // dist/src/api/grpc-server.js looks at ../../../src/gen/switchboard.binpb, i.e. /app/src/gen.
    expect(runtime).toMatch(
      /COPY --from=build \/app\/src\/gen\/switchboard\.binpb \.\/src\/gen\/switchboard\.binpb/,
    );
  });
});
