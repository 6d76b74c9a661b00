/**
 * PromQL checks for the deploy tests: parse with Prometheus's own grammar (`@prometheus-io/lezer-promql`,
 * the parser of the Prometheus UI), list what a query selects and groups by, and hold it against
 * deploy/metrics-names.json.
 */
import { parser } from '@prometheus-io/lezer-promql';
import metricNames from '../../deploy/metrics-names.json' with { type: 'json' };

/** One `metric{label=...}` selector in a query. */
export interface Selector {
  metric: string;
  labels: string[];
}

/** What a query uses: selectors, labels in `by`/`without`/`on`/`ignoring`, and syntax errors. */
export interface QueryUse {
  selectors: Selector[];
  groupingLabels: string[];
  errors: string[];
}

/**
 * Grafana variables are not PromQL: replace them with something of the same syntactic kind before
 * parsing (`$__rate_interval` stands in a range, the others in label values or as numbers).
 */
export function substituteGrafanaVariables(expr: string): string {
  return expr.replace(/\$\{?(\w+)(?::\w+)?\}?/g, (_m, name: string) =>
    name === '__rate_interval' || name === '__interval' || name === '__range' ? '5m' : '1',
  );
}

/** Parses `expr` and collects its selectors and grouping labels. */
export function analyseQuery(expr: string): QueryUse {
  const tree = parser.parse(expr);
  const use: QueryUse = { selectors: [], groupingLabels: [], errors: [] };
  const text = (from: number, to: number) => expr.slice(from, to);
  tree.iterate({
    enter(node) {
      if (node.type.isError) {
        use.errors.push(`syntax error at ${node.from}: "${text(node.from, node.from + 20)}"`);
        return;
      }
      if (node.name === 'VectorSelector') {
        const sel = node.node;
        const id = sel.getChild('Identifier');
        const labels: string[] = [];
        const matchers = sel.getChild('LabelMatchers');
        if (matchers) {
          for (let m = matchers.firstChild; m; m = m.nextSibling) {
            const name = m.getChild('LabelName');
            if (name) labels.push(text(name.from, name.to));
          }
        }
        use.selectors.push({ metric: id ? text(id.from, id.to) : '', labels });
        return false;
      }
      if (node.name === 'GroupingLabels') {
        for (let l = node.node.firstChild; l; l = l.nextSibling) {
          if (l.name === 'LabelName') use.groupingLabels.push(text(l.from, l.to));
        }
      }
      return undefined;
    },
  });
  return use;
}

type Metric = { name: string; type?: string; labels?: string[] };
const own: Metric[] = [...metricNames.metrics, ...metricNames.requested];
const external = new Set(metricNames.external.map((m) => m.name));

/** The listed metric a series name belongs to (histograms through _bucket/_sum/_count), or undefined. */
function metricOf(series: string): Metric | undefined {
  const exact = own.find((m) => m.name === series && m.type !== 'histogram');
  if (exact) return exact;
  const base = series.replace(/_(bucket|sum|count)$/, '');
  return own.find((m) => m.name === base && m.type === 'histogram' && base !== series);
}

/** Checks one PromQL query; returns the problems found (empty = fine). */
export function queryProblems(expr: string): string[] {
  const use = analyseQuery(substituteGrafanaVariables(expr));
  const problems = [...use.errors];
  const known = new Set<string>(metricNames.targetLabels);
  for (const sel of use.selectors) {
    if (external.has(sel.metric)) {
      for (const l of sel.labels) known.add(l);
      continue;
    }
    const m = metricOf(sel.metric);
    if (!m) {
      problems.push(`unknown metric ${sel.metric || '(none)'}`);
      continue;
    }
    const allowed = new Set([...(m.labels ?? []), ...metricNames.targetLabels]);
    if (sel.metric.endsWith('_bucket')) allowed.add('le');
    for (const l of allowed) known.add(l);
    for (const l of sel.labels) if (!allowed.has(l)) problems.push(`${sel.metric} has no label ${l}`);
  }
  for (const l of use.groupingLabels)
    if (!known.has(l)) problems.push(`groups by ${l}, which no selector has`);
  return problems;
}
