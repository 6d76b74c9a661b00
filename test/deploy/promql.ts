/**
 * PromQL checks for the deploy tests: parse with Prometheus's own grammar (`@prometheus-io/lezer-promql`,
 * the parser of the Prometheus UI) and list what a query selects and groups by.
 */
import { parser } from '@prometheus-io/lezer-promql';

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
