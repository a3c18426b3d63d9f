// The Request Notifications panel: which site users are told of a new video
// request. Search by name, check the users, Apply. The choice being edited is
// kept in the webview state until it is applied or reverted.
import '@vscode-elements/elements/dist/vscode-button/index.js';
import '@vscode-elements/elements/dist/vscode-checkbox/index.js';
import '@vscode-elements/elements/dist/vscode-textfield/index.js';
import { el, HostError, PanelHost } from './shared/host';
import type { NotificationsView } from './shared/protocol';

interface State {
  /** The ids checked now, when they differ from the role's list. */
  chosen?: string[];
  search?: string;
}

interface Control extends HTMLElement {
  value: string;
  checked: boolean;
  disabled: boolean;
}

const host = new PanelHost<State>();
const app = document.getElementById('app')!;
let view: NotificationsView | undefined;
let chosen = new Set<string>(host.state?.chosen ?? []);
let edited = host.state?.chosen !== undefined;
let search = host.state?.search ?? '';
let list: HTMLElement;
let banner: HTMLElement;
let title: HTMLElement;
let apply: Control;
let revert: Control;

const roleList = (): Set<string> => new Set(view!.users.filter((u) => u.notified).map((u) => u.id));
const same = (a: Set<string>, b: Set<string>): boolean => a.size === b.size && [...a].every((x) => b.has(x));

function save(): void {
  host.state = { ...(edited ? { chosen: [...chosen] } : {}), search };
}

function setBanner(kind: 'info' | 'error' | 'ok', text: string): void {
  banner.className = `banner ${kind}`;
  banner.textContent = text;
  banner.hidden = false;
}

function renderList(): void {
  const needle = search.trim().toLowerCase();
  const shown = view!.users.filter((u) => !needle || u.name.toLowerCase().includes(needle) || u.displayName.toLowerCase().includes(needle));
  list.replaceChildren(
    ...shown.map((u) => {
      const box = el('vscode-checkbox', { id: `user-${u.id}`, 'data-user': u.name, label: `${u.displayName} (${u.name})` }) as unknown as Control;
      box.checked = chosen.has(u.id);
      box.disabled = !view!.mayChange;
      box.addEventListener('change', () => {
        if (box.checked) chosen.add(u.id);
        else chosen.delete(u.id);
        edited = !same(chosen, roleList());
        save();
        chrome();
      });
      return el('li', {}, box);
    }),
  );
  if (shown.length === 0) list.replaceChildren(el('li', { class: 'muted' }, needle ? `No site user matches "${search.trim()}".` : 'This site has no users.'));
}

function chrome(): void {
  title.classList.toggle('dirty', edited);
  apply.disabled = !edited || !view!.mayChange;
  revert.disabled = !edited;
}

function build(): void {
  title = el('span', {}, 'Request notifications');
  banner = el('div', { class: 'banner', role: 'status', 'aria-live': 'polite', hidden: '' });
  const find = el('vscode-textfield', { id: 'search', placeholder: 'Search site users', 'aria-label': 'Search site users' }) as unknown as Control;
  find.value = search;
  find.addEventListener('input', () => {
    search = find.value;
    save();
    renderList();
  });
  list = el('ul', { class: 'users', id: 'users', 'aria-label': 'Site users told of new video requests' });
  apply = el('vscode-button', { id: 'apply' }, 'Apply') as unknown as Control;
  revert = el('vscode-button', { id: 'revert', secondary: '' }, 'Revert') as unknown as Control;
  apply.addEventListener('click', () => void (async () => {
    try {
      view = await host.request<NotificationsView>('apply', { users: [...chosen] });
      chosen = roleList();
      edited = false;
      save();
      renderList();
      chrome();
      setBanner('ok', `${chosen.size} user(s) are told of new video requests.`);
    } catch (error) {
      setBanner('error', error instanceof HostError && error.issues.length ? `${error.message} ${error.issues.map((i) => `${i.field}: ${i.message}`).join('; ')}` : (error as Error).message);
    }
  })());
  revert.addEventListener('click', () => {
    chosen = roleList();
    edited = false;
    save();
    renderList();
    chrome();
  });
  app.replaceChildren(
    el('h1', {}, title),
    el('p', { class: 'lead' }, 'The site users checked here get a notification when a new video request arrives, in every VS Code window where they are signed in.'),
    banner,
    find,
    list,
    el('div', { class: 'actions' }, apply, revert),
  );
  app.removeAttribute('aria-busy');
}

host.onUpdate('notifications', (data) => {
  view = data as NotificationsView;
  if (!edited) chosen = roleList();
  renderList();
  chrome();
  if (edited) setBanner('info', 'The list changed at the role; your unsaved choice is kept. Revert to see the role\'s list.');
});

void (async () => {
  host.ready();
  try {
    view = await host.request<NotificationsView>('load');
    if (!edited) chosen = roleList();
    build();
    renderList();
    chrome();
  } catch (error) {
    app.replaceChildren(el('h1', {}, 'Request notifications'), el('div', { class: 'banner error', role: 'alert' }, (error as Error).message));
    app.removeAttribute('aria-busy');
  }
})();
