/**
 * The dashboard: sign in with the API token (kept in sessionStorage for this
 * tab), pick a mesh, and watch its members in a table and every mesh of this
 * node in a graph, both kept current by the daemon's event stream. Every
 * request and the stream carry the token; when the daemon refuses it the page
 * drops every piece of data and asks for a token again.
 */
import type {MeshShowView, MeshSummary, StatusView} from '@wgmesh/core/client';
import {ApiClient, ApiError} from './api.js';
import {DetailPane} from './detail-pane.js';
import {byId, debounce, el} from './dom.js';
import {buildGraphModel} from './graph-model.js';
import {GraphView} from './graph-view.js';
import {applyMeshEvent, decodeMeshEvent, isMeshListEvent} from './mesh-events.js';
import {NodeForms} from './node-forms.js';
import {NodeTable} from './node-table.js';
import {openEventStream, type EventStreamHandle} from './sse.js';

/** sessionStorage key of the token (this tab only; gone when it closes). */
const TOKEN_KEY = 'wgmesh.apiToken';
/** Wait after the last event of a burst before re-fetching a mesh (ms). */
const REFETCH_MS = 250;
/** Handshake ages in the table move with the clock: redraw this often (ms). */
const CLOCK_MS = 5_000;
/** How often the picked mesh is fetched again for its transfer counters (ms; a multiple of CLOCK_MS). */
const STATS_REFRESH_MS = 30_000;
/** Most meshes drawn in the graph (each is one request per update). */
const MAX_GRAPH_MESHES = 32;

const UNAUTHORIZED_TEXT = 'The daemon refused this token. Print the current one on its host with `wgmesh api token` and sign in again.';

/** The page: its state (the token's client, the meshes and their views, what is picked) and every panel. */
class Dashboard {
  private api: ApiClient | null = null;
  private meshes: MeshSummary[] = [];
  private views = new Map<string, MeshShowView>();
  private meshId: string | null = null;
  private nodeId: string | null = null;
  private stream: EventStreamHandle | null = null;
  private clock: ReturnType<typeof setInterval> | undefined;
  private readonly refetchers = new Map<string, () => void>();
  private readonly table = new NodeTable((node) => this.selectNode(node.id));
  private readonly graph = new GraphView(new URL('assets/graph-worker.js', document.baseURI), (node) => {
    if (node.meshId !== null && node.meshId !== this.meshId && this.views.has(node.meshId)) this.pickMesh(node.meshId);
    this.selectNode(node.nodeId);
  });
  private readonly detail = new DetailPane(() => this.selectNode(null));
  private readonly forms = new NodeForms(() => this.client(), () => this.meshId !== null && this.refetch(this.meshId));
  private readonly updateGraph = debounce(() => this.graph.setModel(buildGraphModel([...this.views.values()])), 100);
  private firstRender = false;
  private frame = 0;

  private readonly signin = byId<HTMLElement>('signin');
  private readonly app = byId<HTMLElement>('app');
  private readonly token = byId<HTMLInputElement>('token');
  private readonly signinError = byId<HTMLElement>('signin-error');
  private readonly appError = byId<HTMLElement>('app-error');
  private readonly picker = byId<HTMLSelectElement>('mesh-picker');
  private readonly streamState = byId<HTMLElement>('stream-state');
  private readonly nodeLabel = byId<HTMLElement>('node-label');

  constructor() {
    byId('table-slot').append(this.table.element);
    byId('graph-slot').append(this.graph.element);
    byId('side-slot').append(this.detail.element, this.forms.element);
    byId<HTMLFormElement>('signin-form').addEventListener('submit', (event) => {
      event.preventDefault();
      void this.signIn(this.token.value.trim());
    });
    byId('signout').addEventListener('click', () => this.signOut(''));
    this.picker.addEventListener('change', () => this.pickMesh(this.picker.value));
    const saved = sessionStorage.getItem(TOKEN_KEY);
    if (saved !== null) void this.signIn(saved);
    else this.showSignIn('');
  }

  private client(): ApiClient {
    if (this.api === null) throw new Error('not signed in');
    return this.api;
  }

  private showSignIn(message: string): void {
    this.app.hidden = true;
    this.signin.hidden = false;
    this.signinError.textContent = message;
    this.signinError.hidden = message === '';
    this.token.focus();
  }

  private async signIn(token: string): Promise<void> {
    if (token === '') {
      this.showSignIn('Enter the API token.');
      return;
    }
    const api = new ApiClient(token);
    // The list of meshes is asked for at once, beside the status that proves the token.
    const meshes = api.meshes();
    meshes.catch(() => undefined);
    let status: StatusView;
    try {
      status = await api.status();
    } catch (error) {
      sessionStorage.removeItem(TOKEN_KEY);
      this.showSignIn(error instanceof ApiError && error.status === 401 ? UNAUTHORIZED_TEXT : `Could not sign in: ${error instanceof Error ? error.message : String(error)}`);
      return;
    }
    this.api = api;
    sessionStorage.setItem(TOKEN_KEY, token);
    this.token.value = '';
    this.signin.hidden = true;
    this.app.hidden = false;
    this.nodeLabel.textContent = `node ${status.nodeId}`;
    const loaded = this.loadMeshes(meshes);
    this.table.mount();
    this.openStream();
    let ticks = 0;
    this.clock = setInterval(() => {
      this.table.refresh();
      // Transfer counters change all the time and have no event: fetch the picked mesh now and then.
      if (++ticks % (STATS_REFRESH_MS / CLOCK_MS) === 0 && this.meshId !== null) this.refetch(this.meshId);
    }, CLOCK_MS);
    await loaded;
  }

  /** Forget the token and every piece of data, and show the sign-in form with `message`. */
  private signOut(message: string): void {
    this.stream?.close();
    this.stream = null;
    clearInterval(this.clock);
    this.api = null;
    this.meshes = [];
    this.views.clear();
    this.meshId = null;
    this.nodeId = null;
    sessionStorage.removeItem(TOKEN_KEY);
    this.picker.replaceChildren();
    this.table.setNodes([]);
    this.graph.setModel(buildGraphModel([]));
    this.detail.show(undefined, '');
    this.forms.setSelf(null, undefined);
    this.nodeLabel.textContent = '';
    this.showSignIn(message);
  }

  /** Show a failed request; a refused token signs out. */
  private failed(error: unknown): void {
    if (error instanceof ApiError && error.status === 401) {
      this.signOut(UNAUTHORIZED_TEXT);
      return;
    }
    this.appError.textContent = error instanceof ApiError ? `${error.message} (${error.code})` : error instanceof Error ? error.message : String(error);
    this.appError.hidden = false;
  }

  private openStream(): void {
    this.stream = openEventStream({
      url: new URL('api/v1/events', document.baseURI).href,
      headers: () => this.client().headers(),
      onEvent: (message) => {
        const event = decodeMeshEvent(message.type, message.data);
        if (event === undefined) return;
        if (isMeshListEvent(event)) {
          void this.loadMeshes();
          return;
        }
        const view = this.views.get(event.meshId);
        if (view === undefined) return;
        this.views.set(event.meshId, applyMeshEvent(view, event));
        this.scheduleRender();
        // A handshake change is complete in the event; membership and records need the relations only a fetch resolves.
        if (event.type !== 'handshake.changed') this.refetch(event.meshId);
      },
      onState: (state, detail) => {
        this.streamState.textContent = state === 'open' ? 'live' : state === 'retrying' ? `reconnecting (${detail ?? ''})` : state;
        this.streamState.dataset.state = state;
      },
      onRefused: (response) => {
        if (response.status !== 401) return false;
        queueMicrotask(() => this.signOut(UNAUTHORIZED_TEXT));
        return true;
      },
    });
  }

  /** Re-fetch mesh `meshId` after a burst of events ends. */
  private refetch(meshId: string): void {
    let run = this.refetchers.get(meshId);
    if (run === undefined) {
      run = debounce(() => void this.loadMesh(meshId), REFETCH_MS);
      this.refetchers.set(meshId, run);
    }
    run();
  }

  private async loadMesh(meshId: string): Promise<void> {
    const api = this.api;
    if (api === null) return;
    try {
      const view = await api.mesh(meshId);
      // Signed out (or in again) meanwhile: this answer belongs to a session that is gone.
      if (this.api !== api) return;
      if (this.meshes.some((mesh) => mesh.meshId === meshId)) this.views.set(meshId, view);
      this.render();
    } catch (error) {
      if (this.api !== api) return;
      if (error instanceof ApiError && error.status === 404) {
        void this.loadMeshes();
        return;
      }
      this.failed(error);
    }
  }

  /** Fetch the list of meshes (or take `pending`, already asked for) and every running mesh's view. */
  private async loadMeshes(pending?: Promise<MeshSummary[]>): Promise<void> {
    const api = this.api;
    if (api === null) return;
    try {
      const meshes = await (pending ?? api.meshes());
      const running = meshes.filter((mesh) => mesh.interface !== '-').slice(0, MAX_GRAPH_MESHES);
      const views = await Promise.all(running.map((mesh) => api.mesh(mesh.meshId)));
      // Signed out (or in again) meanwhile: these answers belong to a session that is gone.
      if (this.api !== api) return;
      performance.mark('wgmesh:meshes-loaded');
      this.meshes = meshes;
      this.views = new Map(views.map((view) => [view.meshId, view]));
      this.appError.hidden = true;
    } catch (error) {
      if (this.api === api) this.failed(error);
      return;
    }
    this.picker.replaceChildren(...this.meshes.map((mesh) => el('option', {value: mesh.meshId})));
    if (this.meshId === null || !this.views.has(this.meshId)) this.meshId = this.meshes.find((mesh) => this.views.has(mesh.meshId))?.meshId ?? null;
    if (this.meshId !== null) this.picker.value = this.meshId;
    byId('no-mesh').hidden = this.meshes.length > 0;
    this.render();
  }

  private pickMesh(meshId: string): void {
    this.meshId = meshId;
    this.picker.value = meshId;
    this.render();
    this.refetch(meshId);
  }

  private selectNode(nodeId: string | null): void {
    this.nodeId = nodeId;
    this.table.select(nodeId);
    this.graph.select(nodeId);
    this.renderDetail();
  }

  private renderDetail(): void {
    const view = this.meshId === null ? undefined : this.views.get(this.meshId);
    const node = view?.nodes.find((candidate) => candidate.id === this.nodeId);
    const alsoIn = [...this.views.values()].filter((other) => other !== view && other.nodes.some((candidate) => candidate.id === this.nodeId)).map((other) => other.meshId);
    this.detail.show(node, this.meshId ?? '', alsoIn);
  }

  /** Render once in the next frame, however many events arrive before it (a burst of handshake changes). */
  private scheduleRender(): void {
    if (this.frame !== 0) return;
    this.frame = requestAnimationFrame(() => {
      this.frame = 0;
      this.render();
    });
  }

  private render(): void {
    const view = this.meshId === null ? undefined : this.views.get(this.meshId);
    const problem = this.meshes.find((mesh) => mesh.meshId === this.meshId)?.problem;
    byId('mesh-problem').textContent = problem ?? '';
    byId('mesh-problem').hidden = problem === undefined;
    // The member counts follow the views held, which events keep current.
    for (const option of this.picker.options) {
      const mesh = this.meshes.find((candidate) => candidate.meshId === option.value);
      const members = this.views.get(option.value)?.nodes.length ?? mesh?.members ?? 0;
      option.textContent = `${option.value} (${members} members${mesh?.problem === undefined ? '' : ', problem'})`;
    }
    this.table.setNodes(view?.nodes ?? []);
    this.forms.setSelf(this.meshId, view?.nodes.find((node) => node.self));
    this.renderDetail();
    if (this.firstRender || view === undefined) {
      this.updateGraph();
      return;
    }
    // The first graph is laid out at once; later updates come in bursts and are debounced.
    this.firstRender = true;
    performance.mark('wgmesh:table');
    this.graph.setModel(buildGraphModel([...this.views.values()]));
    performance.mark('wgmesh:graph-sent');
    // The moment both the table and the graph first show data (read by the render benchmark).
    this.graph.whenDrawn(() => {
      document.body.dataset.firstRender = String(Math.round(performance.now()));
    });
  }
}

document.addEventListener('DOMContentLoaded', () => new Dashboard());
