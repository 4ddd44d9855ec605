/**
 * Forms that change this node: its alias and description (`PATCH /node`) and
 * its services (`PUT`/`DELETE /node/services/{key}`), in every mesh or only in
 * the selected one. Errors are shown as the API states them.
 */
import type {MeshShowNode} from '@wgmesh/core/client';
import {ApiError, type ApiClient} from './api.js';
import {el} from './dom.js';

/** The text shown for a failed request. */
function errorText(error: unknown): string {
  return error instanceof ApiError ? `${error.message} (${error.code})` : error instanceof Error ? error.message : String(error);
}

/** A labelled control (the label names the control by its id). */
function field(label: string, control: HTMLInputElement | HTMLSelectElement): HTMLElement {
  return el('div', {class: 'field'}, el('label', {for: control.id}, label), control);
}

/** A form of `fields` and a submit button (`data-testid` NAME-form, NAME-save) that calls `submit` instead of navigating. */
function form(name: string, label: string, fields: HTMLElement[], button: string, submit: () => void): HTMLFormElement {
  const element = el('form', {'data-testid': `${name}-form`, 'aria-label': label}, ...fields, el('button', {type: 'submit', 'data-testid': `${name}-save`}, button));
  element.addEventListener('submit', (event) => {
    event.preventDefault();
    submit();
  });
  return element;
}

/** The forms, filled from this node's entry in the selected mesh. */
export class NodeForms {
  readonly element: HTMLElement;
  private readonly alias: HTMLInputElement;
  private readonly description: HTMLInputElement;
  private readonly scope: HTMLSelectElement;
  private readonly services: HTMLElement;
  private readonly serviceKey: HTMLInputElement;
  private readonly serviceValue: HTMLInputElement;
  private readonly message: HTMLElement;
  private meshId: string | null = null;
  private self: MeshShowNode | undefined;
  /** Fields the user typed in since they were last filled or saved: a record update leaves them alone. */
  private readonly edited = new Set<HTMLInputElement>();

  constructor(
    private readonly api: () => ApiClient,
    private readonly afterChange: () => void,
  ) {
    this.alias = el('input', {id: 'self-alias', name: 'alias', 'data-testid': 'alias-input', autocomplete: 'off', maxlength: '63'});
    this.description = el('input', {id: 'self-description', name: 'description', 'data-testid': 'description-input', autocomplete: 'off'});
    this.scope = el('select', {id: 'self-scope', 'data-testid': 'scope-select'}, el('option', {value: ''}, 'every mesh'));
    this.message = el('p', {class: 'message', role: 'status', 'data-testid': 'forms-message'});
    const nodeForm = form('node', "This node's alias and description", [field('Alias', this.alias), field('Description', this.description)], 'Save alias and description', () => void this.saveNode());
    for (const input of [this.alias, this.description]) input.addEventListener('input', () => this.edited.add(input));
    this.services = el('ul', {class: 'services', 'data-testid': 'service-list'});
    this.services.addEventListener('click', (event) => {
      const button = event.target instanceof Element ? event.target.closest<HTMLButtonElement>('button[data-key]') : null;
      const key = button?.dataset.key;
      if (key === undefined) return;
      void this.run(`Service ${key} removed.`, async () => {
        await this.api().deleteService(key, this.scopeMesh());
      });
    });
    this.serviceKey = el('input', {id: 'service-key', 'data-testid': 'service-key', autocomplete: 'off', required: true});
    this.serviceValue = el('input', {id: 'service-value', 'data-testid': 'service-value', autocomplete: 'off'});
    const serviceForm = form('service', 'Add or change a service', [field('Service', this.serviceKey), field('Value', this.serviceValue)], 'Set service', () => {
      const key = this.serviceKey.value.trim();
      void this.run(`Service ${key} set.`, async () => {
        await this.api().setService(key, this.serviceValue.value, this.scopeMesh());
      }).then((done) => {
        if (!done) return;
        this.serviceKey.value = '';
        this.serviceValue.value = '';
      });
    });
    this.element = el(
      'section',
      {class: 'forms', 'aria-labelledby': 'forms-heading', 'data-testid': 'node-forms'},
      el('h2', {id: 'forms-heading'}, 'This node'),
      field('Apply to', this.scope),
      nodeForm,
      el('h3', {}, 'Services'),
      this.services,
      serviceForm,
      this.message,
    );
  }

  /** Fill the forms from this node's entry (`self`) in mesh `meshId`; fields the user typed in keep their text. */
  setSelf(meshId: string | null, self: MeshShowNode | undefined): void {
    const changedMesh = meshId !== this.meshId;
    this.meshId = meshId;
    this.self = self;
    const option = this.scope.options[1];
    if (meshId === null) option?.remove();
    else if (option === undefined) this.scope.append(el('option', {value: meshId}, `mesh ${meshId} only`));
    else {
      option.value = meshId;
      option.textContent = `mesh ${meshId} only`;
    }
    if (changedMesh) this.edited.clear();
    if (!this.edited.has(this.alias)) this.alias.value = self?.alias ?? '';
    if (!this.edited.has(this.description)) this.description.value = self?.description ?? '';
    const entries = Object.entries(self?.services ?? {}).sort(([a], [b]) => (a < b ? -1 : 1));
    this.services.replaceChildren(
      ...(entries.length === 0
        ? [el('li', {class: 'muted'}, 'none')]
        : entries.map(([key, value]) => el('li', {'data-service': key}, el('span', {}, `${key} = ${value}`), el('button', {type: 'button', 'data-key': key, 'aria-label': `Remove service ${key}`}, 'Remove')))),
    );
  }

  private scopeMesh(): string | undefined {
    return this.scope.value === '' ? undefined : this.scope.value;
  }

  private async saveNode(): Promise<void> {
    const alias = this.alias.value.trim();
    const description = this.description.value.trim();
    const fields: {meshId?: string; alias?: string | null; description?: string | null} = {};
    if (alias !== (this.self?.alias ?? '')) fields.alias = alias === '' ? null : alias;
    if (description !== (this.self?.description ?? '')) fields.description = description === '' ? null : description;
    if (fields.alias === undefined && fields.description === undefined) {
      this.show('Nothing to save: the alias and description are unchanged.', false);
      return;
    }
    const meshId = this.scopeMesh();
    if (meshId !== undefined) fields.meshId = meshId;
    const saved = await this.run('Saved.', async () => {
      const result = await this.api().setNode(fields);
      // Saved, but where another node claimed the alias first the name resolves to that node.
      const lost = Array.isArray(result?.aliasLost) ? result.aliasLost : [];
      return lost.length === 0 ? undefined : `Saved, but the alias "${fields.alias}" belongs to another node in ${lost.map((entry) => `mesh ${entry.meshId} (${entry.ownerAddress})`).join(', ')}: it resolves there, not here.`;
    });
    if (!saved) return;
    // The fields follow the record again, unless the user typed something new while it was saved.
    if (this.alias.value.trim() === alias) this.edited.delete(this.alias);
    if (this.description.value.trim() === description) this.edited.delete(this.description);
  }

  /** Send `request` and show how it went (`done`, or the warning the request returns); true when it succeeded. */
  private async run(done: string, request: () => Promise<string | undefined | void>): Promise<boolean> {
    this.show('Saving…', false);
    try {
      const warning = await request();
      this.show(warning ?? done, false);
      this.afterChange();
      return true;
    } catch (error) {
      this.show(errorText(error), true);
      return false;
    }
  }

  private show(text: string, failed: boolean): void {
    this.message.textContent = text;
    this.message.dataset.state = failed ? 'error' : 'ok';
    this.message.setAttribute('role', failed ? 'alert' : 'status');
  }
}
