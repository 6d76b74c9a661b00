/**
 * The heap a node really holds: a full GC forced in every isolate (the main thread and each worker
 * thread), then each one's heap used, over the Chrome DevTools Protocol of a node the soak started with
 * `--inspect=127.0.0.1:0` (loopback, its own child only; nothing is added to the node itself). Workers are
 * reached through the `NodeWorker` domain of the main thread's session.
 *
 * Needs a WebSocket client: the global `WebSocket` (Node ≥ 22, or Node 20 with `--experimental-websocket`,
 * which `npm run soak` passes). Without it `connectInspector` returns null and the soak falls back to the
 * heap after each isolate's last natural mark-compact (`--trace-gc`).
 */

interface Pending {
  resolve(v: unknown): void;
  reject(e: Error): void;
}

/** The `ws://…` address a node printed at start-up (`Debugger listening on ws://…`), or null. */
export function inspectorUrl(output: string): string | null {
  const m = /Debugger listening on (ws:\/\/\S+)/.exec(output);
  return m ? (m[1] as string) : null;
}

export class InspectorHeap {
  private nextId = 1;
  private readonly pending = new Map<number, Pending>();
  /** Attached worker sessions by session id. */
  private readonly workers = new Set<string>();

  private constructor(private readonly ws: WebSocket) {
    ws.addEventListener('message', (ev: MessageEvent) => this.onMessage(String(ev.data)));
    ws.addEventListener('close', () => {
      for (const p of this.pending.values()) p.reject(new Error('inspector connection closed'));
      this.pending.clear();
    });
  }

  static async connect(url: string): Promise<InspectorHeap | null> {
    const WS = (globalThis as { WebSocket?: typeof WebSocket }).WebSocket;
    if (!WS) return null;
    const ws = new WS(url);
    await new Promise<void>((resolve, reject) => {
      ws.addEventListener('open', () => resolve(), { once: true });
      ws.addEventListener('error', () => reject(new Error(`cannot reach the node's inspector at ${url}`)), {
        once: true,
      });
    });
    const h = new InspectorHeap(ws);
    await h.send('NodeWorker.enable', { waitForDebuggerOnStart: false });
    return h;
  }

  private onMessage(text: string): void {
    const m = JSON.parse(text) as {
      id?: number;
      result?: unknown;
      error?: { message: string };
      method?: string;
      params?: { sessionId?: string; message?: string };
    };
    if (m.method === 'NodeWorker.attachedToWorker' && m.params?.sessionId) {
      this.workers.add(m.params.sessionId);
      return;
    }
    if (m.method === 'NodeWorker.detachedFromWorker' && m.params?.sessionId) {
      this.workers.delete(m.params.sessionId);
      return;
    }
    if (m.method === 'NodeWorker.receivedMessageFromWorker' && m.params?.message) {
      this.onMessage(m.params.message);
      return;
    }
    if (m.id === undefined) return;
    const p = this.pending.get(m.id);
    if (!p) return;
    this.pending.delete(m.id);
    if (m.error) p.reject(new Error(m.error.message));
    else p.resolve(m.result);
  }

  private call(build: (id: number) => string, timeoutMs: number): Promise<unknown> {
    const id = this.nextId++;
    return new Promise((resolve, reject) => {
      const timer = setTimeout(() => {
        this.pending.delete(id);
        reject(new Error('inspector call timed out'));
      }, timeoutMs);
      this.pending.set(id, {
        resolve: (v) => {
          clearTimeout(timer);
          resolve(v);
        },
        reject: (e) => {
          clearTimeout(timer);
          reject(e);
        },
      });
      this.ws.send(build(id));
    });
  }

  private send(method: string, params: object = {}, timeoutMs = 30_000): Promise<unknown> {
    return this.call((id) => JSON.stringify({ id, method, params }), timeoutMs);
  }

  /** A call inside a worker's isolate: its reply comes back under the inner message's id. */
  private sendToWorker(sessionId: string, method: string, params: object = {}): Promise<unknown> {
    return this.call(
      (id) =>
        JSON.stringify({
          id: this.nextId++,
          method: 'NodeWorker.sendMessageToWorker',
          params: { sessionId, message: JSON.stringify({ id, method, params }) },
        }),
      30_000,
    );
  }

  /** Forces a full GC in every isolate, then returns each one's heap used (MB): main thread first. */
  async heapAfterGc(): Promise<{ mainMb: number; workersMb: number[] }> {
    await this.send('HeapProfiler.collectGarbage');
    const main = (await this.send('Runtime.getHeapUsage')) as { usedSize: number };
    const workersMb: number[] = [];
    for (const s of [...this.workers]) {
      try {
        await this.sendToWorker(s, 'HeapProfiler.collectGarbage');
        const w = (await this.sendToWorker(s, 'Runtime.getHeapUsage')) as { usedSize: number };
        workersMb.push(w.usedSize / 2 ** 20);
      } catch {
        // a worker that ended meanwhile
      }
    }
    return { mainMb: main.usedSize / 2 ** 20, workersMb };
  }

  close(): void {
    this.ws.close();
  }
}
