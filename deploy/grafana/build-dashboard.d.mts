/** The Grafana dashboard model that `build-dashboard.mjs` writes to `switchboard.json`. */
export function buildDashboard(): Record<string, unknown>;
