// The Role Properties panel: the role's properties as a form. The role owns
// them; this page shows what the host loaded, keeps what the operator typed
// (in the webview state, so hiding or restoring the panel loses nothing) and
// sends it on Apply. Errors come back per field and are shown at the field.
// The proxy password is typed here and sent once; it is never kept in the
// state, and the host never sends it back (only whether one is set).
import '@vscode-elements/elements/dist/vscode-button/index.js';
import '@vscode-elements/elements/dist/vscode-checkbox/index.js';
import '@vscode-elements/elements/dist/vscode-textfield/index.js';
import { el, HostError, PanelHost } from './shared/host';
import type { ApplyPropertiesResult, FieldIssue, PropertiesView } from './shared/protocol';

/** The form's fields, by the role's field names. */
const TEXT_FIELDS = ['pollingIntervalSeconds', 'archiveDestinationFolder', 'proxy.host', 'proxy.port', 'proxy.username', 'maximumBandwidthMbps'] as const;
const CHECK_FIELDS = ['proxy.enabled', 'throttlingEnabled'] as const;
type TextField = (typeof TEXT_FIELDS)[number];
type CheckField = (typeof CHECK_FIELDS)[number];
type Values = Record<TextField, string> & Record<CheckField, boolean>;

interface State {
  /** What the operator changed and has not applied, by field. */
  edits: Partial<Values>;
}

interface Field extends HTMLElement {
  value: string;
  checked: boolean;
  invalid: boolean;
  disabled: boolean;
  readonly: boolean;
}

const host = new PanelHost<State>();
const app = document.getElementById('app')!;
let view: PropertiesView | undefined;
let edits: Partial<Values> = host.state?.edits ?? {};
const inputs = new Map<string, Field>();
const errors = new Map<string, HTMLElement>();
let proxyPassword: Field | undefined;
let clearPassword: Field | undefined;
let dirtyMarker: HTMLElement;
let banner: HTMLElement;
let applyButton: Field;
let revertButton: Field;
let accountLine: HTMLElement;
let passwordState: HTMLElement;

function valuesOf(v: PropertiesView): Values {
  const p = v.properties;
  return {
    pollingIntervalSeconds: String(p.pollingIntervalSeconds),
    archiveDestinationFolder: p.archiveDestinationFolder,
    'proxy.enabled': p.proxy.enabled,
    'proxy.host': p.proxy.host,
    'proxy.port': String(p.proxy.port),
    'proxy.username': p.proxy.username,
    throttlingEnabled: p.throttlingEnabled,
    maximumBandwidthMbps: String(p.maximumBandwidthMbps),
  };
}

function current(): Values {
  return { ...valuesOf(view!), ...edits };
}

function saveState(): void {
  host.state = { edits };
}

function field(name: TextField, label: string, help: string, type = 'text', extra?: HTMLElement): HTMLElement {
  const input = el('vscode-textfield', { id: name, name, type, 'aria-describedby': `${name}-help ${name}-error` }) as unknown as Field;
  input.addEventListener('input', () => edit(name, input.value));
  inputs.set(name, input);
  const error = el('div', { id: `${name}-error`, class: 'error', role: 'alert' });
  errors.set(name, error);
  return el('div', { class: 'field', 'data-field': name }, el('label', { for: name }, label), el('div', { class: 'row' }, input, ...(extra ? [extra] : [])), el('div', { id: `${name}-help`, class: 'help' }, help), error);
}

function check(name: CheckField, label: string): HTMLElement {
  const box = el('vscode-checkbox', { id: name, name, label }) as unknown as Field;
  box.addEventListener('change', () => edit(name, box.checked));
  inputs.set(name, box);
  const error = el('div', { id: `${name}-error`, class: 'error', role: 'alert' });
  errors.set(name, error);
  return el('div', { class: 'field', 'data-field': name }, box, error);
}

function edit(name: TextField | CheckField, value: string | boolean): void {
  const base = valuesOf(view!)[name];
  if (base === value) delete edits[name];
  else (edits as Record<string, string | boolean>)[name] = value;
  showError(name, undefined);
  saveState();
  refreshChrome();
}

function showError(name: string, message: string | undefined): void {
  const e = errors.get(name);
  const input = inputs.get(name);
  if (e) e.textContent = message ?? '';
  if (input && 'invalid' in input) input.invalid = message !== undefined;
}

function setBanner(kind: 'info' | 'warning' | 'error' | 'ok', text: string, lines: string[] = []): void {
  banner.className = `banner ${kind}`;
  banner.replaceChildren(el('div', {}, text), ...(lines.length ? [el('ul', {}, ...lines.map((l) => el('li', {}, l)))] : []));
  banner.hidden = false;
}

function dirty(): boolean {
  return Object.keys(edits).length > 0 || (proxyPassword?.value ?? '') !== '' || clearPassword?.checked === true;
}

function refreshChrome(): void {
  const d = dirty();
  dirtyMarker.classList.toggle('dirty', d);
  dirtyMarker.setAttribute('aria-label', d ? 'Role properties, unsaved changes' : 'Role properties');
  applyButton.disabled = !d || !view?.mayChange;
  revertButton.disabled = !d;
  const proxyOn = current()['proxy.enabled'];
  for (const name of ['proxy.host', 'proxy.port', 'proxy.username'] as const) inputs.get(name)!.disabled = !proxyOn || !view?.mayChange;
  if (proxyPassword) proxyPassword.disabled = !proxyOn || !view?.mayChange || clearPassword?.checked === true;
  const throttled = current().throttlingEnabled;
  inputs.get('maximumBandwidthMbps')!.disabled = !throttled || !view?.mayChange;
}

function render(): void {
  const v = view!;
  const values = current();
  for (const name of TEXT_FIELDS) inputs.get(name)!.value = values[name];
  for (const name of CHECK_FIELDS) inputs.get(name)!.checked = values[name];
  for (const i of inputs.values()) i.readonly = !v.mayChange;
  accountLine.textContent = v.account ? `${v.account.accountId} (integration ${v.account.integrationName})` : 'No account connected.';
  passwordState.textContent = v.proxyPasswordSet ? 'A proxy password is set. Type a new one to replace it.' : 'No proxy password is set.';
  refreshChrome();
}

function build(): void {
  dirtyMarker = el('span', {}, 'Role properties');
  banner = el('div', { class: 'banner', role: 'status', 'aria-live': 'polite', hidden: '' });
  accountLine = el('span', { id: 'account-id', class: 'mono' });
  const importButton = el('vscode-button', { id: 'import-connection-file', secondary: '' }, 'Import connection file…');
  importButton.addEventListener('click', () => void run(async () => {
    const next = await host.request<PropertiesView | null>('importConnectionFile');
    if (next) {
      view = next;
      render();
      setBanner('ok', 'Connection file imported.');
    }
  }));
  const browse = el('vscode-button', { id: 'browse-archive', secondary: '' }, 'Browse…');
  browse.addEventListener('click', () => void run(async () => {
    const folder = await host.request<string | null>('browseFolder', { current: current().archiveDestinationFolder });
    if (folder) {
      inputs.get('archiveDestinationFolder')!.value = folder;
      edit('archiveDestinationFolder', folder);
    }
  }));
  proxyPassword = el('vscode-textfield', { id: 'proxy.password', type: 'password', autocomplete: 'off', 'aria-describedby': 'proxy-password-state proxy.password-error' }) as unknown as Field;
  proxyPassword.addEventListener('input', () => {
    showError('proxy.password', undefined);
    refreshChrome();
  });
  inputs.set('proxy.password', proxyPassword);
  errors.set('proxy.password', el('div', { id: 'proxy.password-error', class: 'error', role: 'alert' }));
  clearPassword = el('vscode-checkbox', { id: 'proxy.clearPassword', label: 'Remove the stored proxy password' }) as unknown as Field;
  clearPassword.addEventListener('change', () => refreshChrome());
  passwordState = el('div', { id: 'proxy-password-state', class: 'help' });

  applyButton = el('vscode-button', { id: 'apply' }, 'Apply') as unknown as Field;
  applyButton.addEventListener('click', () => void apply());
  revertButton = el('vscode-button', { id: 'revert', secondary: '' }, 'Revert') as unknown as Field;
  revertButton.addEventListener('click', () => {
    edits = {};
    if (proxyPassword) proxyPassword.value = '';
    if (clearPassword) clearPassword.checked = false;
    for (const name of errors.keys()) showError(name, undefined);
    saveState();
    render();
    setBanner('info', 'Reverted to the properties the role holds.');
  });

  app.replaceChildren(
    el('h1', {}, dirtyMarker),
    el('p', { class: 'lead' }, 'The Clearance plugin role on this site. Changes go to the role on Apply; the role checks them and records each one in the activity trail.'),
    banner,
    el('div', { class: 'banner warning', id: 'when' },
      el('div', {}, 'When changes take effect:'),
      el('ul', {},
        el('li', {}, 'Polling interval: from the next poll.'),
        el('li', {}, 'Proxy: from the next request to Clearance (uploads in flight resume through it).'),
        el('li', {}, 'Throttling and maximum bandwidth: at once, for uploads in flight too.'),
        el('li', {}, 'Archive destination folder: new exports stage there after the role restarts; staged uploads stay where they are.'),
      ),
    ),
    el('h2', {}, 'Account'),
    el('div', { class: 'field' }, el('label', {}, 'Account ID'), el('div', { class: 'row' }, accountLine, importButton)),
    el('h2', {}, 'Polling'),
    field('pollingIntervalSeconds', 'Polling interval (seconds)', `How often the role asks Clearance for video requests: ${view!.limits.pollingIntervalSeconds.min}–${view!.limits.pollingIntervalSeconds.max} s.`, 'number'),
    field('archiveDestinationFolder', 'Archive destination folder', 'An absolute folder on the role\'s machine where exported video waits while it uploads.', 'text', browse),
    el('h2', {}, 'Proxy'),
    check('proxy.enabled', 'Use a proxy'),
    field('proxy.host', 'Proxy address', 'Host name or IP address of the HTTP proxy.'),
    field('proxy.port', 'Proxy port', `${view!.limits.proxyPort.min}–${view!.limits.proxyPort.max}.`, 'number'),
    field('proxy.username', 'Proxy user name', 'Empty when the proxy needs no sign-in.'),
    el('div', { class: 'field', 'data-field': 'proxy.password' }, el('label', { for: 'proxy.password' }, 'Proxy password'), proxyPassword, passwordState, clearPassword, errors.get('proxy.password')!),
    el('h2', {}, 'Throttling'),
    check('throttlingEnabled', 'Use throttling (one upload at a time, at most the bandwidth below)'),
    field('maximumBandwidthMbps', 'Maximum bandwidth (Mbps)', `${view!.limits.maximumBandwidthMbps.min}–${view!.limits.maximumBandwidthMbps.max} megabits per second.`, 'number'),
    el('div', { class: 'actions' }, applyButton, revertButton),
  );
  app.removeAttribute('aria-busy');
}

/** The changes the role is sent: typed text becomes numbers where the role wants numbers. */
function changesOf(e: Partial<Values>): Record<string, unknown> {
  const changes: Record<string, unknown> = {};
  const proxy: Record<string, unknown> = {};
  const num = (s: string) => (s.trim() === '' || Number.isNaN(Number(s)) ? s : Number(s));
  for (const [k, v] of Object.entries(e)) {
    const value = k === 'pollingIntervalSeconds' || k === 'maximumBandwidthMbps' || k === 'proxy.port' ? num(v as string) : v;
    if (k.startsWith('proxy.')) proxy[k.slice('proxy.'.length)] = value;
    else changes[k] = value;
  }
  if (Object.keys(proxy).length) changes.proxy = proxy;
  return changes;
}

async function apply(): Promise<void> {
  for (const name of errors.keys()) showError(name, undefined);
  const password = clearPassword?.checked ? null : proxyPassword?.value ? proxyPassword.value : undefined;
  await run(async () => {
    const result = await host.request<ApplyPropertiesResult & { view: PropertiesView }>('apply', { changes: changesOf(edits), ...(password !== undefined ? { proxyPassword: password } : {}) });
    edits = {};
    saveState();
    if (proxyPassword) proxyPassword.value = '';
    if (clearPassword) clearPassword.checked = false;
    view = result.view;
    render();
    const said = result.changed.length ? `Applied: ${result.changed.join(', ')}.` : 'Nothing changed.';
    setBanner(result.warnings.length ? 'warning' : 'ok', said, result.warnings);
  });
}

/** Runs a host call; a refusal is shown at its fields (or in the banner). */
async function run(fn: () => Promise<void>): Promise<void> {
  try {
    await fn();
  } catch (error) {
    const issues: FieldIssue[] = error instanceof HostError ? error.issues : [];
    const placed = issues.filter((i) => errors.has(i.field));
    for (const i of placed) showError(i.field, i.message);
    const rest = issues.filter((i) => !errors.has(i.field)).map((i) => `${i.field}: ${i.message}`);
    setBanner('error', (error as Error).message, rest);
    const first = placed[0] && inputs.get(placed[0].field);
    first?.focus();
  }
}

host.onUpdate('properties', (data) => {
  view = data as PropertiesView;
  render();
  if (dirty()) setBanner('info', 'The role\'s properties changed elsewhere; your unsaved changes are kept. Revert to see the role\'s values.');
});

void (async () => {
  host.ready();
  try {
    view = await host.request<PropertiesView>('load');
    build();
    render();
    if (Object.keys(edits).length) setBanner('info', 'Your unsaved changes were kept.');
  } catch (error) {
    app.replaceChildren(el('h1', {}, 'Role properties'), el('div', { class: 'banner error', role: 'alert' }, (error as Error).message));
    app.removeAttribute('aria-busy');
  }
})();
